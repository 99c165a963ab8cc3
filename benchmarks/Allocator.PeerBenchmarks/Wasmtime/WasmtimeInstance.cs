using static Allocator.PeerBenchmarks.Wasmtime.WasmtimeNative;

namespace Allocator.PeerBenchmarks.Wasmtime;

/// <summary>A store with one instance kept for many calls, for the per-host-call cases.</summary>
internal sealed unsafe class WasmtimeInstance : IDisposable
{
    private readonly nint _store;
    private readonly nint _context;
    private Instance _instance;

    /// <param name="async">Instantiate with wasmtime_instance_pre_instantiate_async (needed when the module imports
    /// async host functions), else synchronously.</param>
    public WasmtimeInstance(WasmtimeEngine engine, nint instancePre, bool async)
    {
        _store = StoreNew(engine.Handle, 0, 0);
        _context = StoreContext(_store);
        try
        {
            Instance instance;
            nint trap = 0, error = 0;
            if (async)
            {
                WasmtimeEngine.PollToEnd(InstancePreInstantiateAsync(instancePre, _context, &instance, &trap, &error));
            }
            else
            {
                error = InstancePreInstantiate(instancePre, _context, &instance, &trap);
            }
            WasmtimeEngine.Check(error, "instantiate");
            WasmtimeEngine.CheckTrap(trap);
            _instance = instance;
        }
        catch
        {
            StoreDelete(_store);
            throw;
        }
    }

    public long CallRunAsync(long argument, long expectedYields)
    {
        fixed (Instance* instance = &_instance)
        {
            return WasmtimeEngine.CallRunAsync(_context, instance, argument, expectedYields);
        }
    }

    public long CallRunUnchecked(long argument)
    {
        fixed (Instance* instance = &_instance)
        {
            return WasmtimeEngine.CallRunUnchecked(_context, instance, argument);
        }
    }

    public void Dispose() => StoreDelete(_store);
}
