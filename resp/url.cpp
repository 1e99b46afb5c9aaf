#include "resp/url.hpp"

#include <arpa/inet.h>

#include <array>
#include <charconv>
#include <cstring>

#include "resp/error.hpp"

namespace sluice::resp {

namespace {

constexpr std::string_view scheme_separator = "://";

bool iequals(std::string_view a, std::string_view b) noexcept {
    if (a.size() != b.size()) return false;
    for (std::size_t i = 0; i < a.size(); ++i) {
        auto lower = [](char c) { return c >= 'A' && c <= 'Z' ? char(c - 'A' + 'a') : c; };
        if (lower(a[i]) != lower(b[i])) return false;
    }
    return true;
}

int hex_value(char c) noexcept {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

// Decodes %XX escapes. A '%' without two hex digits after it is an error rather than a literal,
// so that "%41" can never mean two different passwords. Control characters and spaces must be
// escaped: they are far more likely a paste accident than part of a credential.
bool percent_decode(std::string_view in, std::string& out) {
    out.clear();
    out.reserve(in.size());
    for (std::size_t i = 0; i < in.size(); ++i) {
        const char c = in[i];
        if (c == '%') {
            if (i + 2 >= in.size()) return false;
            const int hi = hex_value(in[i + 1]);
            const int lo = hex_value(in[i + 2]);
            if (hi < 0 || lo < 0) return false;
            out.push_back(static_cast<char>(hi * 16 + lo));
            i += 2;
        } else if (static_cast<unsigned char>(c) <= 0x20 || c == 0x7f) {
            return false;
        } else {
            out.push_back(c);
        }
    }
    return true;
}

bool is_ipv6_literal(std::string_view s) {
    std::array<char, 64> buf{};
    if (s.empty() || s.size() >= buf.size()) return false;
    std::memcpy(buf.data(), s.data(), s.size());
    unsigned char addr[16];
    return inet_pton(AF_INET6, buf.data(), addr) == 1;
}

// A DNS name or an IPv4 literal. Deliberately narrow: anything else would fail to resolve later
// with a far less helpful message.
bool is_plain_host(std::string_view s) noexcept {
    if (s.empty() || s.size() > 253) return false;
    for (const char c : s) {
        const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                        (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_';
        if (!ok) return false;
    }
    return true;
}

// Digits only: from_chars alone would accept a leading '-' for signed types.
template <typename T>
bool parse_digits(std::string_view s, T& value) noexcept {
    if (s.empty()) return false;
    for (const char c : s) {
        if (c < '0' || c > '9') return false;
    }
    const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), value);
    return ec == std::errc{} && end == s.data() + s.size();
}

}  // namespace

std::error_code parse_redis_url(std::string_view text, redis_url& out) {
    const auto sep = text.find(scheme_separator);
    if (sep == std::string_view::npos || sep == 0) return errc::invalid_url;
    const std::string_view scheme = text.substr(0, sep);
    if (!iequals(scheme, "redis")) return errc::unsupported_scheme;

    std::string_view rest = text.substr(sep + scheme_separator.size());
    if (rest.find_first_of("?#") != std::string_view::npos) return errc::invalid_url;

    redis_url url;

    // The last '@' ends the userinfo: a host can never contain one, so a password with a raw
    // '@' or '/' still parses the only way it can.
    if (const auto at = rest.rfind('@'); at != std::string_view::npos) {
        const std::string_view userinfo = rest.substr(0, at);
        rest = rest.substr(at + 1);
        const auto colon = userinfo.find(':');
        if (colon == std::string_view::npos) return errc::invalid_url;
        if (!percent_decode(userinfo.substr(0, colon), url.user)) return errc::invalid_url;
        if (!percent_decode(userinfo.substr(colon + 1), url.password)) return errc::invalid_url;
    }

    std::string_view hostport = rest;
    std::string_view path;
    if (const auto slash = rest.find('/'); slash != std::string_view::npos) {
        hostport = rest.substr(0, slash);
        path = rest.substr(slash);
    }

    std::string_view host;
    std::string_view port_text;
    bool has_port = false;
    if (!hostport.empty() && hostport.front() == '[') {
        const auto close = hostport.find(']');
        if (close == std::string_view::npos) return errc::invalid_url;
        host = hostport.substr(1, close - 1);
        if (!is_ipv6_literal(host)) return errc::invalid_url;
        const std::string_view after = hostport.substr(close + 1);
        if (!after.empty()) {
            if (after.front() != ':') return errc::invalid_url;
            has_port = true;
            port_text = after.substr(1);
        }
    } else {
        const auto colon = hostport.find(':');
        host = hostport.substr(0, colon);
        if (colon != std::string_view::npos) {
            has_port = true;
            port_text = hostport.substr(colon + 1);
        }
        if (!is_plain_host(host)) return errc::invalid_url;
    }

    if (has_port) {
        unsigned long port = 0;
        if (!parse_digits(port_text, port) || port == 0 || port > 65535) return errc::invalid_url;
        url.port = static_cast<std::uint16_t>(port);
    }

    if (path.size() > 1) {
        if (!parse_digits(path.substr(1), url.db)) return errc::invalid_url;
    }

    url.host.assign(host);
    out = std::move(url);
    return {};
}

std::string redact_redis_url(std::string_view text) {
    const auto sep = text.find(scheme_separator);
    const std::size_t start = sep == std::string_view::npos ? 0 : sep + scheme_separator.size();
    const auto at = text.rfind('@');
    if (at == std::string_view::npos || at < start) return std::string(text);
    const std::string_view userinfo = text.substr(start, at - start);
    const auto colon = userinfo.find(':');
    std::string redacted(text.substr(0, start));
    // Without a ':' the whole userinfo may well be a password ("redis://secret@host").
    if (colon != std::string_view::npos) redacted.append(userinfo.substr(0, colon + 1));
    redacted.append("***");
    redacted.append(text.substr(at));
    return redacted;
}

}  // namespace sluice::resp
