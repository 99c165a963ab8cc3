namespace Allocator.Fibers;

/// <summary>A run's wait for a pending host task: the host call's value task and the driver's one cached continuation
/// on it. Whichever of the task's end and a cancel (or revoke) wins the driver's ownership word ends the wait; the
/// task's end goes on with the run itself (the driver's <c>ContinueRun</c>), so a pending host call allocates nothing
/// and passes through no async state machine. Wasmtime polls a pending host future the same way. Created by a fiber's
/// first pending call: a fiber whose host calls all answer at once never pays for it.</summary>
/// <remarks>Nothing here is awaited: an async method awaiting a struct awaiter boxed it on win-x64
/// (dotnet/runtime#130185, 32 B per await with .NET 10.0.12), and there is no await left to box.</remarks>
internal sealed class FiberHostWait(Action onHostEnded)
{
    /// <summary>The host call's value task while the driver may still need it; forgotten once observed.</summary>
    internal ValueTask<long> Pending;

    /// <summary>The driver's continuation on the host's value task, created once per fiber.</summary>
    public Action OnHostEnded { get; } = onHostEnded;
}
