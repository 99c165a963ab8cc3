/* Native tests of fiber.h's inline fast paths (allocator_fiber_resume_inline, allocator_fiber_host_call_inline) and
 * of every case they hand to the exported functions: first resume, cancel before start, cancel requested, a
 * synchronous host, a passed deadline, a cancel resume, finished fibers. Portable C: built and run for linux-x64
 * (tests/native/linux-x64/run.sh), linux-arm64 under QEMU and win-x64 under Wine (the other run scripts), linked
 * against the exported allocator_fiber_switch_context, so a missing export fails the link. Prints "ok  : ..." or
 * "FAIL: ..." per check and "all inline checks passed"; exits 0 only then. */
#if !defined(_WIN32)
#  define _GNU_SOURCE
#endif
#include "fiber.h"

#include <fenv.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#if !defined(_WIN32)
#  include <dlfcn.h>
#  include <execinfo.h>
#endif

#define STACK_SIZE ((size_t)256 * 1024)

/* A fiber stack without a guard page: enough for these guests, and the same code on all three systems. */
static _Alignas(64) char stack[STACK_SIZE];

static int failures;

static void check(int ok, const char* what)
{
    printf("%s: %s\n", ok ? "ok  " : "FAIL", what);
    failures += !ok;
}

/* count host calls through the fast path: call i passes (i, 2i) to function 5 and adds up the answers. */
static intptr_t inline_loop_entry(allocator_fiber_ctx* ctx, intptr_t count)
{
    intptr_t sum = 0;
    for (intptr_t i = 0; i < count; i++) {
        intptr_t args[2] = { i, 2 * i };
        intptr_t result = -1;
        if (allocator_fiber_host_call_inline(ctx, 5, args, 2, &result) != ALLOCATOR_FIBER_HOST_OK) {
            return -1;
        }
        sum += result;
    }
    return sum;
}

/* The same loop through the exported host call, for a driver that resumes inline. */
static intptr_t exported_loop_entry(allocator_fiber_ctx* ctx, intptr_t count)
{
    intptr_t sum = 0;
    for (intptr_t i = 0; i < count; i++) {
        intptr_t args[2] = { i, 2 * i };
        intptr_t result = -1;
        if (allocator_fiber_host_call(ctx, 5, args, 2, &result) != ALLOCATOR_FIBER_HOST_OK) {
            return -1;
        }
        sum += result;
    }
    return sum;
}

/* Answers each request of a loop entry with args[0] + 1, resuming inline or through the exported function; returns
 * the final state, or ALLOCATOR_FIBER_INVALID if a request arrived malformed. */
static int32_t drive_loop(allocator_fiber_ctx* ctx, int inline_resume)
{
    int32_t state = inline_resume ? allocator_fiber_resume_inline(ctx, ALLOCATOR_FIBER_RESUME_RESULT, 0)
                                  : allocator_fiber_resume(ctx, ALLOCATOR_FIBER_RESUME_RESULT, 0);
    while (state == ALLOCATOR_FIBER_HOST_CALL) {
        if (ctx->host_function != 5 || ctx->host_arg_count != 2 || ctx->host_args[1] != 2 * ctx->host_args[0]) {
            return ALLOCATOR_FIBER_INVALID;
        }
        intptr_t answer = ctx->host_args[0] + 1;
        state = inline_resume ? allocator_fiber_resume_inline(ctx, ALLOCATOR_FIBER_RESUME_RESULT, answer)
                              : allocator_fiber_resume(ctx, ALLOCATOR_FIBER_RESUME_RESULT, answer);
    }
    return state;
}

static int started;

static intptr_t flag_entry(allocator_fiber_ctx* ctx, intptr_t arg)
{
    (void)ctx;
    started = 1;
    return arg;
}

/* Host calls until one is cancelled; returns 1000 + the number that succeeded, and the last result must be 0. */
static intptr_t until_cancelled_entry(allocator_fiber_ctx* ctx, intptr_t arg)
{
    (void)arg;
    for (intptr_t ok = 0;; ok++) {
        intptr_t result = -1;
        if (allocator_fiber_host_call_inline(ctx, 0, NULL, 0, &result) == ALLOCATOR_FIBER_HOST_CANCELLED) {
            return result == 0 ? 1000 + ok : -1;
        }
    }
}

