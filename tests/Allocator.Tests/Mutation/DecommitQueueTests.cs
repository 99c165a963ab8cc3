using Allocator.Memory;
using Allocator.Pooling;

namespace Allocator.Tests.Mutation;

/// <summary>The decommit queue against a recording target: when resets run, that a failed reset leaves its slot (and
/// the rest of its batch) pending and never freed, the exact pending and unsettled counts, and waiting for a flush in
/// flight.</summary>
public sealed class DecommitQueueTests
{
    [Fact]
    public void Batch_size_one_resets_and_frees_at_once()
    {
        var target = new RecordingTarget();
        var queue = new DecommitQueue(target, batchSize: 1);
        queue.Enqueue(3);
        queue.Enqueue(1);
        Assert.Equal(["reset 3", "free 3", "reset 1", "free 1"], target.Log);
        Assert.Equal(0, queue.Pending);
        Assert.Equal(0, queue.Unsettled);
        Assert.False(queue.FlushOrWait());
    }

    [Fact]
    public void A_failed_single_reset_stays_pending_unfreed_until_a_flush_succeeds()
    {
        var target = new RecordingTarget { FailOnce = { 2 } };
        var queue = new DecommitQueue(target, batchSize: 1);
        Assert.Throws<VirtualMemoryException>(() => queue.Enqueue(2));
        Assert.Equal(["reset 2 failed"], target.Log);
        Assert.Equal(1, queue.Pending);
        Assert.Equal(1, queue.Unsettled);

        Assert.True(queue.FlushOrWait());
        Assert.Equal(["reset 2 failed", "reset 2", "free 2"], target.Log);
        Assert.Equal(0, queue.Pending);
        Assert.False(queue.FlushOrWait());
    }

    [Fact]
    public void Larger_batches_wait_until_full_then_reset_in_index_order()
    {
        var target = new RecordingTarget();
        var queue = new DecommitQueue(target, batchSize: 3);
        queue.Enqueue(4);
        queue.Enqueue(0);
        Assert.Empty(target.Log);
        Assert.Equal(2, queue.Pending);
        Assert.Equal(2, queue.Unsettled);
        queue.Enqueue(2);
        // A batch is reset in index order, so a target can coalesce neighbours' work.
        Assert.Equal(["reset 0", "reset 2", "reset 4", "free 0", "free 2", "free 4"], target.Log);
        Assert.Equal(0, queue.Pending);
        Assert.Equal(0, queue.Unsettled);
        queue.Enqueue(1);
        Assert.Equal(1, queue.Pending);
        Assert.True(queue.FlushOrWait());
        Assert.Equal(["reset 1", "free 1"], target.Log[^2..]);
        Assert.Equal(0, queue.Pending);
    }

    [Fact]
    public void A_failure_in_a_batch_frees_the_slots_reset_before_it_and_keeps_the_rest_pending()
    {
        var target = new RecordingTarget { FailOnce = { 5 } };
        var queue = new DecommitQueue(target, batchSize: 3);
        queue.Enqueue(1);
        queue.Enqueue(5);
        Assert.Throws<VirtualMemoryException>(() => queue.Enqueue(7));
        Assert.Equal(["reset 1", "reset 5 failed", "free 1"], target.Log);
        Assert.Equal(2, queue.Pending);
        Assert.Equal(2, queue.Unsettled);

        target.Log.Clear();
        queue.FlushAll();
        Assert.Equal(["reset 5", "reset 7", "free 5", "free 7"], target.Log);
        Assert.Equal(0, queue.Pending);
        Assert.Equal(0, queue.Unsettled);
    }

    [Fact]
    public void FlushAll_stops_when_a_reset_keeps_failing_only_by_throwing()
    {
        var target = new RecordingTarget { FailAlways = { 6 } };
        var queue = new DecommitQueue(target, batchSize: 2);
        queue.Enqueue(6);
        Assert.Throws<VirtualMemoryException>(() => queue.FlushAll());
        Assert.Equal(1, queue.Pending);
        Assert.DoesNotContain("free 6", target.Log);
    }

    [Fact]
    public void DropPending_hands_back_the_unreset_slots_and_empties_the_queue()
    {
        var target = new RecordingTarget();
        var queue = new DecommitQueue(target, batchSize: 4);
        queue.Enqueue(2);
        queue.Enqueue(0);
        Assert.Equal([2, 0], queue.DropPending());
        Assert.Empty(target.Log);
        Assert.Equal(0, queue.Pending);
        Assert.Empty(queue.DropPending());
        Assert.False(queue.FlushOrWait());
    }

