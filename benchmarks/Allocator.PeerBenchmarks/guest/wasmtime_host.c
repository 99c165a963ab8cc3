/* Wasmtime's side of the async host calls, in C: Wasmtime runs an async host function (and polls its continuation)
 * on its own fiber stack, where .NET code must never run, so these cannot be C# callbacks. This favours Wasmtime:
 * our host functions are C# delegates reached through the driver.
 *
 * The types mirror Wasmtime 50.0.1's crates/c-api/include/wasmtime/{val,async}.h for linux-x64 with the GC feature
 * (which the NuGet build has: it exports wasmtime_anyref_*), declared here because the package ships no headers. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define HOST_API __attribute__((visibility("default")))
#define WASMTIME_I64 1

/* wasmtime_val_t: a kind byte, then a union of 24 bytes aligned to 8 (anyref/externref are the largest). */
typedef struct {
    uint8_t kind;
    union {
        int32_t i32;
        int64_t i64;
        uint8_t bytes[24];
    } of;
} peer_wasmtime_val;

_Static_assert(sizeof(peer_wasmtime_val) == 32, "wasmtime_val_t is 32 bytes with the GC feature");
_Static_assert(offsetof(peer_wasmtime_val, of) == 8, "the union of wasmtime_val_t is 8-aligned");

typedef bool (*peer_continuation_callback)(void* env);

/* wasmtime_async_continuation_t */
typedef struct {
    peer_continuation_callback callback;
    void* env;
    void (*finalizer)(void*);
} peer_async_continuation;

static bool ready(void* env)
{
    (void)env;
    return true;
}

/* "Pending once": the continuation is polled right after the host function returns (Pending: the call future's
 * poll returns false to the caller's loop), and once more on the caller's next poll (Ready). Calls on one store run
 * one at a time on the polling thread, so one flag per thread is enough. */
static _Thread_local bool polled_once;

static bool pending_once(void* env)
{
    (void)env;
    if (!polled_once) {
        polled_once = true;
        return false;
    }
    polled_once = false;
    return true;
}

static void answer(const peer_wasmtime_val* args, size_t nargs, peer_wasmtime_val* results, size_t nresults)
{
    if (nargs == 1 && nresults == 1) {
        results[0].kind = WASMTIME_I64;
        results[0].of.i64 = args[0].of.i64 + 1;
    }
}

/* wasmtime_func_async_callback_t answering i + 1 at once. */
HOST_API void peer_wasmtime_async_ready(void* env, void* caller, const peer_wasmtime_val* args, size_t nargs,
                                        peer_wasmtime_val* results, size_t nresults, void** trap_ret,
                                        peer_async_continuation* continuation_ret)
{
    (void)env;
    (void)caller;
    (void)trap_ret;
    answer(args, nargs, results, nresults);
    continuation_ret->callback = ready;
    continuation_ret->env = NULL;
    continuation_ret->finalizer = NULL;
}

/* wasmtime_func_async_callback_t answering i + 1 after its continuation has reported Pending once. */
HOST_API void peer_wasmtime_async_pending_once(void* env, void* caller, const peer_wasmtime_val* args, size_t nargs,
                                               peer_wasmtime_val* results, size_t nresults, void** trap_ret,
                                               peer_async_continuation* continuation_ret)
{
    (void)env;
    (void)caller;
    (void)trap_ret;
    answer(args, nargs, results, nresults);
    continuation_ret->callback = pending_once;
    continuation_ret->env = NULL;
    continuation_ret->finalizer = NULL;
}
