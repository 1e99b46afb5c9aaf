#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>

namespace sluice::load {

// What the live line shows at one moment of the run.
struct live_snapshot {
    std::chrono::nanoseconds elapsed{0};
    std::array<std::uint64_t, 1000> status{};  // indexed by status code, 100..999
    std::uint64_t errors = 0;

    std::uint64_t responses() const noexcept;
};

// The counts behind the live line, one set per event-loop thread, read by the thread that draws
// the line while the run goes on. run_stats cannot be read then: its counters are plain
// integers, and making them atomic would put a locked instruction on every request.
//
// Only the owning thread writes, so an increment is a relaxed load and store, not a
// read-modify-write: on x86 a plain add with no lock prefix. The reader may see a count a few
// requests old, which a line redrawn four times a second does not notice.
class live_counters {
  public:
    // As run_stats::record counts it: a code outside 100..999 is an error, not a status.
    void record(int status_code) noexcept {
        if (status_code < 100 || status_code > 999) {
            fail();
            return;
        }
        bump(status_[static_cast<std::size_t>(status_code)]);
    }
    void fail() noexcept { bump(errors_); }

    // Adds this thread's counts so far to `into`; from any thread.
    void add_to(live_snapshot& into) const noexcept;

  private:
    static void bump(std::atomic<std::uint64_t>& c) noexcept {
        c.store(c.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
    }

    std::array<std::atomic<std::uint64_t>, 1000> status_{};
    std::atomic<std::uint64_t> errors_{0};
};

// How often the line is redrawn: often enough to follow a run, seldom enough to be read.
inline constexpr std::chrono::milliseconds live_interval{250};

// The line for `now`, with the request rate over the interval since `before` (a rate over the
// whole run would hide a stall that starts late):
// "elapsed 12.3s  rps 4460.4  200:8032 429:892  errors 0". With a `width` (the terminal's
// columns), cut to width - 1 characters: a line that wrapped could not be rewritten with \r.
std::string format_live_line(const live_snapshot& now, const live_snapshot& before,
                             std::size_t width = 0);

}  // namespace sluice::load
