#include "bench/load/options.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <limits>
#include <system_error>

namespace sluice::load {

namespace {

// Small enough that a typo (an extra digit) is caught, large enough for any load a single
// machine can generate.
constexpr std::uint64_t max_connections = 100'000;
constexpr std::uint64_t max_threads = 1'024;

std::string quoted(std::string_view s) {
    std::string out;
    out.reserve(s.size() + 2);
    out += '"';
    out += s;
    out += '"';
    return out;
}

[[noreturn]] void fail(std::string_view flag, std::string_view expected, std::string_view got) {
    std::string msg(flag);
    msg += ": expected ";
    msg += expected;
    msg += ", got ";
    msg += quoted(got);
    throw usage_error(msg);
}

std::optional<std::uint64_t> to_uint(std::string_view s) {
    std::uint64_t v = 0;
    if (s.empty() || s.front() < '0' || s.front() > '9') return std::nullopt;
    auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (ec != std::errc() || end != s.data() + s.size()) return std::nullopt;
    return v;
}

std::uint64_t positive_integer(std::string_view flag, std::string_view s, std::uint64_t max) {
    auto v = to_uint(s);
    if (!v || *v == 0) fail(flag, "a positive integer", s);
    if (*v > max) fail(flag, "a positive integer up to " + std::to_string(max), s);
    return *v;
}

// The same grammar as sluice's durations: an integer with us, ms, s, m or h; a bare integer is
// seconds. Kept local so the load generator does not pull in the gateway's configuration code.
std::optional<std::chrono::microseconds> to_duration(std::string_view s) {
    std::size_t digits = 0;
    while (digits < s.size() && s[digits] >= '0' && s[digits] <= '9')
        ++digits;
    std::string_view unit = s.substr(digits);
    std::uint64_t scale = 0;
    if (unit.empty() || unit == "s") {
        scale = 1'000'000;
    } else if (unit == "us") {
        scale = 1;
    } else if (unit == "ms") {
        scale = 1'000;
    } else if (unit == "m") {
        scale = 60'000'000;
    } else if (unit == "h") {
        scale = 3'600'000'000;
    }
    auto v = to_uint(s.substr(0, digits));
    // A year is far beyond any run and keeps every later time_point sum in range.
    constexpr std::uint64_t max_us = 365ULL * 24 * 3'600'000'000;
    if (scale == 0 || !v || *v > max_us / scale) return std::nullopt;
    return std::chrono::microseconds(static_cast<std::int64_t>(*v * scale));
}

// -d and --timeout count in milliseconds.
std::chrono::milliseconds positive_duration(std::string_view flag, std::string_view s) {
    auto d = to_duration(s);
    if (!d || d->count() == 0 || d->count() % 1'000 != 0) {
        fail(flag, "a positive duration such as 500ms, 10s, 2m or 1h", s);
    }
    return std::chrono::duration_cast<std::chrono::milliseconds>(*d);
}

double positive_rate(std::string_view flag, std::string_view s) {
    double v = 0;
    auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (s.empty() || ec != std::errc() || end != s.data() + s.size() || !std::isfinite(v) ||
        v <= 0 || v > 1e9) {
        fail(flag, "a positive number of requests per second", s);
    }
    return v;
}

double share(std::string_view flag, std::string_view s) {
    double v = 0;
    auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (s.empty() || ec != std::errc() || end != s.data() + s.size() || !std::isfinite(v) ||
        v <= 0 || v > 1) {
        fail(flag, "a share of the requests in (0, 1], such as 0.5", s);
    }
    return v;
}

// RFC 9110 token characters: what a header name may contain.
bool is_token(std::string_view s) {
    if (s.empty()) return false;
    return std::all_of(s.begin(), s.end(), [](char c) {
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) {
            return true;
        }
        return std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
    });
}

}  // namespace

