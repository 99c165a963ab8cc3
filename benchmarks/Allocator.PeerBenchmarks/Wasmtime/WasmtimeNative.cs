using System.Runtime.InteropServices;

namespace Allocator.PeerBenchmarks.Wasmtime;

/// <summary>The part of Wasmtime's C API (crates/c-api/include) the peer cases use, declared by hand: the managed
/// binding in the same NuGet package has no async calls. Handles are raw pointers owned by the wrappers in
/// <see cref="WasmtimeEngine"/>.</summary>
internal static unsafe partial class WasmtimeNative
{
    private const string Library = "wasmtime";

    [StructLayout(LayoutKind.Sequential)]
    public struct ByteVec
    {
        public nuint Size;
        public byte* Data;
    }

    /// <summary>wasmtime_instance_t: a store id and an index; no destructor.</summary>
    [StructLayout(LayoutKind.Sequential)]
    public struct Instance
    {
        public ulong StoreId;
        public nuint Index;
    }

    /// <summary>wasm_valtype_vec_t.</summary>
    [StructLayout(LayoutKind.Sequential)]
    public struct ValtypeVec
    {
        public nuint Size;
        public nint* Data;
    }

    /// <summary>wasmtime_func_t: a store id and a private pointer.</summary>
    [StructLayout(LayoutKind.Sequential)]
    public struct Func
    {
        public ulong StoreId;
        public nint Private;
    }

    /// <summary>wasmtime_extern_t: a kind byte, then a union aligned to 8 whose largest member (wasmtime_global_t) is
    /// 24 bytes. Only the function member is read here.</summary>
    [StructLayout(LayoutKind.Explicit, Size = 32)]
    public struct Extern
    {
        [FieldOffset(0)] public byte Kind;
        [FieldOffset(8)] public Func Func;
    }

    /// <summary>wasmtime_val_t with the GC feature the NuGet build has (it exports wasmtime_anyref_*): a kind byte,
    /// then a union of 24 bytes aligned to 8; 32 bytes. guest/wasmtime_host.c asserts the same layout.</summary>
    [StructLayout(LayoutKind.Explicit, Size = 32)]
    public struct Val
    {
        [FieldOffset(0)] public byte Kind;
        [FieldOffset(8)] public long I64;
    }

    /// <summary>wasmtime_val_raw_t: a 16-byte union.</summary>
    [StructLayout(LayoutKind.Explicit, Size = 16)]
    public struct ValRaw
    {
        [FieldOffset(0)] public long I64;
    }

    public const byte ValKindI64 = 1;     // WASM_I64 and WASMTIME_I64
    public const byte ExternKindFunc = 0; // WASMTIME_EXTERN_FUNC

    [LibraryImport(Library, EntryPoint = "wasm_config_new")]
    public static partial nint ConfigNew();

    [LibraryImport(Library, EntryPoint = "wasmtime_config_memory_init_cow_set")]
    public static partial void ConfigMemoryInitCow(nint config, [MarshalAs(UnmanagedType.U1)] bool enable);

    [LibraryImport(Library, EntryPoint = "wasmtime_pooling_allocation_config_new")]
    public static partial nint PoolingConfigNew();

    [LibraryImport(Library, EntryPoint = "wasmtime_pooling_allocation_config_delete")]
    public static partial void PoolingConfigDelete(nint pooling);

    [LibraryImport(Library, EntryPoint = "wasmtime_pooling_allocation_config_total_core_instances_set")]
    public static partial void PoolingTotalCoreInstances(nint pooling, uint count);

    [LibraryImport(Library, EntryPoint = "wasmtime_pooling_allocation_config_total_memories_set")]
    public static partial void PoolingTotalMemories(nint pooling, uint count);

    [LibraryImport(Library, EntryPoint = "wasmtime_pooling_allocation_config_total_tables_set")]
    public static partial void PoolingTotalTables(nint pooling, uint count);

    [LibraryImport(Library, EntryPoint = "wasmtime_pooling_allocation_config_total_stacks_set")]
    public static partial void PoolingTotalStacks(nint pooling, uint count);

    [LibraryImport(Library, EntryPoint = "wasmtime_pooling_allocation_config_max_unused_warm_slots_set")]
    public static partial void PoolingMaxUnusedWarmSlots(nint pooling, uint count);

    [LibraryImport(Library, EntryPoint = "wasmtime_pooling_allocation_config_decommit_batch_size_set")]
    public static partial void PoolingDecommitBatchSize(nint pooling, nuint size);

    [LibraryImport(Library, EntryPoint = "wasmtime_pooling_allocation_config_linear_memory_keep_resident_set")]
    public static partial void PoolingLinearMemoryKeepResident(nint pooling, nuint bytes);

    [LibraryImport(Library, EntryPoint = "wasmtime_pooling_allocation_strategy_set")]
    public static partial void ConfigPoolingStrategy(nint config, nint pooling);

    [LibraryImport(Library, EntryPoint = "wasm_engine_new_with_config")]
    public static partial nint EngineNewWithConfig(nint config);

    [LibraryImport(Library, EntryPoint = "wasm_engine_delete")]
    public static partial void EngineDelete(nint engine);

