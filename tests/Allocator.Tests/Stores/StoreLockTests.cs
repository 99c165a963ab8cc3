using System.Diagnostics.Tracing;
using Allocator.Stores;

namespace Allocator.Tests.Stores;

/// <summary>The Store's inline lock (issue 9 replaced the lock object): mutual exclusion, and reentry by its holder,
/// which a Store needs because it raises events under the lock whose listeners run on the same thread and may call
/// the same Store.</summary>
public sealed class StoreLockTests
{
    [Fact]
    public void A_listener_that_calls_the_same_store_from_an_event_raised_under_its_lock_does_not_hang()
    {
        using PoolingAllocator allocator = TestAllocators.Small(stacks: 1, cache: false);
        var store = new Store<int>(allocator, 1);
        StackToken held = store.CheckoutStack("held");
        var outcome = new List<string>();
        var run = new Thread(() =>
        {
            using var listener = new CallingBackListener(Environment.CurrentManagedThreadId, () => outcome.Add($"out {store.StacksCheckedOut}"));
            // Exhaustion is raised inside the checkout, under the Store's lock; so is a token refusal when judged.
            Assert.Throws<PoolExhaustedException>(() => store.CheckoutStack("one too many"));
            Assert.Throws<InvalidTokenException>(() => store.GetStackBounds(default));
            store.ReturnStack(held);
            store.Dispose();
        });
        run.Start();
        Assert.True(run.Join(TimeSpan.FromSeconds(30)), "The listener's call into the Store deadlocked on its lock.");
        Assert.Equal(["out 1", "out 1"], outcome);
        Assert.Equal(0, allocator.Stacks.InUse);
    }

    [Fact]
    public void The_lock_excludes_other_threads_and_lets_its_holder_enter_again()
    {
        var box = new LockBox();
        box.Lock.Enter();
        box.Lock.Enter(); // the holder again
        Assert.True(box.Lock.IsHeldByCurrentThread);
        bool entered = false;
        var other = new Thread(() =>
        {
            box.Lock.Enter();
            entered = true;
            box.Lock.Exit();
        });
        other.Start();
        Assert.False(other.Join(200)); // waits while the lock is held, twice
        box.Lock.Exit();
        Assert.False(other.Join(200)); // still held once
        Assert.False(Volatile.Read(ref entered));
        box.Lock.Exit();
        Assert.True(other.Join(TimeSpan.FromSeconds(30)));
        Assert.True(entered);
        Assert.False(box.Lock.IsHeldByCurrentThread);
    }

    [Fact]
    public void Racing_threads_never_hold_the_lock_together()
    {
        var box = new LockBox();
        int inside = 0;
        int overlaps = 0;
        long total = 0;
        var threads = Enumerable.Range(0, 4).Select(_ => new Thread(() =>
        {
            for (int i = 0; i < 20_000; i++)
            {
                box.Lock.Enter();
                if (Interlocked.Increment(ref inside) != 1)
                {
                    Interlocked.Increment(ref overlaps);
                }
                total++; // a plain increment: only exclusion keeps it exact
                Interlocked.Decrement(ref inside);
                box.Lock.Exit();
            }
        })).ToArray();
        foreach (Thread thread in threads)
        {
            thread.Start();
        }
        foreach (Thread thread in threads)
        {
            thread.Join();
        }
        Assert.Equal(0, overlaps);
        Assert.Equal(4 * 20_000, total);
    }

    private sealed class LockBox
    {
        public StoreLock Lock;
    }

    /// <summary>Calls back on every event of the library raised on one thread.</summary>
    private sealed class CallingBackListener(int threadId, Action callBack) : EventListener
    {
        protected override void OnEventSourceCreated(EventSource eventSource)
        {
            if (eventSource.Name == PoolingAllocator.EventSourceName)
            {
                EnableEvents(eventSource, EventLevel.Verbose);
            }
        }

        protected override void OnEventWritten(EventWrittenEventArgs eventData)
        {
            // Fields are not set yet while the base constructor reports existing sources.
            if (callBack is not null && Environment.CurrentManagedThreadId == threadId)
            {
                callBack();
            }
        }
    }
}
