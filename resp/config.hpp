#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>

#include "resp/counter.hpp"
#include "resp/parser.hpp"
#include "resp/url.hpp"

namespace sluice::resp {

struct connection_config {
    std::string host = "127.0.0.1";
    std::uint16_t port = 6379;
    std::string user;      // empty: the default user
    std::string password;  // empty: no AUTH
    int db = 0;
    int protocol = 3;  // 3: HELLO 3 (RESP3, pushes); 2: plain RESP2 with AUTH
    // The handshake asks ROLE and fails unless the server says `master`: for an address found
    // through Sentinel, which may be stale (a demoted primary keeps accepting connections, and
    // its replica role would refuse every write with READONLY).
    bool require_primary = false;

    // One deadline for resolving, connecting and the handshake: a server that accepts but never
    // answers HELLO is as unavailable as one that does not accept.
    std::chrono::milliseconds connect_timeout{1000};
    std::chrono::milliseconds reconnect_min{50};    // first backoff step
    std::chrono::milliseconds reconnect_max{2000};  // backoff ceiling
    // An idle connection sends PING this often; a PING unanswered within health_timeout means the
    // server is gone even though TCP has not noticed, and the connection is dropped and rebuilt.
    std::chrono::milliseconds health_interval{1000};  // zero: no health check
    std::chrono::milliseconds health_timeout{2000};
    // Requests in flight (written, or waiting to be written) at most; past it exec() waits, in
    // arrival order, so a stalled server applies back-pressure instead of growing memory.
    std::size_t max_in_flight = 4096;
    // Request deadlines are checked this often, by one timer per connection rather than one per
    // request: a timeout fires up to this much late.
    std::chrono::milliseconds timeout_resolution{5};
    // While replies are due, the reader polls the socket for up to this long, yielding to the
    // event loop between polls, before it sleeps in the loop (see poll_policy). Zero: never poll.
    std::chrono::microseconds poll_budget{50};
    parser_limits limits{};

    // Where and as whom to connect, from a parsed redis:// URL; the rest keeps its defaults.
    static connection_config from_url(const redis_url& url) {
        connection_config c;
        c.host = url.host;
        c.port = url.port;
        c.user = url.user;
        c.password = url.password;
        c.db = url.db;
        return c;
    }
};

// What a connection did, for /metrics and tests. Each counts exactly what its comment says.
struct connection_stats {
    counter replies;           // replies to callers' commands (health checks and loads excluded)
    counter health_checks;     // PINGs sent by the health check on an idle link
    counter writes;            // write system calls that sent requests (handshakes excluded)
    counter timeouts;          // requests whose deadline passed before their reply
    counter failed_fast;       // requests failed at once because the link was known to be down
    counter waited;            // requests that arrived while the link was being set up, and waited
    counter connects;          // handshakes completed, the first one included
    counter reconnects;        // handshakes completed after the first
    counter disconnects;       // links lost after their handshake completed
    counter script_loads;      // SCRIPT LOADs sent (handshake preloads and NOSCRIPT reloads)
    counter noscript_retries;  // EVALSHAs sent again after NOSCRIPT
    counter poll_hits;         // replies found by polling, without sleeping
    counter poll_misses;       // polls whose budget ran out
};

}  // namespace sluice::resp
