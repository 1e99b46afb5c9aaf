#include "core/config.hpp"

#include <algorithm>
#include <charconv>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "core/duration.hpp"
#include "resp/error.hpp"

namespace sluice::core {

namespace {

constexpr std::string_view default_redis_url = "redis://127.0.0.1:6379";

[[noreturn]] void fail(std::string_view flag, std::string_view expected, std::string_view got) {
    std::string message = "sluice: ";
    message.append(flag).append(": expected ").append(expected).append(", got ");
    message.append(quote(got));
    throw usage_error(message);
}

template <typename T>
std::optional<T> parse_unsigned(std::string_view s) noexcept {
    if (s.empty() ||
        !std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; })) {
        return std::nullopt;
    }
    T value{};
    const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), value);
    if (ec != std::errc{} || end != s.data() + s.size()) return std::nullopt;
    return value;
}

bool is_name_char(char c) noexcept {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '.' || c == '_';
}

std::optional<endpoint> parse_endpoint(std::string_view text) {
    std::string_view host;
    std::string_view port;
    if (text.starts_with('[')) {
        const auto close = text.find(']');
        if (close == std::string_view::npos || close + 1 >= text.size() || text[close + 1] != ':') {
            return std::nullopt;
        }
        host = text.substr(1, close - 1);
        port = text.substr(close + 2);
        const auto address = ip_address::parse(host);
        if (!address || host.find(':') == std::string_view::npos) return std::nullopt;
    } else {
        const auto colon = text.rfind(':');
        if (colon == std::string_view::npos) return std::nullopt;
        host = text.substr(0, colon);
        port = text.substr(colon + 1);
        if (host.empty() || !std::all_of(host.begin(), host.end(), is_name_char)) {
            return std::nullopt;
        }
        // Digits and dots can only be meant as an IPv4 address, so it must be a valid one.
        const bool looks_v4 = std::all_of(
            host.begin(), host.end(), [](char c) { return c == '.' || (c >= '0' && c <= '9'); });
        if (looks_v4 && !ip_address::parse(host)) return std::nullopt;
    }
    const auto number = port.size() <= 5 ? parse_unsigned<unsigned>(port) : std::nullopt;
    if (!number || *number > 65535) return std::nullopt;
    return endpoint{std::string(host), static_cast<std::uint16_t>(*number)};
}

resp::redis_url parse_redis(std::string_view flag, std::string_view text) {
    resp::redis_url url;
    const std::error_code ec = resp::parse_redis_url(text, url);
    if (ec == resp::errc::unsupported_scheme) {
        fail(flag, "a redis:// URL (TLS, rediss://, is not supported yet)",
             resp::redact_redis_url(text));
    }
    if (ec) fail(flag, "redis://[[user]:password@]host[:port][/db]", resp::redact_redis_url(text));
    return url;
}

constexpr std::uint16_t default_sentinel_port = 26379;

std::string_view trim_blanks(std::string_view s) noexcept {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t'))
        s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t'))
        s.remove_suffix(1);
    return s;
}

// Whether a seed that parsed names its port: parse_redis_url fills in 6379 either way, which is
// not a Sentinel's port.
bool names_port(std::string_view seed) noexcept {
    if (const auto sep = seed.find("://"); sep != std::string_view::npos) {
        seed.remove_prefix(sep + 3);
    }
    if (const auto at = seed.rfind('@'); at != std::string_view::npos) seed.remove_prefix(at + 1);
    seed = seed.substr(0, seed.find('/'));
    if (seed.starts_with('[')) {
        const auto close = seed.find(']');
        return close != std::string_view::npos && close + 1 < seed.size();
    }
    return seed.find(':') != std::string_view::npos;
}

std::vector<std::string_view> split_commas(std::string_view list) {
    std::vector<std::string_view> items;
    std::size_t start = 0;
    while (true) {
        const auto comma = list.find(',', start);
        items.push_back(list.substr(start, comma - start));
        if (comma == std::string_view::npos) return items;
        start = comma + 1;
    }
}

