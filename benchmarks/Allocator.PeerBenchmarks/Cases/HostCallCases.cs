using Allocator.PeerBenchmarks.Harness;
using Allocator.PeerBenchmarks.Wasmtime;

namespace Allocator.PeerBenchmarks.Cases;

/// <summary>One host call, per call: both sides run the same loop of 1,000 calls per fiber (ours: a fiber of a
/// long-lived Store; Wasmtime: one wasmtime_func_call_async, or wasmtime_func_call_unchecked, on a long-lived store
/// and instance of the pooling engine), so creating the fiber or the call is spread over 1,000 calls on both.</summary>
internal sealed class HostCallCases : ICaseSet
{
    private readonly PoolingAllocator _allocator = PeerAllocators.Requests();
    private readonly Store<int> _store;
    private readonly WasmtimeEngine _wasmtime = new(pooling: true);
    private readonly List<WasmtimeInstance> _instances = new();
    private readonly PendingOnceSource _pending = new();

    public HostCallCases() => _store = new Store<int>(_allocator, 0);

    public IEnumerable<Comparison> Comparisons()
    {
        WasmtimeInstance pending = Instance(WasmtimeHost.Flavour.AsyncPendingOnce);
        WasmtimeInstance ready = Instance(WasmtimeHost.Flavour.AsyncReady);
        WasmtimeInstance syncInstance = Instance(WasmtimeHost.Flavour.SyncUnchecked);
        var pendingHost = OurFibers.PendingOnce(_pending);

        yield return new Comparison("async host call pending once (per call)",
            new BenchCase("ours: async host call, pending once", n => OurFibers.HostCalls(_store, n, pendingHost, _pending)),
            new BenchCase("Wasmtime: async host call, pending once", n => WasmtimeCalls(pending, n, async: true, pendingOnce: true)),
            "Wasmtime 50.0.1 async (C callback)", Target: ">= 1.5x, 0 B/call",
            Note: "Wasmtime's async host functions are C (they run on its fiber stack, where .NET code must not run); ours are C# through the driver.");
        yield return new Comparison("async host call ready at once (per call)",
            new BenchCase("ours: async host call, ready", n => OurFibers.HostCalls(_store, n, OurFibers.AsyncReady, null)),
            new BenchCase("Wasmtime: async host call, ready", n => WasmtimeCalls(ready, n, async: true, pendingOnce: false)),
            "Wasmtime 50.0.1 async (C callback)", Target: ">= 2x");
        yield return new Comparison("sync host call (per call)",
            new BenchCase("ours: FiberHostEntry.Sync host call", n => OurFibers.HostCalls(_store, n, OurFibers.Sync, null)),
            new BenchCase("Wasmtime: unchecked host call", n => WasmtimeCalls(syncInstance, n, async: false, pendingOnce: false)),
            "Wasmtime 50.0.1 unchecked (C# callback)", Target: ">= 1x",
            Note: "Wasmtime: wasmtime_linker_define_func_unchecked + wasmtime_func_call_unchecked, a sync call on the thread's stack, so its callback is C# [UnmanagedCallersOnly] like ours; ours runs inside a fiber.");
        yield return new Comparison("sync host call, unchecked entry (per call)",
            new BenchCase("ours: FiberHostEntry.Unchecked host call", n => OurFibers.HostCalls(_store, n, OurFibers.Unchecked, null)),
            new BenchCase("Wasmtime: unchecked host call", n => WasmtimeCalls(syncInstance, n, async: false, pendingOnce: false)),
            "Wasmtime 50.0.1 unchecked (C# callback)", Target: ">= 1x",
            Note: "Like for like: both callbacks are C# [UnmanagedCallersOnly] functions called by native code with the raw argument words; ours from a fiber's host call, through the native trampoline onto the thread's stack.");
    }

    public IEnumerable<SkippedComparison> Skipped() => [];

    private WasmtimeInstance Instance(WasmtimeHost.Flavour flavour)
    {
        nint instancePre = _wasmtime.InstancePreFromWat(WasmtimeModules.HostLoop(withMemory: false), l => WasmtimeHost.Define(l, flavour));
        var instance = new WasmtimeInstance(_wasmtime, instancePre, async: flavour != WasmtimeHost.Flavour.SyncUnchecked);
        _instances.Add(instance);
        return instance;
    }

    private static void WasmtimeCalls(WasmtimeInstance instance, long calls, bool async, bool pendingOnce)
    {
        for (long done = 0; done < calls; done += OurFibers.CallsPerFiber)
        {
            long chunk = Math.Min(OurFibers.CallsPerFiber, calls - done);
            OurFibers.Expect(async ? instance.CallRunAsync(chunk, expectedYields: pendingOnce ? chunk : 0) : instance.CallRunUnchecked(chunk), chunk);
        }
    }

    public void Dispose()
    {
        _instances.ForEach(i => i.Dispose());
        _wasmtime.Dispose();
        _store.Dispose();
        _allocator.Dispose();
    }
}