static intptr_t sync_host(void* state, int32_t fn_index, const intptr_t* args, int32_t nargs, int32_t* status)
{
    (void)state;
    if (fn_index == 3 && nargs == 2) {
        *status = ALLOCATOR_FIBER_SYNC_HANDLED;
        return args[0] * args[1];
    }
    if (fn_index == 6) {
        *status = ALLOCATOR_FIBER_SYNC_FAILED;
        return 0;
    }
    *status = ALLOCATOR_FIBER_SYNC_NOT_HANDLED;
    return 0;
}

/* Function 3 is served by the synchronous host, function 4 goes to the driver, function 6 fails. */
static intptr_t sync_entry(allocator_fiber_ctx* ctx, intptr_t arg)
{
    intptr_t args[2] = { arg, 6 };
    intptr_t product = 0, async_result = 0, failed = -1;
    if (allocator_fiber_host_call_inline(ctx, 3, args, 2, &product) != ALLOCATOR_FIBER_HOST_OK
        || allocator_fiber_host_call_inline(ctx, 4, NULL, 0, &async_result) != ALLOCATOR_FIBER_HOST_OK) {
        return -1;
    }
    if (allocator_fiber_host_call_inline(ctx, 6, NULL, 0, &failed) != ALLOCATOR_FIBER_HOST_CANCELLED || failed != 0) {
        return -2;
    }
    return product + async_result;
}

/* A synchronous host that counts its calls in *state and answers args[0] * args[1] for function 3. */
static intptr_t counting_sync_host(void* state, int32_t fn_index, const intptr_t* args, int32_t nargs, int32_t* status)
{
    ++*(long*)state;
    return sync_host(NULL, fn_index, args, nargs, status);
}

/* count calls of function 3 through the exported host call (its synchronous fast path); returns the sum of answers,
 * or -1000 - i if call i was not answered OK. */
static intptr_t exported_sync_entry(allocator_fiber_ctx* ctx, intptr_t count)
{
    intptr_t sum = 0;
    for (intptr_t i = 0; i < count; i++) {
        intptr_t args[2] = { i, 3 };
        intptr_t result = -1;
        if (allocator_fiber_host_call(ctx, 3, args, 2, &result) != ALLOCATOR_FIBER_HOST_OK) {
            return -1000 - i;
        }
        sum += result;
    }
    return sum;
}

/* Unchecked host functions: what they were called with, and on which stack. */
static long unchecked_calls;
static int32_t unchecked_last_function = -1, unchecked_last_count = -1;
static const intptr_t* unchecked_last_args;
static int unchecked_on_fiber_stack;

static int on_fiber_stack(const void* address)
{
    return (const char*)address >= stack && (const char*)address < stack + STACK_SIZE;
}

/* Function 2: answers args[0] * 10 + args[1] + the function index; records its call. */
static intptr_t unchecked_host(const allocator_fiber_unchecked_call* call)
{
    volatile char probe = 0; /* its address is on the stack this function runs on */
    unchecked_calls++;
    unchecked_last_function = call->function;
    unchecked_last_count = call->arg_count;
    unchecked_last_args = call->args;
    unchecked_on_fiber_stack |= on_fiber_stack((const void*)&probe);
    return call->args[0] * 10 + call->args[1] + call->function;
}

/* Function 1 of the table: a second unchecked function, so the index picks the entry. */
static intptr_t unchecked_negate(const allocator_fiber_unchecked_call* call)
{
    unchecked_calls++;
    return -call->args[0];
}

/* As lean as counting_sync_host, for the printed timing: counts its calls and answers args[0] * args[1]. */
static intptr_t counting_unchecked_host(const allocator_fiber_unchecked_call* call)
{
    unchecked_calls++;
    return call->args[0] * call->args[1];
}

static const allocator_fiber_unchecked_host timed_unchecked_table[3] = { NULL, NULL, counting_unchecked_host };

/* Entry 0 empty (driver), 1 and 2 unchecked; 3 is the synchronous host's, beyond the table goes to the driver. */
static const allocator_fiber_unchecked_host unchecked_table[3] = { NULL, unchecked_negate, unchecked_host };

