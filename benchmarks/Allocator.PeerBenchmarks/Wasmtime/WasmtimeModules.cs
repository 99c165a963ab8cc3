namespace Allocator.PeerBenchmarks.Wasmtime;

/// <summary>The WAT modules of the request and host-call cases, compiled once per engine.</summary>
internal static class WasmtimeModules
{
    /// <summary><c>run(n)</c> calls the import <c>host.call</c> n times with i = 0, 1, ... and returns the sum of
    /// the answers: the same loop as our guest, guest/peer_guest.c.</summary>
    public static string HostLoop(bool withMemory) => $$"""
        (module
          (import "host" "call" (func $call (param i64) (result i64)))
          {{(withMemory ? "(memory (export \"memory\") 1 1)" : "")}}
          (func (export "run") (param $n i64) (result i64)
            (local $i i64) (local $sum i64)
            (block $done
              (loop $next
                (br_if $done (i64.ge_u (local.get $i) (local.get $n)))
                (local.set $sum (i64.add (local.get $sum) (call $call (local.get $i))))
                (local.set $i (i64.add (local.get $i) (i64.const 1)))
                (br $next)))
            (local.get $sum)))
        """;
}
