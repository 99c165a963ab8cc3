#include "fiber.h"

/* Runs on a pooled fiber stack. It reaches the host only through allocator_fiber_host_call: the fiber is suspended
 * while the host function runs (and awaits) on the thread's own stack. */
__attribute__((visibility("default"))) intptr_t guest_entry(allocator_fiber_ctx* ctx, intptr_t arg)
{
    intptr_t args[1] = { arg };
    intptr_t doubled = 0;
    if (allocator_fiber_host_call(ctx, 0, args, 1, &doubled) != ALLOCATOR_FIBER_HOST_OK) {
        return -1; /* cancelled: return promptly */
    }
    return doubled + 1;
}