static const intptr_t* mixed_guest_args;

/* One call of each kind through the exported host call: unchecked 2 and 1, synchronous 3, driver 0 and 9. Returns
 * a checksum of the answers, or a negative step number. */
static intptr_t mixed_entry(allocator_fiber_ctx* ctx, intptr_t arg)
{
    intptr_t args[2] = { arg, 4 };
    intptr_t unchecked = 0, negated = 0, product = 0, driver0 = 0, driver9 = 0;
    mixed_guest_args = args;
    if (allocator_fiber_host_call(ctx, 2, args, 2, &unchecked) != ALLOCATOR_FIBER_HOST_OK) {
        return -1;
    }
    if (allocator_fiber_host_call(ctx, 1, args, 1, &negated) != ALLOCATOR_FIBER_HOST_OK) {
        return -2;
    }
    if (allocator_fiber_host_call(ctx, 3, args, 2, &product) != ALLOCATOR_FIBER_HOST_OK) {
        return -3;
    }
    if (allocator_fiber_host_call(ctx, 0, args, 2, &driver0) != ALLOCATOR_FIBER_HOST_OK
        || allocator_fiber_host_call(ctx, 9, args, 2, &driver9) != ALLOCATOR_FIBER_HOST_OK) {
        return -4;
    }
    /* The inline host call hands an unchecked function to the exported one, which serves it in place. */
    intptr_t inline_unchecked = 0;
    if (allocator_fiber_host_call_inline(ctx, 2, args, 2, &inline_unchecked) != ALLOCATOR_FIBER_HOST_OK) {
        return -5;
    }
    return unchecked * 1000000 + negated * 10000 + product * 100 + driver0 + driver9 + inline_unchecked * 100000000;
}

/* count calls of unchecked function 2 through the exported host call; the sum of answers, or -1000 - i. */
static intptr_t exported_unchecked_entry(allocator_fiber_ctx* ctx, intptr_t count)
{
    intptr_t sum = 0;
    for (intptr_t i = 0; i < count; i++) {
        intptr_t args[2] = { i, 1 };
        intptr_t result = -1;
        if (allocator_fiber_host_call(ctx, 2, args, 2, &result) != ALLOCATOR_FIBER_HOST_OK) {
            return -1000 - i;
        }
        sum += result;
    }
    return sum;
}

/* Two host calls; the driver sets a deadline between them. */
static intptr_t deadline_entry(allocator_fiber_ctx* ctx, intptr_t arg)
{
    (void)arg;
    intptr_t first = 0, second = 0;
    if (allocator_fiber_host_call_inline(ctx, 1, NULL, 0, &first) != ALLOCATOR_FIBER_HOST_OK) {
        return -1;
    }
    int32_t status = allocator_fiber_host_call_inline(ctx, 2, NULL, 0, &second);
    return status == ALLOCATOR_FIBER_HOST_OK ? first + second : 500 + second;
}

static intptr_t trap_entry(allocator_fiber_ctx* ctx, intptr_t code)
{
    intptr_t result = 0;
    allocator_fiber_host_call_inline(ctx, 0, NULL, 0, &result);
    allocator_fiber_trap(ctx, (int32_t)(code + result));
}

/* The guest rounds upward across a host call; it must get its mode back and the driver must never see it. */
static intptr_t rounding_entry(allocator_fiber_ctx* ctx, intptr_t arg)
{
    (void)arg;
    int started_to_nearest = fegetround() == FE_TONEAREST;
    fesetround(FE_UPWARD);
    intptr_t result = 0;
    allocator_fiber_host_call_inline(ctx, 0, NULL, 0, &result);
    int kept = fegetround() == FE_UPWARD;
    fesetround(FE_TONEAREST);
    return started_to_nearest * 10 + kept;
}

#if !defined(_WIN32)
/* Unwinds from a few guest frames deep; returns the index of the first frame in drive_for_backtrace (the driver's
 * function that resumed inline, on the thread's stack), or minus the frame count if the walk never got there. */
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
        if (dladdr(frames[i], &info) != 0 && info.dli_sname != NULL && strcmp(info.dli_sname, "drive_for_backtrace") == 0) {
            return i;
        }
    }
    return -count;
}

