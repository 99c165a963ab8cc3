using Allocator.Generators.Helpers;

namespace Allocator.Generators.Model;

/// <summary>A computed slot layout, ready to emit.</summary>
/// <param name="SlotSize">Whole slot in bytes, a page multiple.</param>
/// <param name="AccessibleSize">Bytes up to the end of the last region, rounded to pages; a trailing guard lies beyond.</param>
internal sealed record SlotLayoutModel(
    TargetTypeModel Target,
    EquatableArray<SlotRegionModel> Regions,
    int SlotSize,
    int AccessibleSize);
