namespace Allocator.Fibers;

/// <summary>A host function a guest calls by index. It runs on the driver's thread stack, never on the fiber
/// stack, and may complete asynchronously: the fiber stays suspended until the returned value is available.</summary>
/// <param name="call">Which function, its arguments, the fiber and the driver's cancellation token. The function, the
/// count and the arguments can be read while the call runs, across its awaits too; once it has ended they throw
/// <see cref="InvalidOperationException"/>, so copy what you need to keep.</param>
/// <returns>The value <c>allocator_fiber_host_call</c> hands back to the guest.</returns>
public delegate ValueTask<long> FiberHostFunction(FiberHostCall call);
