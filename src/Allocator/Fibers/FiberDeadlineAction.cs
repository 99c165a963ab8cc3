namespace Allocator.Fibers;

/// <summary>The kinds of <see cref="FiberDeadlineUpdate"/>.</summary>
public enum FiberDeadlineAction
{
    /// <summary>Stop the guest with <see cref="FiberInterruptedException"/>.</summary>
    Interrupt,
    /// <summary>Extend the deadline and go on at once.</summary>
    Continue,
    /// <summary>Extend the deadline, yield asynchronously so other work runs, then go on.</summary>
    Yield,
}
