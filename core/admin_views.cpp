#include "core/admin_views.hpp"

#include <charconv>
#include <ctime>

namespace sluice::core {

namespace {

void append_number(std::string& out, std::int64_t v) {
    char digits[24];
    const auto [end, ec] = std::to_chars(digits, digits + sizeof digits, v);
    (void)ec;
    out.append(digits, end);
}

void append_field(std::string& out, std::string_view name) {
    append_json_string(out, name);
    out.push_back(':');
}

// RFC 3339 in UTC with milliseconds: what a human and a log pipeline both read.
void append_timestamp(std::string& out, std::int64_t unix_ms) {
    const std::time_t seconds = static_cast<std::time_t>(unix_ms / 1000);
    std::tm tm{};
    gmtime_r(&seconds, &tm);
    char text[40];
    const std::size_t n = std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%S", &tm);
    out.push_back('"');
    out.append(text, n);
    char millis[8];
    const int ms = static_cast<int>(unix_ms % 1000);
    millis[0] = '.';
    millis[1] = static_cast<char>('0' + ms / 100);
    millis[2] = static_cast<char>('0' + ms / 10 % 10);
    millis[3] = static_cast<char>('0' + ms % 10);
    out.append(millis, 4);
    out.append("Z\"");
}

int hex_value(char c) noexcept {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

void append_rule(std::string& out, const rule& r) {
    out.push_back('{');
    append_field(out, "name");
    append_json_string(out, r.name);
    out.push_back(',');
    append_field(out, "match");
    out.push_back('{');
    bool first = true;
    auto part = [&](std::string_view name) {
        if (!first) out.push_back(',');
        first = false;
        append_field(out, name);
    };
    if (!r.match.methods.empty()) {
        part("methods");
        out.push_back('[');
        for (std::size_t i = 0; i < r.match.methods.size(); ++i) {
            if (i != 0) out.push_back(',');
            append_json_string(out, r.match.methods[i]);
        }
        out.push_back(']');
    }
    if (!r.match.path.empty()) {
        part("path");
        append_json_string(out, r.match.path);
    }
    if (!r.match.path_prefix.empty()) {
        part("path_prefix");
        append_json_string(out, r.match.path_prefix);
    }
    if (!r.match.host.empty()) {
        part("host");
        append_json_string(out, r.match.host);
    }
    out.append("},");
    append_field(out, "key");
    append_json_string(out, r.key.to_string());
    out.push_back(',');
    append_field(out, "algorithm");
    append_json_string(out, to_string(r.algorithm));
    out.push_back(',');
    append_field(out, "limit");
    append_number(out, r.limit);
    out.push_back(',');
    append_field(out, "window_ms");
    append_number(out, r.window.count());
    out.push_back(',');
    append_field(out, "burst");
    append_number(out, r.burst);
    out.push_back(',');
    append_field(out, "cost");
    append_number(out, r.cost);
    out.push_back(',');
    append_field(out, "shadow");
    out.append(r.shadow ? "true" : "false");
    out.push_back('}');
}

}  // namespace

void append_json_string(std::string& out, std::string_view s) {
    static constexpr char hex[] = "0123456789abcdef";
    out.push_back('"');
    for (const char ch : s) {
        const auto c = static_cast<unsigned char>(ch);
        if (c == '"' || c == '\\') {
            out.push_back('\\');
            out.push_back(ch);
        } else if (c < 0x20 || c == 0x7f) {
            out.append("\\u00");
            out.push_back(hex[c >> 4]);
            out.push_back(hex[c & 0xf]);
        } else {
            out.push_back(ch);
        }
    }
    out.push_back('"');
}

void append_config_json(std::string& out, const rule_set& rules, std::uint64_t generation,
                        std::int64_t loaded_at_unix_ms, std::string_view source) {
    out.push_back('{');
    append_field(out, "generation");
    append_number(out, static_cast<std::int64_t>(generation));
    out.push_back(',');
    append_field(out, "loaded_at");
    append_timestamp(out, loaded_at_unix_ms);
    out.push_back(',');
    append_field(out, "source");
    append_json_string(out, source);
    out.push_back(',');
    append_field(out, "rules");
    out.push_back('[');
    for (std::size_t i = 0; i < rules.size(); ++i) {
        if (i != 0) out.push_back(',');
        append_rule(out, rules.rules()[i]);
    }
    out.append("]}");
}

void append_quota_json(std::string& out, std::string_view rule, std::string_view key,
                       std::int64_t limit, std::int64_t remaining, std::int64_t reset_ms) {
    out.push_back('{');
    append_field(out, "rule");
    append_json_string(out, rule);
    out.push_back(',');
    append_field(out, "key");
    append_json_string(out, key);
    out.push_back(',');
    append_field(out, "limit");
    append_number(out, limit);
    out.push_back(',');
    append_field(out, "remaining");
    append_number(out, remaining);
    out.push_back(',');
    append_field(out, "reset_ms");
    append_number(out, reset_ms);
    out.push_back('}');
}

bool query_param(std::string_view query, std::string_view name, std::string& out) {
    while (!query.empty()) {
        const std::size_t amp = query.find('&');
        const std::string_view pair = query.substr(0, amp);
        query = amp == std::string_view::npos ? std::string_view{} : query.substr(amp + 1);
        const std::size_t eq = pair.find('=');
        if (pair.substr(0, eq) != name) continue;
        const std::string_view value =
            eq == std::string_view::npos ? std::string_view{} : pair.substr(eq + 1);
        out.clear();
        for (std::size_t i = 0; i < value.size(); ++i) {
            if (value[i] == '+') {
                out.push_back(' ');
            } else if (value[i] != '%') {
                out.push_back(value[i]);
            } else {
                if (i + 2 >= value.size()) return false;
                const int hi = hex_value(value[i + 1]);
                const int lo = hex_value(value[i + 2]);
                if (hi < 0 || lo < 0) return false;
                out.push_back(static_cast<char>(hi * 16 + lo));
                i += 2;
            }
        }
        return true;
    }
    return false;
}

}  // namespace sluice::core
