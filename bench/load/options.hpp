#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "bench/load/verify.hpp"

namespace sluice::load {

// A bad command line. The message is the part after "sluice-load: ", e.g.
// `-c: expected a positive integer, got "x"`; main prints it and exits 2.
class usage_error : public std::runtime_error {
  public:
    using std::runtime_error::runtime_error;
};

// Where the load goes: only plain http:// is spoken.
struct target {
    std::string host;  // without brackets for IPv6 literals
    std::uint16_t port = 80;
    std::string path = "/";  // includes the query string, never empty
    std::string authority;   // the Host header value: "host:port", "[::1]:port"
};

// `--expect 200:5,429:1`: the exact status counts a run must end with, sorted by code.
struct expectation {
    std::vector<std::pair<int, std::uint64_t>> counts;
};

struct options {
    bool help = false;  // --help: print usage() and exit 0, nothing else is filled in

    // One or more; connection i goes to targets[i % targets.size()].
    std::vector<std::string> urls;
    std::vector<load::target> targets;
    std::size_t connections = 16;
    std::optional<std::uint64_t> requests;  // -n; when absent the run lasts `duration`
    std::chrono::milliseconds duration{10'000};
    double rate = 0;  // --rate in requests/s; 0 is a closed loop
    std::uint64_t keys = 0;
    std::string key_header;
    bool key_seq = false;  // --key-seq: request i carries key i mod keys instead of a random one
    // --hot-keys H --hot-share P: a share P (0 < P <= 1) of the requests carries one of H further
    // keys k<K>..k<K+H-1>, the rest one of the K: a few heavy clients among many light ones.
    std::uint64_t hot_keys = 0;
    double hot_share = 0;
    bool json = false;
    std::string percentiles;  // --percentiles FILE: where the latency curve goes; empty: nowhere
    std::optional<expectation> expect;
    std::size_t threads = 1;
    std::chrono::milliseconds timeout{5'000};
    // --verify-limit N/DURATION with --verify-tolerance (default 2ms).
    std::optional<limit_check> verify;
};

inline constexpr std::chrono::milliseconds default_verify_tolerance{2};

// Parses the arguments after the program name. Throws usage_error on anything it cannot accept.
options parse_options(std::span<const std::string_view> args);

// Parses "http://host[:port][/path]".
load::target parse_url(std::string_view url);

// Parses "5/10s" into the limit and the window (tolerance left at zero).
limit_check parse_verify_limit(std::string_view text);

// Parses "200:5,429:1"; codes 100..999, counts >= 0, no code twice.
expectation parse_expectation(std::string_view text);

std::string_view usage();

}  // namespace sluice::load
