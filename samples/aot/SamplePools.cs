using Allocator.Configuration;

namespace Allocator.Sample.Aot;

/// <summary>Per-request counters the host keeps in the request's instance slot.</summary>
public struct RequestCounters
{
    public long InputsRead;
    public long LastChecksum;
}

/// <summary>The instance slot of one request: counters, then scratch space with a guard page after it.</summary>
[SlotLayout]
[SlotRegion("Counters", typeof(RequestCounters))]
[SlotRegion("Scratch", Size = 4096, Alignment = 4096, GuardBytes = 4096)]
public partial struct RequestSlot;

/// <summary>The whole pool configuration, checked at compile time by the generator.</summary>
[PoolingConfiguration(
    TotalStacks = 64, StackSize = 64 * 1024, StackKeepResident = 8 * 1024, ZeroStacksOnReturn = true,
    InstanceCount = 64, InstanceLayout = typeof(RequestSlot), InstanceKeepResident = 4096, MaxUnusedWarmInstances = 16,
    MemoryCount = 1, MemorySize = 64 * 1024,
    CacheStackInStore = true)]
public static partial class SamplePools;
