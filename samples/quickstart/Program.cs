using Allocator;
using Allocator.Configuration;
using Allocator.Fibers;

using PoolingAllocator allocator = Pools.CreateAllocator();
GuestLibrary guest = GuestLibrary.Load("Guest");               // libGuest.so, built from guest/*.c

var store = new Store<string>(allocator, "request 1");
SlotToken slot = store.CheckoutInstance(accessibleBytes: RequestSlot.AccessibleSize);
var host = FiberHostFunctions.From(FiberHostEntry.Async(async call =>
{
    await Task.Delay(1);                                       // the fiber waits, suspended, on its pooled stack
    RequestSlot.Of(store, slot).Counters.HostCalls++;
    return call[0] * 2;
}));
// Creates a fiber on a pooled stack, runs it to its end (host calls run here, on this thread's stack) and gives the
// stack back before it returns, however the run ends.
long result = await store.RunFiberAsync("request 1", guest.GetExport("guest_entry"), 20, host);
Console.WriteLine($"guest returned {result} after {RequestSlot.Of(store, slot).Counters.HostCalls} host call(s)");
string name = store.IntoData();                                // every stack and slot is back in the pools
Console.WriteLine($"{name}: stacks in use {allocator.GetStackStatistics().InUse}");

public struct RequestCounters
{
    public long HostCalls;
}

[SlotLayout]
[SlotRegion("Counters", typeof(RequestCounters))]
[SlotRegion("Scratch", Size = 4096, Alignment = 4096, GuardBytes = 4096)]
public partial struct RequestSlot;                             // offsets, sizes, SlotSize, GuardRanges, Of(store, slot)

[PoolingConfiguration(TotalStacks = 16, StackSize = 64 * 1024, InstanceCount = 16, InstanceLayout = typeof(RequestSlot))]
public static partial class Pools;                             // CreateOptions(), CreateAllocator()
