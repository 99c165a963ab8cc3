namespace Allocator;

/// <summary>A snapshot of a pool of instance or memory slots (<see cref="PoolingAllocator.GetMemoryStatistics"/>).</summary>
/// <param name="Capacity">Configured number of slots.</param>
/// <param name="InUse">Slots checked out now.</param>
/// <param name="Peak">Most slots ever checked out at once.</param>
/// <param name="WarmFree">Free slots that still remember an affinity key.</param>
/// <param name="PendingReset">Returned slots waiting for their batched reset.</param>
/// <param name="AffinityHits">Checkouts that got the slot their key used last.</param>
/// <param name="TotalCheckouts">Successful checkouts since creation.</param>
/// <param name="Exhaustions">Checkouts that found every slot out.</param>
/// <param name="RefusedReturns">Returns refused as foreign, stale or double.</param>
/// <param name="ResidentBytes">Bytes of slot memory in physical memory now (mincore / QueryWorkingSetEx).</param>
public readonly record struct SlotPoolStatistics(int Capacity, int InUse, int Peak, int WarmFree, int PendingReset, long AffinityHits, long TotalCheckouts, long Exhaustions, long RefusedReturns, ulong ResidentBytes);
