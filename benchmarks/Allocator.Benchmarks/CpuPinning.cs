using System.Runtime.InteropServices;

namespace Allocator.Benchmarks;

/// <summary>Pins the calling thread to one CPU on Linux, so the 2-thread runs really use two cores instead of being
/// stacked on the waker's core by the scheduler for the length of a short burst.</summary>
internal static partial class CpuPinning
{
    [LibraryImport("libc", SetLastError = true)]
    private static partial int sched_setaffinity(int pid, nint maskSize, ref ulong mask);

    public static void CurrentThreadTo(int cpu)
    {
        if (!OperatingSystem.IsLinux())
        {
            return;
        }
        ulong mask = 1UL << (cpu % Environment.ProcessorCount);
        if (sched_setaffinity(0, sizeof(ulong), ref mask) != 0)
        {
            throw new InvalidOperationException($"sched_setaffinity failed: errno {Marshal.GetLastPInvokeError()}");
        }
    }
}