// A seed list cut where its seeds end, as far as a password is concerned: a URL without '@' runs
// on to the first element holding one, before the next URL, because that '@' can only end this
// URL's userinfo (a bare seed never has one) and so its password holds a raw ','. Without this,
// redaction would print the part of the password before the comma.
std::vector<std::string_view> seed_spans(std::string_view list) {
    const auto items = split_commas(list);
    std::vector<std::string_view> spans;
    for (std::size_t i = 0; i < items.size(); ++i) {
        std::size_t last = i;
        if (items[i].find("://") != std::string_view::npos &&
            items[i].find('@') == std::string_view::npos) {
            for (std::size_t j = i + 1;
                 j < items.size() && items[j].find("://") == std::string_view::npos; ++j) {
                if (items[j].find('@') != std::string_view::npos) {
                    last = j;
                    break;
                }
            }
        }
        const auto begin = static_cast<std::size_t>(items[i].data() - list.data());
        const auto end =
            static_cast<std::size_t>(items[last].data() - list.data()) + items[last].size();
        spans.push_back(list.substr(begin, end - begin));
        i = last;
    }
    return spans;
}

enum class seed_role : std::uint8_t { cluster_node, sentinel };

struct seed {
    resp::redis_url url;
    bool bare = false;  // HOST[:PORT], without scheme or credentials
};

// SEEDS of --redis-cluster and --redis-sentinel. A bare HOST[:PORT] is read as the authority of a
// redis:// URL, so both forms accept exactly the same hosts and ports; it may not carry
// credentials or a db, which only a URL spells unambiguously.
std::vector<seed> parse_seeds(std::string_view flag, std::string_view list, seed_role role) {
    constexpr std::string_view list_expected =
        "a comma-separated list of HOST[:PORT] or redis:// URLs, none empty";
    constexpr std::string_view seed_expected =
        "HOST[:PORT] (port 1-65535, IPv6 as [::1]:7000) or "
        "redis://[[user]:password@]host[:port]";
    if (trim_blanks(list).empty()) fail(flag, list_expected, list);
    const auto items = split_commas(list);
    if (items.size() > max_seeds) {
        fail(flag, "at most " + std::to_string(max_seeds) + " seeds", redact_seeds(list));
    }
    if (seed_spans(list).size() != items.size()) {
        fail(flag, "a ',' in a password written as %2C", redact_seeds(list));
    }
    std::vector<seed> seeds;
    for (const std::string_view raw : items) {
        const std::string_view item = trim_blanks(raw);
        if (item.empty()) fail(flag, list_expected, redact_seeds(list));

        seed s;
        s.bare = item.find("://") == std::string_view::npos;
        if (s.bare) {
            if (item.find_first_of("@/?#") != std::string_view::npos) {
                fail(flag, seed_expected, resp::redact_redis_url(item));
            }
            if (resp::parse_redis_url("redis://" + std::string(item), s.url)) {
                fail(flag, seed_expected, item);
            }
        } else {
            const std::error_code ec = resp::parse_redis_url(item, s.url);
            if (ec == resp::errc::unsupported_scheme) {
                fail(flag, "redis:// URLs (TLS, rediss://, is not supported yet)",
                     resp::redact_redis_url(item));
            }
            if (ec) fail(flag, seed_expected, resp::redact_redis_url(item));
        }
        if (s.url.db != 0) {
            fail(flag,
                 role == seed_role::cluster_node
                     ? "db 0 (Redis Cluster has no other database)"
                     : "no db (a Sentinel has no database; the primary's is --redis's)",
                 resp::redact_redis_url(item));
        }
        if (role == seed_role::sentinel && !names_port(item)) s.url.port = default_sentinel_port;
        seeds.push_back(std::move(s));
    }
    return seeds;
}

// Windows and timeouts count whole milliseconds (Redis's PEXPIRE, the sweeper's resolution).
std::chrono::milliseconds parse_positive_duration(std::string_view flag, std::string_view text) {
    const auto parsed = parse_duration(text, zero_duration::reject);
    if (!parsed) fail(flag, describe(parsed.error), text);
    const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(parsed.value);
    if (ms != parsed.value) fail(flag, "a whole number of milliseconds (e.g. 250ms)", text);
    return ms;
}

