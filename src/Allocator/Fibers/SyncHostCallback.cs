using System.Runtime.ExceptionServices;
using System.Runtime.InteropServices;

namespace Allocator.Fibers;

/// <summary>The callback the native trampoline calls for a synchronous host function, on the driver's thread stack
/// inside <see cref="Interop.AllocatorNative.Resume"/>, while the guest waits in its host call with only native frames
/// on the fiber stack.</summary>
/// <remarks>The driver that resumed the fiber is found through a thread-static set around each resume, not through
/// a GC handle: a strong handle would keep every fiber (and through its lease its Store) alive forever, so an
/// abandoned Store with a synchronous host table was never finalized.</remarks>
internal static unsafe class SyncHostCallback
{
    private const int Handled = 0;
    private const int NotHandled = 1;
    private const int Failed = 2;

    [ThreadStatic]
    private static FiberDriver? t_current;

    /// <summary>The native function pointer to install with <c>allocator_fiber_set_sync_host</c>.</summary>
    public static nint Pointer => (nint)(delegate* unmanaged<nint, int, nint*, int, int*, nint>)&Serve;

    /// <summary>Makes <paramref name="driver"/> the one this thread's callbacks serve; returns the previous one, to
    /// be restored after the resume (a synchronous host function may drive another fiber).</summary>
    public static FiberDriver? Enter(FiberDriver driver)
    {
        FiberDriver? previous = t_current;
        t_current = driver;
        return previous;
    }

    public static void Exit(FiberDriver? previous) => t_current = previous;

    [UnmanagedCallersOnly]
    private static nint Serve(nint state, int function, nint* arguments, int count, int* status)
    {
        FiberDriver? driver = t_current;
        try
        {
            if (driver is null || !driver.HostFunctions.TryGetSynchronous(function, out FiberSyncHostFunction sync)
                || (uint)count > FiberHostCall.MaxArguments || (count > 0 && arguments == null))
            {
                // Asynchronous or malformed: the driver serves it, or reports it, as usual.
                *status = NotHandled;
                return 0;
            }
            FiberHostArguments copy = default;
            for (int i = 0; i < count; i++)
            {
                copy[i] = arguments[i];
            }
            long result = sync(new FiberHostCall(driver.Handle, function, copy, count));
            *status = Handled;
            return (nint)result;
        }
        catch (Exception ex)
        {
            // Nothing may escape an UnmanagedCallersOnly method: the driver rethrows it once the guest has returned.
            if (driver is not null)
            {
                driver.SyncFailure = ExceptionDispatchInfo.Capture(ex);
            }
            *status = Failed;
            return 0;
        }
    }
}
