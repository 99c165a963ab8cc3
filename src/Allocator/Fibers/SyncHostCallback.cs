using System.Runtime.ExceptionServices;
using System.Runtime.InteropServices;

namespace Allocator.Fibers;

/// <summary>The callback the native trampoline calls for a synchronous host function, on the driver's thread stack
/// inside <see cref="Interop.AllocatorNative.Resume"/>, while the guest waits in its host call with only native frames
/// on the fiber stack.</summary>
/// <remarks>The context's <c>sync_state</c> is the fiber's <see cref="SyncHostBinding"/> (a weak handle): no
/// thread-static lookup, and the arguments are handed over without copying them into the call by value.</remarks>
internal static unsafe class SyncHostCallback
{
    /// <summary>The native function pointer installed as <c>sync_host</c>.</summary>
    private static nint Pointer => (nint)(delegate* unmanaged<nint, int, nint*, int, int*, nint>)&Serve;

    /// <summary>Lets <paramref name="context"/>'s host calls reach <paramref name="driver"/>'s synchronous functions
    /// on the thread's stack; dispose the binding it returns once the context is closed.</summary>
    public static SyncHostBinding Install(NativeFiberContext* context, FiberDriver driver)
    {
        var binding = new SyncHostBinding(driver);
        // Plain stores: the context is not running yet, and the resume that starts it is a P/Invoke (a full barrier
        // for this thread; another thread acquires the driver's ownership word before resuming).
        context->SyncState = binding.Handle;
        context->SyncHost = Pointer;
        return binding;
    }

    [UnmanagedCallersOnly]
    private static nint Serve(nint state, int function, nint* arguments, int count, int* status)
    {
        SyncHostBinding? binding = null;
        try
        {
            if (!SyncHostBinding.TryFrom(state, out binding))
            {
                *status = (int)SyncHostBinding.Status.NotHandled;
                return 0;
            }
            // The work is in a plain method: this one is compiled once without profile data, that one tiers up with
            // it (the delegate call devirtualized): 20 ns became 10.5 ns per call in a C# loop of calls (stop 20,
            // when the call was still a 96-byte struct, whose copy this also avoided).
            return (nint)binding!.Serve(function, arguments, count, status);
        }
        catch (Exception ex)
        {
            // Nothing may escape an UnmanagedCallersOnly method: the driver rethrows it once the guest has returned.
            if (binding is not null)
            {
                binding.End();
                binding.Failure = ExceptionDispatchInfo.Capture(ex);
            }
            *status = (int)SyncHostBinding.Status.Failed;
            return 0;
        }
    }
}
