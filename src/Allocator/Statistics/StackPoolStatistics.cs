namespace Allocator;

/// <summary>A snapshot of a stack pool (<see cref="PoolingAllocator.GetStackStatistics"/>).</summary>
/// <param name="Capacity">Configured number of stacks.</param>
/// <param name="InUse">Stacks checked out now.</param>
/// <param name="Peak">Most stacks ever out of the shared free list at once: those checked out plus, at most, one
/// parked per CPU core for its next checkout. Exact for a thread that stays on one core, never lower than the true peak.</param>
/// <param name="TotalCheckouts">Successful checkouts since creation.</param>
/// <param name="Exhaustions">Checkouts that found every stack out.</param>
/// <param name="RefusedReturns">Returns refused as foreign, stale or double.</param>
/// <param name="ResidentBytes">Bytes of stack memory in physical memory now, measured with mincore / QueryWorkingSetEx.</param>
public readonly record struct StackPoolStatistics(int Capacity, int InUse, int Peak, long TotalCheckouts, long Exhaustions, long RefusedReturns, ulong ResidentBytes);
