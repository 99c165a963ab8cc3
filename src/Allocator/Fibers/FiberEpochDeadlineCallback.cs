namespace Allocator.Fibers;

/// <summary>Decides what a fiber does when its epoch deadline has passed (Wasmtime's epoch deadline callback). It runs
/// on the driver's thread stack while the guest waits suspended; an exception it throws ends the fiber (unwound,
/// stack returned) and is rethrown by <see cref="Fiber.RunAsync"/>.</summary>
/// <param name="fiber">The fiber whose deadline passed.</param>
public delegate FiberDeadlineUpdate FiberEpochDeadlineCallback(Fiber fiber);
