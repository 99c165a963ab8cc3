using System.Runtime.ExceptionServices;
using System.Runtime.InteropServices;

namespace Allocator.Fibers;

/// <summary>The native host callback for a table of asynchronous host functions: it runs the function on the driver's
/// thread stack inside <see cref="Interop.AllocatorNative.Resume"/>, as <see cref="SyncHostCallback"/> runs synchronous
/// ones, and when the function's value task has already completed it answers the guest right there. That saves the
/// switch back to the driver, the return of the resume P/Invoke and a second resume per call, which is most of what
/// a host call that is ready at once costs. A task still pending goes to the driver, which awaits it as usual
/// (<see cref="FiberDriver.ServeInline"/>).</summary>
/// <remarks>Tables with a synchronous entry keep <see cref="SyncHostCallback"/> (one callback per context); their
/// asynchronous entries go through the driver. The driver is found through <see cref="FiberThread.Resuming"/>, set around each resume,
/// for the reason <see cref="SyncHostCallback"/> gives: a GC handle would keep abandoned Stores alive.</remarks>
internal static unsafe class FiberReadyHostCallback
{
    /// <summary>The guest gets the returned value as its call's result.</summary>
    internal const int Handled = 0;

    /// <summary>The call goes on to the driver (a task still pending, or a call the driver must report).</summary>
    internal const int NotHandled = 1;

    /// <summary>The guest is told its call was cancelled and must return.</summary>
    internal const int Failed = 2;

    /// <summary>The native function pointer to store in the context's <c>sync_host</c>.</summary>
    public static nint Pointer => (nint)(delegate* unmanaged<nint, int, nint*, int, int*, nint>)&Serve;

    [UnmanagedCallersOnly]
    private static nint Serve(nint state, int function, nint* arguments, int count, int* status)
    {
        FiberDriver? driver = null;
        try
        {
            driver = FiberThread.Current.Resuming;
            if (driver is null || (uint)count > FiberHostCall.MaxArguments || (count > 0 && arguments == null))
            {
                // Malformed: the driver reports it, as for any host call.
                *status = NotHandled;
                return 0;
            }
            // The guest's words go to the driver as they are: the call is built from them where it is passed.
            *status = driver.ServeInline(function, arguments, count, out nint result);
            return result;
        }
        catch (Exception ex)
        {
            // Nothing may escape an UnmanagedCallersOnly method: the driver rethrows it once the guest has returned.
            if (driver is not null)
            {
                driver.SetInlineFailure(ExceptionDispatchInfo.Capture(ex));
            }
            *status = Failed;
            return 0;
        }
    }
}
