#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string_view>

namespace sluice::http {

// A header field as it appeared on the wire: the name keeps its case, the value has no leading
// or trailing whitespace.
struct header {
    std::string_view name;
    std::string_view value;
};

// More header fields than this answer 431: a fixed array keeps the parser free of allocation, and
// real clients send a dozen or two.
inline constexpr std::size_t max_header_fields = 64;

// ASCII case-insensitive equality, the comparison HTTP uses for field names and many tokens.
constexpr bool iequals(std::string_view a, std::string_view b) noexcept {
    if (a.size() != b.size()) return false;
    for (std::size_t i = 0; i < a.size(); ++i) {
        char x = a[i];
        char y = b[i];
        if (x >= 'A' && x <= 'Z') x = static_cast<char>(x + ('a' - 'A'));
        if (y >= 'A' && y <= 'Z') y = static_cast<char>(y + ('a' - 'A'));
        if (x != y) return false;
    }
    return true;
}

// One parsed request. Every view points into the caller's read buffer and stays valid until the
// caller consumes the request's bytes (or moves the buffer) and parses again.
struct request {
    std::string_view method;
    std::string_view target;
    unsigned version_major = 1;
    unsigned version_minor = 1;
    // Whether the connection may carry another request after this one (HTTP/1.1 without a
    // `close` token in Connection, or HTTP/1.0 with a `keep-alive` one; never with Upgrade).
    bool keep_alive = true;
    // The request has an Upgrade field. It is answered as a plain request, and keep_alive is
    // false: the bytes after it are never parsed as another request.
    bool upgrade = false;
    bool chunked = false;
    // The body follows the head and is read through the server's request_body, piece by piece
    // (a streaming handler); `body` is then empty.
    bool body_pending = false;
    // `Expect: 100-continue` with a body: the client may wait for `100 Continue` before sending it.
    bool expects_continue = false;
    std::optional<std::uint64_t> content_length;
    // Decoded body size: Content-Length, or the sum of the chunk sizes.
    std::uint64_t body_size = 0;
    // The body bytes when it was sent with Content-Length. Empty for a chunked body, whose data is
    // interleaved with chunk framing in the buffer.
    std::string_view body;
    std::array<sluice::http::header, max_header_fields> headers{};
    std::size_t header_count = 0;

    std::span<const sluice::http::header> fields() const noexcept {
        return {headers.data(), header_count};
    }

    // Value of the first field with this name (case-insensitive), or an empty view.
    std::string_view header(std::string_view name) const noexcept {
        for (std::size_t i = 0; i < header_count; ++i) {
            if (iequals(headers[i].name, name)) return headers[i].value;
        }
        return {};
    }

    bool has_header(std::string_view name) const noexcept {
        for (std::size_t i = 0; i < header_count; ++i) {
            if (iequals(headers[i].name, name)) return true;
        }
        return false;
    }
};

}  // namespace sluice::http
