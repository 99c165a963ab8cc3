namespace Allocator.Fibers;

/// <summary>A host function that answers at once. On Linux x64 it runs on the driver's thread stack directly from
/// the guest's host call (a native trampoline moves onto that stack and calls back), without switching back to the
/// driver loop, which makes it several times cheaper than a <see cref="FiberHostFunction"/>. It must not block for
/// long or resume its own fiber; an exception it throws ends the fiber and is rethrown by <see cref="Fiber.RunAsync"/>.</summary>
/// <param name="call">Which function, its arguments, the fiber and the driver's cancellation token. Its arguments can
/// be read only while the function runs (the call names the request, it does not carry a copy): a call kept past its
/// return throws <see cref="InvalidOperationException"/> on reading them, so copy what you need to keep.</param>
/// <returns>The value <c>allocator_fiber_host_call</c> hands back to the guest.</returns>
public delegate long FiberSyncHostFunction(FiberHostCall call);
