#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <system_error>

namespace sluice::resp {

// Where and as whom to connect: the parts of `redis://[[user]:password@]host[:port][/db]`.
struct redis_url {
    std::string host;  // a name or an IP literal; IPv6 without its brackets ("::1")
    std::uint16_t port = 6379;
    std::string user;      // percent-decoded; empty: the default user
    std::string password;  // percent-decoded; empty: no AUTH
    int db = 0;            // SELECT index

    friend bool operator==(const redis_url&, const redis_url&) = default;
};

// Parses a Redis URL. On success fills `out` and returns an empty error_code; otherwise returns
// errc::unsupported_scheme (rediss:// and every other scheme: TLS is not supported yet) or
// errc::invalid_url, and leaves `out` untouched.
//
// Accepted: the scheme in any case; user and password percent-encoded (RFC 3986), split at the
// first ':'; an IPv6 host in brackets; port 1-65535 (6379 when absent); an optional path "/" or
// "/<db>" with db a non-negative integer. Rejected as invalid_url: a userinfo without ':' (a bare
// "user@" cannot authenticate and "password@" would be read as a user name by other clients),
// query strings and fragments (no option is defined for them), and anything malformed.
std::error_code parse_redis_url(std::string_view text, redis_url& out);

// The URL with its password replaced by "***", for messages and logs. Works on malformed text
// too (best effort), since that is exactly what error messages echo back.
std::string redact_redis_url(std::string_view text);

}  // namespace sluice::resp
