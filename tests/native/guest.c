/* Test guests for Allocator's fiber tests: native code that runs on pooled fiber stacks.
 * Every entry has the signature intptr_t entry(allocator_fiber_ctx*, intptr_t arg). Host function indices are
 * chosen by the tests' host tables (see tests/Allocator.Tests/Fibers/TestGuest.cs). */
#define _GNU_SOURCE
#include "fiber.h"

#include <string.h>

#if defined(_WIN32)
#  define GUEST_API __declspec(dllexport)
#else
#  include <dlfcn.h>
#  include <execinfo.h>
#  define GUEST_API __attribute__((visibility("default")))
#endif
#define FRAME_WORDS 16

/* Trap codes the tests look for. */
#define TRAP_FRAME_CORRUPTED 1000
#define TRAP_LOCALS_CORRUPTED 2000

static intptr_t frame_word(intptr_t level, int i)
{
    return level * 31 + i;
}

/* One level of guest_recurse: every 64th level calls host function 0 with (level, below) on the way back up, so
 * the fiber is suspended with hundreds of frames live; each frame then checks its own words survived. */
static __attribute__((noinline)) intptr_t recurse(allocator_fiber_ctx* ctx, intptr_t depth, intptr_t level)
{
    volatile intptr_t frame[FRAME_WORDS];
    for (int i = 0; i < FRAME_WORDS; i++) {
        frame[i] = frame_word(level, i);
    }
    intptr_t below = level < depth ? recurse(ctx, depth, level + 1) : 0;
    intptr_t host = 0;
    if (level % 64 == 0 || level == depth) {
        intptr_t args[2] = { level, below };
        if (allocator_fiber_host_call(ctx, 0, args, 2, &host) != ALLOCATOR_FIBER_HOST_OK) {
            return -1;
        }
    }
    for (int i = 0; i < FRAME_WORDS; i++) {
        if (frame[i] != frame_word(level, i)) {
            allocator_fiber_trap(ctx, TRAP_FRAME_CORRUPTED + (int32_t)level);
        }
    }
    return below + level + host;
}

/* Recurses arg levels deep, suspending in host function 0 along the way. */
GUEST_API intptr_t guest_recurse(allocator_fiber_ctx* ctx, intptr_t depth)
{
    return recurse(ctx, depth, 0);
}

static __attribute__((noinline)) intptr_t descend(intptr_t level, intptr_t limit)
{
    volatile char pad[256];
    pad[0] = (char)level;
    pad[255] = (char)level;
    return level >= limit ? pad[0] : descend(level + 1, limit) + pad[255];
}

/* Recurses arg levels with 256-byte frames and no host calls: a large arg runs into the guard page. */
GUEST_API intptr_t guest_descend(allocator_fiber_ctx* ctx, intptr_t limit)
{
    (void)ctx;
    return descend(0, limit);
}

/* arg = seed << 16 | count. Fills 64 locals from seed, makes count calls to host function 0 with (seed, i), checks
 * the locals after every resume (trapping with TRAP_LOCALS_CORRUPTED if they changed) and returns the sum of the
 * host's results. */
GUEST_API intptr_t guest_checked_calls(allocator_fiber_ctx* ctx, intptr_t arg)
{
    intptr_t seed = arg >> 16;
    intptr_t count = arg & 0xFFFF;
    volatile intptr_t locals[64];
    for (int i = 0; i < 64; i++) {
        locals[i] = seed * 1000003 + i;
    }
    intptr_t sum = 0;
    for (intptr_t n = 0; n < count; n++) {
        intptr_t args[2] = { seed, n };
        intptr_t result;
        if (allocator_fiber_host_call(ctx, 0, args, 2, &result) != ALLOCATOR_FIBER_HOST_OK) {
            return -1;
        }
        for (int i = 0; i < 64; i++) {
            if (locals[i] != seed * 1000003 + i) {
                allocator_fiber_trap(ctx, TRAP_LOCALS_CORRUPTED);
            }
        }
        sum += result;
    }
    return sum;
}

/* arg host calls to function 0 without arguments, summing the results: the cheapest round trip, for timing. */
GUEST_API intptr_t guest_call_loop(allocator_fiber_ctx* ctx, intptr_t count)
{
    intptr_t sum = 0;
    for (intptr_t n = 0; n < count; n++) {
        intptr_t result;
        if (allocator_fiber_host_call(ctx, 0, NULL, 0, &result) != ALLOCATOR_FIBER_HOST_OK) {
            return -1;
        }
        sum += result;
    }
    return sum;
}

/* Calls host function 0 once, then traps with code arg. */
GUEST_API intptr_t guest_trap_after_call(allocator_fiber_ctx* ctx, intptr_t code)
{
    intptr_t result;
    allocator_fiber_host_call(ctx, 0, NULL, 0, &result);
    allocator_fiber_trap(ctx, (int32_t)code);
}