void add_trusted(std::string_view flag, std::string_view list, trusted_proxies& trusted) {
    while (true) {
        const auto comma = list.find(',');
        std::string_view item = list.substr(0, comma);
        while (!item.empty() && (item.front() == ' ' || item.front() == '\t'))
            item.remove_prefix(1);
        while (!item.empty() && (item.back() == ' ' || item.back() == '\t'))
            item.remove_suffix(1);
        const auto parsed = cidr::parse(item);
        switch (parsed.error) {
            case cidr_errc::ok:
                trusted.add(parsed.range);
                break;
            case cidr_errc::invalid_address:
                fail(flag, "CIDR[,CIDR...] such as 10.0.0.0/8 or ::1", item);
            case cidr_errc::invalid_prefix:
                fail(flag, "a prefix length of 0-32 (IPv4) or 0-128 (IPv6)", item);
            case cidr_errc::host_bits_set:
                fail(flag, "a range whose address has no bits set past the prefix", item);
        }
        if (comma == std::string_view::npos) break;
        list = list.substr(comma + 1);
    }
}

upstream_url parse_upstream(std::string_view flag, std::string_view text) {
    constexpr std::string_view expected = "http://HOST:PORT[/PREFIX]";
    constexpr std::string_view scheme = "http://";
    if (text.size() < scheme.size() ||
        !std::equal(scheme.begin(), scheme.end(), text.begin(),
                    [](char a, char b) { return a == (b >= 'A' && b <= 'Z' ? b + 32 : b); })) {
        if (text.find("://") != std::string_view::npos) {
            fail(flag, "an http:// URL (https:// upstreams are not supported)", text);
        }
        fail(flag, expected, text);
    }
    const std::string_view rest = text.substr(scheme.size());
    const auto slash = rest.find('/');
    const std::string_view authority = rest.substr(0, slash);
    std::string_view prefix = slash == std::string_view::npos ? "" : rest.substr(slash);
    if (authority.find('@') != std::string_view::npos) fail(flag, expected, text);
    const auto where = parse_endpoint(authority);
    if (!where || where->port == 0) fail(flag, expected, text);
    // Prepended to request targets as they are: only characters a path may hold unescaped.
    const bool bad = std::any_of(prefix.begin(), prefix.end(), [](char c) {
        const auto u = static_cast<unsigned char>(c);
        return u <= 0x20 || u >= 0x7f || c == '?' || c == '#' || c == '"' || c == '\\' ||
               c == '<' || c == '>' || c == '`' || c == '^' || c == '{' || c == '}' || c == '|';
    });
    if (bad)
        fail(flag, "a path prefix without query, fragment, spaces or control characters", text);
    while (!prefix.empty() && prefix.back() == '/')
        prefix.remove_suffix(1);
    return upstream_url{where->host, where->port, std::string(prefix)};
}

std::uint64_t parse_size(std::string_view flag, std::string_view text) {
    std::string_view digits = text;
    std::uint64_t unit = 1;
    if (!digits.empty() && (digits.back() == 'k' || digits.back() == 'K')) {
        unit = 1024;
        digits.remove_suffix(1);
    } else if (!digits.empty() && (digits.back() == 'm' || digits.back() == 'M')) {
        unit = 1024 * 1024;
        digits.remove_suffix(1);
    }
    const auto n = digits.size() <= 12 ? parse_unsigned<std::uint64_t>(digits) : std::nullopt;
    if (!n) fail(flag, "a size: an integer with k (1024), m (1024*1024) or nothing (bytes)", text);
    if (*n > max_max_body / unit) fail(flag, "a size up to 1024m", text);
    return *n * unit;
}

// What parse_args remembers beyond the config itself.
struct seen_flags {
    bool redis = false;
    // Per --redis-cluster seed: whether it takes --redis's user and password, which may come
    // later on the line.
    std::vector<bool> cluster_seed_bare;
    // The first of --limit, --window, --algorithm, --key, --burst given: what --config replaces.
    std::string_view rule_flag;
    std::optional<std::string> check_config;
};

