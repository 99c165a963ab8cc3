using System.Threading.Tasks.Sources;
using Allocator.Fibers;

namespace Allocator.PeerBenchmarks.Cases;

/// <summary>"Pending once" on our side, defined as on Wasmtime's.</summary>
/// <remarks>
/// <para>Wasmtime (guest/wasmtime_host.c): the async host function's continuation reports Pending on its first poll,
/// so <c>wasmtime_call_future_poll</c> returns false to the caller's loop; the loop polls again, the continuation
/// reports Ready and the guest goes on. One pending call costs one extra trip out to the caller and back.</para>
/// <para>Ours: the host function returns a <see cref="ValueTask{TResult}"/> over this reusable source that is not
/// completed when the driver first looks at it, so <see cref="Fiber.RunAsync"/> returns to its caller unfinished.
/// <see cref="Drive"/>, the caller's loop, then completes it; its continuations run inline (no
/// RunContinuationsAsynchronously, no context captured), so the driver goes on on the same thread without a hop,
/// as Wasmtime's next poll does. A hop would break the definition, so it throws instead of being measured.</para>
/// <para>One call at a time, on the thread that created the source; no allocation per call.</para>
/// </remarks>
internal sealed class PendingOnceSource : IValueTaskSource<long>
{
    private readonly int _thread = Environment.CurrentManagedThreadId;
    private ManualResetValueTaskSourceCore<long> _core;
    private long _answer;
    private bool _outstanding;

    /// <summary>The host function: answers i + 1, pending until <see cref="Drive"/> completes it.</summary>
    public ValueTask<long> Answer(FiberHostCall call)
    {
        if (Environment.CurrentManagedThreadId != _thread || _outstanding)
        {
            throw new InvalidOperationException("A pending host call ran on another thread or overlapped another: the driver hopped threads.");
        }
        _core.Reset();
        _answer = call[0] + 1;
        _outstanding = true;
        return new ValueTask<long>(this, _core.Version);
    }

    /// <summary>Runs <paramref name="fiber"/> to its end, completing each pending host call from this loop; throws
    /// unless exactly <paramref name="expectedPending"/> calls were pending.</summary>
    public long Drive(Fiber fiber, long expectedPending)
    {
        long pending = 0;
        ValueTask<long> run = fiber.RunAsync();
        while (!run.IsCompleted)
        {
            if (!_outstanding)
            {
                throw new InvalidOperationException("RunAsync is unfinished with no host call outstanding: the driver went on on another thread.");
            }
            _outstanding = false;
            pending++;
            _core.SetResult(_answer);
        }
        long result = run.GetAwaiter().GetResult();
        if (pending != expectedPending)
        {
            throw new InvalidOperationException($"{pending} host calls were pending, expected {expectedPending}.");
        }
        return result;
    }

    long IValueTaskSource<long>.GetResult(short token) => _core.GetResult(token);

    ValueTaskSourceStatus IValueTaskSource<long>.GetStatus(short token) => _core.GetStatus(token);

    void IValueTaskSource<long>.OnCompleted(Action<object?> continuation, object? state, short token, ValueTaskSourceOnCompletedFlags flags)
        => _core.OnCompleted(continuation, state, token, flags);
}
