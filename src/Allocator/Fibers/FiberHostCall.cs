namespace Allocator.Fibers;

/// <summary>One call from a guest to a host function: a copy of the request, safe to keep across awaits.</summary>
public readonly struct FiberHostCall
{
    /// <summary>Most arguments one host call can pass (a guest passing more faults the fiber).</summary>
    public const int MaxArguments = 8;

    private readonly FiberHostArguments _arguments;

    internal FiberHostCall(Fiber fiber, int function, in FiberHostArguments arguments, int argumentCount, CancellationToken cancellationToken)
    {
        Fiber = fiber;
        Function = function;
        _arguments = arguments;
        ArgumentCount = argumentCount;
        CancellationToken = cancellationToken;
    }

    /// <summary>The calling fiber.</summary>
    public Fiber Fiber { get; }

    /// <summary>Index of the host function in the fiber's <see cref="FiberHostFunctions"/>.</summary>
    public int Function { get; }

    /// <summary>How many arguments the guest passed.</summary>
    public int ArgumentCount { get; }

    /// <summary>The token passed to <see cref="Fiber.RunAsync"/>; when it fires the driver stops waiting and unwinds
    /// the fiber, so a host function should pass it on to whatever it awaits.</summary>
    public CancellationToken CancellationToken { get; }

    /// <summary>Argument <paramref name="index"/> (an <c>intptr_t</c> on the guest side).</summary>
    /// <exception cref="ArgumentOutOfRangeException">The guest passed fewer arguments.</exception>
    public long this[int index]
    {
        get
        {
            ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual((uint)index, (uint)ArgumentCount, nameof(index));
            return _arguments[index];
        }
    }
}
