// parse_redis_url and redact_redis_url on text as an operator writes it (--redis, REDIS_URL).
//
// Checked:
// - a failure is invalid_url or unsupported_scheme and leaves the output untouched; a success
//   has a scheme "redis" in any case, a host, a port in 1-65535 and db >= 0;
// - round trip: the parsed URL written out again (everything but unreserved characters
//   percent-encoded, IPv6 in brackets) parses to the same URL;
// - redaction touches the password only: the redacted text of a URL that parsed with a userinfo
//   parses to the same host, port, user and db with the password "***"; without a userinfo the
//   text comes back as it was;
// - redaction does not depend on the password: with the hidden span replaced by other text the
//   redacted text is the same, so it cannot leak any of it. In particular a decoded password of
//   three bytes or more (and no '*', which "***" itself could supply) is absent from the redacted
//   text unless it occurs in what was not hidden.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <system_error>

#include "resp/error.hpp"
#include "resp/url.hpp"
#include "tests/fuzz/check.hpp"

namespace {

using sluice::resp::errc;
using sluice::resp::redis_url;

std::string percent_encode(std::string_view s) {
    std::string out;
    for (const char ch : s) {
        const auto c = static_cast<unsigned char>(ch);
        const bool unreserved = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                                (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_' ||
                                c == '~';
        if (unreserved) {
            out += ch;
        } else {
            constexpr std::string_view hex = "0123456789ABCDEF";
            out += '%';
            out += hex[c >> 4];
            out += hex[c & 0xf];
        }
    }
    return out;
}

std::string format(const redis_url& url) {
    std::string out = "redis://";
    if (!url.user.empty() || !url.password.empty()) {
        out += percent_encode(url.user) + ":" + percent_encode(url.password) + "@";
    }
    out += url.host.find(':') == std::string::npos ? url.host : "[" + url.host + "]";
    out += ":" + std::to_string(url.port) + "/" + std::to_string(url.db);
    return out;
}

bool iequals(std::string_view a, std::string_view b) {
    if (a.size() != b.size()) return false;
    for (std::size_t i = 0; i < a.size(); ++i) {
        const auto lower = [](char c) { return c >= 'A' && c <= 'Z' ? char(c - 'A' + 'a') : c; };
        if (lower(a[i]) != lower(b[i])) return false;
    }
    return true;
}

// Where redaction hides text: between the userinfo's first ':' (or its start) and the last '@',
// as the URL grammar places the password; `found` is false when there is no userinfo.
struct hidden_span {
    bool found = false;
    std::size_t begin = 0;
    std::size_t end = 0;
};

hidden_span password_span(std::string_view text) {
    const auto sep = text.find("://");
    const std::size_t start = sep == std::string_view::npos ? 0 : sep + 3;
    const auto at = text.rfind('@');
    if (at == std::string_view::npos || at < start) return {};
    const auto colon = text.substr(start, at - start).find(':');
    return {true, colon == std::string_view::npos ? start : start + colon + 1, at};
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view text{reinterpret_cast<const char*>(data), size};

    const redis_url untouched{"untouched", 1, "u", "p", 7};
    redis_url url = untouched;
    const std::error_code ec = sluice::resp::parse_redis_url(text, url);
    const std::string redacted = sluice::resp::redact_redis_url(text);
    const hidden_span span = password_span(text);

    // Whatever the text, replacing what redaction hides changes nothing in its output.
    if (span.found) {
        std::string other{text};
        other.replace(span.begin, span.end - span.begin, "x");
        SLUICE_FUZZ_CHECK(sluice::resp::redact_redis_url(other) == redacted);
    }

    if (ec) {
        SLUICE_FUZZ_CHECK(ec == errc::invalid_url || ec == errc::unsupported_scheme);
        SLUICE_FUZZ_CHECK(url == untouched);
        return 0;
    }

    const auto sep = text.find("://");
    SLUICE_FUZZ_CHECK(sep != std::string_view::npos && iequals(text.substr(0, sep), "redis"));
    SLUICE_FUZZ_CHECK(!url.host.empty());
    SLUICE_FUZZ_CHECK(url.port != 0);
    SLUICE_FUZZ_CHECK(url.db >= 0);

    const std::string written = format(url);
    redis_url again;
    SLUICE_FUZZ_CHECK(!sluice::resp::parse_redis_url(written, again));
    SLUICE_FUZZ_CHECK(again == url);

    if (!span.found) {
        SLUICE_FUZZ_CHECK(url.user.empty() && url.password.empty());
        SLUICE_FUZZ_CHECK(redacted == text);
        return 0;
    }
    redis_url shown;
    SLUICE_FUZZ_CHECK(!sluice::resp::parse_redis_url(redacted, shown));
    redis_url want = url;
    want.password = "***";
    SLUICE_FUZZ_CHECK(shown == want);

    const std::string_view before = text.substr(0, span.begin);
    const std::string_view after = text.substr(span.end);
    SLUICE_FUZZ_CHECK(redacted == std::string(before) + "***" + std::string(after));
    if (url.password.size() >= 3 && url.password.find('*') == std::string::npos &&
        before.find(url.password) == std::string_view::npos &&
        after.find(url.password) == std::string_view::npos) {
        SLUICE_FUZZ_CHECK(redacted.find(url.password) == std::string::npos);
    }
    return 0;
}
