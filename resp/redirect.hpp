#pragma once

#include <cstdint>
#include <ostream>
#include <string_view>

namespace sluice::resp {

// What a Redis Cluster error reply asks the client to do.
enum class redirect_kind : std::uint8_t {
    moved,        // the slot lives elsewhere for good: patch the slot map, retry there
    ask,          // one command only, during a migration: ASKING + retry there, keep the map
    tryagain,     // a multi-key command met a slot mid-migration: retry later, same node
    clusterdown,  // the cluster cannot serve now (no quorum, slot unassigned): back off
    other,        // any other error, or a redirection too malformed to follow
};

std::string_view to_string(redirect_kind k) noexcept;
std::ostream& operator<<(std::ostream& os, redirect_kind k);

struct redirect {
    redirect_kind kind = redirect_kind::other;
    // moved and ask only; 0 otherwise.
    std::uint16_t slot = 0;
    // Points into the parsed text. Empty means the node did not know its own address (its
    // endpoint is unknown): connect to the host of the connection that got the error.
    std::string_view host;
    std::uint16_t port = 0;

    friend bool operator==(const redirect&, const redirect&) = default;
};

std::ostream& operator<<(std::ostream& os, const redirect& r);

// Reads an error reply's text, as the parser reports it (without '-'): `MOVED 3999 10.0.0.2:6381`,
// `ASK 3999 10.0.0.2:6381`, `TRYAGAIN ...`, `CLUSTERDOWN ...`. The endpoint is split at its last
// ':', so an IPv6 address needs no brackets (`MOVED 1 ::1:7000`); brackets are accepted too.
// A MOVED or ASK whose slot, port or shape is wrong is `other`: following a half-read redirection
// could send the command to the wrong node, while `other` reaches the caller as the error it is.
// Pure: no allocation, never throws.
redirect parse_redirect(std::string_view error_text) noexcept;

}  // namespace sluice::resp