/* arg points to three counters: [0] host calls made, [1] cancels seen, [2] host calls that returned after a cancel.
 * Calls host function 0 until cancelled, then cleans up (counter 1) and returns, as a guest should.
 * This guest and the next call the host through fiber.h's inline fast path, so the .NET cancellation tests (cancel
 * words set from other threads, cancel resumes, abandoned fibers) drive its fallbacks too; the others use the
 * exported allocator_fiber_host_call. */
GUEST_API intptr_t guest_honours_cancel(allocator_fiber_ctx* ctx, intptr_t arg)
{
    volatile intptr_t* counters = (volatile intptr_t*)arg;
    for (;;) {
        intptr_t result;
        counters[0]++;
        if (allocator_fiber_host_call_inline(ctx, 0, NULL, 0, &result) == ALLOCATOR_FIBER_HOST_CANCELLED) {
            counters[1]++;
            return -1;
        }
    }
}

/* Same counters; ignores the cancel and calls the host again, which must never return. */
GUEST_API intptr_t guest_ignores_cancel(allocator_fiber_ctx* ctx, intptr_t arg)
{
    volatile intptr_t* counters = (volatile intptr_t*)arg;
    int cancelled = 0;
    for (;;) {
        intptr_t result;
        counters[0]++;
        int32_t status = allocator_fiber_host_call_inline(ctx, 0, NULL, 0, &result);
        if (cancelled) {
            counters[2]++;
        }
        if (status == ALLOCATOR_FIBER_HOST_CANCELLED) {
            counters[1]++;
            cancelled = 1;
        }
    }
}

/* arg points to four counters: [0] loop iterations, [1] yields the driver let go on, [2] cancels seen, [3] stop once
 * [1] reaches it (0: never). Spins polling allocator_fiber_should_yield, never calling the host, the way an
 * instrumented guest loop does; yields when told to and returns promptly when the yield says it is cancelled. */
GUEST_API intptr_t guest_poll_loop(allocator_fiber_ctx* ctx, intptr_t arg)
{
    volatile intptr_t* counters = (volatile intptr_t*)arg;
    for (;;) {
        counters[0]++;
        if (allocator_fiber_should_yield(ctx)) {
            if (allocator_fiber_yield(ctx) != ALLOCATOR_FIBER_HOST_OK) {
                counters[2]++;
                return -1;
            }
            counters[1]++;
            if (counters[3] != 0 && counters[1] >= counters[3]) {
                return counters[1];
            }
        }
    }
}

/* arg iterations of the poll alone, for timing: returns how many said yield. */
GUEST_API intptr_t guest_poll_only(allocator_fiber_ctx* ctx, intptr_t count)
{
    intptr_t fired = 0;
    for (intptr_t n = 0; n < count; n++) {
        fired += allocator_fiber_should_yield(ctx);
    }
    return fired;
}

/* guest_poll_loop's counters; calls host function 0 once first (returning -1 at once, with counter [2] up, if that call
 * was cancelled), then runs guest_poll_loop: a guest that both calls the host and polls. */
GUEST_API intptr_t guest_call_then_poll(allocator_fiber_ctx* ctx, intptr_t arg)
{
    intptr_t result;
    if (allocator_fiber_host_call(ctx, 0, NULL, 0, &result) != ALLOCATOR_FIBER_HOST_OK) {
        ((volatile intptr_t*)arg)[2]++;
        return -1;
    }
    return guest_poll_loop(ctx, arg);
}

/* Calls host functions 0, 1, ..., arg - 1 in turn, without arguments; returns the sum of their results, or -1 at once
 * when a call is cancelled. */
GUEST_API intptr_t guest_call_each(allocator_fiber_ctx* ctx, intptr_t count)
{
    intptr_t sum = 0;
    for (intptr_t n = 0; n < count; n++) {
        intptr_t result;
        if (allocator_fiber_host_call(ctx, (int32_t)n, NULL, 0, &result) != ALLOCATOR_FIBER_HOST_OK) {
            return -1;
        }
        sum += result;
    }
    return sum;
}

/* Yields arg times of its own accord (no poll first), then returns how many yields went on; -1 once one is cancelled. */
GUEST_API intptr_t guest_yield_times(allocator_fiber_ctx* ctx, intptr_t count)
{
    intptr_t went_on = 0;
    for (intptr_t n = 0; n < count; n++) {
        if (allocator_fiber_yield(ctx) != ALLOCATOR_FIBER_HOST_OK) {
            return -1;
        }
        went_on++;
    }
    return went_on;
}

/* arg points to guest memory of at least four words. Writes 1 to word 0, calls host function 0 with the memory's
 * address (the host may write through it), then writes the host's result to word 1, or 1 to word 2 when the call was
 * cancelled: either way the guest touches its memory after the call, so that memory must still be its own. */
GUEST_API intptr_t guest_write_after_call(allocator_fiber_ctx* ctx, intptr_t arg)
{
    volatile intptr_t* memory = (volatile intptr_t*)arg;
    memory[0] = 1;
    intptr_t args[1] = { arg };
    intptr_t result = 0;
    if (allocator_fiber_host_call(ctx, 0, args, 1, &result) != ALLOCATOR_FIBER_HOST_OK) {
        memory[2] = 1;
        return -1;
    }
    memory[1] = result;
    return result;
}

