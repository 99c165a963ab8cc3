using System.Runtime.CompilerServices;
using System.Threading.Tasks.Sources;

namespace Allocator.Fibers;

/// <summary>A run's wait for a pending host task: the host call's value task, the driver's one cached continuation on
/// it, and, for a run with a token (still an async method), the awaiter that run awaits, completed once per wait by
/// whichever of the host task's end and a cancel (or revoke) wins the driver's ownership word. A pending host call so
/// allocates nothing; Wasmtime polls a pending host future the same way. Created by a fiber's first pending call: a
/// fiber whose host calls all answer at once never pays for it.</summary>
/// <remarks>
/// <para>The driver (<see cref="FiberDriver"/>) runs the protocol; this holds its state. A run without a token does
/// not await this: the host task's end goes on with the run itself (see the driver's <c>ContinueRun</c>).</para>
/// <para>The run awaits this object itself, a class, and not a <c>ValueTask&lt;bool&gt;</c> over it: an async method
/// builder hands a struct awaiter (ValueTaskAwaiter, ConfiguredValueTaskAwaiter) to the runtime's
/// <c>AsyncTaskMethodBuilder.AwaitUnsafeOnCompleted</c>, which boxes it on win-x64 with .NET 10.0.12 (32 B per await,
/// measured under Wine also in a plain async method without fibers; 0 B on linux-x64; dotnet/runtime#130185). A class
/// awaiter takes the builder's plain path, <c>UnsafeOnCompleted(box.MoveNextAction)</c>, whose delegate the state
/// machine box keeps. No synchronization context is captured (as ConfigureAwait(false) did).</para>
/// </remarks>
internal sealed class FiberHostWait(Action onHostEnded) : ICriticalNotifyCompletion
{
    /// <summary>Runs the awaiting continuation (an <see cref="Action"/>, passed as the state: no closure).</summary>
    private static readonly Action<object?> s_invokeContinuation = static continuation => ((Action)continuation!)();

    /// <summary>What the run awaits (a mutable struct: used in place, never copied).</summary>
    internal ManualResetValueTaskSourceCore<bool> Core;

    /// <summary>The host call's value task while the driver may still need it; forgotten once observed.</summary>
    internal ValueTask<long> Pending;

    /// <summary>The driver's continuation on the host's value task, created once per fiber.</summary>
    public Action OnHostEnded { get; } = onHostEnded;

    /// <summary>The wait is its own awaiter (see the remarks).</summary>
    public FiberHostWait GetAwaiter() => this;

    public bool IsCompleted => Core.GetStatus(Core.Version) != ValueTaskSourceStatus.Pending;

    /// <summary>True when the host task ended the wait, false when a cancel (or revoke) did.</summary>
    public bool GetResult()
    {
        bool hostWon = Core.GetResult(Core.Version);
        // Reset at once, not at the next wait: the reset drops the awaiting continuation, whose target is the run's
        // state machine box. (When that box was pooled, it drove some other fiber's run once this one ended, and a
        // reference kept here kept that fiber and its Store alive: an abandoned Store was never finalized.)
        Core.Reset();
        return hostWon;
    }

    public void OnCompleted(Action continuation) =>
        Core.OnCompleted(s_invokeContinuation, continuation, Core.Version, ValueTaskSourceOnCompletedFlags.FlowExecutionContext);

    public void UnsafeOnCompleted(Action continuation) =>
        Core.OnCompleted(s_invokeContinuation, continuation, Core.Version, ValueTaskSourceOnCompletedFlags.None);
}
