namespace Allocator.Fibers;

/// <summary>One entry of a <see cref="FiberHostFunctions"/> table: a synchronous, an asynchronous or an unchecked host
/// function.</summary>
public readonly unsafe struct FiberHostEntry
{
    private FiberHostEntry(FiberHostFunction? asynchronous, FiberSyncHostFunction? synchronous, nint uncheckedFunction = 0)
    {
        Asynchronous = asynchronous;
        Synchronous = synchronous;
        UncheckedFunction = uncheckedFunction;
    }

    internal FiberHostFunction? Asynchronous { get; }

    internal FiberSyncHostFunction? Synchronous { get; }

    /// <summary>The unchecked function's native pointer, or 0.</summary>
    internal nint UncheckedFunction { get; }

    /// <summary>A function that answers at once, served on the thread's stack without a trip through the driver.</summary>
    public static FiberHostEntry Sync(FiberSyncHostFunction function) => new(null, function ?? throw new ArgumentNullException(nameof(function)));

    /// <summary>A function that may await; the fiber waits suspended until it completes.</summary>
    public static FiberHostEntry Async(FiberHostFunction function) => new(function ?? throw new ArgumentNullException(nameof(function)), null);

    /// <summary>An unchecked function: a native function pointer (in C#, an <c>[UnmanagedCallersOnly]</c> method) that
    /// the guest's host call calls directly, with no managed dispatch in between: the counterpart of Wasmtime's
    /// <c>wasmtime_linker_define_func_unchecked</c>, and the cheapest host call there is.</summary>
    /// <remarks>
    /// <para>The contract, which nothing checks:</para>
    /// <list type="bullet">
    /// <item>It runs on the thread's stack (the native trampoline moves there, as for <see cref="Sync"/>), while the
    /// fiber waits in its host call.</item>
    /// <item>It must not throw: an exception escaping an <c>[UnmanagedCallersOnly]</c> method ends the process (that is
    /// the .NET runtime's rule, not this library's), so catch everything inside it.</item>
    /// <item>It must not resume its own fiber (or run its Store's fibers' work that would), and must not block for
    /// long: the fiber's thread waits for it.</item>
    /// <item>It gets no <see cref="Fiber"/> and no cancellation token; the call's arguments are the guest's words as
    /// passed (<see cref="FiberUncheckedCall"/>, valid only during the call), and its return value goes to the guest
    /// as the host call's result.</item>
    /// </list>
    /// <para>A cancelled fiber or one whose epoch deadline has passed does not call it: the host call's checks come
    /// first, as for every entry.</para>
    /// </remarks>
    /// <param name="function">The function; it must stay valid while any fiber of the table can run (a static
    /// <c>[UnmanagedCallersOnly]</c> method always does).</param>
    /// <exception cref="ArgumentNullException"><paramref name="function"/> is null.</exception>
    public static FiberHostEntry Unchecked(delegate* unmanaged<FiberUncheckedCall*, long> function) =>
        function is null ? throw new ArgumentNullException(nameof(function)) : new(null, null, (nint)function);

    /// <summary>Wraps a synchronous function.</summary>
    public static implicit operator FiberHostEntry(FiberSyncHostFunction function) => Sync(function);

    /// <summary>Wraps an asynchronous function.</summary>
    public static implicit operator FiberHostEntry(FiberHostFunction function) => Async(function);
}
