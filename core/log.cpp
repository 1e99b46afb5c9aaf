#include "core/log.hpp"

#include <unistd.h>

#include <cstdio>

namespace sluice::core {

std::string describe_link_event(unsigned shard, const resp::link_event& e, std::string_view address,
                                redis_failure on_failure) {
    std::string line = "sluice: shard " + std::to_string(shard) + ": redis ";
    const std::string_view consequence =
        on_failure == redis_failure::allow ? "; requests fail open" : "; requests get 503";
    switch (e.what) {
        case resp::link_event::kind::connected:
            line += "connected (";
            line += address;
            line += ')';
            break;
        case resp::link_event::kind::unreachable:
        case resp::link_event::kind::lost:
            line += e.what == resp::link_event::kind::lost ? "lost (" : "unreachable (";
            line += e.reason;
            line += ')';
            line += consequence;
            break;
        case resp::link_event::kind::restored: {
            char after[32];
            std::snprintf(after, sizeof after, "%.3fs",
                          static_cast<double>(e.outage.count()) / 1000.0);
            line += "restored after ";
            line += after;
            break;
        }
    }
    return line;
}

void log_line(std::string_view line) noexcept {
    std::string out{line};
    out += '\n';
    // stderr is unbuffered: one write(2), not one per piece.
    std::size_t done = 0;
    while (done < out.size()) {
        ssize_t n = ::write(STDERR_FILENO, out.data() + done, out.size() - done);
        if (n <= 0) break;
        done += static_cast<std::size_t>(n);
    }
}

}  // namespace sluice::core
