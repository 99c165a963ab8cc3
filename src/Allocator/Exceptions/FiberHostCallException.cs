namespace Allocator.Fibers;

/// <summary>The guest asked for a host function that does not exist or passed too many arguments. The fiber has
/// been unwound and its stack returned.</summary>
public sealed class FiberHostCallException : Exception
{
    /// <summary>Creates the exception describing the bad request.</summary>
    public FiberHostCallException(string fiberName, int function, int argumentCount, string problem)
        : base($"Fiber '{fiberName}' made an invalid host call to function {function} with {argumentCount} argument(s): {problem}.")
    {
        FiberName = fiberName;
        Function = function;
        ArgumentCount = argumentCount;
    }

    /// <summary>The fiber that made the call.</summary>
    public string FiberName { get; }

    /// <summary>The function index the guest asked for.</summary>
    public int Function { get; }

    /// <summary>The argument count the guest passed.</summary>
    public int ArgumentCount { get; }
}
