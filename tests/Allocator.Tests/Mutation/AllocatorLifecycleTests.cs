using System.Collections.Concurrent;
using System.Diagnostics.Tracing;
using System.Runtime.CompilerServices;
using Allocator.Memory;
using Allocator.Tests.Stores;
using Allocator.Tests.Support;

namespace Allocator.Tests.Mutation;

/// <summary>The allocator's own life: a null or failing construction gives back every pool it had reserved (seen
/// through the address space: two reservations of 2^46 bytes cannot both exist), a second Dispose changes nothing,
/// and the events of an abandoned Store and of a teardown list every item. Serial: the fault hook and the event
/// listener are process-wide.</summary>
[Collection(SerialCollection.Name)]
public sealed class AllocatorLifecycleTests : IDisposable
{
    private const int InjectedError = 12; // ENOMEM
    private static readonly nuint Region = (nuint)1 << 36; // OptionRules.MaxRegionBytes

    public void Dispose() => VirtualMemoryFaults.Hook = null;

    [Fact]
    public void Null_options_are_refused_by_name()
    {
        Assert.Equal("options", Assert.Throws<ArgumentNullException>(() => new PoolingAllocator(null!)).ParamName);
    }

    /// <summary>One pool that reserves nearly 2^46 bytes (half the 47-bit user address space), the others tiny.</summary>
    private static PoolingAllocatorOptions OneHugePool(string huge)
    {
        PoolingAllocatorOptions small = TestAllocators.SmallOptions();
        return huge switch
        {
            "stacks" => small with { Stacks = new StackPoolOptions { MaxStacks = 1023, StackSize = Region - VirtualMemory.PageSize } },
            "instances" => small with { Instances = new SlotPoolOptions { MaxSlots = 1023, SlotSize = Region } },
            _ => throw new ArgumentOutOfRangeException(nameof(huge)),
        };
    }

    [LinuxTheory]
    [InlineData("stacks", 2)]    // the instance pool's reservation fails: the stack pool must be given back
    [InlineData("instances", 3)] // the memory pool's reservation fails: the instance and stack pools must be given back
    public void A_failed_reservation_gives_back_the_pools_already_reserved(string huge, int failingReservation)
    {
        PoolingAllocatorOptions options = OneHugePool(huge);
        int reservations = 0;
        VirtualMemoryFaults.Hook = (operation, _) => operation == VirtualMemoryOperation.Reserve && ++reservations == failingReservation ? InjectedError : 0;
        VirtualMemoryException failure = Assert.Throws<VirtualMemoryException>(() => new PoolingAllocator(options));
        Assert.Equal(InjectedError, failure.ErrorCode);
        VirtualMemoryFaults.Hook = null;

        // No collection in between: only an explicit release makes room for the same huge pool again.
        using var again = new PoolingAllocator(options);
        Assert.Equal(0, again.Stacks.InUse); // not the statistics: their resident bytes would scan 2^46 bytes
    }

    [Fact]
    public void A_second_Dispose_keeps_what_the_first_found_live_and_reports_nothing_more()
    {
        using var events = new RecordingListener();
        var allocator = TestAllocators.Small(cache: false);
        var store = new Store<int>(allocator, 0);
        StackToken first = store.CheckoutStack("second-dispose-a");
        StackToken second = store.CheckoutStack("second-dispose-b");
        allocator.Dispose();
        IReadOnlyList<string> live = allocator.LiveAtDispose;
        Assert.Equal(2, live.Count);

        store.ReturnStack(first);
        store.ReturnStack(second);
        allocator.Dispose();

        Assert.Same(live, allocator.LiveAtDispose);
        EventWrittenEventArgs e = events.Single(AllocatorEventSource.TeardownWithLiveItemsId, p => p[1] is string items && items.Contains("second-dispose-a"));
        Assert.Equal(2, e.Payload![0]);
        Assert.Equal(string.Join("; ", live), e.Payload[1]);
        Assert.Contains("second-dispose-a", live[0] + live[1]);
        Assert.Contains("; ", (string)e.Payload[1]!);
        store.Dispose();
    }

