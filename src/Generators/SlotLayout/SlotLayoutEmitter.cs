using Allocator.Generators.Helpers;
using Allocator.Generators.Model;

namespace Allocator.Generators.SlotLayout;

/// <summary>Writes the members of a slot layout struct: constants, a constructor over a slot base and accessors.</summary>
/// <remarks>Accessors build refs with <c>Unsafe</c> and <c>MemoryMarshal</c>, so consumers need no unsafe blocks, and
/// nothing uses reflection, so the output is trim and NativeAOT clean.</remarks>
internal static class SlotLayoutEmitter
{
    private const string Unsafe = "global::System.Runtime.CompilerServices.Unsafe";
    private const string MemoryMarshal = "global::System.Runtime.InteropServices.MemoryMarshal";

    public static string Emit(SlotLayoutModel layout) => TypeNesting.Write(layout.Target, writer => WriteMembers(writer, layout));

    /// <summary>Every region guard, for <c>SlotPoolOptions.GuardRanges</c>, so the pool keeps them inaccessible.</summary>
    private static void WriteGuardRanges(IndentedTextWriter w, SlotLayoutModel layout)
    {
        const string RangeType = "global::Allocator.SlotGuardRange";
        w.WriteLine();
        w.WriteLine("/// <summary>The guards of this layout, as the pool's <c>SlotPoolOptions.GuardRanges</c>: kept inaccessible in every slot.</summary>");
        w.WriteLine($"public static global::System.Collections.Generic.IReadOnlyList<{RangeType}> GuardRanges {{ get; }} = new {RangeType}[]");
        w.WriteLine("{");
        foreach (SlotRegionModel region in layout.Regions)
        {
            if (region.GuardSize > 0)
            {
                w.WriteLine($"    new {RangeType}({region.GuardOffset}, {region.GuardSize}),");
            }
        }
        w.WriteLine("};");
    }

