/* Fiber lifecycle on top of the per-ABI context switch: prepare, resume, host calls, traps, cancellation.
 * Portable C: the only ABI knowledge is in the assembly behind fiber_switch.h. */
#include "fiber.h"
#include "fiber_switch.h"

#include <stdlib.h>

/* Below this a signal frame (up to ~4 KiB with AVX-512 state) plus a few guest frames would hit the guard page. */
#define FIBER_MIN_STACK_SIZE ((size_t)16 * 1024)

/* Keeps the rarely taken paths out of the frame of the common one. */
#if defined(_MSC_VER)
#  define FIBER_NOINLINE __declspec(noinline)
#else
#  define FIBER_NOINLINE __attribute__((noinline))
#endif

/* Room reserved for the context at the top of the stack: its own cache line(s), 16-byte aligned below it. */
#define FIBER_CTX_RESERVED ((size_t)128)

_Static_assert(sizeof(allocator_fiber_ctx) <= FIBER_CTX_RESERVED, "context must fit its reserved room");
_Static_assert(offsetof(allocator_fiber_ctx, parent_sp) == 8, "the trampoline CFI reads parent_sp at ctx+8");
_Static_assert(offsetof(allocator_fiber_ctx, sync_host) == 72 && offsetof(allocator_fiber_ctx, sync_state) == 80,
               "the x86-64 System V call_on_parent_stack reads sync_host and sync_state at ctx+72 and ctx+80");

_Static_assert(sizeof(allocator_fiber_unchecked_call) == 16 && offsetof(allocator_fiber_unchecked_call, function) == 8,
               "the C# mirror FiberUncheckedCall has this layout");

/* The epoch of a fiber without a deadline: it never moves, so with deadline UINT64_MAX the poll never fires and no
 * fiber needs a null check on its hot path. */
static const volatile uint64_t never_moving_epoch = 0;

/* Leaves the fiber for good in a final state. The frames still on the fiber stack are abandoned, which is safe
 * because only native guest frames live there and the fiber is never resumed again (resume refuses final states). */
static ALLOCATOR_FIBER_NORETURN void switch_away_forever(allocator_fiber_ctx* ctx, int32_t final_state)
{
    ctx->state = final_state;
    allocator_fiber_switch(&ctx->fiber_sp, ctx->parent_sp);
    abort(); /* unreachable: nothing resumes a finished fiber */
}

ALLOCATOR_FIBER_API int32_t allocator_fiber_abi_version(void)
{
    return ALLOCATOR_FIBER_ABI_VERSION;
}

ALLOCATOR_FIBER_API allocator_fiber_ctx* allocator_fiber_init(void* stack_limit, size_t stack_size,
                                                              allocator_fiber_entry entry, intptr_t arg)
{
    uintptr_t limit = (uintptr_t)stack_limit;
    if (stack_limit == NULL || entry == NULL || stack_size < FIBER_MIN_STACK_SIZE || (limit & 15) != 0
        || limit + stack_size < limit) {
        return NULL;
    }
    uintptr_t base = limit + stack_size;
    allocator_fiber_ctx* ctx = (allocator_fiber_ctx*)((base - FIBER_CTX_RESERVED) & ~(uintptr_t)63);
    ctx->parent_sp = NULL;
    ctx->stack_limit = stack_limit;
    ctx->stack_base = (void*)base;
    ctx->state = ALLOCATOR_FIBER_CREATED;
    ctx->resume_status = ALLOCATOR_FIBER_RESUME_RESULT;
    ctx->value = 0;
    ctx->host_args = NULL;
    ctx->host_function = 0;
    ctx->host_arg_count = 0;
    ctx->trap_code = 0;
    ctx->cancelled = 0;
    ctx->sync_host = NULL;
    ctx->sync_state = NULL;
    ctx->cancel_requested = 0;
    ctx->unchecked_count = 0;
    ctx->unchecked = NULL;
    ctx->epoch = &never_moving_epoch;
    ctx->deadline = UINT64_MAX;
    ctx->fiber_sp = allocator_fiber_prepare(ctx, entry, arg);
    return ctx;
}

