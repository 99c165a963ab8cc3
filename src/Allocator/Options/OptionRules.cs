// One file of pool option rules, compiled into the runtime library and linked into the source generator
// (netstandard2.0), so a limit is stated once. Pure predicates and constants: each side words its own errors.
namespace Allocator;

/// <summary>The rules every pool option obeys, shared by run-time validation and compile-time diagnostics.</summary>
internal static class OptionRules
{
    /// <summary>Most bytes all pools of one allocator may reserve together: 2^46, half the user half of a 48-bit
    /// address space, so a validated configuration also leaves room to actually reserve it.</summary>
    public const ulong MaxReservationBytes = 1UL << 46;

    /// <summary>Upper bound on slot and stack counts; larger pools are almost certainly a typo.</summary>
    public const int MaxSlotCount = 1 << 20;

    /// <summary>Largest single stack, slot or guard: 2^36 bytes (64 GiB), enough for a 4 GiB memory with a 32 GiB
    /// guard, and small enough that no size arithmetic (size + guard, pages per slot) can wrap.</summary>
    public const ulong MaxRegionBytes = 1UL << 36;

    /// <summary>Smallest stack a fiber runs on (room for its context, signal frames and some guest frames).</summary>
    public const ulong MinimumStackBytes = 16 * 1024;

    public static bool IsCountInRange(long value, long min, long max) => value >= min && value <= max;

    public static bool IsPageMultiple(ulong value, ulong pageSize) => value % pageSize == 0;

    /// <summary>A size in [page or 0, <see cref="MaxRegionBytes"/>].</summary>
    public static bool IsSizeInRange(ulong value, bool allowZero) => (allowZero || value > 0) && value <= MaxRegionBytes;

    /// <summary>Bytes one pool reserves: count × (size + per-slot extra). Exact for every value in range
    /// (2^20 × 2^37 fits a ulong).</summary>
    public static ulong PoolBytes(int count, ulong slotBytes, ulong perSlotExtra)
    {
        System.Diagnostics.Debug.Assert(count <= MaxSlotCount && slotBytes <= MaxRegionBytes && perSlotExtra <= MaxRegionBytes);
        return (ulong)count * (slotBytes + perSlotExtra);
    }

    /// <summary>Memory map regions (Linux VMAs) a stack pool can need at most. With PROT_NONE guards: a guard and a
    /// stack per slot, which never merge because their protections alternate, plus one. With guard markers
    /// (<paramref name="guardMarkers"/>) the pool is one read-write mapping: one, whatever its size.</summary>
    public static long StackPoolRegions(int stacks, bool guardMarkers) => guardMarkers ? 1 : 2L * stacks + 1;

    /// <summary>Regions a slot pool can need at most: in each slot an accessible part, its inaccessible rest, and two
    /// more per interior guard that splits the accessible part, plus one.</summary>
    public static long SlotPoolRegions(int slots, int interiorGuards) => (2L + 2L * interiorGuards) * slots + 1;
}