    [LibraryImport(Library, EntryPoint = "wasmtime_wat2wasm")]
    public static partial nint Wat2Wasm(byte* wat, nuint length, ByteVec* wasm);

    [LibraryImport(Library, EntryPoint = "wasm_byte_vec_delete")]
    public static partial void ByteVecDelete(ByteVec* vec);

    [LibraryImport(Library, EntryPoint = "wasmtime_module_new")]
    public static partial nint ModuleNew(nint engine, byte* wasm, nuint length, nint* module);

    [LibraryImport(Library, EntryPoint = "wasmtime_module_delete")]
    public static partial void ModuleDelete(nint module);

    [LibraryImport(Library, EntryPoint = "wasmtime_linker_new")]
    public static partial nint LinkerNew(nint engine);

    [LibraryImport(Library, EntryPoint = "wasmtime_linker_delete")]
    public static partial void LinkerDelete(nint linker);

    [LibraryImport(Library, EntryPoint = "wasmtime_linker_instantiate_pre")]
    public static partial nint LinkerInstantiatePre(nint linker, nint module, nint* instancePre);

    [LibraryImport(Library, EntryPoint = "wasmtime_instance_pre_delete")]
    public static partial void InstancePreDelete(nint instancePre);

    [LibraryImport(Library, EntryPoint = "wasmtime_instance_pre_instantiate")]
    public static partial nint InstancePreInstantiate(nint instancePre, nint context, Instance* instance, nint* trap);

    [LibraryImport(Library, EntryPoint = "wasm_valtype_new")]
    public static partial nint ValtypeNew(byte kind);

    [LibraryImport(Library, EntryPoint = "wasm_valtype_vec_new")]
    public static partial void ValtypeVecNew(ValtypeVec* vec, nuint size, nint* valtypes);

    [LibraryImport(Library, EntryPoint = "wasm_functype_new")]
    public static partial nint FunctypeNew(ValtypeVec* parameters, ValtypeVec* results);

    [LibraryImport(Library, EntryPoint = "wasm_functype_delete")]
    public static partial void FunctypeDelete(nint functype);

    /// <summary>wasmtime_linker_define_async_func; <paramref name="callback"/> is a wasmtime_func_async_callback_t.</summary>
    [LibraryImport(Library, EntryPoint = "wasmtime_linker_define_async_func")]
    public static partial nint LinkerDefineAsyncFunc(nint linker, byte* module, nuint moduleLength, byte* name, nuint nameLength,
        nint functype, nint callback, nint data, nint finalizer);

    /// <summary>wasmtime_linker_define_func_unchecked; <paramref name="callback"/> is a
    /// wasmtime_func_unchecked_callback_t.</summary>
    [LibraryImport(Library, EntryPoint = "wasmtime_linker_define_func_unchecked")]
    public static partial nint LinkerDefineFuncUnchecked(nint linker, byte* module, nuint moduleLength, byte* name, nuint nameLength,
        nint functype, nint callback, nint data, nint finalizer);

    [LibraryImport(Library, EntryPoint = "wasmtime_instance_pre_instantiate_async")]
    public static partial nint InstancePreInstantiateAsync(nint instancePre, nint context, Instance* instance, nint* trap, nint* error);

    [LibraryImport(Library, EntryPoint = "wasmtime_instance_export_get")]
    [return: MarshalAs(UnmanagedType.U1)]
    public static partial bool InstanceExportGet(nint context, Instance* instance, byte* name, nuint nameLength, Extern* item);

    [LibraryImport(Library, EntryPoint = "wasmtime_func_call_async")]
    public static partial nint FuncCallAsync(nint context, Func* func, Val* args, nuint argCount, Val* results, nuint resultCount, nint* trap, nint* error);

    [LibraryImport(Library, EntryPoint = "wasmtime_func_call_unchecked")]
    public static partial nint FuncCallUnchecked(nint context, Func* func, ValRaw* argsAndResults, nuint length, nint* trap);

    /// <summary>Runs the call until it yields or completes; true once it has completed.</summary>
    [LibraryImport(Library, EntryPoint = "wasmtime_call_future_poll")]
    [return: MarshalAs(UnmanagedType.U1)]
    public static partial bool CallFuturePoll(nint future);

    [LibraryImport(Library, EntryPoint = "wasmtime_call_future_delete")]
    public static partial void CallFutureDelete(nint future);

    [LibraryImport(Library, EntryPoint = "wasmtime_store_new")]
    public static partial nint StoreNew(nint engine, nint data, nint finalizer);

    [LibraryImport(Library, EntryPoint = "wasmtime_store_context")]
    public static partial nint StoreContext(nint store);

    [LibraryImport(Library, EntryPoint = "wasmtime_store_delete")]
    public static partial void StoreDelete(nint store);

    [LibraryImport(Library, EntryPoint = "wasmtime_error_message")]
    public static partial void ErrorMessage(nint error, ByteVec* message);

    [LibraryImport(Library, EntryPoint = "wasmtime_error_delete")]
    public static partial void ErrorDelete(nint error);

    [LibraryImport(Library, EntryPoint = "wasm_trap_message")]
    public static partial void TrapMessage(nint trap, ByteVec* message);

    [LibraryImport(Library, EntryPoint = "wasm_trap_delete")]
    public static partial void TrapDelete(nint trap);
}