/* fiber.h's allocator_fiber_resume_inline repeats the HOST_CALL/YIELDED case of this function: keep them in step. */
ALLOCATOR_FIBER_API int32_t allocator_fiber_resume(allocator_fiber_ctx* ctx, int32_t status, intptr_t value)
{
    if (ctx->state != ALLOCATOR_FIBER_CREATED && ctx->state != ALLOCATOR_FIBER_HOST_CALL
        && ctx->state != ALLOCATOR_FIBER_YIELDED) {
        return ALLOCATOR_FIBER_INVALID;
    }
    if (ctx->state == ALLOCATOR_FIBER_CREATED && status == ALLOCATOR_FIBER_RESUME_CANCEL) {
        /* Never started: there are no frames to unwind. */
        ctx->state = ALLOCATOR_FIBER_CANCELLED;
        return ctx->state;
    }
    ctx->resume_status = status;
    ctx->value = value;
    ctx->state = ALLOCATOR_FIBER_RUNNING;
    allocator_fiber_switch(&ctx->parent_sp, ctx->fiber_sp);
    return ctx->state;
}

static inline int deadline_passed(const allocator_fiber_ctx* ctx)
{
    return *ctx->epoch >= ctx->deadline;
}

/* Suspends to the driver in ALLOCATOR_FIBER_YIELDED; the resume status says whether the guest goes on. */
static int32_t suspend_for_yield(allocator_fiber_ctx* ctx)
{
    ctx->state = ALLOCATOR_FIBER_YIELDED;
    allocator_fiber_switch(&ctx->fiber_sp, ctx->parent_sp);
    if (ctx->resume_status == ALLOCATOR_FIBER_RESUME_CANCEL) {
        ctx->cancelled = 1;
        return ALLOCATOR_FIBER_HOST_CANCELLED;
    }
    return ALLOCATOR_FIBER_HOST_OK;
}

ALLOCATOR_FIBER_API int32_t allocator_fiber_should_yield(const allocator_fiber_ctx* ctx)
{
    return (ctx->cancel_requested | deadline_passed(ctx)) != 0;
}

ALLOCATOR_FIBER_API int32_t allocator_fiber_yield(allocator_fiber_ctx* ctx)
{
    if (ctx->state != ALLOCATOR_FIBER_RUNNING) {
        abort(); /* not called from this fiber */
    }
    if (ctx->cancelled) {
        /* Told to return, the guest yields again instead: abandon its frames so cancelling is bounded. */
        switch_away_forever(ctx, ALLOCATOR_FIBER_CANCELLED);
    }
    return suspend_for_yield(ctx);
}

/* The unchecked host function serving fn_index, or NULL. */
static inline allocator_fiber_unchecked_host unchecked_host(const allocator_fiber_ctx* ctx, int32_t fn_index)
{
    return (uint32_t)fn_index < (uint32_t)ctx->unchecked_count ? ctx->unchecked[fn_index] : NULL;
}

/* Every case of allocator_fiber_host_call but a handled synchronous or unchecked call. sync_status is what the
 * synchronous host already answered for this call (NOT_HANDLED or FAILED), or -1 if it was not asked yet. */
