/* Native fibers on pooled stacks: the C API shared by libAllocatorNative, guest code and the C# driver.
 *
 * Only native frames ever live on a fiber stack. A guest that needs the host calls allocator_fiber_host_call:
 * the fiber switches back to the driver (the thread that resumed it), the managed driver runs the host function
 * on the thread's own stack, possibly awaiting it, and resumes the fiber with the result.
 *
 * The context lives at the top of the fiber's stack, so a fiber needs no allocation besides its pooled stack.
 * The C# mirror of struct allocator_fiber_ctx is Allocator.Fibers.NativeFiberContext: change both together and
 * bump ALLOCATOR_FIBER_ABI_VERSION. */
#ifndef ALLOCATOR_FIBER_H
#define ALLOCATOR_FIBER_H

#include <stddef.h>
#include <stdint.h>

#if defined(_WIN32)
#  define ALLOCATOR_FIBER_API __declspec(dllexport)
#  define ALLOCATOR_FIBER_NORETURN __declspec(noreturn)
#else
#  define ALLOCATOR_FIBER_API __attribute__((visibility("default")))
#  define ALLOCATOR_FIBER_NORETURN __attribute__((noreturn))
#endif

#ifdef __cplusplus
extern "C" {
#endif

#define ALLOCATOR_FIBER_ABI_VERSION 4

/* What a fiber is doing; allocator_fiber_resume returns the state the fiber stopped in. */
enum allocator_fiber_state {
    ALLOCATOR_FIBER_CREATED = 0,    /* prepared, never resumed */
    ALLOCATOR_FIBER_RUNNING = 1,    /* on the CPU now */
    ALLOCATOR_FIBER_HOST_CALL = 2,  /* suspended in allocator_fiber_host_call, waiting for the host's result */
    ALLOCATOR_FIBER_COMPLETED = 3,  /* entry returned; its value is in ctx->value */
    ALLOCATOR_FIBER_TRAPPED = 4,    /* the guest called allocator_fiber_trap; the code is in ctx->trap_code */
    ALLOCATOR_FIBER_CANCELLED = 5,  /* unwound after a cancel resume */
    ALLOCATOR_FIBER_YIELDED = 6,    /* suspended in allocator_fiber_yield (deadline passed or cancel requested) */
    ALLOCATOR_FIBER_INVALID = -1    /* allocator_fiber_resume on a fiber that cannot be resumed; nothing ran */
};

/* How the driver resumes a fiber suspended in a host call. */
enum allocator_fiber_resume_status {
    ALLOCATOR_FIBER_RESUME_RESULT = 0,  /* the host call returned ctx->value */
    ALLOCATOR_FIBER_RESUME_CANCEL = 1   /* the fiber is being cancelled: the guest must return promptly */
};

/* What allocator_fiber_host_call returns to the guest. */
enum allocator_fiber_host_status {
    ALLOCATOR_FIBER_HOST_OK = 0,
    ALLOCATOR_FIBER_HOST_CANCELLED = 1
};

/* What a synchronous host function reports through its status argument. */
enum allocator_fiber_sync_status {
    ALLOCATOR_FIBER_SYNC_HANDLED = 0,      /* it ran; its return value is the host call's result */
    ALLOCATOR_FIBER_SYNC_NOT_HANDLED = 1,  /* not a synchronous function: the call goes to the driver as usual */
    ALLOCATOR_FIBER_SYNC_FAILED = 2        /* it failed: the guest is told the call was cancelled and must return */
};

/* Serves a host call synchronously. It runs on the driver's (thread's) stack, below the driver's suspended frames,
 * while the fiber waits with only native frames on its own stack. */
typedef intptr_t (*allocator_fiber_sync_host)(void* state, int32_t fn_index, const intptr_t* args, int32_t nargs,
                                               int32_t* status);

/* What an unchecked host function receives: the guest's call as it made it, nothing checked. Valid only while the
 * function runs (it lives in the guest's host call frame, and args in the guest's memory). */
typedef struct allocator_fiber_unchecked_call {
    const intptr_t* args;   /* 0: the guest's argument words, as passed */
    int32_t function;       /* 8: the index the guest called */
    int32_t arg_count;      /* 12: the count the guest passed (not checked against anything) */
} allocator_fiber_unchecked_call;

/* An unchecked host function: called by allocator_fiber_host_call directly on the driver's (thread's) stack, with no
 * dispatch of the driver in between, like Wasmtime's wasmtime_linker_define_func_unchecked callbacks. Its return
 * value is the host call's result. It must not fail in a way the guest has to hear about: there is no status. */
typedef intptr_t (*allocator_fiber_unchecked_host)(const allocator_fiber_unchecked_call* call);

typedef struct allocator_fiber_ctx {
    void* fiber_sp;                 /*  0: the fiber's saved stack pointer while it is suspended */
    void* parent_sp;                /*  8: the driver's saved stack pointer while the fiber runs (also read by the
                                           entry trampoline's CFI to unwind into the driver's frames) */
    void* stack_limit;              /* 16: lowest usable address; below it is the guard page */
    void* stack_base;               /* 24: highest address of the stack (this context sits just below it) */
    int32_t state;                  /* 32: enum allocator_fiber_state */
    int32_t resume_status;          /* 36: enum allocator_fiber_resume_status, set by the driver */
    intptr_t value;                 /* 40: host result on resume; entry's return value once completed */
    const intptr_t* host_args;      /* 48: arguments of the pending host call (guest memory) */
    int32_t host_function;          /* 56: index of the pending host function */
    int32_t host_arg_count;         /* 60 */
    int32_t trap_code;              /* 64: the guest's fault code once trapped */
    int32_t cancelled;              /* 68: set once a cancel resume was delivered */
    allocator_fiber_sync_host sync_host; /* 72: serves host calls on the driver's stack, or NULL (see below) */
    void* sync_state;               /* 80: passed to sync_host */
    volatile int32_t cancel_requested; /* 88: set by the driver, from any thread, when the fiber is to be cancelled:
                                              no host call starts once it is set, and the poll says yield */
    int32_t unchecked_count;        /* 92: entries in unchecked (0: none) */
    const volatile uint64_t* epoch; /* 96: the epoch counter the deadline is measured on (a word that never moves
                                           until the host sets a deadline) */
    uint64_t deadline;              /* 104: the poll says yield once *epoch >= deadline; written by the driver only */
    const allocator_fiber_unchecked_host* unchecked; /* 112: entry i serves function i when not NULL (see
                                           allocator_fiber_set_unchecked_hosts); the array must outlive the fiber */
} allocator_fiber_ctx;

/* A guest entry point. Runs on the fiber stack; returning completes the fiber. */
typedef intptr_t (*allocator_fiber_entry)(allocator_fiber_ctx* ctx, intptr_t arg);

/* ALLOCATOR_FIBER_ABI_VERSION of the loaded library; the C# side refuses a mismatch. */
ALLOCATOR_FIBER_API int32_t allocator_fiber_abi_version(void);

/* Prepares a fiber on the stack [stack_limit, stack_limit + stack_size). The context is placed at the top of that
 * stack. Returns NULL if the stack is too small or misaligned. Nothing runs until the first resume. */
ALLOCATOR_FIBER_API allocator_fiber_ctx* allocator_fiber_init(void* stack_limit, size_t stack_size,
                                                              allocator_fiber_entry entry, intptr_t arg);

/* Driver side: runs the fiber until it makes a host call, completes, traps or finishes cancelling. For a fiber in
 * a host call, status and value say how the call ends. Returns the new state; ALLOCATOR_FIBER_INVALID (and runs
 * nothing) if the fiber is finished or running. */
ALLOCATOR_FIBER_API int32_t allocator_fiber_resume(allocator_fiber_ctx* ctx, int32_t status, intptr_t value);

/* Guest side: asks the host to run function fn_index with args, suspending the fiber until it answers.
 * Returns ALLOCATOR_FIBER_HOST_OK with the host's result in *result, or ALLOCATOR_FIBER_HOST_CANCELLED: the fiber is
 * being cancelled, and the guest must release what it holds and return from its entry promptly. Once
 * cancel_requested is set, no host function starts: the call returns ALLOCATOR_FIBER_HOST_CANCELLED at once. A
 * passed epoch deadline is handled first, as if the guest had polled and yielded. A host call made
 * after that never returns: the fiber is abandoned on the spot (see README.md, "Cancellation"). */
ALLOCATOR_FIBER_API int32_t allocator_fiber_host_call(allocator_fiber_ctx* ctx, int32_t fn_index,
                                                      const intptr_t* args, int32_t nargs, intptr_t* result);

/* Driver side: lets host calls be served by sync_host on the driver's stack, without switching back to the
 * driver; sync_host answers ALLOCATOR_FIBER_SYNC_NOT_HANDLED for functions the driver must run (e.g. async ones).
 * NULL turns it off. */
ALLOCATOR_FIBER_API void allocator_fiber_set_sync_host(allocator_fiber_ctx* ctx, allocator_fiber_sync_host sync_host,
                                                       void* state);

/* Driver side: lets function i of the guest's host calls be served by table[i] (when not NULL), called directly on
 * the driver's stack before anything else is asked: no synchronous host, no switch to the driver. The checks every
 * host call makes come first (cancel requested, passed deadline). table is read, not copied: it must stay valid and
 * unchanged while the fiber can run. count 0 (or a NULL table) turns it off. */
ALLOCATOR_FIBER_API void allocator_fiber_set_unchecked_hosts(allocator_fiber_ctx* ctx,
                                                             const allocator_fiber_unchecked_host* table,
                                                             int32_t count);

/* Guest side: the cheap poll for loops. Nonzero when the guest should call allocator_fiber_yield: its epoch
 * deadline has passed or the fiber is being cancelled. Two loads and a compare; it never switches. A guest that
 * never polls and never calls the host cannot be interrupted: there are no signals and no thread aborts. */
ALLOCATOR_FIBER_API int32_t allocator_fiber_should_yield(const allocator_fiber_ctx* ctx);

/* Guest side: suspends the fiber to the driver, which applies the deadline policy (extend and go on, yield to other
 * work, or interrupt) or the cancel. Returns ALLOCATOR_FIBER_HOST_OK to go on, or ALLOCATOR_FIBER_HOST_CANCELLED:
 * the fiber is being cancelled or interrupted, and the guest must release what it holds and return promptly, with
 * the same rule as a host call (yielding or calling the host after that abandons the fiber). */
ALLOCATOR_FIBER_API int32_t allocator_fiber_yield(allocator_fiber_ctx* ctx);

/* The context switch itself, exported for the inline fast paths below (not for direct use): saves the callee-saved
 * state of the current context on its stack and its stack pointer in *save_sp, then continues the context whose
 * stack pointer is load_sp. Entered by call and, on x86-64 System V, left by a jump to the return address the other
 * side's call pushed. */
ALLOCATOR_FIBER_API void allocator_fiber_switch_context(void** save_sp, void* load_sp);

/* Inline fast paths of allocator_fiber_resume and allocator_fiber_host_call, with the same contracts. Why they exist:
 * every switch enters by call and leaves on the other side's stack, so a function that calls the switch and then
 * returns ends with a ret the return stack buffer mispredicts (it holds the other side's call). Through the two
 * exported functions a resume/host call round trip makes two such returns, which cost more than the switch itself.
 * Inlined into the driver's loop and the guest's code, the switch is called from where the work goes on and nothing
 * returns across it, as with Boost's jump_fcontext. They handle the common case only (a resume of a fiber suspended
 * in a host call or yield; a host call with no synchronous or unchecked host, no cancel, no passed deadline) and
 * call the exported functions for everything else. The C# driver uses the exported functions (P/Invoke); any mix is correct.
 * Keep them in step with allocator_fiber_resume and allocator_fiber_host_call in fiber.c. */
static inline int32_t allocator_fiber_resume_inline(allocator_fiber_ctx* ctx, int32_t status, intptr_t value)
{
    if (ctx->state != ALLOCATOR_FIBER_HOST_CALL && ctx->state != ALLOCATOR_FIBER_YIELDED) {
        return allocator_fiber_resume(ctx, status, value); /* first resume, refused states */
    }
    ctx->resume_status = status;
    ctx->value = value;
    ctx->state = ALLOCATOR_FIBER_RUNNING;
    allocator_fiber_switch_context(&ctx->parent_sp, ctx->fiber_sp);
    return ctx->state;
}

static inline int32_t allocator_fiber_host_call_inline(allocator_fiber_ctx* ctx, int32_t fn_index,
                                                       const intptr_t* args, int32_t nargs, intptr_t* result)
{
    if (ctx->state != ALLOCATOR_FIBER_RUNNING || ctx->cancelled || ctx->cancel_requested || ctx->sync_host != NULL
        || ctx->unchecked_count != 0 || *ctx->epoch >= ctx->deadline) {
        return allocator_fiber_host_call(ctx, fn_index, args, nargs, result);
    }
    ctx->host_function = fn_index;
    ctx->host_args = args;
    ctx->host_arg_count = nargs;
    ctx->state = ALLOCATOR_FIBER_HOST_CALL;
    allocator_fiber_switch_context(&ctx->fiber_sp, ctx->parent_sp);
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

/* Guest side: ends the fiber with a fault code. Never returns; the guest's frames are abandoned. */
ALLOCATOR_FIBER_API ALLOCATOR_FIBER_NORETURN void allocator_fiber_trap(allocator_fiber_ctx* ctx, int32_t code);

/* Guest side: bytes left between the caller's stack pointer and the guard page, for guests that check their own
 * recursion depth instead of faulting. */
ALLOCATOR_FIBER_API size_t allocator_fiber_stack_remaining(const allocator_fiber_ctx* ctx);

#ifdef __cplusplus
}
#endif

#endif
