using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using static Allocator.PeerBenchmarks.Wasmtime.WasmtimeNative;

namespace Allocator.PeerBenchmarks.Wasmtime;

/// <summary>Defines <c>host.call: (i64) -> i64</c> in a linker, in one of the three flavours the cases compare.</summary>
internal static unsafe class WasmtimeHost
{
    public enum Flavour
    {
        /// <summary>Async (wasmtime_linker_define_async_func), answering at once; C callback.</summary>
        AsyncReady,

        /// <summary>Async, its continuation Pending on the first poll and Ready on the next; C callback.</summary>
        AsyncPendingOnce,

        /// <summary>Sync, unchecked (wasmtime_linker_define_func_unchecked), a C# callback: it runs on the thread's
        /// stack because the unchecked call is a sync call.</summary>
        SyncUnchecked,
    }

    public static void Define(nint linker, Flavour flavour)
    {
        nint functype = I64ToI64();
        try
        {
            fixed (byte* module = "host"u8)
            fixed (byte* name = "call"u8)
            {
                nint error = flavour switch
                {
                    Flavour.AsyncReady => LinkerDefineAsyncFunc(linker, module, 4, name, 4, functype, PeerNative.WasmtimeAsyncReady, 0, 0),
                    Flavour.AsyncPendingOnce => LinkerDefineAsyncFunc(linker, module, 4, name, 4, functype, PeerNative.WasmtimeAsyncPendingOnce, 0, 0),
                    _ => LinkerDefineFuncUnchecked(linker, module, 4, name, 4, functype,
                        (nint)(delegate* unmanaged[Cdecl]<nint, nint, ValRaw*, nuint, nint>)&AnswerUnchecked, 0, 0),
                };
                WasmtimeEngine.Check(error, $"defining host.call ({flavour})");
            }
        }
        finally
        {
            FunctypeDelete(functype);
        }
    }

    /// <summary>wasmtime_func_unchecked_callback_t: i + 1 in place; no trap.</summary>
    [UnmanagedCallersOnly(CallConvs = [typeof(CallConvCdecl)])]
    private static nint AnswerUnchecked(nint env, nint caller, ValRaw* argsAndResults, nuint length)
    {
        argsAndResults[0].I64 += 1;
        return 0;
    }

    private static nint I64ToI64()
    {
        nint parameter = ValtypeNew(ValKindI64);
        nint result = ValtypeNew(ValKindI64);
        ValtypeVec parameters, results;
        ValtypeVecNew(&parameters, 1, &parameter);
        ValtypeVecNew(&results, 1, &result);
        return FunctypeNew(&parameters, &results); // takes both vectors
    }
}
