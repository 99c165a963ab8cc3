namespace Allocator.Generators.Model;

/// <summary>One placed region of a slot layout.</summary>
/// <param name="ElementType">Fully qualified element type, or null for a byte region.</param>
/// <param name="Count">Elements for a <c>Span&lt;T&gt;</c> accessor; zero for a single <c>ref T</c>.</param>
/// <param name="GuardOffset">Start of the guard after the region (page aligned); meaningless when GuardSize is zero.</param>
internal sealed record SlotRegionModel(
    string Name,
    string? ElementType,
    int Count,
    int Offset,
    int Size,
    int Alignment,
    int GuardOffset,
    int GuardSize);