    [Fact]
    public void Disposing_with_nothing_out_reports_no_teardown()
    {
        using var events = new RecordingListener();
        var allocator = TestAllocators.Small();
        using (var store = new Store<int>(allocator, 0))
        {
            store.ReturnStack(store.CheckoutStack("returned before teardown"));
        }
        allocator.Dispose();
        Assert.Empty(allocator.LiveAtDispose);
        Assert.Equal(0, events.Count(AllocatorEventSource.TeardownWithLiveItemsId)); // serial: no other allocator is torn down meanwhile
    }

    [Fact]
    public void An_abandoned_Store_is_reported_with_everything_it_held_or_with_nothing()
    {
        using var events = new RecordingListener();
        using PoolingAllocator allocator = TestAllocators.Small(cache: false);
        long holding = AbandonStore(allocator, returnAll: false, "abandoned-one", "abandoned-two");
        long empty = AbandonStore(allocator, returnAll: true, "returned-before-abandoning");
        for (int i = 0; i < 50 && allocator.AbandonedStores < 2; i++)
        {
            GC.Collect();
            GC.WaitForPendingFinalizers();
        }
        Assert.Equal(2, allocator.AbandonedStores);

        string held = (string)events.Single(AllocatorEventSource.StoreAbandonedId, p => p[0] is long id && id == holding).Payload![1]!;
        string[] items = held.Split("; ");
        Assert.Equal(2, items.Length);
        Assert.Contains(items, item => item.Contains("'abandoned-one'"));
        Assert.Contains(items, item => item.Contains("'abandoned-two'"));
        Assert.Equal("nothing", events.Single(AllocatorEventSource.StoreAbandonedId, p => p[0] is long id && id == empty).Payload![1]);
        Assert.Equal(0, allocator.GetStackStatistics().InUse);
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static long AbandonStore(PoolingAllocator allocator, bool returnAll, params string[] stackOwners)
    {
        // A Store gets its finalizer with its first checkout, and keeps it while it lives.
        var store = new Store<int>(allocator, 0);
        foreach (StackToken token in stackOwners.Select(store.CheckoutStack).ToList())
        {
            if (returnAll)
            {
                store.ReturnStack(token);
            }
        }
        return store.Id;
    }

    [Fact]
    public void Exhaustion_events_carry_the_pool_the_limit_and_its_value_while_someone_listens()
    {
        using var events = new RecordingListener();
        using PoolingAllocator allocator = new(TestAllocators.SmallOptions(stacks: 1) with { DeclaredBy = "LifecycleTests.OneStack" });
        using var store = new Store<int>(allocator, 0);
        StackToken held = store.CheckoutStack("held");
        Assert.Throws<PoolExhaustedException>(() => store.CheckoutStack("one too many"));
        store.ReturnStack(held);
        EventWrittenEventArgs e = events.Single(AllocatorEventSource.PoolExhaustedId, p => p[1] is string limit && limit.Contains("LifecycleTests.OneStack"));
        Assert.Equal(["stacks", "TotalStacks of [PoolingConfiguration] on LifecycleTests.OneStack", 1L], e.Payload!);
    }

    /// <summary>Records the Allocator source's events while it lives.</summary>
    private sealed class RecordingListener : EventListener
    {
        private readonly ConcurrentQueue<EventWrittenEventArgs> _events = new();

        public int Count(int eventId) => _events.Count(e => e.EventId == eventId);

        public EventWrittenEventArgs Single(int eventId, Func<IReadOnlyList<object?>, bool> match) =>
            Assert.Single(_events, e => e.EventId == eventId && e.Payload is not null && match(e.Payload));

        protected override void OnEventSourceCreated(EventSource eventSource)
        {
            // Called from the base constructor for sources that exist already, before this class's fields are set.
            if (eventSource.Name == PoolingAllocator.EventSourceName)
            {
                EnableEvents(eventSource, EventLevel.Verbose);
            }
        }

        protected override void OnEventWritten(EventWrittenEventArgs eventData) => _events?.Enqueue(eventData);
    }
}
