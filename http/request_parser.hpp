#pragma once

#include <llhttp.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "http/header_rules.hpp"
#include "http/request.hpp"

namespace sluice::http {

struct parser_limits {
    // Request line, header fields and the blank line that ends them; longer answers 431.
    std::size_t max_header_bytes = 8 * 1024;
    // Decoded body; larger answers 413, decided from Content-Length or from the chunk sizes.
    std::uint64_t max_body_bytes = 1024 * 1024;
    // Room for chunk-size lines, chunk extensions and trailers on top of the body. A chunked
    // message whose framing needs more answers 413 too: the parser holds whole messages in the
    // caller's buffer, so the message as sent has to be bounded, not only its decoded body.
    std::size_t max_framing_bytes = 64 * 1024;
    // An HTTP/1.1 request without Host answers 400 (RFC 9112 section 3.2). Only the replay of
    // llhttp's test corpus turns this off: it compares framing, and its requests mostly omit Host.
    bool require_host = true;
    // A request with a body is returned as a `head` once its header section is checked, and its
    // body is then read piece by piece with parse_body(): for a proxy, which forwards a body of
    // any size through a fixed buffer. Off, the whole message is held in the caller's buffer.
    bool stream_bodies = false;
};

enum class parse_status : std::uint8_t {
    need_more,  // read more bytes and call parse again with the same prefix plus the new bytes
    ready,      // current() is a complete request; drop `consumed` bytes before the next call
    error,      // answer http_status and close the connection; later calls repeat the error
    // With stream_bodies: current() is the request's head, its body follows; keep the `consumed`
    // bytes (the views point into them) and read the body with parse_body() on what follows.
    head,
};

struct parse_result {
    parse_status status = parse_status::need_more;
    std::size_t consumed = 0;
    unsigned http_status = 0;  // 400, 413 or 431 with parse_status::error
    std::string_view reason;   // short static text for logs and tests
};

enum class body_event : std::uint8_t {
    need_more,  // drop `consumed` bytes (framing), read more, call parse_body() again
    data,       // `data` is the next piece of the decoded body; drop `consumed` after using it
    done,       // the body is complete; drop `consumed`; the next parse() starts the next request
    error,      // answer http_status and close the connection
};

struct body_step {
    body_event event = body_event::need_more;
    std::size_t consumed = 0;
    std::string_view data;  // with body_event::data: a view into the buffer given
    unsigned http_status = 0;
    std::string_view reason;
};

// Sans-IO HTTP/1.1 request parser over llhttp, one request at a time.
//
// parse() takes the unconsumed bytes that start at the current request. It waits until the whole
// header section is present and feeds it to llhttp in one call, so that every name, value, method
// and target arrives as one contiguous span: the request's views point into the caller's buffer
// and nothing is copied. The body is then fed as it arrives, and `ready` is returned only once the
// whole message (body included, Content-Length or chunked) is in the buffer, so pipelined requests
// that follow stay untouched for the next call.
//
// On top of llhttp (built in strict mode, see http/CMakeLists.txt) the parser scans the header
// section itself and rejects what a front proxy could read differently, the usual request
// smuggling vectors: obs-fold, a CR not followed by LF, a bare LF, whitespace between a field name
// and its colon, characters outside tchar in a field name, control characters in a value, a
// request line that is not exactly `method SP target SP HTTP/d.d`, Content-Length together with
// Transfer-Encoding, Content-Length given twice (even with equal values: llhttp refuses it, and
// there is no reason to accept what no sane client sends), a Content-Length that is not only
// digits, a Transfer-Encoding other than exactly `chunked`, and a second Host field. The trailer
// section of a chunked body is held to the same line rules (no bare LF, obs-fold or bare CR; a
// token before each colon); its fields are otherwise ignored.
//
// Connection is read as a token list (RFC 9110 section 7.6.1): `close` anywhere in it, with any
// case and whitespace, ends the connection after the request. A request with an Upgrade field is
// answered as a plain request and ends the connection too, so that nothing after it is parsed as
// a request. An HTTP/1.1 request without Host answers 400 (RFC 9112 section 3.2).
// Deliberately accepted: empty lines before the request line (RFC 9112 section 2.2). Rejected
// with 400 besides malformed input: CONNECT, HTTP versions other than 1.0 and 1.1, and the HTTP/2
// preface. Known llhttp 8.1 limit: a chunk extension with a value followed by another extension
// (`5;a=b;c`) is refused by llhttp and answers 400. tests/http/llhttp_corpus_test.cpp lists every
// case of llhttp's own test corpus where this parser is stricter than llhttp 9.4.
//
// No allocation: spans are kept as offsets in fixed arrays and turned into views when a request
// is ready, which also lets the caller's buffer move or grow while a body is still arriving.
class request_parser {
  public:
    explicit request_parser(const parser_limits& limits = {}) noexcept;
    request_parser(const request_parser&) = delete;
    request_parser& operator=(const request_parser&) = delete;

