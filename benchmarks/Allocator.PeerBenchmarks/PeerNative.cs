using System.Runtime.InteropServices;

namespace Allocator.PeerBenchmarks;

/// <summary>libPeerNative.so, built next to the benchmark from guest/*.c: our guest, Wasmtime's async host
/// functions and the mmap-per-stack reference.</summary>
internal static class PeerNative
{
    private static readonly nint s_library = NativeLibrary.Load(Path.Combine(AppContext.BaseDirectory, "libPeerNative.so"));

    /// <summary><c>peer_host_loop(ctx, count)</c>: count host calls to function 0 with the argument i; returns the
    /// sum of the answers.</summary>
    public static nint HostLoop { get; } = NativeLibrary.GetExport(s_library, "peer_host_loop");

    /// <summary>A wasmtime_func_async_callback_t answering i + 1 at once.</summary>
    public static nint WasmtimeAsyncReady { get; } = NativeLibrary.GetExport(s_library, "peer_wasmtime_async_ready");

    /// <summary>A wasmtime_func_async_callback_t answering i + 1 after reporting Pending once.</summary>
    public static nint WasmtimeAsyncPendingOnce { get; } = NativeLibrary.GetExport(s_library, "peer_wasmtime_async_pending_once");

    /// <summary><c>peer_mmap_stack(n, usable)</c>: n times mmap + mprotect(guard page) + munmap.</summary>
    public static unsafe delegate* unmanaged<long, nuint, int> MmapStack { get; } =
        (delegate* unmanaged<long, nuint, int>)NativeLibrary.GetExport(s_library, "peer_mmap_stack");

    /// <summary>What the guest loop returns for <paramref name="calls"/> calls answered with i + 1.</summary>
    public static long ExpectedSum(long calls) => calls * (calls + 1) / 2;
}
