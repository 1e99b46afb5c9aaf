#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "core/client_key.hpp"
#include "core/ratelimit_headers.hpp"
#include "resp/url.hpp"

namespace sluice::core {

// A bad command line. what() is the whole line to print, "sluice: --limit: expected a positive
// integer, got "abc"", and the program exits 2.
class usage_error : public std::runtime_error {
  public:
    using std::runtime_error::runtime_error;
};

// HOST:PORT of a listener. The host is an IP literal (IPv6 without brackets) or a name to
// resolve; port 0 asks the kernel for a free port.
struct endpoint {
    std::string host;
    std::uint16_t port = 0;

    std::string to_string() const;  // "127.0.0.1:8080", "[::1]:8080"

    friend bool operator==(const endpoint&, const endpoint&) = default;
};

// The contract's algorithms. none: no limiter call at all, every request served (a baseline: what
// the limiter costs). The gateway serves only sliding_log and none so far; the others are known to
// the rules file and the flags, so that a file can be checked before the gateway runs it.
enum class algorithm : std::uint8_t {
    sliding_log,
    fixed_window,
    sliding_window,
    token_bucket,
    none
};
std::string_view to_string(algorithm a) noexcept;  // the --algorithm name, "sliding-log"
// The --algorithm and rules-file name; nullopt for anything else (names are case-sensitive).
std::optional<algorithm> parse_algorithm(std::string_view name) noexcept;
// "one of: sliding-log, fixed-window, sliding-window, token-bucket, none", for usage messages.
inline constexpr std::string_view algorithm_names =
    "sliding-log, fixed-window, sliding-window, token-bucket, none";

// What a request gets when Redis cannot decide in time.
enum class redis_failure : std::uint8_t { allow, deny };
std::string_view to_string(redis_failure f) noexcept;

// --upstream: where allowed requests are forwarded. `prefix` is empty or starts with '/' and
// never ends with one, so that prefix + request target is always a well-formed origin-form.
struct upstream_url {
    std::string host;
    std::uint16_t port = 0;
    std::string prefix;

