/* Native tests of libAllocatorNative's AArch64 switch, run under qemu-aarch64 by run-with-qemu.sh (or natively on an
 * arm64 Linux machine). Prints "ok  : ..." or "FAIL: ..." per check and "all checks passed" when every one did;
 * exits 0 then. The .NET fiber tests cover the same ground on linux-x64 and win-x64. */
#define _GNU_SOURCE
#include "fiber.h"

#include <dlfcn.h>
#include <execinfo.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

intptr_t probe_fiber_entry(allocator_fiber_ctx* ctx, intptr_t arg);
int32_t probe_resume(allocator_fiber_ctx* ctx, intptr_t value, int32_t* mask);

static int failures;

static void check(int ok, const char* what)
{
    printf("%s: %s\n", ok ? "ok  " : "FAIL", what);
    failures += !ok;
}

static __attribute__((noinline)) intptr_t recurse(allocator_fiber_ctx* ctx, int depth)
{
    volatile intptr_t frame[16];
    for (int i = 0; i < 16; i++) {
        frame[i] = depth * 31 + i;
    }
    intptr_t result = 0;
    if (depth == 0) {
        intptr_t args[2] = { depth, 7 };
        allocator_fiber_host_call(ctx, 1, args, 2, &result);
    } else {
        result = recurse(ctx, depth - 1);
    }
    for (int i = 0; i < 16; i++) {
        if (frame[i] != depth * 31 + i) {
            allocator_fiber_trap(ctx, 1000 + depth);
        }
    }
    return result + 1;
}

static intptr_t deep_entry(allocator_fiber_ctx* ctx, intptr_t depth)
{
    return recurse(ctx, (int)depth);
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

/* Where the synchronous host function found its stack pointer; it must be on the driver's (thread's) stack. */
static uintptr_t sync_sp;

static intptr_t sync_host(void* state, int32_t fn_index, const intptr_t* args, int32_t nargs, int32_t* status)
{
    (void)state;
    volatile char here = 0;
    sync_sp = (uintptr_t)&here;
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
    allocator_fiber_host_call(ctx, 3, args, 2, &product);  /* served on the thread stack */
    allocator_fiber_host_call(ctx, 4, NULL, 0, &async_result); /* not handled: goes to the driver */
    return product + async_result;
}

/* Unwinds from a few guest frames deep; returns the index of the first frame in allocator_fiber_resume (on the
 * driver's stack), or minus the frame count if the walk never got there. */
static __attribute__((noinline)) intptr_t backtrace_at_depth(int depth)
{
    if (depth > 0) {
        volatile intptr_t keep = backtrace_at_depth(depth - 1);
        return keep;
    }
    void* frames[64];
    int count = backtrace(frames, 64);
    for (int i = 0; i < count; i++) {
        Dl_info info;
        if (dladdr(frames[i], &info) != 0 && info.dli_sname != NULL && strcmp(info.dli_sname, "allocator_fiber_resume") == 0) {
            return i;
        }
    }
    return -count;
}

static intptr_t backtrace_entry(allocator_fiber_ctx* ctx, intptr_t depth)
{
    (void)ctx;
    return backtrace_at_depth((int)depth);
}

static double now_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec * 1e9 + (double)t.tv_nsec;
}

