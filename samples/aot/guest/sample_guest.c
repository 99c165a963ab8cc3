/* The sample's guest: native code standing in for a compiled sandboxed module. It runs on a pooled fiber stack
 * and reaches the host only through allocator_fiber_host_call, so only native frames ever live on that stack. */
#include "fiber.h"

#define GUEST_API __attribute__((visibility("default")))

enum { HOST_READ_INPUT = 0, HOST_EMIT = 1 };

/* A little recursion per input, so each request keeps real frames on its stack across suspensions. */
static __attribute__((noinline)) intptr_t mix(intptr_t value, int depth)
{
    volatile intptr_t frame[8];
    for (int i = 0; i < 8; i++) {
        frame[i] = value * 2654435761u + i;
    }
    intptr_t below = depth > 0 ? mix(value ^ frame[depth % 8], depth - 1) : 0;
    return (below + frame[0]) & 0x7fffffff;
}

/* Handles one request: reads `inputs` values from the host (an async call: the fiber is suspended while the host
 * awaits), mixes each one, and emits the checksum. arg = request id << 8 | inputs. */
GUEST_API intptr_t sample_handle_request(allocator_fiber_ctx* ctx, intptr_t arg)
{
    intptr_t request = arg >> 8;
    intptr_t inputs = arg & 0xff;
    intptr_t checksum = 0;
    for (intptr_t i = 0; i < inputs; i++) {
        intptr_t args[2] = { request, i };
        intptr_t value = 0;
        if (allocator_fiber_host_call(ctx, HOST_READ_INPUT, args, 2, &value) != ALLOCATOR_FIBER_HOST_OK) {
            return -1; /* cancelled: nothing to release, return promptly */
        }
        checksum = (checksum * 31 + mix(value, 12)) & 0x7fffffff;
    }
    intptr_t emit_args[2] = { request, checksum };
    intptr_t ignored = 0;
    if (allocator_fiber_host_call(ctx, HOST_EMIT, emit_args, 2, &ignored) != ALLOCATOR_FIBER_HOST_OK) {
        return -1;
    }
    return checksum;
}
