/* The reference row for stacks: a fresh mapping per stack, as a runtime without a pool does it (Wasmtime's on-demand
 * allocator maps a fiber stack per call, Boost's protected_fixedsize_stack per fiber). Timed in C, a loop of n. */
#define _DEFAULT_SOURCE
#include <stdint.h>
#include <sys/mman.h>
#include <unistd.h>

#define REFERENCE_API __attribute__((visibility("default")))

/* n times: mmap `usable` bytes plus a guard page, mprotect the guard to no access, munmap. Returns 0, or -1. */
REFERENCE_API int32_t peer_mmap_stack(int64_t n, size_t usable)
{
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    for (int64_t i = 0; i < n; i++) {
        void* base = mmap(NULL, usable + page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (base == MAP_FAILED) {
            return -1;
        }
        if (mprotect(base, page, PROT_NONE) != 0 || munmap(base, usable + page) != 0) {
            return -1;
        }
    }
    return 0;
}