void apply(std::string_view flag, std::string_view value, config& cfg, seen_flags& seen) {
    if (seen.rule_flag.empty() && (flag == "--limit" || flag == "--window" ||
                                   flag == "--algorithm" || flag == "--key" || flag == "--burst")) {
        seen.rule_flag = flag;
    }
    if (flag == "--listen" || flag == "--admin") {
        const auto parsed = parse_endpoint(value);
        if (!parsed)
            fail(flag, "HOST:PORT (port 0-65535), e.g. 127.0.0.1:8080 or [::1]:8080", value);
        (flag == "--listen" ? cfg.listen : cfg.admin) = *parsed;
    } else if (flag == "--redis") {
        cfg.redis = parse_redis(flag, value);
        cfg.redis_url_text.assign(value);
        seen.redis = true;
    } else if (flag == "--redis-cluster" || flag == "--redis-sentinel") {
        const bool cluster = flag == "--redis-cluster";
        auto seeds =
            parse_seeds(flag, value, cluster ? seed_role::cluster_node : seed_role::sentinel);
        auto& urls = cluster ? cfg.redis_cluster : cfg.redis_sentinels;
        urls.clear();
        if (cluster) seen.cluster_seed_bare.clear();
        for (auto& s : seeds) {
            urls.push_back(std::move(s.url));
            if (cluster) seen.cluster_seed_bare.push_back(s.bare);
        }
        (cluster ? cfg.redis_cluster_text : cfg.redis_sentinel_text).assign(value);
    } else if (flag == "--redis-master") {
        // Sentinel takes the name as one protocol argument; blanks or control characters in it
        // can only be a quoting mistake.
        const bool bad = value.empty() || std::any_of(value.begin(), value.end(), [](char c) {
                             const auto u = static_cast<unsigned char>(c);
                             return u <= 0x20 || u == 0x7f;
                         });
        if (bad) fail(flag, "a master name without blanks or control characters", value);
        cfg.redis_master.assign(value);
    } else if (flag == "--threads") {
        const auto n = value.size() <= 10 ? parse_unsigned<unsigned>(value) : std::nullopt;
        if (!n || *n < 1 || *n > max_threads) {
            fail(flag, "an integer from 1 to " + std::to_string(max_threads), value);
        }
        cfg.threads = *n;
    } else if (flag == "--limit" || flag == "--burst") {
        const auto n = parse_unsigned<std::uint64_t>(value);
        if (!n || *n < 1) fail(flag, "a positive integer", value);
        if (*n > static_cast<std::uint64_t>(max_limit)) {
            fail(flag, "a positive integer up to " + std::to_string(max_limit), value);
        }
        if (flag == "--limit") {
            cfg.limit = static_cast<int>(*n);
        } else {
            cfg.burst = static_cast<int>(*n);
        }
    } else if (flag == "--window") {
        cfg.window = parse_positive_duration(flag, value);
    } else if (flag == "--algorithm") {
        const auto parsed = parse_algorithm(value);
        if (!parsed) fail(flag, "one of: " + std::string(algorithm_names), value);
        cfg.algorithm = *parsed;
    } else if (flag == "--key") {
        auto parsed = key_source::parse(value);
        if (!parsed) fail(flag, "ip or header:NAME (NAME an HTTP header name)", value);
        cfg.key = std::move(*parsed);
    } else if (flag == "--trust-proxy") {
        add_trusted(flag, value, cfg.trusted);
    } else if (flag == "--redis-timeout") {
        cfg.redis_timeout = parse_positive_duration(flag, value);
    } else if (flag == "--redis-poll") {
        const auto parsed = parse_duration(value, zero_duration::allow);
        if (!parsed) fail(flag, describe(parsed.error), value);
        if (parsed.value > max_redis_poll) fail(flag, "a duration from 0 to 10ms", value);
        cfg.redis_poll = parsed.value;
    } else if (flag == "--redis-failure") {
        if (value == "allow") {
            cfg.redis_failure = redis_failure::allow;
        } else if (value == "deny") {
            cfg.redis_failure = redis_failure::deny;
        } else {
            fail(flag, "allow or deny", value);
        }
    } else if (flag == "--key-prefix") {
        const bool bad = std::any_of(value.begin(), value.end(), [](char c) {
            const auto u = static_cast<unsigned char>(c);
            return c == '{' || c == '}' || u < 0x20 || u == 0x7f;
        });
        if (bad) fail(flag, "a prefix without '{', '}' or control characters", value);
        cfg.key_prefix.assign(value);
    } else if (flag == "--deny-status") {
        const auto n = value.size() <= 3 ? parse_unsigned<unsigned>(value) : std::nullopt;
        if (!n || *n < 400 || *n > 599) fail(flag, "an HTTP status from 400 to 599", value);
        cfg.deny_status = *n;
    } else if (flag == "--headers") {
        const auto mode = parse_header_mode(value);
        if (!mode) fail(flag, "both, legacy, ietf or none", value);
        cfg.headers = *mode;
    } else if (flag == "--upstream") {
        cfg.upstream = parse_upstream(flag, value);
    } else if (flag == "--upstream-timeout") {
        cfg.upstream_timeout = parse_positive_duration(flag, value);
    } else if (flag == "--upstream-connect-timeout") {
        cfg.upstream_connect_timeout = parse_positive_duration(flag, value);
    } else if (flag == "--upstream-max-idle") {
        const auto n = value.size() <= 10 ? parse_unsigned<std::size_t>(value) : std::nullopt;
        if (!n || *n > max_upstream_max_idle) {
            fail(flag, "an integer from 0 to " + std::to_string(max_upstream_max_idle), value);
        }
        cfg.upstream_max_idle = *n;
    } else if (flag == "--batch-max") {
        const auto n = value.size() <= 10 ? parse_unsigned<std::size_t>(value) : std::nullopt;
        if (!n || *n < 1 || *n > max_batch_max) {
            fail(flag, "an integer from 1 to " + std::to_string(max_batch_max), value);
        }
        cfg.batch_max = *n;
    } else if (flag == "--batch-in-flight") {
        const auto n = value.size() <= 10 ? parse_unsigned<std::size_t>(value) : std::nullopt;
        if (!n || *n > max_batch_in_flight) {
            fail(flag, "an integer from 0 to " + std::to_string(max_batch_in_flight), value);
        }
        cfg.batch_in_flight = *n;
    } else if (flag == "--blocked-cache-size") {
        const auto n = value.size() <= 10 ? parse_unsigned<std::size_t>(value) : std::nullopt;
        if (!n || *n > max_blocked_cache_size) {
            fail(flag, "an integer from 0 to " + std::to_string(max_blocked_cache_size), value);
        }
        cfg.blocked_cache_size = *n;
    } else if (flag == "--upstream-idle-timeout") {
        cfg.upstream_idle_timeout = parse_positive_duration(flag, value);
    } else if (flag == "--max-body") {
        cfg.max_body = parse_size(flag, value);
    } else if (flag == "--idle-timeout") {
        cfg.idle_timeout = parse_positive_duration(flag, value);
    } else if (flag == "--config" || flag == "--check-config") {
        if (value.empty()) fail(flag, "the path of a rules file", value);
        if (flag == "--config") {
            cfg.rules_file.assign(value);
        } else {
            seen.check_config.emplace(value);
        }
    }
}

