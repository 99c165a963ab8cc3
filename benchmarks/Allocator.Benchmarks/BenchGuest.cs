using System.Runtime.InteropServices;

namespace Allocator.Benchmarks;

/// <summary>libBenchGuest.so, built next to the benchmarks from guest/bench_guest.c.</summary>
internal static class BenchGuest
{
    private static readonly nint s_library = NativeLibrary.Load(Path.Combine(AppContext.BaseDirectory, "libBenchGuest.so"));

    /// <summary><c>bench_host_loop(ctx, count)</c>: count host calls to function 0.</summary>
    public static nint HostLoop { get; } = NativeLibrary.GetExport(s_library, "bench_host_loop");

    /// <summary><c>bench_poll_loop(ctx, count)</c>: count calls of <c>allocator_fiber_should_yield</c>.</summary>
    public static nint PollLoop { get; } = NativeLibrary.GetExport(s_library, "bench_poll_loop");

    /// <summary><c>bench_empty_call_loop(ctx, count)</c>: count calls of an empty function through a pointer.</summary>
    public static nint EmptyCallLoop { get; } = NativeLibrary.GetExport(s_library, "bench_empty_call_loop");
}