    [Fact]
    public async Task A_checkout_with_nothing_pending_waits_for_a_flush_in_flight_and_then_looks_again()
    {
        using var resetting = new ManualResetEventSlim();
        using var release = new ManualResetEventSlim();
        var target = new RecordingTarget { Gate = (resetting, release) };
        var queue = new DecommitQueue(target, batchSize: 2);
        queue.Enqueue(0);
        var flusher = Task.Run(() => queue.Enqueue(1));
        Assert.True(resetting.Wait(TimeSpan.FromSeconds(30)));
        // Both slots are in flight: none pending, both unsettled.
        Assert.Equal(0, queue.Pending);
        Assert.Equal(2, queue.Unsettled);

        // A batch-size-one queue in the same state would reset on the caller's thread; this one queues behind it.
        // A thread of its own, so the test can see it block: a pool task might start only after the release (then
        // it finds nothing in flight and rightly returns false), which made this test fail under load.
        bool waited = false;
        var waiter = new Thread(() => waited = queue.FlushOrWait());
        waiter.Start();
        while ((waiter.ThreadState & ThreadState.WaitSleepJoin) == 0)
        {
            Assert.True(waiter.IsAlive, "FlushOrWait returned instead of waiting for the flush in flight.");
            Thread.Yield();
        }
        release.Set();
        Assert.True(waiter.Join(TimeSpan.FromSeconds(30)));
        Assert.True(waited);
        await flusher.WaitAsync(TimeSpan.FromSeconds(30));
        Assert.Equal(0, queue.Unsettled);
        Assert.Equal(["reset 0", "reset 1", "free 0", "free 1"], target.Log);
    }

    [Fact]
    public async Task With_batch_size_one_the_reset_runs_on_the_returning_thread_and_is_not_in_flight()
    {
        using var resetting = new ManualResetEventSlim();
        using var release = new ManualResetEventSlim();
        var target = new RecordingTarget { Gate = (resetting, release) };
        var queue = new DecommitQueue(target, batchSize: 1);
        var returning = Task.Run(() => queue.Enqueue(0));
        Assert.True(resetting.Wait(TimeSpan.FromSeconds(30)));
        // Reset without the queue's lock or its in-flight count: a checkout finds nothing to flush or wait for.
        Assert.Equal(0, queue.Pending);
        Assert.Equal(0, queue.Unsettled);
        Assert.False(queue.FlushOrWait());
        release.Set();
        await returning.WaitAsync(TimeSpan.FromSeconds(30));
        Assert.Equal(["reset 0", "free 0"], target.Log);
    }

    [Fact]
    public async Task FlushAll_goes_round_again_for_slots_returned_while_it_flushed()
    {
        using var resetting = new ManualResetEventSlim();
        using var release = new ManualResetEventSlim();
        var target = new RecordingTarget();
        var queue = new DecommitQueue(target, batchSize: 3);
        queue.Enqueue(0);
        target.Gate = (resetting, release);
        var flushing = Task.Run(queue.FlushAll);
        Assert.True(resetting.Wait(TimeSpan.FromSeconds(30)));
        target.Gate = null;
        queue.Enqueue(5); // returned while 0 is being reset: pending, the batch not full
        Assert.Equal(1, queue.Pending);
        release.Set();
        await flushing.WaitAsync(TimeSpan.FromSeconds(30));
        Assert.Equal(0, queue.Pending);
        Assert.Equal(["reset 0", "free 0", "reset 5", "free 5"], target.Log);
    }

    [Fact]
    public async Task A_batch_that_fails_after_the_pool_dropped_its_pending_slots_frees_them_unreset()
    {
        // Regression: the failed slots went back to pending after Dispose had dropped the pending ones, and a disposed
        // pool never flushes again, so they were never freed and its reservation stayed mapped until finalization.
        using var resetting = new ManualResetEventSlim();
        using var release = new ManualResetEventSlim();
        var target = new RecordingTarget { Gate = (resetting, release), FailOnce = { 0 } };
        var queue = new DecommitQueue(target, batchSize: 2);
        queue.Enqueue(1);
        var flusher = Task.Run(() => queue.Enqueue(0));
        Assert.True(resetting.Wait(TimeSpan.FromSeconds(30)));
        Assert.Empty(queue.DropPending()); // the pool is torn down while the batch is in flight
        release.Set();
        await Assert.ThrowsAsync<VirtualMemoryException>(() => flusher.WaitAsync(TimeSpan.FromSeconds(30)));
        Assert.Equal(["reset 0 failed", "free 0", "free 1"], target.Log);
        Assert.Equal(0, queue.Unsettled);
    }

    [Fact]
    public void A_single_reset_that_fails_after_the_pool_dropped_its_pending_slots_frees_it_unreset()
    {
        var target = new RecordingTarget { FailOnce = { 5 } };
        var queue = new DecommitQueue(target, batchSize: 1);
        Assert.Empty(queue.DropPending());
        Assert.Throws<VirtualMemoryException>(() => queue.Enqueue(5));
        Assert.Equal(["reset 5 failed", "free 5"], target.Log);
        Assert.Equal(0, queue.Unsettled);
    }

