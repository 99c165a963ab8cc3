namespace Allocator.Fibers;

/// <summary>The host functions guests may call, by index; fixed at construction so fibers can share one table.</summary>
public sealed class FiberHostFunctions
{
    private readonly FiberHostFunction[] _functions;

    /// <summary>Creates the table; function i answers <c>allocator_fiber_host_call(ctx, i, ...)</c>.</summary>
    /// <exception cref="ArgumentNullException">An entry is null.</exception>
    public FiberHostFunctions(params ReadOnlySpan<FiberHostFunction> functions)
    {
        _functions = functions.ToArray();
        for (int i = 0; i < _functions.Length; i++)
        {
            if (_functions[i] is null)
            {
                throw new ArgumentNullException(nameof(functions), $"Host function {i} is null.");
            }
        }
    }

    /// <summary>A table with no functions, for guests that never call the host.</summary>
    public static FiberHostFunctions Empty { get; } = new();

    /// <summary>How many functions the table holds.</summary>
    public int Count => _functions.Length;

    /// <summary>Function <paramref name="index"/>.</summary>
    public FiberHostFunction this[int index] => _functions[index];

    internal bool TryGet(int index, out FiberHostFunction function)
    {
        if ((uint)index < (uint)_functions.Length)
        {
            function = _functions[index];
            return true;
        }
        function = null!;
        return false;
    }
}