constexpr std::string_view flags_with_value[] = {
    "--listen",
    "--admin",
    "--redis",
    "--redis-cluster",
    "--redis-sentinel",
    "--redis-master",
    "--threads",
    "--limit",
    "--window",
    "--algorithm",
    "--key",
    "--trust-proxy",
    "--redis-timeout",
    "--redis-failure",
    "--key-prefix",
    "--redis-poll",
    "--deny-status",
    "--headers",
    "--upstream",
    "--upstream-timeout",
    "--upstream-connect-timeout",
    "--upstream-max-idle",
    "--upstream-idle-timeout",
    "--max-body",
    "--idle-timeout",
    "--config",
    "--burst",
    "--check-config",
    "--batch-max",
    "--batch-in-flight",
    "--blocked-cache-size",
};

constexpr std::string_view flags_without_value[] = {"--forward-auth"};

void apply_switch(std::string_view flag, config& cfg) {
    if (flag == "--forward-auth") cfg.forward_auth = true;
}

unsigned default_threads() noexcept {
    return std::clamp(std::thread::hardware_concurrency(), 1u, max_threads);
}

}  // namespace

std::string redact_seeds(std::string_view list) {
    const auto spans = seed_spans(list);
    std::string out;
    for (std::size_t i = 0; i < spans.size(); ++i) {
        if (i > 0) out.push_back(',');
        out.append(resp::redact_redis_url(spans[i]));
    }
    return out;
}

