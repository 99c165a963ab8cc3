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
    /// <param name="decommitBatchSize">Returned memories reset together (<c>decommit_batch_size</c>, 1 by default).</param>
    public WasmtimeEngine(bool pooling, uint capacity = 64, nuint memoryKeepResident = 0, nuint decommitBatchSize = 1)
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
            PoolingDecommitBatchSize(poolingConfig, decommitBatchSize);
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

    /// <summary>Compiles a module from WAT and makes an InstancePre for it, its imports defined by
    /// <paramref name="defineImports"/> (given the linker), or none.</summary>
    public nint InstancePreFromWat(string wat, Action<nint>? defineImports = null)
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
        defineImports?.Invoke(linker);
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

    /// <summary>One async request: a new store, an instance from <paramref name="instancePre"/>
    /// (wasmtime_instance_pre_instantiate_async), <c>run(argument)</c> through wasmtime_func_call_async, each future
    /// polled to completion, the store deleted. Returns what <c>run</c> returned; throws unless the call yielded
    /// <paramref name="expectedYields"/> times (one per pending host call).</summary>
    public long RequestOnce(nint instancePre, long argument, int expectedYields)
    {
        nint store = StoreNew(Handle, 0, 0);
        try
        {
            nint context = StoreContext(store);
            Instance instance;
            nint trap = 0, error = 0;
            PollToEnd(InstancePreInstantiateAsync(instancePre, context, &instance, &trap, &error));
            Check(error, "wasmtime_instance_pre_instantiate_async");
            CheckTrap(trap);
            return CallRunAsync(context, &instance, argument, expectedYields);
        }
        finally
        {
            StoreDelete(store);
        }
    }

    /// <summary>Calls the export <c>run(argument)</c> through wasmtime_func_call_async and polls it to the end;
    /// throws unless it yielded <paramref name="expectedYields"/> times, so "pending once" really was.</summary>
    public static long CallRunAsync(nint context, Instance* instance, long argument, long expectedYields)
    {
        Func run = ExportedRun(context, instance);
        Val parameter = new() { Kind = ValKindI64, I64 = argument };
        Val result = default;
        nint trap = 0, error = 0;
        long yields = PollToEnd(FuncCallAsync(context, &run, &parameter, 1, &result, 1, &trap, &error));
        Check(error, "wasmtime_func_call_async");
        CheckTrap(trap);
        if (yields != expectedYields)
        {
            throw new InvalidOperationException($"the call yielded {yields} times, expected {expectedYields}");
        }
        return result.I64;
    }

    /// <summary>Calls the export <c>run(argument)</c> through wasmtime_func_call_unchecked (a sync call).</summary>
    public static long CallRunUnchecked(nint context, Instance* instance, long argument)
    {
        Func run = ExportedRun(context, instance);
        ValRaw argumentAndResult = new() { I64 = argument };
        nint trap = 0;
        Check(FuncCallUnchecked(context, &run, &argumentAndResult, 1, &trap), "wasmtime_func_call_unchecked");
        CheckTrap(trap);
        return argumentAndResult.I64;
    }

    /// <summary>Polls a call future until it completes (each false is one yield: an async host call that reported
    /// Pending), then deletes it. Returns the number of yields.</summary>
    public static long PollToEnd(nint future)
    {
        try
        {
            long yields = 0;
            while (!CallFuturePoll(future))
            {
                yields++;
            }
            return yields;
        }
        finally
        {
            CallFutureDelete(future);
        }
    }

    private static Func ExportedRun(nint context, Instance* instance)
    {
        Extern item;
        fixed (byte* name = "run"u8)
        {
            if (!InstanceExportGet(context, instance, name, 3, &item) || item.Kind != ExternKindFunc)
            {
                throw new InvalidOperationException("the module exports no function 'run'");
            }
        }
        return item.Func;
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