static intptr_t backtrace_entry(allocator_fiber_ctx* ctx, intptr_t depth)
{
    intptr_t result = 0;
    allocator_fiber_host_call_inline(ctx, 0, NULL, 0, &result); /* suspended once, so the next resume is inline */
    return backtrace_at_depth((int)depth);
}

__attribute__((noinline, visibility("default"))) int32_t drive_for_backtrace(allocator_fiber_ctx* ctx)
{
    return allocator_fiber_resume_inline(ctx, ALLOCATOR_FIBER_RESUME_RESULT, 0);
}
#endif

#if !defined(_WIN32)
/* A synchronous host that walks the stack from the thread's stack: through call_on_parent_stack (CFA through rbp/x29),
 * the exported host call and the guest on the fiber stack, the entry trampoline, into allocator_fiber_resume on the
 * thread's stack. Bit 0: allocator_fiber_host_call seen, bit 1: the guest, bit 2: the resume, in that order. */
static intptr_t backtrace_sync_host(void* state, int32_t fn_index, const intptr_t* args, int32_t nargs, int32_t* status)
{
    (void)state, (void)fn_index, (void)args, (void)nargs;
    static const char* const names[] = { "allocator_fiber_host_call", "sync_backtrace_guest", "allocator_fiber_resume" };
    void* frames[64];
    int count = backtrace(frames, 64);
    intptr_t seen = 0;
    int next = 0;
    for (int i = 0; i < count && next < 3; i++) {
        Dl_info info;
        if (dladdr(frames[i], &info) != 0 && info.dli_sname != NULL && strcmp(info.dli_sname, names[next]) == 0) {
            seen |= (intptr_t)1 << next++;
        }
    }
    *status = ALLOCATOR_FIBER_SYNC_HANDLED;
    return seen;
}

__attribute__((noinline, visibility("default"))) intptr_t sync_backtrace_guest(allocator_fiber_ctx* ctx, intptr_t arg)
{
    (void)arg;
    intptr_t seen = -1;
    if (allocator_fiber_host_call(ctx, 0, NULL, 0, &seen) != ALLOCATOR_FIBER_HOST_OK) {
        return -1;
    }
    return seen;
}

/* An unchecked function that walks the stack from the thread's stack: through allocator_fiber_host_call_unchecked
 * (CFA through rbp/x29; the host call itself tail-called it, so it is not on the stack) onto the fiber stack, through
 * the guest and the entry trampoline into allocator_fiber_resume. Answers a bit per frame found, in order. */
static intptr_t backtrace_unchecked_host(const allocator_fiber_unchecked_call* call)
{
    (void)call;
    static const char* const names[] = { "unchecked_backtrace_guest", "allocator_fiber_resume" };
    void* frames[64];
    int count = backtrace(frames, 64);
    intptr_t seen = 0;
    int next = 0;
    for (int i = 0; i < count && next < 2; i++) {
        Dl_info info;
        if (dladdr(frames[i], &info) != 0 && info.dli_sname != NULL && strcmp(info.dli_sname, names[next]) == 0) {
            seen |= (intptr_t)1 << next++;
        }
    }
    return seen;
}

static const allocator_fiber_unchecked_host backtrace_unchecked_table[1] = { backtrace_unchecked_host };

__attribute__((noinline, visibility("default"))) intptr_t unchecked_backtrace_guest(allocator_fiber_ctx* ctx, intptr_t arg)
{
    (void)arg;
    intptr_t seen = -1;
    if (allocator_fiber_host_call(ctx, 0, NULL, 0, &seen) != ALLOCATOR_FIBER_HOST_OK) {
        return -1;
    }
    return seen;
}
#endif

