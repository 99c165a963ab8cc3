using System.Collections.Concurrent;
using System.Diagnostics.Tracing;
using System.Runtime.CompilerServices;
using Allocator.Tests.Stores;

namespace Allocator.Tests.Diagnostics;

/// <summary>The Allocator event source says who: which pool ran dry, what an abandoned Store held, what was still out
/// at teardown, and which token was refused by whom. Other tests run alongside and emit too, so every assertion looks
/// for this test's own Store ids and owner labels.</summary>
public sealed class AllocatorEventSourceTests
{
    [Fact]
    public void Exhaustion_is_reported_with_the_pool_and_its_limit()
    {
        using var events = new RecordingListener();
        using PoolingAllocator allocator = new(TestAllocators.SmallOptions(stacks: 1) with { DeclaredBy = "EventTests.ExhaustedPools" });
        using var store = new Store<int>(allocator, 0);
        StackToken held = store.CheckoutStack("held");
        Assert.Throws<PoolExhaustedException>(() => store.CheckoutStack("one too many"));
        store.ReturnStack(held);

        EventWrittenEventArgs e = events.Single(AllocatorEventSource.PoolExhaustedId, p => p[1] is string limit && limit.Contains("EventTests.ExhaustedPools"));
        Assert.Equal(EventLevel.Warning, e.Level);
        Assert.Equal("stacks", e.Payload![0]);
        Assert.Equal("TotalStacks of [PoolingConfiguration] on EventTests.ExhaustedPools", e.Payload[1]);
        Assert.Equal(1L, e.Payload[2]);
    }

    [Fact]
    public void A_foreign_return_is_reported_naming_the_owner_Store_and_TryReturn_reports_too()
    {
        using var events = new RecordingListener();
        using PoolingAllocator allocator = TestAllocators.Small();
        using var owner = new Store<int>(allocator, 0);
        using var other = new Store<int>(allocator, 0);
        StackToken token = owner.CheckoutStack("foreign-probe");
        Assert.Throws<InvalidTokenException>(() => other.ReturnStack(token));
        Assert.False(other.TryReturnStack(token));
        owner.ReturnStack(token);

        EventWrittenEventArgs[] refused = events.All(AllocatorEventSource.TokenRefusedId, p => p[1] is string d && d.Contains("foreign-probe"));
        Assert.Equal(2, refused.Length);
        Assert.All(refused, e =>
        {
            Assert.Equal(nameof(InvalidTokenReason.WrongOwner), e.Payload![0]);
            Assert.Contains($"belongs to Store {owner.Id}, not to Store {other.Id}", (string)e.Payload[1]!);
        });
    }

    [Fact]
    public void An_abandoned_Store_is_reported_with_the_owner_labels_of_what_it_held()
    {
        using var events = new RecordingListener();
        using PoolingAllocator allocator = TestAllocators.Small();
        long storeId = AbandonStoreHolding(allocator, "abandoned-probe");
        TestAllocators.CollectUntilAbandoned(allocator, rounds: 50);

        EventWrittenEventArgs e = events.Single(AllocatorEventSource.StoreAbandonedId, p => p[0] is long id && id == storeId);
        Assert.Contains("stack 'abandoned-probe'", (string)e.Payload![1]!);
        Assert.Contains("memories slot", (string)e.Payload[1]!);
    }

    [Fact]
    public void Teardown_with_items_still_out_is_reported_with_their_owners()
    {
        using var events = new RecordingListener();
        var allocator = TestAllocators.Small();
        var store = new Store<int>(allocator, 0);
        StackToken token = store.CheckoutStack("teardown-probe");
        allocator.Dispose();

        EventWrittenEventArgs e = events.Single(AllocatorEventSource.TeardownWithLiveItemsId, p => p[1] is string items && items.Contains("teardown-probe"));
        Assert.Equal(1, e.Payload![0]);
        Assert.Contains($"Store {store.Id}", (string)e.Payload[1]!);
        store.ReturnStack(token);
        store.Dispose();
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static long AbandonStoreHolding(PoolingAllocator allocator, string owner)
    {
        var store = new Store<int>(allocator, 0);
        store.CheckoutStack(owner);
        store.CheckoutMemory();
        return store.Id;
    }

    /// <summary>Records the Allocator source's events while it lives.</summary>
    private sealed class RecordingListener : EventListener
    {
        private readonly ConcurrentQueue<EventWrittenEventArgs> _events = new();

        public RecordingListener()
        {
            foreach (EventSource source in EventSource.GetSources())
            {
                if (source.Name == PoolingAllocator.EventSourceName)
                {
                    EnableEvents(source, EventLevel.Verbose);
                }
            }
        }

        public EventWrittenEventArgs[] All(int eventId, Func<IReadOnlyList<object?>, bool> match) =>
            _events.Where(e => e.EventId == eventId && e.Payload is not null && match(e.Payload)).ToArray();

        public EventWrittenEventArgs Single(int eventId, Func<IReadOnlyList<object?>, bool> match) => Assert.Single(All(eventId, match));

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
