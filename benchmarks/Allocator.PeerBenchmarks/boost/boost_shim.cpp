// Boost.Context (1.74) side of the peer benchmarks, and our native switch driven from C for a native-to-native
// comparison. Every measured function runs its own loop of n operations, so the one P/Invoke per batch that calls
// it costs nothing per operation. All state is per thread and set up by peer_boost_init on the measuring thread.
#include <boost/context/detail/fcontext.hpp>
#include <boost/context/fiber.hpp>
#include <boost/context/pooled_fixedsize_stack.hpp>
#include <boost/version.hpp>

#include <cstdint>
#include <memory>
#include <sys/mman.h>
#include <unistd.h>

#include "fiber.h"

#define SHIM_API extern "C" __attribute__((visibility("default")))

namespace ctx = boost::context;
namespace detail = boost::context::detail;

namespace {

constexpr std::size_t SwitchStackBytes = 64 * 1024;
constexpr std::size_t PooledStackBytes = 256 * 1024;

struct Mapping {
    void* base = nullptr;
    std::size_t size = 0;
};

Mapping map_stack(std::size_t usable, bool guard)
{
    std::size_t page = static_cast<std::size_t>(sysconf(_SC_PAGESIZE));
    std::size_t size = usable + (guard ? page : 0);
    void* base = mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (base == MAP_FAILED) {
        return {};
    }
    if (guard && mprotect(base, page, PROT_NONE) != 0) {
        munmap(base, size);
        return {};
    }
    return { base, size };
}

// Boost: a context that jumps straight back to whoever jumped to it, forever.
void echo(detail::transfer_t from)
{
    for (;;) {
        from = detail::jump_fcontext(from.fctx, from.data);
    }
}

// Ours: a guest that makes host calls until it is cancelled; each resume+host call is one switch round trip. Both
// sides use fiber.h's inline fast paths, the C API a C embedder's loop uses: the switch is called from the loops
// themselves, so no ret crosses a switch (jump_fcontext, inline in its loop, is the same).
intptr_t host_call_forever(allocator_fiber_ctx* fiber, intptr_t)
{
    intptr_t result = 0;
    while (allocator_fiber_host_call_inline(fiber, 0, nullptr, 0, &result) == ALLOCATOR_FIBER_HOST_OK) {
    }
    return 0;
}

struct ThreadState {
    Mapping boost_stack;
    detail::fcontext_t boost_context = nullptr;
    Mapping our_stack;
    allocator_fiber_ctx* our_fiber = nullptr;
    std::unique_ptr<ctx::pooled_fixedsize_stack> pool;
};

thread_local ThreadState state;

}  // namespace

// BOOST_VERSION, e.g. 107400 for 1.74.0.
SHIM_API int32_t peer_boost_version() { return BOOST_VERSION; }

// Prepares this thread's contexts. Returns 0, or a negative step number that failed.
SHIM_API int32_t peer_boost_init()
{
    if (state.boost_context != nullptr) {
        return 0;
    }
    state.boost_stack = map_stack(SwitchStackBytes, true);
    state.our_stack = map_stack(SwitchStackBytes, true);
    if (state.boost_stack.base == nullptr || state.our_stack.base == nullptr) {
        return -1;
    }
    char* boost_top = static_cast<char*>(state.boost_stack.base) + state.boost_stack.size;
    state.boost_context = detail::jump_fcontext(detail::make_fcontext(boost_top, SwitchStackBytes, echo), nullptr).fctx;
    std::size_t page = static_cast<std::size_t>(sysconf(_SC_PAGESIZE));
    state.our_fiber = allocator_fiber_init(static_cast<char*>(state.our_stack.base) + page, SwitchStackBytes, host_call_forever, 0);
    if (state.our_fiber == nullptr) {
        return -2;
    }
    if (allocator_fiber_resume(state.our_fiber, ALLOCATOR_FIBER_RESUME_RESULT, 0) != ALLOCATOR_FIBER_HOST_CALL) {
        return -3;
    }
    // next_size 1: the pool grows one stack at a time, so a get+return measures the free list, not a batch malloc.
    state.pool = std::make_unique<ctx::pooled_fixedsize_stack>(PooledStackBytes, 1);
    return 0;
}

// n round trips main -> context -> main through jump_fcontext.
SHIM_API void peer_boost_switch(int64_t n)
{
    detail::fcontext_t context = state.boost_context;
    for (int64_t i = 0; i < n; i++) {
        context = detail::jump_fcontext(context, nullptr).fctx;
    }
    state.boost_context = context;
}

// n round trips through our switch: allocator_fiber_resume_inline into a guest whose allocator_fiber_host_call_inline
// comes back. Returns 0, or -1 if the fiber stopped in another state.
SHIM_API int32_t peer_native_switch(int64_t n)
{
    allocator_fiber_ctx* fiber = state.our_fiber;
    for (int64_t i = 0; i < n; i++) {
        if (allocator_fiber_resume_inline(fiber, ALLOCATOR_FIBER_RESUME_RESULT, 1) != ALLOCATOR_FIBER_HOST_CALL) {
            return -1;
        }
    }
    return 0;
}

// n times: a 256 KiB stack from pooled_fixedsize_stack (a boost::pool free list: no guard page, one thread) and back.
SHIM_API void peer_boost_pooled_stack(int64_t n)
{
    ctx::pooled_fixedsize_stack& pool = *state.pool;
    for (int64_t i = 0; i < n; i++) {
        ctx::stack_context stack = pool.allocate();
        pool.deallocate(stack);
    }
}

// n times: a ctx::fiber on a stack from the pool, resumed once to its "host call" (a switch back to the creator with
// the argument), resumed again with the answer, and run to its end (the stack goes back to the pool). Returns the
// sum of what the fibers computed.
SHIM_API int64_t peer_boost_fiber(int64_t n)
{
    ctx::pooled_fixedsize_stack& pool = *state.pool;
    int64_t sum = 0;
    for (int64_t i = 0; i < n; i++) {
        int64_t request = 0;
        int64_t answer = 0;
        int64_t result = 0;
        ctx::fiber fiber{ std::allocator_arg, pool, [&](ctx::fiber&& caller) {
            request = i;                               // the host call's argument
            caller = std::move(caller).resume();       // the host call: back to the creator
            result = answer;                           // the host's answer
            return std::move(caller);
        } };
        fiber = std::move(fiber).resume();  // runs to the host call
        answer = request + 1;               // the host function
        fiber = std::move(fiber).resume();  // answers it; the fiber ends
        sum += result;
    }
    return sum;
}