std::string quote(std::string_view value) {
    std::string out = "\"";
    for (const char c : value) {
        const auto u = static_cast<unsigned char>(c);
        if (c == '"' || c == '\\') {
            out.push_back('\\');
            out.push_back(c);
        } else if (u < 0x20 || u == 0x7f) {
            constexpr std::string_view hex = "0123456789abcdef";
            out.append("\\x");
            out.push_back(hex[u >> 4]);
            out.push_back(hex[u & 0xf]);
        } else {
            out.push_back(c);
        }
    }
    out.push_back('"');
    return out;
}

std::string endpoint::to_string() const {
    const bool v6 = host.find(':') != std::string::npos;
    return (v6 ? "[" + host + "]" : host) + ":" + std::to_string(port);
}

std::string_view to_string(algorithm a) noexcept {
    switch (a) {
        case algorithm::sliding_log:
            return "sliding-log";
        case algorithm::fixed_window:
            return "fixed-window";
        case algorithm::sliding_window:
            return "sliding-window";
        case algorithm::token_bucket:
            return "token-bucket";
        case algorithm::none:
            return "none";
    }
    return "unknown";
}

std::optional<algorithm> parse_algorithm(std::string_view name) noexcept {
    for (const algorithm a :
         {algorithm::sliding_log, algorithm::fixed_window, algorithm::sliding_window,
          algorithm::token_bucket, algorithm::none}) {
        if (name == to_string(a)) return a;
    }
    return std::nullopt;
}

std::string_view to_string(redis_failure f) noexcept {
    return f == redis_failure::deny ? "deny" : "allow";
}