int main(void)
{
    const intptr_t calls = 100000;
    const intptr_t expected = calls * (calls + 1) / 2;
    allocator_fiber_ctx* ctx = allocator_fiber_init(stack, STACK_SIZE, inline_loop_entry, calls);
    int32_t state = drive_loop(ctx, 1);
    check(state == ALLOCATOR_FIBER_COMPLETED && ctx->value == expected,
          "inline driver, inline guest: 100 000 host calls carry their requests and answers");

    ctx = allocator_fiber_init(stack, STACK_SIZE, inline_loop_entry, calls);
    state = drive_loop(ctx, 0);
    check(state == ALLOCATOR_FIBER_COMPLETED && ctx->value == expected, "exported resume, inline guest");

    ctx = allocator_fiber_init(stack, STACK_SIZE, exported_loop_entry, calls);
    state = drive_loop(ctx, 1);
    check(state == ALLOCATOR_FIBER_COMPLETED && ctx->value == expected, "inline resume, exported host call");

    check(allocator_fiber_resume_inline(ctx, ALLOCATOR_FIBER_RESUME_RESULT, 0) == ALLOCATOR_FIBER_INVALID
          && ctx->state == ALLOCATOR_FIBER_COMPLETED,
          "inline resume of a completed fiber is refused and changes nothing");

    started = 0;
    ctx = allocator_fiber_init(stack, STACK_SIZE, flag_entry, 3);
    state = allocator_fiber_resume_inline(ctx, ALLOCATOR_FIBER_RESUME_CANCEL, 0);
    check(state == ALLOCATOR_FIBER_CANCELLED && !started, "inline cancel of a fiber that never ran: nothing runs");
    check(allocator_fiber_resume_inline(ctx, ALLOCATOR_FIBER_RESUME_RESULT, 0) == ALLOCATOR_FIBER_INVALID && !started,
          "and it is never resumed afterwards");

    ctx = allocator_fiber_init(stack, STACK_SIZE, until_cancelled_entry, 0);
    state = allocator_fiber_resume_inline(ctx, ALLOCATOR_FIBER_RESUME_RESULT, 0);
    state = allocator_fiber_resume_inline(ctx, ALLOCATOR_FIBER_RESUME_RESULT, 7);
    state = allocator_fiber_resume_inline(ctx, ALLOCATOR_FIBER_RESUME_CANCEL, 7);
    check(state == ALLOCATOR_FIBER_CANCELLED && ctx->value == 1001 && ctx->cancelled,
          "inline cancel resume: the pending host call answers CANCELLED with result 0, the fiber ends cancelled");

    ctx = allocator_fiber_init(stack, STACK_SIZE, until_cancelled_entry, 0);
    state = allocator_fiber_resume_inline(ctx, ALLOCATOR_FIBER_RESUME_RESULT, 0);
    ctx->cancel_requested = 1;
    state = allocator_fiber_resume_inline(ctx, ALLOCATOR_FIBER_RESUME_RESULT, 7);
    check(state == ALLOCATOR_FIBER_CANCELLED && ctx->value == 1001,
          "cancel requested: the next inline host call starts nothing and answers CANCELLED without switching");

    ctx = allocator_fiber_init(stack, STACK_SIZE, sync_entry, 7);
    allocator_fiber_set_sync_host(ctx, sync_host, NULL);
    state = allocator_fiber_resume_inline(ctx, ALLOCATOR_FIBER_RESUME_RESULT, 0);
    check(state == ALLOCATOR_FIBER_HOST_CALL && ctx->host_function == 4,
          "synchronous host installed: the inline host call is served in place, an unhandled one reaches the driver");
    state = allocator_fiber_resume_inline(ctx, ALLOCATOR_FIBER_RESUME_RESULT, 1000);
    check(state == ALLOCATOR_FIBER_CANCELLED && ctx->value == 7 * 6 + 1000,
          "synchronous results reach the guest; a failed synchronous call answers CANCELLED");

    /* The exported host call serves a synchronous host before anything else, in its own small frame; a cancel or a
     * passed deadline still comes first, exactly as on its general path. */
    long sync_calls = 0;
    volatile uint64_t sync_epoch = 0;
    ctx = allocator_fiber_init(stack, STACK_SIZE, exported_sync_entry, 1000);
    allocator_fiber_set_sync_host(ctx, counting_sync_host, &sync_calls);
    state = allocator_fiber_resume(ctx, ALLOCATOR_FIBER_RESUME_RESULT, 0);
    check(state == ALLOCATOR_FIBER_COMPLETED && ctx->value == 3 * 999 * 1000 / 2 && sync_calls == 1000,
          "exported host call, synchronous host: 1000 calls served in place, never reaching the driver");

    sync_calls = 0;
    ctx = allocator_fiber_init(stack, STACK_SIZE, exported_sync_entry, 2);
    allocator_fiber_set_sync_host(ctx, counting_sync_host, &sync_calls);
    ctx->epoch = &sync_epoch;
    ctx->deadline = 0;
    state = allocator_fiber_resume(ctx, ALLOCATOR_FIBER_RESUME_RESULT, 0);
    int yielded_first = state == ALLOCATOR_FIBER_YIELDED && sync_calls == 0;
    ctx->deadline = UINT64_MAX;
    state = allocator_fiber_resume(ctx, ALLOCATOR_FIBER_RESUME_RESULT, 0);
    check(yielded_first && state == ALLOCATOR_FIBER_COMPLETED && ctx->value == 3 && sync_calls == 2,
          "exported host call, synchronous host, deadline passed: it yields first, then the synchronous host serves it");

    sync_calls = 0;
    ctx = allocator_fiber_init(stack, STACK_SIZE, exported_sync_entry, 2);
    allocator_fiber_set_sync_host(ctx, counting_sync_host, &sync_calls);
    ctx->cancel_requested = 1;
    state = allocator_fiber_resume(ctx, ALLOCATOR_FIBER_RESUME_RESULT, 0);
    check(state == ALLOCATOR_FIBER_CANCELLED && ctx->value == -1000 && sync_calls == 0,
          "exported host call, synchronous host, cancel requested: nothing is served, the call answers CANCELLED");

    /* The native part of a synchronous host call (a C host instead of the C# callback), printed, not checked. */
    {
        const intptr_t timed_calls = 2000000;
        sync_calls = 0;
        ctx = allocator_fiber_init(stack, STACK_SIZE, exported_sync_entry, timed_calls);
        allocator_fiber_set_sync_host(ctx, counting_sync_host, &sync_calls);
        clock_t start = clock();
        state = allocator_fiber_resume(ctx, ALLOCATOR_FIBER_RESUME_RESULT, 0);
        double seconds = (double)(clock() - start) / CLOCKS_PER_SEC;
        check(state == ALLOCATOR_FIBER_COMPLETED && sync_calls == timed_calls,
              "two million synchronous host calls through the exported host call");
        printf("synchronous host call, native part (C host): %.1f ns per call\n", seconds * 1e9 / (double)timed_calls);
    }

    /* Unchecked host functions: the native function pointer is called directly by the exported host call. */
    unchecked_calls = 0;
    ctx = allocator_fiber_init(stack, STACK_SIZE, mixed_entry, 7);
    allocator_fiber_set_sync_host(ctx, sync_host, NULL);
    allocator_fiber_set_unchecked_hosts(ctx, unchecked_table, 3);
    state = allocator_fiber_resume(ctx, ALLOCATOR_FIBER_RESUME_RESULT, 0);
    check(state == ALLOCATOR_FIBER_HOST_CALL && ctx->host_function == 0 && unchecked_calls == 2
          && unchecked_last_function == 2 && unchecked_last_count == 2 && unchecked_last_args == mixed_guest_args,
          "unchecked functions 2 and 1 are called in place with the guest's index, count and argument pointer; "
          "an empty entry reaches the driver");
    check(!unchecked_on_fiber_stack, "an unchecked function runs on the driver's stack, not the fiber's");
    state = allocator_fiber_resume(ctx, ALLOCATOR_FIBER_RESUME_RESULT, 5);
    check(state == ALLOCATOR_FIBER_HOST_CALL && ctx->host_function == 9, "an index beyond the table reaches the driver");
    state = allocator_fiber_resume(ctx, ALLOCATOR_FIBER_RESUME_RESULT, 6);
    /* unchecked 7*10+4+2 = 76, negated -7, product 28, driver 5 + 6, inline unchecked 76 */
    check(state == ALLOCATOR_FIBER_COMPLETED && unchecked_calls == 3
          && ctx->value == 76 * 1000000 - 7 * 10000 + 28 * 100 + 11 + 76 * (intptr_t)100000000,
          "the unchecked answers reach the guest; a synchronous function in the same fiber is still served by its host");

    unchecked_calls = 0;
    ctx = allocator_fiber_init(stack, STACK_SIZE, exported_unchecked_entry, 2);
    allocator_fiber_set_unchecked_hosts(ctx, unchecked_table, 3);
    ctx->cancel_requested = 1;
    state = allocator_fiber_resume(ctx, ALLOCATOR_FIBER_RESUME_RESULT, 0);
    check(state == ALLOCATOR_FIBER_CANCELLED && ctx->value == -1000 && unchecked_calls == 0,
          "unchecked function, cancel requested: it is not called, the call answers CANCELLED");

    {
        volatile uint64_t unchecked_epoch = 0;
        unchecked_calls = 0;
        ctx = allocator_fiber_init(stack, STACK_SIZE, exported_unchecked_entry, 2);
        allocator_fiber_set_unchecked_hosts(ctx, unchecked_table, 3);
        ctx->epoch = &unchecked_epoch;
        ctx->deadline = 0;
        state = allocator_fiber_resume(ctx, ALLOCATOR_FIBER_RESUME_RESULT, 0);
        int yielded_first = state == ALLOCATOR_FIBER_YIELDED && unchecked_calls == 0;
        state = allocator_fiber_resume(ctx, ALLOCATOR_FIBER_RESUME_CANCEL, 0);
        check(yielded_first && state == ALLOCATOR_FIBER_CANCELLED && unchecked_calls == 0,
              "unchecked function, deadline passed: the call yields first; interrupted there, it is never called");

        ctx = allocator_fiber_init(stack, STACK_SIZE, exported_unchecked_entry, 2);
        allocator_fiber_set_unchecked_hosts(ctx, unchecked_table, 3);
        ctx->epoch = &unchecked_epoch;
        ctx->deadline = 0;
        state = allocator_fiber_resume(ctx, ALLOCATOR_FIBER_RESUME_RESULT, 0);
        yielded_first = state == ALLOCATOR_FIBER_YIELDED && unchecked_calls == 0;
        ctx->deadline = UINT64_MAX;
        state = allocator_fiber_resume(ctx, ALLOCATOR_FIBER_RESUME_RESULT, 0);
        check(yielded_first && state == ALLOCATOR_FIBER_COMPLETED && ctx->value == 3 + 13 && unchecked_calls == 2,
              "unchecked function, deadline passed then extended: the call yields first, then it is served");
    }

    allocator_fiber_set_unchecked_hosts(ctx, NULL, 3);
    check(ctx->unchecked == NULL && ctx->unchecked_count == 0, "a NULL unchecked table turns the unchecked path off");

    /* The native part of an unchecked host call (a C function), printed, not checked. */
    {
        const intptr_t timed_calls = 2000000;
        unchecked_calls = 0;
        ctx = allocator_fiber_init(stack, STACK_SIZE, exported_unchecked_entry, timed_calls);
        allocator_fiber_set_unchecked_hosts(ctx, timed_unchecked_table, 3);
        clock_t start = clock();
        state = allocator_fiber_resume(ctx, ALLOCATOR_FIBER_RESUME_RESULT, 0);
        double seconds = (double)(clock() - start) / CLOCKS_PER_SEC;
        check(state == ALLOCATOR_FIBER_COMPLETED && unchecked_calls == timed_calls,
              "two million unchecked host calls through the exported host call");
        printf("unchecked host call, native part (C function): %.1f ns per call\n", seconds * 1e9 / (double)timed_calls);
    }

    volatile uint64_t epoch = 10;
    ctx = allocator_fiber_init(stack, STACK_SIZE, deadline_entry, 0);
    state = allocator_fiber_resume_inline(ctx, ALLOCATOR_FIBER_RESUME_RESULT, 0);
    ctx->epoch = &epoch;
    ctx->deadline = 10;
    state = allocator_fiber_resume_inline(ctx, ALLOCATOR_FIBER_RESUME_RESULT, 20);
    check(state == ALLOCATOR_FIBER_YIELDED, "deadline passed: the inline host call yields before it starts");
    ctx->deadline = UINT64_MAX;
    state = allocator_fiber_resume_inline(ctx, ALLOCATOR_FIBER_RESUME_RESULT, 0);
    check(state == ALLOCATOR_FIBER_HOST_CALL && ctx->host_function == 2,
          "an inline resume of the yielded fiber with the deadline extended lets the host call start");
    state = allocator_fiber_resume_inline(ctx, ALLOCATOR_FIBER_RESUME_RESULT, 3);
    check(state == ALLOCATOR_FIBER_COMPLETED && ctx->value == 23, "and its answer reaches the guest");

    ctx = allocator_fiber_init(stack, STACK_SIZE, deadline_entry, 0);
    state = allocator_fiber_resume_inline(ctx, ALLOCATOR_FIBER_RESUME_RESULT, 0);
    ctx->epoch = &epoch;
    ctx->deadline = 5;
    state = allocator_fiber_resume_inline(ctx, ALLOCATOR_FIBER_RESUME_RESULT, 20);
    state = allocator_fiber_resume_inline(ctx, ALLOCATOR_FIBER_RESUME_CANCEL, 0);
    check(state == ALLOCATOR_FIBER_CANCELLED && ctx->value == 500,
          "a yielded fiber resumed inline with CANCEL: the host call answers CANCELLED, result 0");

    ctx = allocator_fiber_init(stack, STACK_SIZE, trap_entry, 40);
    state = allocator_fiber_resume_inline(ctx, ALLOCATOR_FIBER_RESUME_RESULT, 0);
    state = allocator_fiber_resume_inline(ctx, ALLOCATOR_FIBER_RESUME_RESULT, 2);
    check(state == ALLOCATOR_FIBER_TRAPPED && ctx->trap_code == 42, "a trap after an inline host call ends the fiber");

    ctx = allocator_fiber_init(stack, STACK_SIZE, rounding_entry, 0);
    state = allocator_fiber_resume_inline(ctx, ALLOCATOR_FIBER_RESUME_RESULT, 0);
    int driver_to_nearest = fegetround() == FE_TONEAREST;
    fesetround(FE_DOWNWARD);
    state = allocator_fiber_resume_inline(ctx, ALLOCATOR_FIBER_RESUME_RESULT, 0);
    int driver_kept = fegetround() == FE_DOWNWARD;
    fesetround(FE_TONEAREST);
    check(state == ALLOCATOR_FIBER_COMPLETED && driver_to_nearest && driver_kept && ctx->value == 11,
          "rounding modes stay with their side across inline switches (MXCSR, x87 CW, FPCR)");

#if !defined(_WIN32)
    ctx = allocator_fiber_init(stack, STACK_SIZE, backtrace_entry, 3);
    state = allocator_fiber_resume_inline(ctx, ALLOCATOR_FIBER_RESUME_RESULT, 0);
    state = drive_for_backtrace(ctx);
    check(state == ALLOCATOR_FIBER_COMPLETED && ctx->value > 0,
          "unwinding from guest frames crosses the entry trampoline into the function that resumed inline");
#endif

#if !defined(_WIN32)
    ctx = allocator_fiber_init(stack, STACK_SIZE, sync_backtrace_guest, 0);
    allocator_fiber_set_sync_host(ctx, backtrace_sync_host, NULL);
    state = allocator_fiber_resume(ctx, ALLOCATOR_FIBER_RESUME_RESULT, 0);
    check(state == ALLOCATOR_FIBER_COMPLETED && ctx->value == 7,
          "unwinding from a synchronous host function on the thread's stack crosses back onto the fiber stack (host "
          "call, guest) and through the entry trampoline into the resume");

    ctx = allocator_fiber_init(stack, STACK_SIZE, unchecked_backtrace_guest, 0);
    allocator_fiber_set_unchecked_hosts(ctx, backtrace_unchecked_table, 1);
    state = allocator_fiber_resume(ctx, ALLOCATOR_FIBER_RESUME_RESULT, 0);
    check(state == ALLOCATOR_FIBER_COMPLETED && ctx->value == 3,
          "unwinding from an unchecked host function on the thread's stack crosses back onto the fiber stack (guest) "
          "and through the entry trampoline into the resume");
#endif

    if (failures == 0) {
        puts("all inline checks passed");
    }
    return failures == 0 ? 0 : 1;
}