    friend bool operator==(const upstream_url&, const upstream_url&) = default;
};

// Everything `sluice` is told on its command line, validated. The defaults are the contract's.
struct config {
    endpoint listen{"127.0.0.1", 8080};
    endpoint admin{"127.0.0.1", 9090};
    std::string redis_url_text = "redis://127.0.0.1:6379";  // as given; may hold a password
    resp::redis_url redis{"127.0.0.1", 6379, {}, {}, 0};
    // --redis-cluster: nodes to learn the cluster's topology from; empty: `redis` is the one
    // Redis. `redis`'s host is then unused, but a bare HOST:PORT seed has its user and password,
    // so that a password is written once for every node. Every seed's db is 0, the only one a
    // cluster has.
    std::vector<resp::redis_url> redis_cluster;
    // As given; may hold passwords, so print redact_seeds of it.
    std::string redis_cluster_text;
    // --redis-sentinel and --redis-master, given together or not at all: the Sentinels to ask
    // for the address of the primary named `redis_master`, which is then reached with `redis`'s
    // user, password and db. A seed's own credentials are those of the Sentinel; a bare one has
    // none. Never set together with redis_cluster.
    std::vector<resp::redis_url> redis_sentinels;
    std::string redis_sentinel_text;  // as given, like redis_cluster_text
    std::string redis_master;
    unsigned threads = 1;  // shards; parse_args defaults it to the number of cores
    int limit = 5;
    std::chrono::milliseconds window{10'000};
    core::algorithm algorithm = core::algorithm::sliding_log;
    // --burst: the token-bucket capacity; absent means `limit`. Refused with other algorithms.
    std::optional<int> burst;
    key_source key;
    // --config: the rules file, which replaces limit, window, algorithm, burst and key (giving
    // both is a usage error). Empty: the flags make one rule named "default".
    std::string rules_file;
    trusted_proxies trusted;  // empty: X-Forwarded-For is never read
    std::chrono::milliseconds redis_timeout{100};
    core::redis_failure redis_failure = core::redis_failure::allow;
    // How long a shard polls for Redis's reply before it sleeps (resp::connection_config::
    // poll_budget); zero never polls.
    std::chrono::microseconds redis_poll{50};
    // The most checks one Redis call of core/decide.lua carries (core/batcher.hpp); 1 sends each
    // check in a call of its own.
    std::size_t batch_max = 64;
    // Batches of one shard on the wire at once; a batch ready beyond them waits, open, and grows
    // (core/batcher.hpp). 0 is no bound.
    std::size_t batch_in_flight = 1;
    // Entries of each shard's blocked-client cache (core/blocked_cache.hpp); 0 is off.
    std::size_t blocked_cache_size = 4096;
    // May be empty (a Redis database of its own needs no prefix); never holds '{' or '}', which
    // would move the Redis Cluster hash tag off the client identity.
    std::string key_prefix = "sluice:";
    // Answer as the authorization service of another proxy: 200 with an empty body when allowed.
    bool forward_auth = false;
    // Status of every rejection, in every mode; nginx auth_request passes only 401 and 403 on.
    unsigned deny_status = 429;
    header_mode headers = header_mode::both;
    // Absent: the built-in API answers allowed requests.
    std::optional<upstream_url> upstream;
    // Until the upstream's response header section is complete.
    std::chrono::milliseconds upstream_timeout{30'000};
    std::chrono::milliseconds upstream_connect_timeout{2'000};
    // Idle keep-alive connections each shard keeps to the upstream; 0 closes each one after its
    // exchange.
    std::size_t upstream_max_idle = 64;
    // An idle upstream connection unused this long is closed.
    std::chrono::milliseconds upstream_idle_timeout{30'000};
    // Largest request body (decoded); larger is 413.
    std::uint64_t max_body = 1024 * 1024;
    // A client connection without progress this long is closed (http::server_limits).
    std::chrono::milliseconds idle_timeout{60'000};
};

struct help_requested {};

// --check-config FILE: validate a rules file, print its rules and exit, starting nothing. The
// other flags on the line are still parsed, and a bad one is still a usage error.
struct check_config_requested {
    std::string file;
};

// --help wins over everything else on the line, even over a bad flag before it; --check-config
// wins over starting the gateway.
using parse_result = std::variant<config, help_requested, check_config_requested>;

// Parses `sluice`'s command line. Flags take "--flag value" or "--flag=value"; a repeated flag
// overrides the earlier one, except --trust-proxy, whose ranges add up. `redis_url_env` is
// $REDIS_URL (null or empty when unset): the default of --redis. Throws usage_error.
parse_result parse_args(int argc, const char* const* argv, const char* redis_url_env);

// The --help text: every flag with its default.
std::string help_text();

// A --redis-cluster or --redis-sentinel list with each seed's password replaced by "***", for
// messages and logs (resp::redact_redis_url alone would take the whole list for one URL).
std::string redact_seeds(std::string_view list);

// A value echoed in a message: quoted, with '"', '\\' and control characters escaped, so that the
// message stays on one line whatever the value holds.
std::string quote(std::string_view value);

// Limits beyond which a value is refused rather than obeyed.
inline constexpr unsigned max_threads = 1024;
// Past this, polling costs far more CPU than the sleep it saves could.
inline constexpr std::chrono::microseconds max_redis_poll{10'000};
inline constexpr int max_limit = 1'000'000'000;
// One live seed is enough to find the rest of a cluster or the primary, and seeds are tried in
// turn, so a longer list mostly delays the error when none answers.
inline constexpr std::size_t max_seeds = 64;
inline constexpr std::size_t max_batch_max = 256;  // core/batch.hpp's max_batch_checks
inline constexpr std::size_t max_batch_in_flight = 1024;
// 144 bytes an entry: about 150 MB per shard at most.
inline constexpr std::size_t max_blocked_cache_size = 1 << 20;
// Every idle connection holds a descriptor and an ephemeral port toward one upstream address, of
// which there are fewer than this.
inline constexpr std::size_t max_upstream_max_idle = 65'535;
// The server buffers a request's body before it is answered, so this bounds a connection's memory.
inline constexpr std::uint64_t max_max_body = std::uint64_t{1024} * 1024 * 1024;

}  // namespace sluice::core
