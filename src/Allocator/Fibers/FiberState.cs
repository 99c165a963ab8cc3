namespace Allocator.Fibers;

/// <summary>Where a <see cref="Fiber"/> is in its life. Completed, Trapped, Faulted, Cancelled and Interrupted are
/// final: the stack has been returned.</summary>
public enum FiberState
{
    /// <summary>Has a stack, has not run yet.</summary>
    Created,
    /// <summary>Guest code is on the CPU.</summary>
    Running,
    /// <summary>Suspended in a host call: only native guest frames are on its stack while the host runs or awaits.</summary>
    Suspended,
    /// <summary>The entry function returned.</summary>
    Completed,
    /// <summary>The guest reported a fault with <c>allocator_fiber_trap</c>.</summary>
    Trapped,
    /// <summary>A host function threw, or the guest made an invalid host call; the fiber was unwound.</summary>
    Faulted,
    /// <summary>Cancelled (token, <see cref="Fiber.Cancel"/>, <see cref="Fiber.Dispose"/> or its Store's Dispose)
    /// and unwound.</summary>
    Cancelled,
    /// <summary>Its epoch deadline passed and it was interrupted (<see cref="FiberInterruptedException"/>); unwound.</summary>
    Interrupted,
    /// <summary>Cancelled, not yet ended: typically an asynchronous host function's task is still running, and the
    /// guest waits in that call and keeps its stack, and the Store keeps every slot it lent, until the task ends; then
    /// the guest unwinds and everything goes back (the state becomes <see cref="Cancelled"/>). Also seen briefly while
    /// the guest unwinds.</summary>
    Cancelling,
}