static FIBER_NOINLINE int32_t host_call_general(allocator_fiber_ctx* ctx, int32_t fn_index, const intptr_t* args,
                                                          int32_t nargs, intptr_t* result, int32_t sync_status)
{
    /* With sync_status answered, the fast path has made every check below and asked the synchronous host, which may
     * have started an asynchronous function (FiberReadyHostCallback) that is still pending and may have cancelled this
     * fiber from inside: the call must reach the driver, which waits for that task before the stack can go back.
     * Checking the cancel again here would return to the guest and let its fiber end while the task still runs. */
    if (sync_status >= 0) {
        goto answered;
    }
    if (ctx->state != ALLOCATOR_FIBER_RUNNING) {
        abort(); /* not called from this fiber: switching would corrupt whichever stack is live */
    }
    if (ctx->cancelled) {
        /* Told to return, the guest asked the host again instead: abandon its frames so cancelling is bounded. */
        switch_away_forever(ctx, ALLOCATOR_FIBER_CANCELLED);
    }
    /* The cancel check every host call makes, synchronous or not: once the driver has set the word, no host function
     * starts, and the guest unwinds on its own stack. The driver's Cancel waits for this fiber to stop, so a host
     * function that starts here started before Cancel returned. */
    if (ctx->cancel_requested
        || (deadline_passed(ctx) && suspend_for_yield(ctx) != ALLOCATOR_FIBER_HOST_OK)) {
        ctx->cancelled = 1;
        if (result != NULL) {
            *result = 0;
        }
        return ALLOCATOR_FIBER_HOST_CANCELLED;
    }
#if defined(__x86_64__) || defined(__aarch64__)
    allocator_fiber_unchecked_host unchecked = unchecked_host(ctx, fn_index);
    if (unchecked != NULL) {
        /* Reached after a passed deadline the driver let the guest go on from: served as the fast path would. */
        return allocator_fiber_host_call_unchecked(ctx, fn_index, args, nargs, result, unchecked);
    }
    if (ctx->sync_host != NULL) {
        /* The host function runs on the driver's stack; the fiber stack keeps only these native frames. */
        sync_status = ALLOCATOR_FIBER_SYNC_NOT_HANDLED;
        intptr_t value = allocator_fiber_call_on_parent_stack(ctx, fn_index, args, nargs, &sync_status);
        if (sync_status == ALLOCATOR_FIBER_SYNC_HANDLED) {
            if (result != NULL) {
                *result = value;
            }
            return ALLOCATOR_FIBER_HOST_OK;
        }
    }
#endif
answered:
    if (sync_status == ALLOCATOR_FIBER_SYNC_FAILED) {
        /* Same contract as a cancel resume: the guest releases what it holds and returns. */
        ctx->cancelled = 1;
        if (result != NULL) {
            *result = 0;
        }
        return ALLOCATOR_FIBER_HOST_CANCELLED;
    }
    ctx->host_function = fn_index;
    ctx->host_args = args;
    ctx->host_arg_count = nargs;
    ctx->state = ALLOCATOR_FIBER_HOST_CALL;
    allocator_fiber_switch(&ctx->fiber_sp, ctx->parent_sp);
    ctx->host_args = NULL;
    if (ctx->resume_status == ALLOCATOR_FIBER_RESUME_CANCEL) {
        ctx->cancelled = 1;
        if (result != NULL) {
            *result = 0;
        }
        return ALLOCATOR_FIBER_HOST_CANCELLED;
    }
    if (result != NULL) {
        *result = ctx->value;
    }
    return ALLOCATOR_FIBER_HOST_OK;
}

/* A synchronous host function, asked on the driver's stack; what it does not handle goes on in host_call_general. */
static inline int32_t host_call_sync(allocator_fiber_ctx* ctx, int32_t fn_index, const intptr_t* args,
                                      int32_t nargs, intptr_t* result)
{
    int32_t status = ALLOCATOR_FIBER_SYNC_NOT_HANDLED;
    intptr_t value = allocator_fiber_call_on_parent_stack(ctx, fn_index, args, nargs, &status);
    if (status == ALLOCATOR_FIBER_SYNC_HANDLED) {
        if (result != NULL) {
            *result = value;
        }
        return ALLOCATOR_FIBER_HOST_OK;
    }
    return host_call_general(ctx, fn_index, args, nargs, result, status);
}

