#pragma once

#include <string>
#include <string_view>

#include "core/config.hpp"
#include "resp/link.hpp"

namespace sluice::core {

// The operator's view of a shard's Redis link, one line per event on stderr (never one per
// request): whether limiting works right now, and if not, what requests get instead.
//
//   sluice: shard 0: redis connected (127.0.0.1:6379)
//   sluice: shard 0: redis lost (read: End of file); requests fail open
//   sluice: shard 0: redis restored after 1.234s
std::string describe_link_event(unsigned shard, const resp::link_event& e, std::string_view address,
                                redis_failure on_failure);

// Writes one line (a trailing newline is added) with a single write, so that lines of several
// shards never interleave.
void log_line(std::string_view line) noexcept;

}  // namespace sluice::core