target parse_url(std::string_view url) {
    constexpr std::string_view expected = "http://host:port/path";
    constexpr std::string_view scheme = "http://";
    if (url.starts_with("https://")) {
        throw usage_error("URL: https is not supported, use http:// (got " + quoted(url) + ")");
    }
    if (!url.starts_with(scheme)) fail("URL", expected, url);
    // Spaces and control characters would end up inside the request line or the Host header.
    if (std::any_of(url.begin(), url.end(),
                    [](char c) { return static_cast<unsigned char>(c) <= 0x20 || c == 0x7f; })) {
        fail("URL", expected, url);
    }
    std::string_view rest = url.substr(scheme.size());
    std::size_t slash = rest.find_first_of("/?#");
    std::string_view authority = rest.substr(0, slash);
    std::string_view path = slash == std::string_view::npos ? "/" : rest.substr(slash);
    // The fragment never goes on the wire.
    if (std::size_t hash = path.find('#'); hash != std::string_view::npos) {
        path = path.substr(0, hash);
    }
    if (authority.find('@') != std::string_view::npos) fail("URL", expected, url);

    target t;
    std::string_view port;
    if (authority.starts_with('[')) {
        std::size_t close = authority.find(']');
        if (close == std::string_view::npos || close == 1) fail("URL", expected, url);
        t.host = authority.substr(1, close - 1);
        std::string_view after = authority.substr(close + 1);
        if (!after.empty()) {
            if (after.front() != ':') fail("URL", expected, url);
            port = after.substr(1);
            if (port.empty()) fail("URL", expected, url);
        }
    } else {
        std::size_t colon = authority.find(':');
        t.host = authority.substr(0, colon);
        if (colon != std::string_view::npos) {
            port = authority.substr(colon + 1);
            if (port.empty()) fail("URL", expected, url);
        }
    }
    if (t.host.empty()) fail("URL", expected, url);
    if (!port.empty()) {
        auto p = to_uint(port);
        if (!p || *p == 0 || *p > 65'535) fail("URL", expected, url);
        t.port = static_cast<std::uint16_t>(*p);
    }
    // "http://h:1?x" asks for the path "/" with the query "x".
    t.path = path.empty() || path.front() == '?' ? "/" : "";
    t.path += path;
    bool v6 = t.host.find(':') != std::string::npos;
    t.authority = (v6 ? "[" + t.host + "]" : t.host) + ":" + std::to_string(t.port);
    return t;
}

limit_check parse_verify_limit(std::string_view text) {
    constexpr std::string_view expected =
        "N/DURATION such as 5/10s (DURATION an integer with us, ms, s, m or h)";
    std::size_t slash = text.find('/');
    if (slash == std::string_view::npos) fail("--verify-limit", expected, text);
    auto n = to_uint(text.substr(0, slash));
    auto window = to_duration(text.substr(slash + 1));
    if (!n || *n == 0 || !window || window->count() == 0) fail("--verify-limit", expected, text);
    limit_check c;
    c.limit = *n;
    c.window = *window;
    return c;
}

expectation parse_expectation(std::string_view text) {
    constexpr std::string_view expected = "CODE:COUNT[,CODE:COUNT...]";
    expectation e;
    std::string_view rest = text;
    if (rest.empty()) fail("--expect", expected, text);
    for (;;) {
        std::size_t comma = rest.find(',');
        std::string_view item = rest.substr(0, comma);
        std::size_t colon = item.find(':');
        if (colon == std::string_view::npos) fail("--expect", expected, text);
        auto code = to_uint(item.substr(0, colon));
        auto count = to_uint(item.substr(colon + 1));
        if (!code || *code < 100 || *code > 999 || !count) fail("--expect", expected, text);
        int c = static_cast<int>(*code);
        if (std::any_of(e.counts.begin(), e.counts.end(),
                        [c](const auto& p) { return p.first == c; })) {
            throw usage_error("--expect: status " + std::to_string(c) + " given twice in " +
                              quoted(text));
        }
        e.counts.emplace_back(c, *count);
        if (comma == std::string_view::npos) break;
        rest = rest.substr(comma + 1);
    }
    std::sort(e.counts.begin(), e.counts.end());
    return e;
}

options parse_options(std::span<const std::string_view> args) {
    options o;
    bool have_url = false;
    bool have_requests = false;
    bool have_duration = false;
    bool have_keys = false;
    std::optional<std::chrono::nanoseconds> tolerance;

    for (std::size_t i = 0; i < args.size(); ++i) {
        std::string_view arg = args[i];
        if (arg == "-h" || arg == "--help") {
            options help;
            help.help = true;
            return help;
        }
        if (arg.size() < 2 || arg.front() != '-') {
            o.targets.push_back(parse_url(arg));
            o.urls.emplace_back(arg);
            have_url = true;
            continue;
        }

        // "--flag=value" and "--flag value" are the same; short flags take a separate value.
        std::string_view flag = arg;
        std::optional<std::string_view> inline_value;
        if (arg.starts_with("--")) {
            if (std::size_t eq = arg.find('='); eq != std::string_view::npos) {
                flag = arg.substr(0, eq);
                inline_value = arg.substr(eq + 1);
            }
        }
        auto value = [&]() -> std::string_view {
            if (inline_value) return *inline_value;
            if (i + 1 >= args.size()) throw usage_error(std::string(flag) + ": missing value");
            return args[++i];
        };

        if (flag == "--json") {
            if (inline_value) throw usage_error("--json: takes no value");
            o.json = true;
        } else if (flag == "--percentiles") {
            std::string_view file = value();
            if (file.empty()) fail(flag, "a file name", file);
            o.percentiles = file;
        } else if (flag == "-c" || flag == "--connections") {
            o.connections = positive_integer(flag, value(), max_connections);
        } else if (flag == "-n" || flag == "--requests") {
            o.requests = positive_integer(flag, value(), std::numeric_limits<std::uint64_t>::max());
            have_requests = true;
        } else if (flag == "-d" || flag == "--duration") {
            o.duration = positive_duration(flag, value());
            have_duration = true;
        } else if (flag == "--rate") {
            o.rate = positive_rate(flag, value());
        } else if (flag == "--keys") {
            o.keys = positive_integer(flag, value(), std::numeric_limits<std::uint64_t>::max());
            have_keys = true;
        } else if (flag == "--key-seq") {
            if (inline_value) throw usage_error("--key-seq: takes no value");
            o.key_seq = true;
        } else if (flag == "--hot-keys") {
            o.hot_keys = positive_integer(flag, value(), std::numeric_limits<std::uint64_t>::max());
        } else if (flag == "--hot-share") {
            o.hot_share = share(flag, value());
        } else if (flag == "--key-header") {
            std::string_view name = value();
            if (!is_token(name)) fail(flag, "a header name", name);
            o.key_header = name;
        } else if (flag == "--expect") {
            std::string_view text = value();
            o.expect = parse_expectation(text);
        } else if (flag == "--verify-limit") {
            std::string_view text = value();
            o.verify = parse_verify_limit(text);
        } else if (flag == "--verify-tolerance") {
            std::string_view text = value();
            auto d = to_duration(text);
            if (!d) fail(flag, "a duration such as 2ms or 500us", text);
            tolerance = *d;
        } else if (flag == "--threads") {
            o.threads = positive_integer(flag, value(), max_threads);
        } else if (flag == "--timeout") {
            o.timeout = positive_duration(flag, value());
        } else {
            throw usage_error("unknown flag " + quoted(flag) + " (see --help)");
        }
    }

    if (!have_url) throw usage_error("missing URL (see --help)");
    if (have_requests && have_duration) throw usage_error("-n and -d exclude each other");
    if (have_keys && o.key_header.empty()) throw usage_error("--keys needs --key-header");
    if (!have_keys && !o.key_header.empty()) throw usage_error("--key-header needs --keys");
    if (o.key_seq && !have_keys) throw usage_error("--key-seq needs --keys");
    if ((o.hot_keys > 0) != (o.hot_share > 0)) {
        throw usage_error(o.hot_keys > 0 ? "--hot-keys needs --hot-share"
                                         : "--hot-share needs --hot-keys");
    }
    if (o.hot_keys > 0 && !have_keys) throw usage_error("--hot-keys needs --keys");
    if (o.hot_keys > std::numeric_limits<std::uint64_t>::max() - o.keys) {
        throw usage_error("--hot-keys: --keys plus --hot-keys must fit in 64 bits");
    }
    if (o.key_seq && o.hot_keys > 0)
        throw usage_error("--key-seq and --hot-keys exclude each other");
    if (tolerance && !o.verify) throw usage_error("--verify-tolerance needs --verify-limit");
    if (o.verify) {
        o.verify->tolerance = tolerance.value_or(default_verify_tolerance);
        // Nothing could ever be certainly inside a span of zero or less.
        if (o.verify->tolerance >= o.verify->window) {
            throw usage_error("--verify-limit: the window " + format_duration(o.verify->window) +
                              " must be longer than the tolerance " +
                              format_duration(o.verify->tolerance) + " (see --verify-tolerance)");
        }
    }
    // More connections than requests would only open sockets that never send anything.
    if (o.requests && *o.requests < o.connections) o.connections = *o.requests;
    o.threads = std::min(o.threads, o.connections);
    return o;
}

std::string_view usage() {
    return R"(usage: sluice-load URL [URL...] [-c CONNECTIONS] [-n REQUESTS | -d DURATION]
                   [--rate R] [--keys K --key-header NAME [--key-seq]]
                   [--hot-keys H --hot-share P] [--json] [--percentiles FILE]
                   [--expect CODE:COUNT[,CODE:COUNT...]]
                   [--verify-limit N/DURATION [--verify-tolerance DURATION]]
                   [--threads T] [--timeout DURATION]

HTTP/1.1 load generator and verifier. Every connection keeps one request in flight.

  URL                   http://host:port/path (https is not supported). With several URLs,
                        connection i goes to URL i mod their number: two gateways that share
                        one Redis are loaded, and checked by --verify-limit, as one
  -c CONNECTIONS        concurrent keep-alive connections (default 16)
  -n REQUESTS           total requests across all connections
  -d DURATION           stop issuing after DURATION, then finish what is in flight
                        (default 10s; DURATION is an integer with ms, s, m or h, bare = seconds)
  --rate R              open loop: request i is scheduled at start + i/R and its latency is
                        measured from that scheduled moment (default: closed loop)
  --keys K              each request carries a random key k0..k(K-1) ...
  --key-header NAME     ... in this header, e.g. --keys 1000 --key-header X-Api-Key
  --key-seq             with --keys: request i of the run, counted across all connections,
                        carries k(i mod K) instead of a random key, so -n K --keys K sends
                        each key exactly once
  --hot-keys H          with --hot-share P: a share P (0 < P <= 1) of the requests carries one
  --hot-share P         of H further keys kK..k(K+H-1) instead, e.g. --keys 10000 --hot-keys 4
                        --hot-share 0.5: four heavy clients among 10,000 light ones
  --json                print the report as one JSON object
  --percentiles FILE    also write the latency curve to FILE, one "<percentile> <latency_us>"
                        line per point: 0, 50, 75, 90, 95, 99, 99.5, 99.9, 99.95, 99.99,
                        99.999, 100 and HdrHistogram's 100(1-2^-k) between them (while a
                        sample lies beyond them); with --rate latency counts from each
                        request's scheduled start, as in the report
  --expect CODE:COUNT   exit 1 unless the status counts are exactly these and nothing failed
  --verify-limit N/DURATION
                        exit 1 unless, per key, at most N counted 200s fall in any span of
                        DURATION (an integer with us, ms, s, m or h). A counted 200 carries
                        X-RateLimit-Remaining; a 200 without it was served without a decision
                        (fail-open) and is reported as uncounted. The key is the --key-header
                        value; without --keys all requests share one key, (all).
                        Redis decides a request at a moment between its send and its receive
                        time on this client's clock, and the limiter promises that N+1 allowed
                        requests of a key never fit in a span shorter than DURATION. So N+1
                        counted 200s are a violation only when they certainly do:
                        max(receive) - min(send) < DURATION - tolerance. Any doubt goes to the
                        server: a violation reported is one the server did commit.
  --verify-tolerance DURATION
                        how far this client's steady clock may drift from the Redis clock
                        (TIME) over one window, plus rounding (TIME counts microseconds, the
                        window whole milliseconds); default 2ms. For a Redis on another host,
                        add 0.5ms per second of window (NTP slews a clock by at most 500 ppm)
  --threads T           event-loop threads (default 1)
  --timeout DURATION    per request, connecting included (default 5s)
  -h, --help            this text

The report always counts the 200s without X-RateLimit-Remaining (uncounted_200 in --json).
When stderr is a terminal, a live line there shows the elapsed time, the requests/s of the last
quarter second, the status counts and the errors; it is cleared before the report.

Exit status: 0 done; 1 --expect not met, --verify-limit violated (either fails the run), the
target unreachable or the --percentiles FILE not written; 2 bad command line, or a --percentiles
FILE that cannot be opened (checked before the run).
)";
}

}  // namespace sluice::load
