#pragma once

#include <llhttp.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

#include "http/header_rules.hpp"
#include "http/request.hpp"

namespace sluice::http {

// Upstreams send more fields than clients (cookies, caching, tracing); above this a response is
// refused rather than the array grown.
inline constexpr std::size_t max_response_fields = 128;

struct response_parser_limits {
    // Status line, header fields and the blank line; the trailer section has the same bound.
    std::size_t max_header_bytes = 64 * 1024;
    // At most max_response_fields.
    std::size_t max_fields = max_response_fields;
};

// How the body of a response is delimited, decided from its head and the request's method.
enum class body_framing : std::uint8_t {
    none,            // HEAD response, 1xx, 204, 304: the message ends with its head
    content_length,  // exactly content_length bytes
    chunked,         // chunked transfer coding, delivered de-chunked
    until_close,     // neither field: the body runs until the upstream closes (call eof())
    switched,        // 101 Switching Protocols: the bytes after the head are another protocol
};

// The head of a response. Its views point into the buffer given to the parse() call that returned
// it, and stay valid while the caller keeps those bytes (the `consumed` of that step included) in
// place; the next parse() call may overwrite them.
struct response_head {
    unsigned status = 0;
    std::string_view reason;
    unsigned version_major = 1;
    unsigned version_minor = 1;
    // Whether the connection may carry another exchange after this one (RFC 9112 section 9.3):
    // HTTP/1.1 unless `Connection: close`, HTTP/1.0 only with `Connection: keep-alive`; never
    // for a close-delimited body or a 101.
    bool keep_alive = false;
    body_framing framing = body_framing::none;
    // The Content-Length field's value when there is one, even when the framing is `none` (the
    // length a HEAD or a 304 announces for the representation).
    std::uint64_t content_length = 0;
    bool has_content_length = false;
    std::array<sluice::http::header, max_response_fields> headers{};
    std::size_t header_count = 0;

    // 1xx other than 101: a final response follows on the same exchange.
    bool interim() const noexcept { return status >= 100 && status < 200 && status != 101; }

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
};

enum class response_event : std::uint8_t {
    need_more,  // drop `consumed` bytes (possibly none), read more, call parse() again
    head,       // head() is a response head; drop `consumed` bytes (the head) afterwards
    body,       // `body` is the next piece of the decoded body; drop `consumed` afterwards
    done,       // the response is complete; drop `consumed`; the next parse() starts the next one
    error,      // malformed or ambiguous: never relay it, close the connection
};

struct response_step {
    response_event event = response_event::need_more;
    std::size_t consumed = 0;
    std::string_view body;    // with response_event::body: a view into the buffer
    std::string_view reason;  // with response_event::error: short static text for logs and tests
};

// Sans-IO HTTP/1.1 response parser over llhttp, for the gateway's upstream connections.
//
// Pull API: parse() takes the unconsumed bytes the upstream sent and returns one step: the head,
// then each piece of the body as a view into the caller's buffer, then done. After each step the
// caller drops `consumed` bytes from the front of its buffer. The head is parsed once the whole
// header section is in the buffer (so that fields are contiguous views, as in request_parser);
// the body is never held: each body step returns the body bytes that are in the buffer, so a body
// of any size passes through a fixed read buffer. Chunked bodies are de-chunked; chunk extensions
// are ignored; the trailer section is held to the header-section line rules and then dropped.
//
// A head with framing `none` or `switched` is followed by a done step consuming nothing. An
// interim 1xx head is followed by the next response's head. After a 101 the parser is finished:
// the bytes from the head step's `consumed` on belong to the new protocol.
//
// Refused (error step), besides what llhttp itself refuses in strict mode: a status line other
// than `HTTP/1.0|1.1 SP 3DIGIT SP reason` with a code in 100..599 (the reason may be empty), an
// empty line or any byte before it, obs-fold, bare CR or LF, whitespace before a colon, a
// non-token field name, control characters in a value, Content-Length twice or not only digits
// or beyond 64 bits, Content-Length with Transfer-Encoding, Transfer-Encoding twice or other
// than exactly `chunked` (a `gzip, chunked` body could not be relayed once the hop-by-hop field is
// removed) or in HTTP/1.0, Content-Length other than 0 or any Transfer-Encoding on a 1xx or 204
// (which have no body, so a peer could read the bytes as one), a header section over
// max_header_bytes or with more than max_fields fields, and the same line rules in trailers.
//
// No allocation: field positions are offsets in a fixed array, turned into views for the head.
class response_parser {
  public:
    explicit response_parser(const response_parser_limits& limits = {}) noexcept;
    response_parser(const response_parser&) = delete;
    response_parser& operator=(const response_parser&) = delete;

    // Tells the parser the method of the request whose response comes next: a response to HEAD
    // has no body whatever its head says. Call it before the first byte of each exchange; without
    // a call the method is taken to be one that allows a body.
    void expect_response_to(std::string_view method) noexcept;

    response_step parse(std::string_view buf) noexcept;

    // The upstream closed the connection. Completes a close-delimited body (a done step); any
    // other response in progress, or none begun, is an error step.
    response_step eof() noexcept;

    // The head of the last head step; see response_head for how long its views live.
    const response_head& head() const noexcept { return head_; }

    // True once the current response's header section has been parsed.
    bool head_complete() const noexcept { return phase_ != phase::head && phase_ != phase::failed; }
    // True after a done step, until the next parse() begins another response.
    bool message_complete() const noexcept { return phase_ == phase::done; }

    const response_parser_limits& limits() const noexcept { return limits_; }

    // Forgets everything, including an error and the expected method: ready for a new connection.
    void reset() noexcept;

  private:
    enum class phase : std::uint8_t { head, body, trailers, no_body, done, switched, failed };
    using span = rules::span;

    static int on_status(llhttp_t* p, const char* at, std::size_t n);
    static int on_header_field(llhttp_t* p, const char* at, std::size_t n);
    static int on_header_value(llhttp_t* p, const char* at, std::size_t n);
    static int on_header_value_complete(llhttp_t* p);
    static int on_headers_complete(llhttp_t* p);
    static int on_body(llhttp_t* p, const char* at, std::size_t n);
    static int on_chunk_header(llhttp_t* p);
    static int on_message_complete(llhttp_t* p);
    static const llhttp_settings_t& settings() noexcept;

    void begin_response() noexcept;
    response_step parse_head(std::string_view buf) noexcept;
    response_step parse_body(std::string_view buf) noexcept;
    response_step parse_trailers(std::string_view buf, std::size_t from) noexcept;
    int check_head() noexcept;
    void build_head(std::string_view buf) noexcept;
    response_step fail(std::string_view reason) noexcept;
    int fail_in_callback(std::string_view reason) noexcept;
    response_step llhttp_failure(llhttp_errno_t err) noexcept;

    response_parser_limits limits_;
    llhttp_t llhttp_{};
    response_head head_{};
    rules::header_scanner scanner_{rules::header_scanner::start_line::status};

    phase phase_ = phase::head;
    bool head_request_ = false;
    bool at_last_chunk_ = false;       // on_chunk_header paused llhttp at the last chunk
    bool message_end_ = false;         // on_message_complete paused llhttp
    std::size_t trailer_scanned_ = 0;  // bytes of the trailer section already searched
    body_framing framing_ = body_framing::none;
    const char* base_ = nullptr;  // start of the buffer given to the running llhttp_execute
    std::string_view piece_;      // body bytes reported by on_body during one execute

    span reason_{};
    rules::field_spans<max_response_fields> fields_;

    std::string_view error_reason_;
};

}  // namespace sluice::http
