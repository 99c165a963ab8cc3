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

/* An empty function reached through a pointer the compiler cannot see through: the call overhead of the poll,
 * without its load and compare. */
static intptr_t empty_check(const allocator_fiber_ctx* ctx)
{
    (void)ctx;
    return 0;
}
static intptr_t (*volatile empty_check_ptr)(const allocator_fiber_ctx*) = empty_check;

/* `count` polls, as an instrumented guest loop makes them; returns how many said yield. */
GUEST_API intptr_t bench_poll_loop(allocator_fiber_ctx* ctx, intptr_t count)
{
    intptr_t fired = 0;
    for (intptr_t i = 0; i < count; i++) {
        fired += allocator_fiber_should_yield(ctx);
    }
    return fired;
}

/* `count` calls of an empty function through a pointer: the baseline the poll is compared with. */
GUEST_API intptr_t bench_empty_call_loop(allocator_fiber_ctx* ctx, intptr_t count)
{
    intptr_t (*check)(const allocator_fiber_ctx*) = empty_check_ptr;
    intptr_t fired = 0;
    for (intptr_t i = 0; i < count; i++) {
        fired += check(ctx);
    }
    return fired;
}
