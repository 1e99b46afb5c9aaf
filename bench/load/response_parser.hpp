#pragma once

#include <llhttp.h>

#include <cstddef>
#include <cstdint>

namespace sluice::load {

// Reads HTTP/1.1 responses, one at a time, with llhttp: the status code, the framing of the body
// (Content-Length, chunked, or up to the end of the connection) and whether the connection stays
// open. The body is skipped, never stored. Pure: bytes in, state out, no I/O.
//
// The parser stops right after a response ends, so bytes that follow it are never mistaken for
// the answer to the next request; with one request in flight such bytes mean the server is out
// of step, and the caller closes the connection.
class response_parser {
  public:
    enum class state { incomplete, complete, failed };

    struct feed_result {
        load::response_parser::state state;
        std::size_t consumed;  // bytes that belonged to the response (all of them if incomplete)
    };

    // A header section larger than this is treated as garbage rather than read forever.
    static constexpr std::size_t max_header_bytes = 64 * 1024;

    response_parser();
    // llhttp keeps a pointer back to this object.
    response_parser(const response_parser&) = delete;
    response_parser& operator=(const response_parser&) = delete;

    // Starts over, for a new connection.
    void reset() noexcept;
    // Gets ready for the next response on the same connection, after `complete`.
    void next() noexcept;

    feed_result feed(const char* data, std::size_t size) noexcept;
    // The server closed its side: completes a response whose body runs to the end of the
    // connection; anything else unfinished has failed.
    state finish() noexcept;

    state current() const noexcept { return state_; }
    int status() const noexcept { return status_; }
    bool keep_alive() const noexcept { return keep_alive_; }
    // Whether the header section (not a trailer) had an X-RateLimit-Remaining field: the mark of
    // an answer the limiter decided. Matched while the name streams by, so nothing is stored.
    bool has_ratelimit_remaining() const noexcept { return has_remaining_; }
    // Why parsing failed, for diagnostics.
    const char* error() const noexcept { return error_; }

  private:
    static int on_header_bytes(llhttp_t* p, const char* at, std::size_t n);
    static int on_header_field(llhttp_t* p, const char* at, std::size_t n);
    static int on_header_field_complete(llhttp_t* p);
    static int on_headers_complete(llhttp_t* p);
    static int on_message_complete(llhttp_t* p);

    llhttp_t parser_;
    state state_ = state::incomplete;
    int status_ = 0;
    bool keep_alive_ = false;
    bool paused_ = false;
    std::size_t header_bytes_ = 0;
    // How much of the current field name matched "x-ratelimit-remaining", or no_match.
    std::size_t name_matched_ = 0;
    bool in_headers_ = true;
    bool has_remaining_ = false;
    const char* error_ = "";
};

}  // namespace sluice::load
