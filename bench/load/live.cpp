#include "bench/load/live.hpp"

#include <algorithm>
#include <cstdio>
#include <string_view>

namespace sluice::load {

std::uint64_t live_snapshot::responses() const noexcept {
    std::uint64_t n = 0;
    for (auto c : status)
        n += c;
    return n;
}

void live_counters::add_to(live_snapshot& into) const noexcept {
    for (std::size_t i = 0; i < status_.size(); ++i)
        into.status[i] += status_[i].load(std::memory_order_relaxed);
    into.errors += errors_.load(std::memory_order_relaxed);
}

std::string format_live_line(const live_snapshot& now, const live_snapshot& before,
                             std::size_t width) {
    const double seconds = std::chrono::duration<double>(now.elapsed).count();
    const double interval = std::chrono::duration<double>(now.elapsed - before.elapsed).count();
    const std::uint64_t done = now.responses(), done_before = before.responses();
    const double rps = interval > 0 && done >= done_before
                           ? static_cast<double>(done - done_before) / interval
                           : 0;
    char head[64];
    int n = std::snprintf(head, sizeof head, "elapsed %.1fs  rps %.1f", seconds, rps);
    std::string line(head, std::min(static_cast<std::size_t>(std::max(n, 0)), sizeof head - 1));
    std::string_view gap = "  ";
    for (std::size_t code = 0; code < now.status.size(); ++code) {
        if (now.status[code] == 0) continue;
        line += gap;
        line += std::to_string(code) + ':' + std::to_string(now.status[code]);
        gap = " ";
    }
    line += "  errors " + std::to_string(now.errors);
    if (width > 0 && line.size() >= width) line.resize(width - 1);
    return line;
}

}  // namespace sluice::load
