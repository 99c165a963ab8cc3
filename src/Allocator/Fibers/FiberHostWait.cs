using System.Threading.Tasks.Sources;

namespace Allocator.Fibers;

/// <summary>A run's wait for a pending host task: the value task source the run awaits, completed once per wait by
/// whichever of the host task's end and a cancel (or revoke) wins <see cref="State"/>, with one cached continuation on
/// the host's value task. A pending host call so allocates nothing; Wasmtime polls a pending host future the same
/// way. Created by a fiber's first pending call: a fiber whose host calls all answer at once never pays for it.</summary>
/// <remarks>The driver (<see cref="FiberDriver"/>) runs the protocol; this holds its state.</remarks>
internal sealed class FiberHostWait(Action onHostEnded) : IValueTaskSource<bool>
{
    public const int NotWaiting = 0;
    public const int Waiting = 1;
    public const int HostWon = 2;
    public const int CancelWon = 3;

    /// <summary>What the run awaits (a mutable struct: used in place, never copied).</summary>
    internal ManualResetValueTaskSourceCore<bool> Core;

    /// <summary>The host call's value task while the driver may still need it; forgotten once observed.</summary>
    internal ValueTask<long> Pending;

    /// <summary>NotWaiting, Waiting, HostWon or CancelWon.</summary>
    internal int State;

    /// <summary>The driver's continuation on the host's value task, created once per fiber.</summary>
    public Action OnHostEnded { get; } = onHostEnded;

    bool IValueTaskSource<bool>.GetResult(short token)
    {
        bool hostWon = Core.GetResult(token);
        // Reset at once, not at the next wait: the reset drops the awaiting continuation, whose state is the run's
        // pooled state machine box. Once the run ends, that box drives some other fiber's run; a reference kept here
        // kept that fiber (and its Store) alive as long as this one, so an abandoned Store was never finalized.
        Core.Reset();
        return hostWon;
    }

    ValueTaskSourceStatus IValueTaskSource<bool>.GetStatus(short token) => Core.GetStatus(token);

    void IValueTaskSource<bool>.OnCompleted(Action<object?> continuation, object? state, short token, ValueTaskSourceOnCompletedFlags flags) =>
        Core.OnCompleted(continuation, state, token, flags);
}
