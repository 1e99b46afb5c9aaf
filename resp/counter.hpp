#pragma once

#include <atomic>
#include <cstdint>

namespace sluice::resp {

// A counter with one writer (the thread of the shard that owns it) and any number of readers (the
// admin thread serving /metrics). The increment is a plain load and store, not a locked
// read-modify-write: only the owning thread writes, so no update can be lost, and a reader sees
// some recent value.
class counter {
  public:
    void add(std::uint64_t n = 1) noexcept {
        v_.store(v_.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
    }
    std::uint64_t get() const noexcept { return v_.load(std::memory_order_relaxed); }

  private:
    std::atomic<std::uint64_t> v_{0};
};

}  // namespace sluice::resp