/* The common cases first, an unchecked or a synchronous host function while nothing else is pending, in a frame
 * that saves almost nothing: host_call_general saves six registers for the switch to the driver it may make, and that
 * cost about 1 ns of a synchronous call of a few ns. An unchecked function is tail-called (the assembly builds the
 * call and stores the result): with this function's frame and one call level gone, the native part of an unchecked
 * call measured 4.7-5.5 -> 3.4-4.4 ns in tests/native's C loop, side by side. Every check of host_call_general is
 * made here too, in the same order (not running or told to return go there, where they abort or abandon; a cancel, a
 * passed deadline or neither kind of host go there too), so the fast path changes no outcome.
 * fiber.h's allocator_fiber_host_call_inline repeats the plain case of host_call_general (running, no cancel, no
 * passed deadline, no synchronous or unchecked host: the switch to the driver at the end) and calls this function for
 * everything else: keep them in step. */
ALLOCATOR_FIBER_API int32_t allocator_fiber_host_call(allocator_fiber_ctx* ctx, int32_t fn_index,
                                                      const intptr_t* args, int32_t nargs, intptr_t* result)
{
#if defined(__x86_64__) || defined(__aarch64__)
    if (ctx->state == ALLOCATOR_FIBER_RUNNING && (ctx->cancelled | ctx->cancel_requested) == 0
        && (ctx->sync_host != NULL || ctx->unchecked_count != 0) && !deadline_passed(ctx)) {
        /* An unchecked function first: the user's native function pointer, called from the assembly with no frame of
         * this function in between (a tail call), on the driver's stack, with no managed dispatch. */
        allocator_fiber_unchecked_host unchecked = unchecked_host(ctx, fn_index);
        if (unchecked != NULL) {
            return allocator_fiber_host_call_unchecked(ctx, fn_index, args, nargs, result, unchecked);
        }
        if (ctx->sync_host != NULL) {
            return host_call_sync(ctx, fn_index, args, nargs, result);
        }
        return host_call_general(ctx, fn_index, args, nargs, result, ALLOCATOR_FIBER_SYNC_NOT_HANDLED);
    }
#endif
    return host_call_general(ctx, fn_index, args, nargs, result, -1);
}

ALLOCATOR_FIBER_API void allocator_fiber_set_sync_host(allocator_fiber_ctx* ctx, allocator_fiber_sync_host sync_host,
                                                       void* state)
{
    ctx->sync_host = sync_host;
    ctx->sync_state = state;
}

ALLOCATOR_FIBER_API void allocator_fiber_set_unchecked_hosts(allocator_fiber_ctx* ctx,
                                                             const allocator_fiber_unchecked_host* table,
                                                             int32_t count)
{
    ctx->unchecked = count > 0 ? table : NULL;
    ctx->unchecked_count = table != NULL && count > 0 ? count : 0;
}

intptr_t allocator_fiber_sync_dispatch(allocator_fiber_ctx* ctx, int32_t fn_index, const intptr_t* args,
                                       int32_t nargs, int32_t* status)
{
    return ctx->sync_host(ctx->sync_state, fn_index, args, nargs, status);
}

ALLOCATOR_FIBER_API void allocator_fiber_trap(allocator_fiber_ctx* ctx, int32_t code)
{
    if (ctx->state != ALLOCATOR_FIBER_RUNNING) {
        abort();
    }
    ctx->trap_code = code;
    switch_away_forever(ctx, ALLOCATOR_FIBER_TRAPPED);
}

void allocator_fiber_exit(allocator_fiber_ctx* ctx, intptr_t result)
{
    ctx->value = result;
    switch_away_forever(ctx, ctx->cancelled ? ALLOCATOR_FIBER_CANCELLED : ALLOCATOR_FIBER_COMPLETED);
}

ALLOCATOR_FIBER_API size_t allocator_fiber_stack_remaining(const allocator_fiber_ctx* ctx)
{
    volatile char probe = 0; /* its address approximates the caller's stack pointer */
    uintptr_t sp = (uintptr_t)&probe;
    uintptr_t limit = (uintptr_t)ctx->stack_limit;
    return sp > limit && sp <= (uintptr_t)ctx->stack_base ? (size_t)(sp - limit) : 0;
}
