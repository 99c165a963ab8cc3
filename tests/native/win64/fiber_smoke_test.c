/* Win64 smoke test of libAllocatorNative's fiber switch, for mingw-w64 builds run on Windows or under Wine
 * (run-with-wine.sh, which .ci/run runs). Exits 0 when every check passes; prints each check. The .NET fiber tests
 * run on win-x64 too (tests/Allocator.Tests.Windows); this checks what they cannot see, such as the TEB. */
#include <windows.h>
#include <stdio.h>
#include "fiber.h"

intptr_t probe_fiber_entry(allocator_fiber_ctx* ctx, intptr_t arg);
int32_t probe_resume(allocator_fiber_ctx* ctx, intptr_t value, int32_t* mask);

static int failures;
static void* teb_base_in_fiber;
static void* teb_limit_in_fiber;

static void check(int ok, const char* what)
{
    printf("%s: %s\n", ok ? "ok  " : "FAIL", what);
    failures += !ok;
}

static NT_TIB* tib(void)
{
    return (NT_TIB*)NtCurrentTeb();
}

static intptr_t recurse(allocator_fiber_ctx* ctx, int depth)
{
    volatile char frame[200];
    frame[0] = (char)depth;
    if (depth == 0) {
        teb_base_in_fiber = tib()->StackBase;
        teb_limit_in_fiber = tib()->StackLimit;
        intptr_t args[2] = { depth, 7 };
        intptr_t result;
        allocator_fiber_host_call(ctx, 1, args, 2, &result);
        return result;
    }
    return recurse(ctx, depth - 1) + frame[0];
}

/* A 20 KB local makes the compiler probe the stack page by page (__chkstk), which must work on the fiber stack. */
static intptr_t deep_entry(allocator_fiber_ctx* ctx, intptr_t depth)
{
    volatile char big[20000];
    big[0] = 1;
    big[19999] = 2;
    return recurse(ctx, (int)depth) + big[0] + big[19999] - 3;
}

static intptr_t trap_entry(allocator_fiber_ctx* ctx, intptr_t code)
{
    allocator_fiber_trap(ctx, (int32_t)code);
}

static intptr_t cancel_entry(allocator_fiber_ctx* ctx, intptr_t arg)
{
    (void)arg;
    intptr_t result;
    return allocator_fiber_host_call(ctx, 0, NULL, 0, &result) == ALLOCATOR_FIBER_HOST_CANCELLED ? 77 : 1;
}

static intptr_t loop_entry(allocator_fiber_ctx* ctx, intptr_t count)
{
    intptr_t sum = 0;
    for (intptr_t i = 0; i < count; i++) {
        intptr_t result;
        allocator_fiber_host_call(ctx, 0, NULL, 0, &result);
        sum += result;
    }
    return sum;
}

/* What the synchronous host function saw: its stack pointer and the TEB's bounds, which must be the thread's. */
static uintptr_t sync_sp;
static void* sync_teb_base;
static void* sync_teb_limit;

static intptr_t sync_host(void* state, int32_t fn_index, const intptr_t* args, int32_t nargs, int32_t* status)
{
    (void)state;
    volatile char here = 0;
    sync_sp = (uintptr_t)&here;
    sync_teb_base = tib()->StackBase;
    sync_teb_limit = tib()->StackLimit;
    if (fn_index != 3) {
        *status = ALLOCATOR_FIBER_SYNC_NOT_HANDLED;
        return 0;
    }
    *status = ALLOCATOR_FIBER_SYNC_HANDLED;
    return nargs == 2 ? args[0] * args[1] : -1;
}

static intptr_t sync_entry(allocator_fiber_ctx* ctx, intptr_t arg)
{
    intptr_t args[2] = { arg, 6 };
    intptr_t product = 0, async_result = 0;
    allocator_fiber_host_call(ctx, 3, args, 2, &product);
    teb_base_in_fiber = tib()->StackBase; /* back on the fiber: its own bounds again */
    allocator_fiber_host_call(ctx, 4, NULL, 0, &async_result);
    return product + async_result;
}

