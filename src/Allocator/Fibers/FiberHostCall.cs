namespace Allocator.Fibers;

/// <summary>One call from a guest to a host function: a copy of the request, safe to keep across awaits.</summary>
public readonly struct FiberHostCall
{
    /// <summary>Most arguments one host call can pass (a guest passing more faults the fiber).</summary>
    public const int MaxArguments = 8;

    private readonly FiberHostArguments _arguments;

    internal FiberHostCall(Fiber fiber, int function, in FiberHostArguments arguments, int argumentCount)
    {
        Fiber = fiber;
        Function = function;
        _arguments = arguments;
        ArgumentCount = argumentCount;
    }

    /// <summary>A copy of the guest's <paramref name="argumentCount"/> words at <paramref name="arguments"/> (checked by
    /// the caller), written straight into this call: built where it is passed, nothing copies it again before the host
    /// function reads it.</summary>
    internal unsafe FiberHostCall(Fiber fiber, int function, int argumentCount, nint* arguments)
    {
        Fiber = fiber;
        Function = function;
        ArgumentCount = argumentCount;
        _arguments = new FiberHostArguments(arguments, argumentCount);
    }

    /// <summary>The calling fiber.</summary>
    public Fiber Fiber { get; }

    /// <summary>Index of the host function in the fiber's <see cref="FiberHostFunctions"/>.</summary>
    public int Function { get; }

    /// <summary>How many arguments the guest passed.</summary>
    public int ArgumentCount { get; }

    /// <summary>Fires when the fiber is cancelled: by the token passed to <see cref="Fiber.RunAsync"/>, by
    /// <see cref="Fiber.Cancel"/>/<see cref="Fiber.Dispose"/> or by its Store's Dispose. A host function should pass it
    /// on to whatever it awaits: after a cancel, the fiber's stack and every slot of its Store stay checked out until
    /// the host function's task has ended (nothing is reused while it can still write to guest memory), so the sooner
    /// it ends, the sooner they go back. Created on first use.</summary>
    public CancellationToken CancellationToken => Fiber is { } fiber ? fiber.HostCancellationToken : CancellationToken.None;

    /// <summary>Argument <paramref name="index"/> (an <c>intptr_t</c> on the guest side).</summary>
    /// <exception cref="ArgumentOutOfRangeException">The guest passed fewer arguments.</exception>
    /// <exception cref="InvalidOperationException">A call to a <see cref="FiberSyncHostFunction"/> that has returned:
    /// its arguments can be read only while it runs.</exception>
    public long this[int index]
    {
        get
        {
            ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual((uint)index, (uint)ArgumentCount, nameof(index));
            return _arguments[index];
        }
    }
}