/* Calls host function arg with arguments 1..nargs, where nargs = arg >> 8 and the function is arg & 0xFF. */
GUEST_API intptr_t guest_call_function(allocator_fiber_ctx* ctx, intptr_t arg)
{
    intptr_t args[16];
    int32_t nargs = (int32_t)(arg >> 8);
    for (int i = 0; i < 16; i++) {
        args[i] = i + 1;
    }
    intptr_t result = 0;
    allocator_fiber_host_call(ctx, (int32_t)(arg & 0xFF), args, nargs, &result);
    return result;
}

/* Asks host function 0 for arg arguments but passes no argument array: a malformed call the host must refuse. */
GUEST_API intptr_t guest_call_without_arguments(allocator_fiber_ctx* ctx, intptr_t arg)
{
    intptr_t result = 0;
    allocator_fiber_host_call(ctx, 0, NULL, (int32_t)arg, &result);
    return result;
}

#if !defined(_WIN32)
/* glibc only; on Windows the trampoline's unwind info ends walks on the fiber stack (see src/Native/README.md). */
static __attribute__((noinline)) intptr_t backtrace_at_depth(allocator_fiber_ctx* ctx, intptr_t depth)
{
    if (depth > 0) {
        volatile intptr_t keep = backtrace_at_depth(ctx, depth - 1);
        return keep;
    }
    void* frames[128];
    int count = backtrace(frames, 128);
    for (int i = 0; i < count; i++) {
        Dl_info info;
        if (dladdr(frames[i], &info) != 0 && info.dli_sname != NULL && strcmp(info.dli_sname, "allocator_fiber_resume") == 0) {
            return i;
        }
    }
    return -count;
}

/* Unwinds its own stack with the DWARF unwinder from arg frames deep and returns the index of the first frame in
 * allocator_fiber_resume, i.e. on the driver's stack; minus the frame count if the walk never got there. */
GUEST_API intptr_t guest_backtrace(allocator_fiber_ctx* ctx, intptr_t depth)
{
    return backtrace_at_depth(ctx, depth);
}
#endif

/* Bytes left to the guard page, measured from inside the fiber. */
GUEST_API intptr_t guest_stack_remaining(allocator_fiber_ctx* ctx, intptr_t arg)
{
    (void)arg;
    return (intptr_t)allocator_fiber_stack_remaining(ctx);
}

/* Field offsets of allocator_fiber_ctx as the C compiler lays it out, for the C# mirror's layout test. */
GUEST_API int32_t guest_context_layout(int32_t* offsets, int32_t count)
{
    const int32_t actual[] = {
        (int32_t)offsetof(allocator_fiber_ctx, fiber_sp), (int32_t)offsetof(allocator_fiber_ctx, parent_sp),
        (int32_t)offsetof(allocator_fiber_ctx, stack_limit), (int32_t)offsetof(allocator_fiber_ctx, stack_base),
        (int32_t)offsetof(allocator_fiber_ctx, state), (int32_t)offsetof(allocator_fiber_ctx, resume_status),
        (int32_t)offsetof(allocator_fiber_ctx, value), (int32_t)offsetof(allocator_fiber_ctx, host_args),
        (int32_t)offsetof(allocator_fiber_ctx, host_function), (int32_t)offsetof(allocator_fiber_ctx, host_arg_count),
        (int32_t)offsetof(allocator_fiber_ctx, trap_code), (int32_t)offsetof(allocator_fiber_ctx, cancelled),
        (int32_t)offsetof(allocator_fiber_ctx, sync_host), (int32_t)offsetof(allocator_fiber_ctx, sync_state),
        (int32_t)offsetof(allocator_fiber_ctx, cancel_requested), (int32_t)offsetof(allocator_fiber_ctx, unchecked_count),
        (int32_t)offsetof(allocator_fiber_ctx, epoch), (int32_t)offsetof(allocator_fiber_ctx, deadline),
        (int32_t)offsetof(allocator_fiber_ctx, unchecked),
    };
    int32_t n = (int32_t)(sizeof actual / sizeof actual[0]);
    for (int32_t i = 0; i < n && i < count; i++) {
        offsets[i] = actual[i];
    }
    return (int32_t)sizeof(allocator_fiber_ctx);
}

/* Yields once of its own accord, then calls host function 0 with arg as its one argument and returns the result; -1
 * when the yield or the call was cancelled. A run goes on after a yield wherever the scheduler runs it, so the call is
 * made from a resume on another thread than the first. */
GUEST_API intptr_t guest_yield_then_call(allocator_fiber_ctx* ctx, intptr_t arg)
{
    if (allocator_fiber_yield(ctx) != ALLOCATOR_FIBER_HOST_OK) {
        return -1;
    }
    intptr_t args[1] = { arg };
    intptr_t result;
    if (allocator_fiber_host_call(ctx, 0, args, 1, &result) != ALLOCATOR_FIBER_HOST_OK) {
        return -1;
    }
    return result;
}
