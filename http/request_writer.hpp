#pragma once

// What Sluice writes on the proxy path, per CONTRACT.md "Upstream": the request head sent to the
// upstream, the response head relayed to the client, and the chunk framing of bodies it
// re-frames. Pure functions over views that append to a caller-owned std::string, so a warm
// buffer writes heads without allocating.

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "http/request.hpp"
#include "http/response.hpp"

namespace sluice::http {

// How Sluice frames a body it forwards. The peer's own framing fields are never copied: the
// body is re-framed by us, so what the next hop reads is what we decoded.
enum class body_length : std::uint8_t {
    none,     // no framing field: no body (or, for a response, one delimited by closing)
    known,    // `Content-Length: content_length`
    chunked,  // `Transfer-Encoding: chunked`; write the body with write_chunk()
};

// A request as the proxy forwards it: the received request's parts, where it goes and who sent it.
struct upstream_request {
    std::string_view method;
    // As received: origin-form (`/path?query`) gets the prefix; any other form is kept as is.
    std::string_view target;
    std::span<const header> fields;  // as received, hop-by-hop and framing fields included
    // Path prepended to the target (`--upstream` URL's path); empty or "/" for none.
    std::string_view prefix;
    body_length body = body_length::none;
    std::uint64_t content_length = 0;
    std::string_view peer;      // the client's address as text, no port: `192.0.2.7`, `2001:db8::1`
    bool peer_trusted = false;  // the peer is a --trust-proxy address
};

// The upstream_request of a parsed request: Content-Length when it had one (0 included),
// chunked when it was sent chunked, none otherwise.
upstream_request upstream_request_for(const request& r, std::string_view prefix,
                                      std::string_view peer, bool peer_trusted) noexcept;

// Appends the request head Sluice sends upstream: `METHOD prefix+target HTTP/1.1`, every field
// but the hop-by-hop ones (and Content-Length, rewritten), X-Forwarded-For/-Proto/-Host per the
// contract, the framing of `body`, and the blank line. A WebSocket upgrade (GET with
// `Upgrade: websocket` and `Connection: upgrade`) keeps exactly those two fields. Returns the
// number of bytes appended.
std::size_t write_request_head(std::string& out, const upstream_request& r);

// A response head as the proxy relays it to its client.
struct relayed_response {
    unsigned status = 200;
    std::string_view reason;         // the upstream's; empty is written as reason_phrase(status)
    std::span<const header> fields;  // the upstream's, hop-by-hop and framing fields included
    // Ours, written after them (the rate-limit headers); an upstream field of the same name is
    // not relayed.
    std::span<const header> extra;
    body_length body = body_length::none;
    // With body_length::known; also what a HEAD or 304 response announces.
    std::uint64_t content_length = 0;
    // Ignored for a WebSocket 101, which always says `Connection: upgrade`.
    connection_header connection = connection_header::none;
};

// Appends `HTTP/1.1 status reason`, the upstream's fields less the hop-by-hop and framing ones,
// the extra fields, our framing field, the Connection field and the blank line. A 101 answering
// a WebSocket upgrade keeps `Connection: upgrade` and `Upgrade: websocket`. Returns the bytes
// appended.
std::size_t write_response_head(std::string& out, const relayed_response& r);

// Chunked framing for a body Sluice re-frames. write_chunk_header() and "\r\n" around the data
// let a caller send the data from its own buffer (a gather write); write_chunk() copies it.
// An empty piece writes nothing: a zero-size chunk would end the body.
void write_chunk_header(std::string& out, std::size_t size);
inline constexpr std::string_view chunk_end = "\r\n";
void write_chunk(std::string& out, std::string_view data);
void write_last_chunk(std::string& out);

// `prefix` joined to an origin-form target with exactly one slash between them; the query kept.
void append_target(std::string& out, std::string_view prefix, std::string_view target);

// A field that concerns one connection only (RFC 9110 section 7.6.1): the fixed hop-by-hop list,
// or a name listed by any Connection field among `fields`. Host is never one.
bool is_hop_by_hop(std::string_view name, std::span<const header> fields) noexcept;

// `Upgrade` lists the token `websocket` and `Connection` lists `upgrade`.
bool is_websocket_upgrade(std::span<const header> fields) noexcept;

}  // namespace sluice::http
