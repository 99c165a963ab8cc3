using System.Diagnostics;
using System.Runtime.ExceptionServices;
using System.Runtime.InteropServices;

namespace Allocator.Fibers;

/// <summary>What a fiber's native context reaches on a synchronous host call: its functions, its handle and the
/// arguments of the call in progress. One per fiber whose table has synchronous functions, made when the fiber starts; its handle is
/// freed when the context closes (the driver keeps the object, which also carries a failure to rethrow).</summary>
/// <remarks>
/// <para>The native context holds a weak GC handle to it as <c>sync_state</c>, so a host call finds it with one load;
/// a thread-static lookup cost a call to <c>__tls_get_addr</c> per call and two TLS writes per resume. Weak, because a
/// strong handle would keep every fiber (and through its lease its Store) alive forever, so an abandoned Store would
/// never be finalized; the driver keeps the binding alive, and while the fiber runs, its driver is on the resuming
/// thread's stack.</para>
/// <para>The request is copied into the driver's <see cref="FiberHostCallRecord"/> (managed memory, so a late or racing
/// read can never touch a returned stack), and every <see cref="FiberHostCall"/> carries the call's generation: once
/// the call returns, reading it throws instead of showing a later call's.</para>
/// </remarks>
internal sealed class SyncHostBinding : IDisposable
{
    private readonly FiberSyncHostFunction?[] _functions;
    private readonly Fiber _fiber;
    private readonly FiberHostCallRecord _record;
    private nint _handle;

    public SyncHostBinding(FiberDriver driver)
    {
        // No reference to the driver itself: a host call kept after the fiber ended keeps this binding, and the driver
        // by then serves a later fiber (and holds its Store). The handle lets go of the driver when it moves on.
        // Held here, not reached through the driver on every call: two dependent loads fewer per call.
        _functions = driver.HostFunctions.SynchronousTable;
        _fiber = driver.Handle;
        _record = driver.HostCall;
        _handle = WeakGCHandle<SyncHostBinding>.ToIntPtr(new WeakGCHandle<SyncHostBinding>(this));
    }

    /// <summary>What a synchronous host function threw, captured by <see cref="SyncHostCallback"/>; the driver takes
    /// it once the guest has returned and rethrows it. Kept here rather than in the driver, so a fiber without
    /// synchronous functions pays nothing for it.</summary>
    public ExceptionDispatchInfo? Failure { get; set; }

    /// <summary>Returns and clears <see cref="Failure"/>.</summary>
    public ExceptionDispatchInfo? TakeFailure()
    {
        ExceptionDispatchInfo? failure = Failure;
        Failure = null;
        return failure;
    }

    /// <summary>The weak handle the native context passes back as <c>sync_state</c>; 0 once disposed.</summary>
    public nint Handle => _handle;

    /// <summary>Finds the binding from a native context's <c>sync_state</c>.</summary>
    public static bool TryFrom(nint handle, out SyncHostBinding? binding) =>
        WeakGCHandle<SyncHostBinding>.FromIntPtr(handle).TryGetTarget(out binding);

    /// <summary>The native status word of a synchronous call (enum allocator_fiber_sync_status in fiber.h).</summary>
    public enum Status
    {
        Handled = 0,
        NotHandled = 1,
        Failed = 2,
    }

    /// <summary>Runs synchronous function <paramref name="function"/> with the guest's arguments and sets
    /// <paramref name="status"/>; an asynchronous or malformed call is left to the driver (NotHandled).</summary>
    /// <remarks>A plain method, called by the [UnmanagedCallersOnly] callback: that one is compiled once without
    /// profile data, while this one tiers up with it, so the delegate call is devirtualized.</remarks>
    public unsafe long Serve(int function, nint* arguments, int count, int* status)
    {
        FiberSyncHostFunction?[] functions = _functions;
        if ((uint)function >= (uint)functions.Length || functions[function] is not { } sync
            || (uint)count > FiberHostCall.MaxArguments || (count > 0 && arguments == null))
        {
            *status = (int)Status.NotHandled;
            return 0;
        }
        long result = sync(_record.Begin(_fiber, function, count, arguments));
        End();
        *status = (int)Status.Handled;
        return result;
    }

    /// <summary>The call has returned (or thrown): its request can no longer be read.</summary>
    public void End() => _record.End();

    /// <summary>Frees the handle; only once the native context is closed, so no host call can pass it back.</summary>
    public void Dispose()
    {
        nint handle = Interlocked.Exchange(ref _handle, 0);
        // Stryker disable Equality,Block,Statement : each mutant only leaks the weak handle (a second Dispose finds 0 and frees nothing either way), which no test can see: no API counts GC handles.
        if (handle != 0)
        {
            WeakGCHandle<SyncHostBinding>.FromIntPtr(handle).Dispose();
        }
        // Stryker restore all
    }
}
