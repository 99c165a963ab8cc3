/* Guests for the fiber benchmarks: loops of host calls with nothing else in them, so what is measured is the
 * switch, the host-call protocol and the driver. */
#include "fiber.h"

#define GUEST_API __attribute__((visibility("default")))

/* Calls host function 0 `count` times (one argument each) and returns the sum of the results. */
GUEST_API intptr_t bench_host_loop(allocator_fiber_ctx* ctx, intptr_t count)
{
    intptr_t sum = 0;
    for (intptr_t i = 0; i < count; i++) {
        intptr_t args[1] = { i };
        intptr_t result = 0;
        if (allocator_fiber_host_call(ctx, 0, args, 1, &result) != ALLOCATOR_FIBER_HOST_OK) {
            return -1;
        }
        sum += result;
    }
    return sum;
}