parse_result parse_args(int argc, const char* const* argv, const char* redis_url_env) {
    config cfg;
    cfg.threads = default_threads();
    seen_flags seen;
    bool help = false;
    std::optional<std::string> first_error;

    for (int i = 1; i < argc; ++i) {
        const std::string_view arg = argv[i];
        if (arg == "--help" || arg == "-h") {
            help = true;
            continue;
        }
        try {
            if (!arg.starts_with("--") || arg == "--") {
                throw usage_error("sluice: unexpected argument " + quote(arg) + " (see --help)");
            }
            const auto eq = arg.find('=');
            const std::string_view flag = arg.substr(0, eq);
            if (flag == "--help") throw usage_error("sluice: --help: takes no value");
            if (std::find(std::begin(flags_without_value), std::end(flags_without_value), flag) !=
                std::end(flags_without_value)) {
                if (eq != std::string_view::npos) {
                    throw usage_error("sluice: " + std::string(flag) + ": takes no value");
                }
                apply_switch(flag, cfg);
                continue;
            }
            if (std::find(std::begin(flags_with_value), std::end(flags_with_value), flag) ==
                std::end(flags_with_value)) {
                throw usage_error("sluice: unknown flag " + quote(flag) + " (see --help)");
            }
            std::string_view value;
            if (eq != std::string_view::npos) {
                value = arg.substr(eq + 1);
            } else if (i + 1 < argc) {
                value = argv[++i];
            } else {
                throw usage_error("sluice: " + std::string(flag) + ": missing value");
            }
            apply(flag, value, cfg, seen);
        } catch (const usage_error& e) {
            // Keep going: a --help later on the line still wins.
            if (!first_error) first_error = e.what();
        }
    }

    if (help) return help_requested{};
    if (first_error) throw usage_error(*first_error);

    // Checked once the whole line is read, so that the order of the flags does not matter.
    if (!cfg.rules_file.empty() && !seen.rule_flag.empty()) {
        throw usage_error(
            "sluice: --config: the rules file replaces --limit, --window, --algorithm, --key and "
            "--burst; set " +
            std::string(seen.rule_flag.substr(2)) + " in the file instead of " +
            std::string(seen.rule_flag));
    }
    // A burst the algorithm would ignore is a mistake the user should hear about.
    if (cfg.burst && cfg.algorithm != algorithm::token_bucket) {
        throw usage_error(
            "sluice: --burst: only --algorithm token-bucket has a burst (the "
            "algorithm is " +
            std::string(to_string(cfg.algorithm)) + ")");
    }
    if (!cfg.redis_sentinels.empty() && !cfg.redis_cluster.empty()) {
        throw usage_error(
            "sluice: --redis-sentinel: cannot be combined with --redis-cluster (a cluster's "
            "replicas take over by themselves)");
    }
    if (!cfg.redis_sentinels.empty() && cfg.redis_master.empty()) {
        throw usage_error(
            "sluice: --redis-sentinel: needs --redis-master NAME, the name the Sentinels know "
            "the primary by");
    }
    if (!cfg.redis_master.empty() && cfg.redis_sentinels.empty()) {
        throw usage_error(
            "sluice: --redis-master: needs --redis-sentinel SEEDS, the Sentinels to ask for it");
    }
    if (seen.check_config) return check_config_requested{std::move(*seen.check_config)};

    if (!seen.redis) {
        const std::string_view env = redis_url_env != nullptr ? redis_url_env : "";
        const std::string_view text = env.empty() ? default_redis_url : env;
        cfg.redis = parse_redis("$REDIS_URL", text);
        cfg.redis_url_text.assign(text);
    }
    if (!cfg.redis_cluster.empty()) {
        // Only its credentials are used, so a db there would be silently ignored.
        if (cfg.redis.db != 0) {
            throw usage_error("sluice: --redis-cluster: Redis Cluster has only db 0, but " +
                              std::string(seen.redis ? "--redis" : "$REDIS_URL") + " names db " +
                              std::to_string(cfg.redis.db));
        }
        for (std::size_t i = 0; i < cfg.redis_cluster.size(); ++i) {
            if (!seen.cluster_seed_bare[i]) continue;
            cfg.redis_cluster[i].user = cfg.redis.user;
            cfg.redis_cluster[i].password = cfg.redis.password;
        }
    }
    return cfg;
}

