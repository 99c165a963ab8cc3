/* The per-ABI assembly behind fiber.c (fiber_switch_x86_64_sysv.S, fiber_switch_x86_64_win64.S,
 * fiber_switch_aarch64_aapcs.S).
 * Internal to libAllocatorNative: none of these names are exported. The switch's code is, a second time, under the
 * name allocator_fiber_switch_context (fiber.h), for the inline fast paths; the library itself calls the hidden name,
 * which binds directly instead of through the PLT. */
#ifndef ALLOCATOR_FIBER_SWITCH_H
#define ALLOCATOR_FIBER_SWITCH_H

#include "fiber.h"

/* Saves the callee-saved state of the current context on its stack, stores the stack pointer in *save_sp, then
 * loads load_sp and returns into the context saved there. Entered by call; left by a jump to the return address
 * saved there (x86-64 System V: pop+jmp, which predicts better than ret), on both sides. */
void allocator_fiber_switch(void** save_sp, void* load_sp);

/* Builds the first switch frame just below ctx (the top of the fiber stack) so that the first switch into it
 * returns into the entry trampoline, which calls entry(ctx, arg). Returns the fiber's initial stack pointer. */
void* allocator_fiber_prepare(allocator_fiber_ctx* ctx, allocator_fiber_entry entry, intptr_t arg);

/* Runs allocator_fiber_sync_dispatch(ctx, fn_index, args, nargs, status) on the driver's stack, just below the
 * driver's suspended switch frame (ctx->parent_sp), then comes back to the fiber stack and returns its result
 * (x86-64 System V makes the dispatch's one call itself, reading sync_host and sync_state from the context).
 * Its CFI lets unwinders walk from the callee back onto the fiber stack. */
intptr_t allocator_fiber_call_on_parent_stack(allocator_fiber_ctx* ctx, int32_t fn_index, const intptr_t* args,
                                              int32_t nargs, int32_t* status);

/* The unchecked host call, after allocator_fiber_host_call's checks: builds allocator_fiber_unchecked_call
 * {args, fn_index, nargs} in its frame on the fiber stack, calls function(&call) on the driver's stack as
 * allocator_fiber_call_on_parent_stack does (same CFI; SEH unwind info and TEB stack fields on Win64), stores its
 * value in *result (when not NULL) and returns ALLOCATOR_FIBER_HOST_OK. In assembly so that the host call reaches it
 * by a tail call: one frame and one call less per call. */
int32_t allocator_fiber_host_call_unchecked(allocator_fiber_ctx* ctx, int32_t fn_index, const intptr_t* args,
                                            int32_t nargs, intptr_t* result, allocator_fiber_unchecked_host function);

/* Calls ctx->sync_host; defined in fiber.c. */
intptr_t allocator_fiber_sync_dispatch(allocator_fiber_ctx* ctx, int32_t fn_index, const intptr_t* args,
                                       int32_t nargs, int32_t* status);

/* Called by the entry trampoline with entry's return value; switches away for good. Defined in fiber.c. */
ALLOCATOR_FIBER_NORETURN void allocator_fiber_exit(allocator_fiber_ctx* ctx, intptr_t result);

#endif
