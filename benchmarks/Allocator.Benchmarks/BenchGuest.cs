using System.Runtime.InteropServices;

namespace Allocator.Benchmarks;

/// <summary>libBenchGuest.so, built next to the benchmarks from guest/bench_guest.c.</summary>
internal static class BenchGuest
{
    private static readonly nint s_library = NativeLibrary.Load(Path.Combine(AppContext.BaseDirectory, "libBenchGuest.so"));

    /// <summary><c>bench_host_loop(ctx, count)</c>: count host calls to function 0.</summary>
    public static nint HostLoop { get; } = NativeLibrary.GetExport(s_library, "bench_host_loop");
}
