namespace Allocator.Generators.Model;

/// <summary>How to reopen one partial type: e.g. <c>readonly partial struct VmContext</c>.</summary>
/// <param name="Modifiers">Modifiers that must be repeated on every part (static, readonly, ref), space separated.</param>
/// <param name="Keyword">class, struct, record, record struct or interface.</param>
/// <param name="Name">The name with its type parameter list, e.g. <c>Box&lt;T&gt;</c>.</param>
internal sealed record TypeDeclarationModel(string Modifiers, string Keyword, string Name)
{
    public string Header => (Modifiers.Length == 0 ? string.Empty : Modifiers + " ") + "partial " + Keyword + " " + Name;
}