std::string help_text() {
    const std::string cores = std::to_string(default_threads());
    std::string text =
        "Usage: sluice [--FLAG VALUE | --FLAG=VALUE]...\n"
        "\n"
        "A rate-limiting HTTP gateway: every request is keyed by client, counted in Redis and\n"
        "answered 200, or 429 (--deny-status) once the client is over its limit.\n"
        "\n"
        "  --listen HOST:PORT         public listener; port 0 picks a free port\n"
        "                             (default 127.0.0.1:8080)\n"
        "  --admin HOST:PORT          admin listener: /healthz, /readyz, /metrics\n"
        "                             (default 127.0.0.1:9090)\n"
        "  --redis URL                redis://[[user]:password@]host[:port][/db]\n"
        "                             (default $REDIS_URL, else redis://127.0.0.1:6379)\n"
        "  --redis-cluster SEEDS      use a Redis Cluster, found from these of its nodes:\n"
        "                             comma-separated HOST[:PORT] (IPv6 as [::1]:7000),\n"
        "                             which take --redis's user and password, or\n"
        "                             redis:// URLs; at most 64, db 0 only (default none)\n"
        "  --redis-sentinel SEEDS     find the Redis primary through these Sentinels:\n"
        "                             comma-separated HOST[:PORT] (port 26379) or redis://\n"
        "                             URLs; needs --redis-master (default none)\n"
        "  --redis-master NAME        the primary's name in Sentinel; it is reached with\n"
        "                             --redis's user, password and db (default none)\n"
        "  --threads N                shards, one event loop thread each (default: cores, " +
        cores +
        ")\n"
        "  --limit N                  requests allowed per window and client (default 5)\n"
        "  --window DURATION          window length (default 10s)\n"
        "  --algorithm NAME           limiter algorithm: sliding-log, fixed-window,\n"
        "                             sliding-window, token-bucket, or none (no limiter\n"
        "                             call: a baseline) (default sliding-log)\n"
        "  --burst N                  token-bucket capacity (default: --limit)\n"
        "  --key SOURCE               client identity: ip, or header:NAME (requests without\n"
        "                             that header are keyed by ip) (default ip)\n"
        "  --trust-proxy CIDR[,CIDR]  read X-Forwarded-For only from peers in these ranges;\n"
        "                             the client is its rightmost untrusted address; may be\n"
        "                             repeated (default none)\n"
        "  --redis-timeout DURATION   how long a decision may wait for Redis (default 100ms)\n"
        "  --redis-failure allow|deny when Redis cannot decide in time: serve the request, or\n"
        "                             answer 503 (default allow)\n"
        "  --batch-max N              most limiter checks per Redis call: the checks of\n"
        "                             one event-loop turn go in one script call, 1-256;\n"
        "                             1 sends each on its own (default 64)\n"
        "  --batch-in-flight N        most batches of a shard on the wire at once; checks\n"
        "                             made meanwhile join the next batch, 0-1024; 0 is no\n"
        "                             bound (default 1)\n"
        "  --blocked-cache-size N     clients each shard remembers as rejected until a\n"
        "                             known time, answered 429 without Redis until then;\n"
        "                             0 turns the cache off (default 4096)\n"
        "  --redis-poll DURATION      poll for Redis's reply this long before sleeping: CPU\n"
        "                             for latency; 0 never polls (default 50us, at most 10ms)\n"
        "  --key-prefix STR           prefix of every Redis key written (default sluice:)\n"
        "  --forward-auth             answer as the authorization service of another proxy\n"
        "                             (nginx auth_request, Traefik ForwardAuth, Envoy\n"
        "                             ext_authz): 200 with an empty body when allowed\n"
        "                             (default off)\n"
        "  --deny-status CODE         status of every rejection, 400-599; 403 suits nginx\n"
        "                             auth_request (default 429)\n"
        "  --headers both|legacy|ietf|none\n"
        "                             rate-limit fields sent: X-RateLimit-* (legacy),\n"
        "                             RateLimit and RateLimit-Policy (ietf) (default both)\n"
        "  --upstream URL             http://HOST:PORT[/PREFIX]: forward allowed requests\n"
        "                             there and relay the answers (default none: the\n"
        "                             built-in API answers)\n"
        "  --upstream-timeout DURATION\n"
        "                             how long to wait for the upstream's response header\n"
        "                             section; then 504 (default 30s)\n"
        "  --upstream-connect-timeout DURATION\n"
        "                             how long to wait for a new upstream connection; then\n"
        "                             504 (default 2s)\n"
        "  --upstream-max-idle N      idle keep-alive upstream connections kept per shard,\n"
        "                             0-65535; 0 never keeps one (default 64)\n"
        "  --upstream-idle-timeout DURATION\n"
        "                             an idle upstream connection unused this long is\n"
        "                             closed (default 30s)\n"
        "  --max-body SIZE            largest request body; larger is 413 (default 1m)\n"
        "  --idle-timeout DURATION    a client connection idle between requests, a body or\n"
        "                             a response that makes no progress, or a WebSocket\n"
        "                             tunnel without traffic this long is closed\n"
        "                             (default 60s)\n"
        "  --config FILE              YAML rules file; replaces --limit, --window,\n"
        "                             --algorithm, --key and --burst (default none: those\n"
        "                             flags make one rule named default)\n"
        "  --check-config FILE        validate a rules file, print one line per rule and\n"
        "                             exit 0, or print the first error as\n"
        "                             FILE:LINE:COL: message and exit 2\n"
        "  -h, --help                 print this help and exit\n"
        "\n"
        "DURATION is an integer with us, ms, s, m or h; a bare integer means seconds.\n"
        "SIZE is an integer with k (1024) or m (1024*1024); a bare integer means bytes.\n"
        "A bad flag or value exits 2.\n";
    return text;
}

}  // namespace sluice::core