    private static void WriteMembers(IndentedTextWriter w, SlotLayoutModel layout)
    {
        string name = layout.Target.SimpleName;
        w.WriteLine("/// <summary>Page size this layout was computed for; pool options re-check the real page size at run time.</summary>");
        w.WriteLine($"public const int PageSize = {Limits.PageSize};");
        w.WriteLine();
        w.WriteLine("/// <summary>Bytes of one slot: every region and guard, rounded up to whole pages.</summary>");
        w.WriteLine($"public const int SlotSize = {layout.SlotSize};");
        w.WriteLine();
        w.WriteLine("/// <summary>Bytes from the slot base to the end of the last region, rounded up to whole pages; a trailing guard lies beyond.</summary>");
        w.WriteLine($"public const int AccessibleSize = {layout.AccessibleSize};");
        foreach (SlotRegionModel region in layout.Regions)
        {
            w.WriteLine();
            w.WriteLine($"/// <summary>Offset of region <c>{region.Name}</c> from the slot base.</summary>");
            w.WriteLine($"public const int {region.Name}Offset = {region.Offset};");
            w.WriteLine();
            w.WriteLine($"/// <summary>Bytes in region <c>{region.Name}</c>.</summary>");
            w.WriteLine($"public const int {region.Name}Size = {region.Size};");
            if (region.ElementType is not null && region.Count > 0)
            {
                w.WriteLine();
                w.WriteLine($"/// <summary>Elements in region <c>{region.Name}</c>.</summary>");
                w.WriteLine($"public const int {region.Name}Count = {region.Count};");
            }
            if (region.GuardSize > 0)
            {
                w.WriteLine();
                w.WriteLine($"/// <summary>Offset of the guard after region <c>{region.Name}</c>.</summary>");
                w.WriteLine($"public const int {region.Name}GuardOffset = {region.GuardOffset};");
                w.WriteLine();
                w.WriteLine($"/// <summary>Bytes in the guard after region <c>{region.Name}</c>.</summary>");
                w.WriteLine($"public const int {region.Name}GuardSize = {region.GuardSize};");
            }
        }
        WriteGuardRanges(w, layout);
        w.WriteLine();
        w.WriteLine("private readonly nint _slotBase;");
        w.WriteLine();
        w.WriteLine("/// <summary>A view of the slot whose first byte is <paramref name=\"slotBase\"/>, a non-zero, page-aligned address.</summary>");
        using (w.WriteBlock($"public {name}(nint slotBase)"))
        {
            using (w.WriteBlock("if (slotBase == 0 || (slotBase & (PageSize - 1)) != 0)"))
            {
                w.WriteLine("ThrowInvalidBase(slotBase);");
            }
            w.WriteLine("CheckRegionTypes();");
            w.WriteLine("_slotBase = slotBase;");
        }
        w.WriteLine();
        w.WriteLine("/// <summary>A view of a slot <paramref name=\"store\"/> holds; at least <see cref=\"AccessibleSize\"/> bytes of it must be read-write.</summary>");
        using (w.WriteBlock($"public static {name} Of<TData>(global::Allocator.Store<TData> store, global::Allocator.SlotToken slot)"))
        {
            w.WriteLine("global::System.ArgumentNullException.ThrowIfNull(store);");
            w.WriteLine("nuint accessible = store.GetAccessibleBytes(slot);");
            using (w.WriteBlock("if (accessible < (nuint)AccessibleSize)"))
            {
                w.WriteLine("ThrowSlotTooSmall(accessible);");
            }
            w.WriteLine($"return new {name}(store.GetSlotAddress(slot));");
        }
        w.WriteLine();
        w.WriteLine("/// <summary>The slot's first byte.</summary>");
        w.WriteLine("public nint SlotBase => _slotBase;");
        foreach (SlotRegionModel region in layout.Regions)
        {
            w.WriteLine();
            string at = $"At(_slotBase + {region.Name}Offset)";
            if (region.ElementType is null)
            {
                w.WriteLine($"/// <summary>Region <c>{region.Name}</c>: <see cref=\"{region.Name}Size\"/> bytes at <see cref=\"{region.Name}Offset\"/>.</summary>");
                w.WriteLine($"public global::System.Span<byte> {region.Name} => {MemoryMarshal}.CreateSpan(ref {at}, {region.Name}Size);");
            }
            else if (region.Count > 0)
            {
                w.WriteLine($"/// <summary>Region <c>{region.Name}</c>: <see cref=\"{region.Name}Count\"/> elements at <see cref=\"{region.Name}Offset\"/>.</summary>");
                w.WriteLine($"public global::System.Span<{region.ElementType}> {region.Name} => {MemoryMarshal}.CreateSpan(ref {Unsafe}.As<byte, {region.ElementType}>(ref {at}), {region.Name}Count);");
            }
            else
            {
                w.WriteLine($"/// <summary>Region <c>{region.Name}</c> at <see cref=\"{region.Name}Offset\"/>.</summary>");
                w.WriteLine($"public ref {region.ElementType} {region.Name} => ref {Unsafe}.As<byte, {region.ElementType}>(ref {at});");
            }
        }
        w.WriteLine();
        w.WriteLine("// The slot lives outside the GC heap; a byref to it is built from a null ref plus the address.");
        w.WriteLine($"private static ref byte At(nint address) => ref {Unsafe}.AddByteOffset(ref {Unsafe}.NullRef<byte>(), address);");
        w.WriteLine();
        w.WriteLine("// Sizes were computed at compile time; Unsafe.SizeOf is a JIT/AOT constant, so these checks fold away when they hold.");
        using (w.WriteBlock("private static void CheckRegionTypes()"))
        {
            foreach (SlotRegionModel region in layout.Regions)
            {
                if (region.ElementType is null)
                {
                    continue;
                }
                string needed = region.Count > 0
                    ? $"(long){Unsafe}.SizeOf<{region.ElementType}>() * {region.Name}Count"
                    : $"{Unsafe}.SizeOf<{region.ElementType}>()";
                using (w.WriteBlock($"if ({needed} > {region.Name}Size)"))
                {
                    w.WriteLine($"ThrowRegionTooSmall(\"{region.Name}\", {needed}, {region.Name}Size);");
                }
            }
        }
        w.WriteLine();
        w.WriteLine("[global::System.Runtime.CompilerServices.MethodImpl(global::System.Runtime.CompilerServices.MethodImplOptions.NoInlining)]");
        w.WriteLine("private static void ThrowInvalidBase(nint slotBase) =>");
        w.WriteLine($"    throw new global::System.ArgumentException($\"A slot base must be a non-zero multiple of {{PageSize}}, not 0x{{slotBase:X}}.\", nameof(slotBase));");
        w.WriteLine();
        w.WriteLine("[global::System.Runtime.CompilerServices.MethodImpl(global::System.Runtime.CompilerServices.MethodImplOptions.NoInlining)]");
        w.WriteLine("private static void ThrowSlotTooSmall(nuint accessible) =>");
        w.WriteLine($"    throw new global::System.ArgumentException($\"The slot has {{accessible}} read-write bytes but {name} needs {{AccessibleSize}}.\", \"slot\");");
        w.WriteLine();
        w.WriteLine("[global::System.Runtime.CompilerServices.MethodImpl(global::System.Runtime.CompilerServices.MethodImplOptions.NoInlining)]");
        w.WriteLine("private static void ThrowRegionTooSmall(string region, long needed, int size) =>");
        w.WriteLine($"    throw new global::System.InvalidOperationException($\"Region {{region}} of {name} is {{size}} bytes, but its type needs {{needed}}; set Size on its [SlotRegion].\");");
    }
}
