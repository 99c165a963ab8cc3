/* The guest our side of the peer benchmarks runs: the same loop as the WAT module Wasmtime runs
 * (WasmtimeModules.HostLoop), so both sides do the same work between host calls. */
#include "fiber.h"

#define GUEST_API __attribute__((visibility("default")))

/* Calls host function 0 `count` times with the argument i (0, 1, ...) and returns the sum of the results. */
GUEST_API intptr_t peer_host_loop(allocator_fiber_ctx* ctx, intptr_t count)
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
