using System.Runtime.InteropServices;

namespace Allocator.Tests.Fibers;

/// <summary>The three counters guest_honours_cancel and guest_ignores_cancel keep in native memory.</summary>
internal sealed unsafe class GuestCounters : IDisposable
{
    private readonly nint* _counters = (nint*)NativeMemory.AllocZeroed(3, (nuint)sizeof(nint));

    /// <summary>Passed to the guest as its argument.</summary>
    public nint Address => (nint)_counters;

    /// <summary>Host calls the guest started.</summary>
    public long HostCalls => Volatile.Read(ref _counters[0]);

    /// <summary>Times the guest saw ALLOCATOR_FIBER_HOST_CANCELLED.</summary>
    public long CancelsSeen => Volatile.Read(ref _counters[1]);

    /// <summary>Host calls that returned to the guest after it had seen a cancel (must stay 0: those are abandoned).</summary>
    public long ReturnsAfterCancel => Volatile.Read(ref _counters[2]);

    public void Dispose() => NativeMemory.Free(_counters);
}
