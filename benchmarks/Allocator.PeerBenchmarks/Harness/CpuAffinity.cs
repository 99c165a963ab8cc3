using System.Runtime.InteropServices;

namespace Allocator.PeerBenchmarks.Harness;

/// <summary>Pins the calling thread to one CPU on Linux for the 2-thread cases, so the two threads really run on two
/// cores instead of being stacked on one by the scheduler for a short burst; and undoes it.</summary>
internal static partial class CpuAffinity
{
    [LibraryImport("libc", SetLastError = true)]
    private static partial int sched_setaffinity(int pid, nint maskSize, ref ulong mask);

    [LibraryImport("libc", SetLastError = true)]
    private static partial int sched_getaffinity(int pid, nint maskSize, ref ulong mask);

    /// <summary>Pins the calling thread to <paramref name="cpu"/>; returns the mask it had, for <see cref="Restore"/>.
    /// Does nothing (returns 0) off Linux or on one CPU.</summary>
    public static ulong Pin(int cpu)
    {
        if (!OperatingSystem.IsLinux() || Environment.ProcessorCount < 2)
        {
            return 0;
        }
        ulong previous = 0;
        Check(sched_getaffinity(0, sizeof(ulong), ref previous), "sched_getaffinity");
        ulong mask = 1UL << (cpu % Math.Min(Environment.ProcessorCount, 64));
        Check(sched_setaffinity(0, sizeof(ulong), ref mask), "sched_setaffinity");
        return previous;
    }

    public static void Restore(ulong previous)
    {
        if (previous != 0)
        {
            Check(sched_setaffinity(0, sizeof(ulong), ref previous), "sched_setaffinity");
        }
    }

    private static void Check(int result, string call)
    {
        if (result != 0)
        {
            throw new InvalidOperationException($"{call} failed: errno {Marshal.GetLastPInvokeError()}");
        }
    }
}
