#include "tests/support/allocations.hpp"

#include <atomic>
#include <cstdlib>
#include <new>

namespace {
thread_local std::size_t allocations = 0;
thread_local bool watched = false;
std::atomic<std::size_t> watched_total{0};
}  // namespace

// Out of line: inlined into callers, GCC pairs the malloc and free across the replacement and
// reports a mismatched new/delete.
[[gnu::noinline]] void* operator new(std::size_t n) {
    ++allocations;
    if (watched) watched_total.fetch_add(1, std::memory_order_relaxed);
    if (void* p = std::malloc(n == 0 ? 1 : n)) return p;
    throw std::bad_alloc();
}
[[gnu::noinline]] void operator delete(void* p) noexcept {
    std::free(p);
}
[[gnu::noinline]] void operator delete(void* p, std::size_t) noexcept {
    std::free(p);
}

namespace sluice::test {

std::size_t thread_allocations() noexcept {
    return allocations;
}
void watch_this_thread() noexcept {
    watched = true;
}
std::size_t watched_allocations() noexcept {
    return watched_total.load(std::memory_order_relaxed);
}

}  // namespace sluice::test
