using Allocator.Fibers;
using Allocator.PeerBenchmarks.Harness;
using Allocator.PeerBenchmarks.Wasmtime;

namespace Allocator.PeerBenchmarks.Cases;

/// <summary>Whole requests. Ours: a new Store, an instance slot (16 KiB) and a memory slot (64 KiB accessible), a
/// fiber running the guest loop of K async host calls, then IntoData. Wasmtime: a new store,
/// wasmtime_instance_pre_instantiate_async of a module with a 1-page memory (64 KiB), wasmtime_func_call_async of the
/// same loop, each future polled to completion, the store deleted. Both check the loop's result.</summary>
internal sealed class RequestCases : ICaseSet
{
    private const nuint InstanceBytes = 16 * 1024;
    private const nuint MemoryBytes = 64 * 1024;

    private readonly PoolingAllocator _allocator = PeerAllocators.Requests();
    private readonly WasmtimeEngine _pooling = new(pooling: true);
    private readonly WasmtimeEngine _onDemand = new(pooling: false);
    private readonly PendingOnceSource _pending = new();

    public IEnumerable<Comparison> Comparisons()
    {
        nint readyWithMemory = _pooling.InstancePreFromWat(WasmtimeModules.HostLoop(withMemory: true), l => WasmtimeHost.Define(l, WasmtimeHost.Flavour.AsyncReady));
        nint pendingWithMemory = _pooling.InstancePreFromWat(WasmtimeModules.HostLoop(withMemory: true), l => WasmtimeHost.Define(l, WasmtimeHost.Flavour.AsyncPendingOnce));
        nint readyWithoutMemory = _pooling.InstancePreFromWat(WasmtimeModules.HostLoop(withMemory: false), l => WasmtimeHost.Define(l, WasmtimeHost.Flavour.AsyncReady));
        nint onDemandReadyWithMemory = _onDemand.InstancePreFromWat(WasmtimeModules.HostLoop(withMemory: true), l => WasmtimeHost.Define(l, WasmtimeHost.Flavour.AsyncReady));
        FiberHostFunctions pendingHost = OurFibers.PendingOnce(_pending);

        var oursK1 = new BenchCase("ours: request with memory, K=1 ready", n => OurRequests(n, withSlots: true, 1, OurFibers.AsyncReady, null));
        yield return new Comparison("request with memory, K=1 host call ready at once",
            oursK1,
            new BenchCase("Wasmtime pooling: request with memory, K=1 ready", n => WasmtimeRequests(_pooling, readyWithMemory, n, 1, pendingOnce: false)),
            "Wasmtime 50.0.1 pooling", Target: ">= 2x",
            Note: "on every request row Wasmtime's async host function is C (guest/wasmtime_host.c), ours a C# delegate through the driver; both check the guest's sum.");
        yield return new Comparison("request with memory, K=1 ready, against on-demand (reference)",
            oursK1,
            new BenchCase("Wasmtime on-demand: request with memory, K=1 ready", n => WasmtimeRequests(_onDemand, onDemandReadyWithMemory, n, 1, pendingOnce: false)),
            "Wasmtime 50.0.1 on-demand");
        yield return new Comparison("request with memory, K=8 host calls, each pending once",
            new BenchCase("ours: request with memory, K=8 pending once", n => OurRequests(n, withSlots: true, 8, pendingHost, _pending)),
            new BenchCase("Wasmtime pooling: request with memory, K=8 pending once", n => WasmtimeRequests(_pooling, pendingWithMemory, n, 8, pendingOnce: true)),
            "Wasmtime 50.0.1 pooling", Target: ">= 1.5x");
        yield return new Comparison("request without memory (no slots on our side), K=1 ready",
            new BenchCase("ours: request without slots, K=1 ready", n => OurRequests(n, withSlots: false, 1, OurFibers.AsyncReady, null)),
            new BenchCase("Wasmtime pooling: request without memory, K=1 ready", n => WasmtimeRequests(_pooling, readyWithoutMemory, n, 1, pendingOnce: false)),
            "Wasmtime 50.0.1 pooling", Target: ">= 6x",
            Note: "Wasmtime still allocates a core instance (no memory); we check out no slot at all.");
    }

    public IEnumerable<SkippedComparison> Skipped() => [];

    private void OurRequests(long n, bool withSlots, int calls, FiberHostFunctions host, PendingOnceSource? pending)
    {
        for (long i = 0; i < n; i++)
        {
            var store = new Store<int>(_allocator, 0);
            if (withSlots)
            {
                store.CheckoutInstance(accessibleBytes: InstanceBytes);
                store.CheckoutMemory(accessibleBytes: MemoryBytes);
            }
            using (Fiber fiber = Fiber.Create(store, "request", PeerNative.HostLoop, calls, host))
            {
                OurFibers.Expect(pending is null ? OurFibers.RunReady(fiber) : pending.Drive(fiber, calls), calls);
            }
            store.IntoData();
        }
    }

    private static void WasmtimeRequests(WasmtimeEngine engine, nint instancePre, long n, int calls, bool pendingOnce)
    {
        for (long i = 0; i < n; i++)
        {
            OurFibers.Expect(engine.RequestOnce(instancePre, calls, expectedYields: pendingOnce ? calls : 0), calls);
        }
    }

    public void Dispose()
    {
        _onDemand.Dispose();
        _pooling.Dispose();
        _allocator.Dispose();
    }
}
