#include "core/rules.hpp"

#include <algorithm>
#include <array>

#include "core/duration.hpp"

namespace sluice::core {

namespace {

// The methods of RFC 9110 and PATCH (RFC 5789): one bit each. Others are compared by name.
constexpr std::array<std::string_view, 9> known_methods = {
    "GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH"};
constexpr std::uint32_t other_methods = std::uint32_t{1} << 31;

// The bit of a well-known method, other_methods for any other.
std::uint32_t method_bit(std::string_view method) noexcept {
    for (std::size_t i = 0; i < known_methods.size(); ++i) {
        if (method == known_methods[i]) return std::uint32_t{1} << i;
    }
    return other_methods;
}

char lower(char c) noexcept {
    return c >= 'A' && c <= 'Z' ? static_cast<char>(c + 32) : c;
}

// `lowered` is already in lower case.
bool equal_ignoring_case(std::string_view text, std::string_view lowered) noexcept {
    return text.size() == lowered.size() &&
           std::equal(text.begin(), text.end(), lowered.begin(),
                      [](char a, char b) { return lower(a) == b; });
}

[[noreturn]] void invalid(const rule& r, std::string_view what) {
    throw config_error("rule " + quote(r.name) + ": " + std::string(what));
}

void check(const rule& r) {
    if (!valid_rule_name(r.name)) invalid(r, "name: expected [a-z0-9_-]{1,64}");
    const auto in_range = [](std::uint32_t n) {
        return n >= 1 && n <= static_cast<std::uint32_t>(max_limit);
    };
    if (!in_range(r.limit)) invalid(r, "limit: out of range");
    if (!in_range(r.burst)) invalid(r, "burst: out of range");
    if (r.algorithm != algorithm::token_bucket && r.burst != r.limit) {
        invalid(r, "burst: only token-bucket has a burst");
    }
    if (!in_range(r.cost) || r.cost > r.burst) invalid(r, "cost: out of range");
    if (r.window.count() <= 0) invalid(r, "window: not positive");
    const auto& m = r.match;
    if (!m.path.empty() && !m.path_prefix.empty()) invalid(r, "match: both path and path_prefix");
    if ((!m.path.empty() && m.path.front() != '/') ||
        (!m.path_prefix.empty() && m.path_prefix.front() != '/')) {
        invalid(r, "match: a path must start with '/'");
    }
    if (std::any_of(m.host.begin(), m.host.end(), [](char c) { return c >= 'A' && c <= 'Z'; })) {
        invalid(r, "match: host must be in lower case");
    }
    for (auto i = m.methods.begin(); i != m.methods.end(); ++i) {
        if (i->empty() || std::find(m.methods.begin(), i, *i) != i) {
            invalid(r, "match: empty or duplicate method");
        }
    }
}

}  // namespace

bool valid_rule_name(std::string_view name) noexcept {
    return !name.empty() && name.size() <= max_rule_name &&
           std::all_of(name.begin(), name.end(), [](char c) {
               return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
           });
}

bool may_apply_together(const rule_match& a, const rule_match& b) noexcept {
    if (!a.methods.empty() && !b.methods.empty() &&
        std::none_of(a.methods.begin(), a.methods.end(), [&](const std::string& m) {
            return std::find(b.methods.begin(), b.methods.end(), m) != b.methods.end();
        })) {
        return false;
    }
    if (!a.host.empty() && !b.host.empty() && a.host != b.host) return false;
    if (!a.path.empty() && !b.path.empty()) return a.path == b.path;
    if (!a.path.empty() && !b.path_prefix.empty()) return a.path.starts_with(b.path_prefix);
    if (!b.path.empty() && !a.path_prefix.empty()) return b.path.starts_with(a.path_prefix);
    if (!a.path_prefix.empty() && !b.path_prefix.empty()) {
        return a.path_prefix.starts_with(b.path_prefix) || b.path_prefix.starts_with(a.path_prefix);
    }
    return true;
}

std::string describe(const rule& r) {
    std::string out = r.name;
    out.append(": match");
    const auto& m = r.match;
    if (m.any()) out.append(" any");
    if (!m.methods.empty()) {
        out.push_back(' ');
        for (std::size_t i = 0; i < m.methods.size(); ++i) {
            if (i != 0) out.push_back(',');
            out.append(m.methods[i]);
        }
    }
    if (!m.host.empty()) out.append(" host=").append(m.host);
    if (!m.path.empty()) out.append(" ").append(m.path);
    if (!m.path_prefix.empty()) out.append(" prefix=").append(m.path_prefix);
    out.append("; key ").append(r.key.to_string());
    out.append("; ").append(to_string(r.algorithm));
    out.append(" ").append(std::to_string(r.limit)).append("/").append(format_duration(r.window));
    if (r.algorithm == algorithm::token_bucket) {
        out.append("; burst ").append(std::to_string(r.burst));
    }
    if (r.cost != 1) out.append("; cost ").append(std::to_string(r.cost));
    if (r.shadow) out.append("; shadow");
    return out;
}

std::string_view request_path(std::string_view target) noexcept {
    if (!target.starts_with('/')) {
        // Absolute form: skip "scheme://authority". Anything else ("*", authority-form) has no
        // path and is returned whole, so that it matches no rule path.
        const auto scheme = target.find("://");
        if (scheme != std::string_view::npos) {
            const auto slash = target.find_first_of("/?#", scheme + 3);
            if (slash == std::string_view::npos || target[slash] != '/') return "/";
            target.remove_prefix(slash);
        }
    }
    return target.substr(0, target.find_first_of("?#"));
}

std::string_view request_host(std::string_view host) noexcept {
    if (host.starts_with('[')) {
        const auto close = host.find(']');
        return close == std::string_view::npos ? host : host.substr(0, close + 1);
    }
    host = host.substr(0, host.find(':'));
    if (host.ends_with('.')) host.remove_suffix(1);
    return host;
}

rule_set::rule_set(std::vector<rule> rules) : rules_(std::move(rules)) {
    compiled_.reserve(rules_.size());
    for (auto i = rules_.begin(); i != rules_.end(); ++i) {
        check(*i);
        const bool duplicate = std::any_of(
            rules_.begin(), i, [&](const rule& earlier) { return earlier.name == i->name; });
        if (duplicate) invalid(*i, "name: used by an earlier rule");
        compiled c;
        for (const auto& method : i->match.methods)
            c.methods |= method_bit(method);
        compiled_.push_back(c);
    }
}

const rule* rule_set::find(std::string_view name) const noexcept {
    const auto it =
        std::find_if(rules_.begin(), rules_.end(), [&](const rule& r) { return r.name == name; });
    return it == rules_.end() ? nullptr : &*it;
}

void rule_set::match(std::string_view method, std::string_view host, std::string_view target,
                     std::vector<std::uint32_t>& out) const {
    out.clear();
    if (out.capacity() < rules_.size()) out.reserve(rules_.size());
    const std::uint32_t bit = method_bit(method);
    const std::string_view path = request_path(target);
    const std::string_view bare_host = request_host(host);
    for (std::size_t i = 0; i < rules_.size(); ++i) {
        const rule_match& m = rules_[i].match;
        const std::uint32_t methods = compiled_[i].methods;
        if (methods != 0) {
            if ((methods & bit) == 0) continue;
            if (bit == other_methods &&
                std::find(m.methods.begin(), m.methods.end(), method) == m.methods.end()) {
                continue;
            }
        }
        if (!m.path.empty() && path != m.path) continue;
        if (!m.path_prefix.empty() && !path.starts_with(m.path_prefix)) continue;
        if (!m.host.empty() && !equal_ignoring_case(bare_host, m.host)) continue;
        out.push_back(static_cast<std::uint32_t>(i));
    }
}

rule_set rules_from_flags(const config& cfg) {
    rule r;
    r.name = "default";
    r.key = cfg.key;
    r.algorithm = cfg.algorithm;
    r.limit = static_cast<std::uint32_t>(cfg.limit);
    r.window = cfg.window;
    r.burst = static_cast<std::uint32_t>(cfg.burst.value_or(cfg.limit));
    std::vector<rule> rules;
    rules.push_back(std::move(r));
    return rule_set(std::move(rules));
}

}  // namespace sluice::core
