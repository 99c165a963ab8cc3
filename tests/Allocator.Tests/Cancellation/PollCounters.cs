using System.Runtime.InteropServices;

namespace Allocator.Tests.Cancellation;

/// <summary>The four counters guest_poll_loop keeps in native memory.</summary>
internal sealed unsafe class PollCounters : IDisposable
{
    private readonly nint* _counters = (nint*)NativeMemory.AllocZeroed(4, (nuint)sizeof(nint));

    /// <summary>Creates the counters; the guest returns once it has gone on after <paramref name="stopAfterYields"/>
    /// yields (0: never).</summary>
    public PollCounters(int stopAfterYields = 0) => _counters[3] = stopAfterYields;

    /// <summary>Passed to the guest as its argument.</summary>
    public nint Address => (nint)_counters;

    /// <summary>Loop iterations, each with one poll.</summary>
    public long Iterations => Volatile.Read(ref _counters[0]);

    /// <summary>Yields after which the driver let the guest go on.</summary>
    public long YieldsContinued => Volatile.Read(ref _counters[1]);

    /// <summary>Times a yield told the guest to unwind (cancel or interrupt).</summary>
    public long CancelsSeen => Volatile.Read(ref _counters[2]);

    public void Dispose() => NativeMemory.Free(_counters);
}
