namespace Allocator.Fibers;

/// <summary>The fiber's epoch deadline passed and it was interrupted (no callback, or the callback chose
/// <see cref="FiberDeadlineUpdate.Interrupt"/>). The guest was told to unwind and did so on its own stack; the stack
/// has been returned.</summary>
public sealed class FiberInterruptedException : Exception
{
    /// <summary>Creates the exception for fiber <paramref name="fiberName"/>.</summary>
    public FiberInterruptedException(string fiberName, ulong epoch, ulong deadline)
        : base($"Fiber '{fiberName}' was interrupted: the epoch reached {epoch}, past its deadline {deadline}.")
    {
        FiberName = fiberName;
        Epoch = epoch;
        Deadline = deadline;
    }

    /// <summary>The fiber that was interrupted.</summary>
    public string FiberName { get; }

    /// <summary>The epoch when the driver handled the deadline.</summary>
    public ulong Epoch { get; }

    /// <summary>The deadline that had passed.</summary>
    public ulong Deadline { get; }
}