int main(void)
{
    /* A pooled-style stack: one inaccessible guard page below a read-write stack. */
    size_t size = 256 * 1024, guard = 64 * 1024;
    char* reservation = mmap(NULL, size + guard, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    char* stack = reservation + guard;
    if (reservation == MAP_FAILED || mprotect(stack, size, PROT_READ | PROT_WRITE) != 0) {
        puts("FAIL: mapping a stack");
        return 1;
    }

    allocator_fiber_ctx* ctx = allocator_fiber_init(stack, size, deep_entry, 200);
    int32_t state = allocator_fiber_resume(ctx, ALLOCATOR_FIBER_RESUME_RESULT, 0);
    check(state == ALLOCATOR_FIBER_HOST_CALL && ctx->host_function == 1 && ctx->host_arg_count == 2
          && ctx->host_args[0] == 0 && ctx->host_args[1] == 7, "host call request reaches the driver");
    state = allocator_fiber_resume(ctx, ALLOCATOR_FIBER_RESUME_RESULT, 100);
    check(state == ALLOCATOR_FIBER_COMPLETED && ctx->value == 100 + 201, "200 frames deep: every frame intact after the host call");

    int32_t mask = -1;
    ctx = allocator_fiber_init(stack, size, probe_fiber_entry, 0);
    state = probe_resume(ctx, 0, &mask);
    check(state == ALLOCATOR_FIBER_HOST_CALL && mask == 0, "driver's x19-x29, d8-d15 and FPCR survive a resume");
    state = probe_resume(ctx, 0, &mask);
    check(state == ALLOCATOR_FIBER_COMPLETED && mask == 0 && ctx->value == 0,
          "fiber's x19-x29, d8-d15 and FPCR survive a host call; it started with FPCR 0");

    ctx = allocator_fiber_init(stack, size, trap_entry, 9);
    state = allocator_fiber_resume(ctx, ALLOCATOR_FIBER_RESUME_RESULT, 0);
    check(state == ALLOCATOR_FIBER_TRAPPED && ctx->trap_code == 9, "trap ends the fiber with the guest's code");
    check(allocator_fiber_resume(ctx, ALLOCATOR_FIBER_RESUME_RESULT, 0) == ALLOCATOR_FIBER_INVALID,
          "a finished fiber is never resumed");

    ctx = allocator_fiber_init(stack, size, cancel_entry, 0);
    allocator_fiber_resume(ctx, ALLOCATOR_FIBER_RESUME_RESULT, 0);
    state = allocator_fiber_resume(ctx, ALLOCATOR_FIBER_RESUME_CANCEL, 0);
    check(state == ALLOCATOR_FIBER_CANCELLED && ctx->value == 77, "cancel reaches the guest, which returns");

    ctx = allocator_fiber_init(stack, size, sync_entry, 7);
    allocator_fiber_set_sync_host(ctx, sync_host, NULL);
    state = allocator_fiber_resume(ctx, ALLOCATOR_FIBER_RESUME_RESULT, 0);
    check(state == ALLOCATOR_FIBER_HOST_CALL && ctx->host_function == 4,
          "trampoline: a synchronous call is served in place, an unhandled one goes to the driver");
    check(sync_sp != 0 && (sync_sp < (uintptr_t)reservation || sync_sp >= (uintptr_t)stack + size),
          "trampoline: the synchronous host function ran on the thread's stack");
    state = allocator_fiber_resume(ctx, ALLOCATOR_FIBER_RESUME_RESULT, 1000);
    check(state == ALLOCATOR_FIBER_COMPLETED && ctx->value == 7 * 6 + 1000, "trampoline: results reach the guest");

    ctx = allocator_fiber_init(stack, size, backtrace_entry, 3);
    state = allocator_fiber_resume(ctx, ALLOCATOR_FIBER_RESUME_RESULT, 0);
    check(state == ALLOCATOR_FIBER_COMPLETED && ctx->value > 0,
          "unwinding from guest frames crosses the entry trampoline into allocator_fiber_resume");

    check(allocator_fiber_init(stack, 8 * 1024, deep_entry, 0) == NULL && allocator_fiber_init(stack + 8, size - 8, deep_entry, 0) == NULL,
          "stacks too small or misaligned are refused");

    const intptr_t calls = 200000;
    ctx = allocator_fiber_init(stack, size, loop_entry, calls);
    double start = now_ns();
    state = allocator_fiber_resume(ctx, ALLOCATOR_FIBER_RESUME_RESULT, 0);
    while (state == ALLOCATOR_FIBER_HOST_CALL) {
        state = allocator_fiber_resume(ctx, ALLOCATOR_FIBER_RESUME_RESULT, 1);
    }
    double elapsed = now_ns() - start;
    check(state == ALLOCATOR_FIBER_COMPLETED && ctx->value == calls, "two hundred thousand round trips");
    printf("round trip: %.1f ns (emulated: not a measure of real hardware)\n", elapsed / (double)calls);

    if (failures == 0) {
        puts("all checks passed");
    }
    return failures == 0 ? 0 : 1;
}
