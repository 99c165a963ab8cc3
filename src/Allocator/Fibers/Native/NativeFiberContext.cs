using System.Runtime.InteropServices;

namespace Allocator.Fibers;

/// <summary>Mirror of <c>struct allocator_fiber_ctx</c> in <c>native/fiber.h</c>; the native library owns its
/// layout (it lives at the top of the fiber stack). Change both together and bump the ABI version.</summary>
[StructLayout(LayoutKind.Sequential)]
internal struct NativeFiberContext
{
    public nint FiberStackPointer;
    public nint ParentStackPointer;
    public nint StackLimit;
    public nint StackBase;
    public NativeFiberState State;
    public NativeFiberResumeStatus ResumeStatus;
    public nint Value;
    public nint HostArguments;
    public int HostFunction;
    public int HostArgumentCount;
    public int TrapCode;
    public int Cancelled;

    /// <summary><c>sync_host</c>: serves host calls on the driver's stack, or null.</summary>
    public nint SyncHost;

    /// <summary><c>sync_state</c>: passed to <see cref="SyncHost"/>.</summary>
    public nint SyncState;

    /// <summary><c>cancel_requested</c>: set by the driver from any thread; no host call starts once it is set.</summary>
    public int CancelRequested;

    /// <summary><c>unchecked_count</c>: entries in <see cref="Unchecked"/>; 0 when the table has no unchecked
    /// function.</summary>
    public int UncheckedCount;

    /// <summary><c>epoch</c>: address of the epoch counter the deadline is measured on.</summary>
    public nint Epoch;

    /// <summary><c>deadline</c>: the poll says yield once the epoch reaches it; written by the owning driver only.</summary>
    public ulong Deadline;

    /// <summary><c>unchecked</c>: entry i is the native function pointer serving host function i, or null; read by the
    /// native host call, so it must stay valid and unchanged while the fiber can run.</summary>
    public nint Unchecked;
}
