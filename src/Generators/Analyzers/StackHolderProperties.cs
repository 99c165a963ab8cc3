namespace Allocator.Generators.Analyzers;

/// <summary>Keys of the properties an ALLOC100 diagnostic carries for its code fix (this file is compiled into the
/// code fix assembly too, so both sides read the same names).</summary>
internal static class StackHolderProperties
{
    /// <summary>"Token", "Fiber" or "Run" (the <c>HolderKind</c>).</summary>
    public const string Kind = "Kind";

    /// <summary>The name of the holding variable.</summary>
    public const string Holder = "Holder";

    /// <summary>Where that variable is declared (span start in its file), so the fix can tell it from a namesake.</summary>
    public const string DeclaredAt = "DeclaredAt";
}
