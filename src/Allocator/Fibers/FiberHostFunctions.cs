using System.Diagnostics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace Allocator.Fibers;

/// <summary>The host functions guests may call, by index; fixed at construction so fibers can share one table.</summary>
public sealed class FiberHostFunctions
{
    private readonly FiberHostFunction[] _functions;
    private readonly FiberSyncHostFunction?[] _synchronous;
    private readonly nint[]? _unchecked; // pinned: the native host call reads it (fiber.h, ctx->unchecked)

    /// <summary>Creates the table; function i answers <c>allocator_fiber_host_call(ctx, i, ...)</c>.</summary>
    /// <exception cref="ArgumentNullException">An entry is null.</exception>
    public FiberHostFunctions(params ReadOnlySpan<FiberHostFunction> functions)
    {
        _functions = functions.ToArray();
        _synchronous = new FiberSyncHostFunction?[_functions.Length];
        for (int i = 0; i < _functions.Length; i++)
        {
            if (_functions[i] is null)
            {
                throw new ArgumentNullException(nameof(functions), $"Host function {i} is null.");
            }
        }
    }

    private FiberHostFunctions(FiberHostFunction[] functions, FiberSyncHostFunction?[] synchronous, nint[]? uncheckedTable)
    {
        _functions = functions;
        _synchronous = synchronous;
        _unchecked = uncheckedTable;
        HasSynchronous = Array.Exists(synchronous, f => f is not null);
    }

    /// <summary>Creates a table of synchronous and asynchronous functions; entry i answers
    /// <c>allocator_fiber_host_call(ctx, i, ...)</c>.</summary>
    /// <exception cref="ArgumentException">An entry is <c>default</c>.</exception>
    public static FiberHostFunctions From(params ReadOnlySpan<FiberHostEntry> entries)
    {
        var functions = new FiberHostFunction[entries.Length];
        var synchronous = new FiberSyncHostFunction?[entries.Length];
        nint[]? uncheckedTable = null;
        for (int i = 0; i < entries.Length; i++)
        {
            if (entries[i].UncheckedFunction is not 0 and nint pointer)
            {
                // On the thread's stack, native code reads this array on every host call (no managed dispatch), so
                // it lives on the pinned heap: it never moves, and lives as long as the table (which every fiber's
                // driver holds while the fiber can run).
                uncheckedTable ??= GC.AllocateArray<nint>(entries.Length, pinned: true);
                uncheckedTable[i] = pointer;
                // The driver path serves it too, where the native library has no synchronous path.
                functions[i] = call => ValueTask.FromResult(CallUnchecked(pointer, call));
            }
            else if (entries[i].Synchronous is { } sync)
            {
                synchronous[i] = sync;
                // The driver path serves it too, where the native library has no synchronous path.
                functions[i] = call => ValueTask.FromResult(sync(call));
            }
            else
            {
                functions[i] = entries[i].Asynchronous
                    ?? throw new ArgumentException($"Host entry {i} is empty; use FiberHostEntry.Sync, FiberHostEntry.Async or FiberHostEntry.Unchecked.", nameof(entries));
            }
        }
        return new FiberHostFunctions(functions, synchronous, uncheckedTable);
    }

    /// <summary>A table with no functions, for guests that never call the host.</summary>
    public static FiberHostFunctions Empty { get; } = new();

    /// <summary>How many functions the table holds.</summary>
    public int Count => _functions.Length;

    /// <summary>Function <paramref name="index"/>.</summary>
    public FiberHostFunction this[int index] => _functions[index];

    /// <summary>True when some entry is synchronous, so fibers should install the synchronous path.</summary>
    internal bool HasSynchronous { get; }

    /// <summary>Entry i is function i if it is synchronous, else null; for the synchronous fast path, which must not
    /// change it.</summary>
    internal FiberSyncHostFunction?[] SynchronousTable => _synchronous;

    /// <summary>The native table of unchecked functions (entry i is function i's pointer, or 0) and its length; a null
    /// pointer when the table has none. Pinned for the table's lifetime.</summary>
    internal unsafe (nint Table, int Count) UncheckedTable =>
        _unchecked is null ? (0, 0) : ((nint)Unsafe.AsPointer(ref MemoryMarshal.GetArrayDataReference(_unchecked)), _unchecked.Length);

    /// <summary>Calls an unchecked function from the driver, for a host call that reached it (the native host call
    /// serves them itself on every platform that has the synchronous path).</summary>
    private static unsafe long CallUnchecked(nint function, FiberHostCall call)
    {
        Debug.Assert(call.ArgumentCount <= FiberHostCall.MaxArguments);
        long* arguments = stackalloc long[FiberHostCall.MaxArguments];
        for (int i = 0; i < call.ArgumentCount; i++)
        {
            arguments[i] = call[i];
        }
        var uncheckedCall = new FiberUncheckedCall(arguments, call.Function, call.ArgumentCount);
        return ((delegate* unmanaged<FiberUncheckedCall*, long>)function)(&uncheckedCall);
    }

    internal bool TryGetSynchronous(int index, out FiberSyncHostFunction function)
    {
        if ((uint)index < (uint)_synchronous.Length && _synchronous[index] is { } found)
        {
            function = found;
            return true;
        }
        function = null!;
        return false;
    }

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
