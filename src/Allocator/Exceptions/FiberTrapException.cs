namespace Allocator.Fibers;

/// <summary>The guest ended its fiber with <c>allocator_fiber_trap</c>. The fiber's stack has been returned.</summary>
public sealed class FiberTrapException : Exception
{
    /// <summary>Creates the exception for fiber <paramref name="fiberName"/> and the guest's fault code.</summary>
    public FiberTrapException(string fiberName, int trapCode)
        : base($"Fiber '{fiberName}' trapped with code {trapCode}.")
    {
        FiberName = fiberName;
        TrapCode = trapCode;
    }

    /// <summary>The fiber that trapped.</summary>
    public string FiberName { get; }

    /// <summary>The code the guest passed to <c>allocator_fiber_trap</c>; its meaning is the guest's.</summary>
    public int TrapCode { get; }
}
