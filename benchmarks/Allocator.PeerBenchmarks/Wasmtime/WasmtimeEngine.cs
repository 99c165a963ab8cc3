using System.Text;
using static Allocator.PeerBenchmarks.Wasmtime.WasmtimeNative;

namespace Allocator.PeerBenchmarks.Wasmtime;

/// <summary>A Wasmtime engine, pooling (the peer) or on demand, with modules compiled once from WAT.</summary>
internal sealed unsafe class WasmtimeEngine : IDisposable
{
    private readonly List<nint> _modules = new();
    private readonly List<nint> _linkers = new();
    private readonly List<nint> _instancePres = new();

    /// <param name="pooling">Pooling allocator with <paramref name="capacity"/> of each kind; otherwise on demand.</param>
    /// <param name="memoryKeepResident">Bytes of each linear memory a reset may restore in place
    /// (<c>linear_memory_keep_resident</c>; Wasmtime then resets with PAGEMAP_SCAN where the kernel has it).</param>
    public WasmtimeEngine(bool pooling, uint capacity = 64, nuint memoryKeepResident = 0)
    {
        nint config = ConfigNew();
        if (pooling)
        {
            nint poolingConfig = PoolingConfigNew();
            PoolingTotalCoreInstances(poolingConfig, capacity);
            PoolingTotalMemories(poolingConfig, capacity);
            PoolingTotalTables(poolingConfig, capacity);
            PoolingTotalStacks(poolingConfig, capacity);
            PoolingLinearMemoryKeepResident(poolingConfig, memoryKeepResident);
            ConfigPoolingStrategy(config, poolingConfig);
            PoolingConfigDelete(poolingConfig);
        }
        Handle = EngineNewWithConfig(config); // takes the config
        if (Handle == 0)
        {
            throw new InvalidOperationException("wasm_engine_new_with_config failed");
        }
    }

    public nint Handle { get; }

    /// <summary>Compiles a module from WAT and makes an InstancePre for it with no imports.</summary>
    public nint InstancePreFromWat(string wat)
    {
        byte[] text = Encoding.UTF8.GetBytes(wat);
        ByteVec wasm;
        fixed (byte* watBytes = text)
        {
            Check(Wat2Wasm(watBytes, (nuint)text.Length, &wasm), "wat2wasm");
        }
        nint module;
        try
        {
            Check(ModuleNew(Handle, wasm.Data, wasm.Size, &module), "wasmtime_module_new");
        }
        finally
        {
            ByteVecDelete(&wasm);
        }
        _modules.Add(module);
        nint linker = LinkerNew(Handle);
        _linkers.Add(linker);
        nint instancePre;
        Check(LinkerInstantiatePre(linker, module, &instancePre), "wasmtime_linker_instantiate_pre");
        _instancePres.Add(instancePre);
        return instancePre;
    }

    /// <summary>One request: a new store, an instance from <paramref name="instancePre"/>, the store deleted.</summary>
    public void InstantiateOnce(nint instancePre)
    {
        nint store = StoreNew(Handle, 0, 0);
        try
        {
            Instance instance;
            nint trap = 0;
            nint error = InstancePreInstantiate(instancePre, StoreContext(store), &instance, &trap);
            Check(error, "wasmtime_instance_pre_instantiate");
            CheckTrap(trap);
        }
        finally
        {
            StoreDelete(store);
        }
    }

    public void Dispose()
    {
        _instancePres.ForEach(InstancePreDelete);
        _linkers.ForEach(LinkerDelete);
        _modules.ForEach(ModuleDelete);
        EngineDelete(Handle);
    }

    public static void Check(nint error, string call)
    {
        if (error == 0)
        {
            return;
        }
        ByteVec message;
        ErrorMessage(error, &message);
        string text = Encoding.UTF8.GetString(message.Data, (int)message.Size);
        ByteVecDelete(&message);
        ErrorDelete(error);
        throw new InvalidOperationException($"{call}: {text}");
    }

    public static void CheckTrap(nint trap)
    {
        if (trap == 0)
        {
            return;
        }
        ByteVec message;
        TrapMessage(trap, &message);
        string text = Encoding.UTF8.GetString(message.Data, (int)message.Size);
        ByteVecDelete(&message);
        TrapDelete(trap);
        throw new InvalidOperationException($"trap: {text}");
    }
}