int main(void)
{
    /* A pooled-style stack: one guard page below a committed read-write stack. */
    SIZE_T size = 256 * 1024, guard = 4096;
    char* reservation = VirtualAlloc(NULL, size + guard, MEM_RESERVE, PAGE_NOACCESS);
    char* stack = VirtualAlloc(reservation + guard, size, MEM_COMMIT, PAGE_READWRITE);
    void* thread_base = tib()->StackBase;
    void* thread_limit = tib()->StackLimit;

    allocator_fiber_ctx* ctx = allocator_fiber_init(stack, size, deep_entry, 50);
    int32_t state = allocator_fiber_resume(ctx, ALLOCATOR_FIBER_RESUME_RESULT, 0);
    check(state == ALLOCATOR_FIBER_HOST_CALL && ctx->host_function == 1 && ctx->host_arg_count == 2
          && ctx->host_args[0] == 0 && ctx->host_args[1] == 7, "host call request reaches the driver");
    check(teb_base_in_fiber == stack + size && teb_limit_in_fiber == stack, "TEB stack bounds describe the fiber stack inside it");
    check(tib()->StackBase == thread_base && tib()->StackLimit == thread_limit, "TEB stack bounds restored on the thread");
    state = allocator_fiber_resume(ctx, ALLOCATOR_FIBER_RESUME_RESULT, 100);
    check(state == ALLOCATOR_FIBER_COMPLETED && ctx->value == 100 + 50 * 51 / 2, "deep recursion completes with the host's result");

    int32_t mask = -1;
    ctx = allocator_fiber_init(stack, size, probe_fiber_entry, 0);
    state = probe_resume(ctx, 0, &mask);
    check(state == ALLOCATOR_FIBER_HOST_CALL && mask == 0, "driver's rbx rbp rdi rsi r12-r15 xmm6-15, MXCSR and x87 CW survive a resume");
    state = probe_resume(ctx, 0, &mask);
    check(state == ALLOCATOR_FIBER_COMPLETED && mask == 0 && ctx->value == 0, "fiber's registers and FP modes survive a host call; it started from the defaults");

    ctx = allocator_fiber_init(stack, size, trap_entry, 9);
    state = allocator_fiber_resume(ctx, ALLOCATOR_FIBER_RESUME_RESULT, 0);
    check(state == ALLOCATOR_FIBER_TRAPPED && ctx->trap_code == 9, "trap ends the fiber with the guest's code");

    ctx = allocator_fiber_init(stack, size, cancel_entry, 0);
    allocator_fiber_resume(ctx, ALLOCATOR_FIBER_RESUME_RESULT, 0);
    state = allocator_fiber_resume(ctx, ALLOCATOR_FIBER_RESUME_CANCEL, 0);
    check(state == ALLOCATOR_FIBER_CANCELLED && ctx->value == 77, "cancel reaches the guest, which returns");

    ctx = allocator_fiber_init(stack, size, sync_entry, 7);
    allocator_fiber_set_sync_host(ctx, sync_host, NULL);
    state = allocator_fiber_resume(ctx, ALLOCATOR_FIBER_RESUME_RESULT, 0);
    check(state == ALLOCATOR_FIBER_HOST_CALL && ctx->host_function == 4,
          "trampoline: a synchronous call is served in place, an unhandled one goes to the driver");
    /* StackLimit may have moved down since main read it (the thread stack grows on demand); it must still be the
     * thread's, below the host function's stack pointer. */
    check(sync_sp < (uintptr_t)thread_base && sync_sp >= (uintptr_t)sync_teb_limit
          && sync_teb_base == thread_base && (uintptr_t)sync_teb_limit <= (uintptr_t)thread_limit,
          "trampoline: the synchronous host function ran on the thread's stack with the thread's TEB bounds");
    check(teb_base_in_fiber == stack + size, "trampoline: the fiber's TEB bounds are back after the call");
    state = allocator_fiber_resume(ctx, ALLOCATOR_FIBER_RESUME_RESULT, 1000);
    check(state == ALLOCATOR_FIBER_COMPLETED && ctx->value == 7 * 6 + 1000, "trampoline: results reach the guest");

    const intptr_t calls = 2000000;
    ctx = allocator_fiber_init(stack, size, loop_entry, calls);
    LARGE_INTEGER frequency, start, end;
    QueryPerformanceFrequency(&frequency);
    QueryPerformanceCounter(&start);
    state = allocator_fiber_resume(ctx, ALLOCATOR_FIBER_RESUME_RESULT, 0);
    while (state == ALLOCATOR_FIBER_HOST_CALL) {
        state = allocator_fiber_resume(ctx, ALLOCATOR_FIBER_RESUME_RESULT, 1);
    }
    QueryPerformanceCounter(&end);
    check(state == ALLOCATOR_FIBER_COMPLETED && ctx->value == calls, "two million round trips");
    printf("round trip: %.1f ns\n", (double)(end.QuadPart - start.QuadPart) * 1e9 / (double)frequency.QuadPart / (double)calls);

    return failures == 0 ? 0 : 1;
}
