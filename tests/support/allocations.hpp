#pragma once

#include <cstddef>

namespace sluice::test {

// Every test binary that links the test support replaces the global operator new with one that
// counts. The hot path promises no allocation per request once warm; these counters check it.

// Allocations made so far by the calling thread.
std::size_t thread_allocations() noexcept;

// Marks the calling thread (a shard's, a server's) as watched: its allocations also add up in
// watched_allocations(), which any thread can read.
void watch_this_thread() noexcept;
std::size_t watched_allocations() noexcept;

}  // namespace sluice::test
