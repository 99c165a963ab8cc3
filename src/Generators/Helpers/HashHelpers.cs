namespace Allocator.Generators.Helpers;

/// <summary>Hash combining for netstandard2.0, which has no System.HashCode.</summary>
internal static class HashHelpers
{
    public static int Combine(int h1, int h2)
    {
        // The same rotate-and-add mix the BCL used before HashCode existed.
        uint rol5 = ((uint)h1 << 5) | ((uint)h1 >> 27);
        return ((int)rol5 + h1) ^ h2;
    }
}