    parse_result parse(std::string_view buf) noexcept;

    // After a `head` result: the next step of the body, from `buf`, the unconsumed bytes after
    // the head and after every step's `consumed`. Chunked bodies come de-chunked; the trailer
    // section is held until complete, checked like the header section and dropped.
    body_step parse_body(std::string_view buf) noexcept;

    // After a `head` result: `buf` now holds the bytes the head step returned at another address
    // (the caller moved or grew its buffer); current()'s views are rebuilt over it.
    void rebind(std::string_view buf) noexcept { build_request(buf); }

    // The request of the last `ready` result; valid until the next parse() or reset().
    const request& current() const noexcept { return request_; }

    // True once the current request's header section has been parsed (its body may be pending).
    bool headers_complete() const noexcept { return phase_ == phase::body; }

    // The current request's headers are parsed, it asked for `Expect: 100-continue` and its body
    // has not fully arrived: the connection should send `100 Continue` once.
    bool expects_continue() const noexcept { return phase_ == phase::body && expect_continue_; }

    // The most bytes one message may take in the caller's buffer before the parser answers 413
    // (431 for its header section); a read buffer of this size never needs to grow further.
    std::size_t max_message_bytes() const noexcept {
        return limits_.max_header_bytes + static_cast<std::size_t>(limits_.max_body_bytes) +
               limits_.max_framing_bytes;
    }

    const parser_limits& limits() const noexcept { return limits_; }

    // Forgets everything, including a previous error: ready for a new connection.
    void reset() noexcept;

  private:
    // body: the header section is parsed and the rest of a held message is awaited; streaming:
    // a head was returned and parse_body() reads the body; trailers: parse_body() holds them.
    enum class phase : std::uint8_t { headers, body, streaming, trailers, done, failed };
    using span = rules::span;

    static int on_method(llhttp_t* p, const char* at, std::size_t n);
    static int on_url(llhttp_t* p, const char* at, std::size_t n);
    static int on_header_field(llhttp_t* p, const char* at, std::size_t n);
    static int on_header_value(llhttp_t* p, const char* at, std::size_t n);
    static int on_header_value_complete(llhttp_t* p);
    static int on_headers_complete(llhttp_t* p);
    static int on_body(llhttp_t* p, const char* at, std::size_t n);
    static int on_chunk_header(llhttp_t* p);
    static int on_message_complete(llhttp_t* p);
    static const llhttp_settings_t& settings() noexcept;

    void begin_request() noexcept;
    // Scans the header section up to its blank line; returns false on an error (already recorded).
    bool scan_headers(std::string_view buf) noexcept;
    int check_headers() noexcept;
    std::string_view view(std::string_view buf, span s) const noexcept {
        return buf.substr(s.offset, s.length);
    }
    parse_result fail(unsigned http_status, std::string_view reason) noexcept;
    body_step fail_body(unsigned http_status, std::string_view reason) noexcept;
    body_step body_failure(llhttp_errno_t err) noexcept;
    body_step parse_trailers(std::string_view buf, std::size_t from) noexcept;
    int fail_in_callback(unsigned http_status, std::string_view reason) noexcept;
    void build_request(std::string_view buf) noexcept;

    parser_limits limits_;
    llhttp_t llhttp_{};
    request request_{};

    phase phase_ = phase::headers;
    rules::header_scanner scanner_{rules::header_scanner::start_line::request};
    bool expect_continue_ = false;
    bool keep_alive_ = false;          // as the header section asks
    bool at_last_chunk_ = false;       // on_chunk_header paused llhttp at the last chunk
    std::size_t trailer_start_ = 0;    // offset of a chunked message's trailer section
    std::size_t fed_ = 0;              // bytes of the message already given to llhttp
    std::size_t trailer_scanned_ = 0;  // streaming: trailer bytes already searched
    std::string_view piece_;           // streaming: body bytes on_body reported in one execute
    const char* base_ = nullptr;       // start of the buffer given to the running llhttp_execute

    span method_{};
    span target_{};
    rules::field_spans<max_header_fields> fields_;
    std::uint64_t body_size_ = 0;

    unsigned error_status_ = 0;
    std::string_view error_reason_;
};

}  // namespace sluice::http
