using Allocator.Tests.Cancellation;

namespace Allocator.Tests.Support;

/// <summary>Queues what is posted until the test runs it, so "the driver yielded" is observable exactly.</summary>
internal sealed class QueueingContext : SynchronizationContext
{
    private readonly System.Collections.Concurrent.ConcurrentQueue<(SendOrPostCallback Callback, object? State)> _queue = new();

    public int Pending => _queue.Count;

    public override void Post(SendOrPostCallback d, object? state) => _queue.Enqueue((d, state));

    /// <summary>Calls <paramref name="start"/> with this context current.</summary>
    public TResult Run<TResult>(Func<TResult> start)
    {
        SynchronizationContext? previous = Current;
        SetSynchronizationContext(this);
        try
        {
            return start();
        }
        finally
        {
            SetSynchronizationContext(previous);
        }
    }

    /// <summary>Runs queued work on this thread, with this context current, until <paramref name="done"/>; returns
    /// how many items ran.</summary>
    public int RunUntil(Func<bool> done) => Run(() =>
    {
        int ran = 0;
        DateTime giveUp = DateTime.UtcNow + CancellationAssert.Timeout;
        while (!done())
        {
            Assert.True(DateTime.UtcNow < giveUp, "the run never finished");
            if (_queue.TryDequeue(out var item))
            {
                item.Callback(item.State);
                ran++;
            }
            else
            {
                Thread.Yield();
            }
        }
        return ran;
    });
}