    [Fact]
    public void Batches_after_the_first_reuse_its_buffer_and_allocate_nothing()
    {
        var target = new CountingTarget();
        var queue = new DecommitQueue(target, batchSize: 4);
        for (int i = 0; i < 4; i++)
        {
            queue.Enqueue(i); // the first batch allocates the buffer (and the pending list grows to its size)
        }
        long before = GC.GetAllocatedBytesForCurrentThread();
        for (int i = 0; i < 400; i++)
        {
            queue.Enqueue(i % 64);
        }
        Assert.True(queue.FlushOrWait() is false, "every batch was full, so nothing is pending");
        Assert.Equal(0, GC.GetAllocatedBytesForCurrentThread() - before);
        Assert.Equal(404, target.Resets);
        Assert.Equal(404, target.Frees);
    }

    [Fact]
    public void A_batch_larger_than_the_spare_buffer_is_reset_whole()
    {
        // Slots requeued by a failed reset join the next batch, which can then be larger than the batch size.
        var target = new RecordingTarget { FailOnce = { 1 } };
        var queue = new DecommitQueue(target, batchSize: 2);
        queue.Enqueue(8);
        queue.Enqueue(9); // a full batch: the spare buffer now holds two
        Assert.Throws<VirtualMemoryException>(() =>
        {
            queue.Enqueue(2);
            queue.Enqueue(1);
        });
        target.Log.Clear();
        queue.Enqueue(6); // 1 and 2 pending again, plus 6: three in a batch of two
        Assert.Equal(["reset 1", "reset 2", "reset 6", "free 1", "free 2", "free 6"], target.Log);
        Assert.Equal(0, queue.Unsettled);
    }

    [Fact]
    public async Task A_batch_taken_while_another_is_in_flight_gets_a_buffer_of_its_own()
    {
        // Regression guard: the spare buffer belongs to one flush at a time. Shared, the second batch would overwrite
        // the first one's slots while it is being reset, and the first flush would free the second's slots twice.
        using var resetting = new ManualResetEventSlim();
        using var release = new ManualResetEventSlim();
        var target = new RecordingTarget();
        var queue = new DecommitQueue(target, batchSize: 2);
        queue.Enqueue(20);
        queue.Enqueue(21); // warm: the spare buffer exists
        target.Log.Clear();
        target.Gate = (resetting, release);
        queue.Enqueue(0);
        var first = Task.Run(() => queue.Enqueue(1));
        Assert.True(resetting.Wait(TimeSpan.FromSeconds(30)));
        target.Gate = null; // the first flush waits inside the reset of 0; the second runs through
        queue.Enqueue(10);
        queue.Enqueue(11);
        release.Set();
        await first.WaitAsync(TimeSpan.FromSeconds(30));
        Assert.Equal(["reset 10", "reset 11", "free 10", "free 11", "reset 0", "reset 1", "free 0", "free 1"], target.Log);
        Assert.Equal(0, queue.Unsettled);
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(DecommitQueue.InsertionSortLimit)] // by insertion
    [InlineData(DecommitQueue.InsertionSortLimit + 1)] // by Span.Sort
    [InlineData(500)]
    public void Batches_of_any_size_are_sorted_by_index(int size)
    {
        var random = new Random(size);
        int[] shuffled = Enumerable.Range(0, size).Select(i => i * 3).OrderBy(_ => random.Next()).ToArray();
        int[] descending = Enumerable.Range(0, size).Select(i => size - i).ToArray();
        int[] repeated = Enumerable.Range(0, size).Select(i => i % 3).ToArray();
        foreach (int[] batch in new[] { shuffled, descending, repeated })
        {
            int[] expected = batch.Order().ToArray();
            DecommitQueue.SortBatch(batch);
            Assert.Equal(expected, batch);
        }
    }

    [Fact]
    public void A_large_batch_is_reset_in_index_order()
    {
        var target = new RecordingTarget();
        var queue = new DecommitQueue(target, batchSize: 100);
        foreach (int slot in Enumerable.Range(0, 100).Reverse())
        {
            queue.Enqueue(slot);
        }
        Assert.Equal(Enumerable.Range(0, 100).Select(i => $"reset {i}"), target.Log.Take(100));
    }

    /// <summary>Counts without allocating, for the allocation test.</summary>
    private sealed class CountingTarget : IDecommitTarget
    {
        public int Resets { get; private set; }

        public int Frees { get; private set; }

        public void Reset(int index) => Resets++;

        public void Free(int index) => Frees++;
    }

    private sealed class RecordingTarget : IDecommitTarget
    {
        private readonly object _lock = new();

        public List<string> Log { get; } = [];

        public HashSet<int> FailOnce { get; } = [];

        public HashSet<int> FailAlways { get; } = [];

        public (ManualResetEventSlim Resetting, ManualResetEventSlim Release)? Gate { get; set; }

        public void Reset(int index)
        {
            if (Gate is { } gate)
            {
                gate.Resetting.Set();
                gate.Release.Wait();
            }
            lock (_lock)
            {
                if (FailOnce.Remove(index) || FailAlways.Contains(index))
                {
                    Log.Add($"reset {index} failed");
                    throw new VirtualMemoryException("madvise", 12, 4096);
                }
                Log.Add($"reset {index}");
            }
        }

        public void Free(int index)
        {
            lock (_lock)
            {
                Log.Add($"free {index}");
            }
        }
    }
}
