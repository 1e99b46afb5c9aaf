#include "http/request_parser.hpp"

#include <algorithm>

#include "http/header_rules.hpp"

namespace sluice::http {

namespace {

// What a Connection field value says, read as RFC 9110 section 7.6.1 defines it: a list of
// case-insensitive tokens separated by commas, each with optional whitespace around it, empty
// members allowed. llhttp 8.1's own reading missed `close` followed by a tab, and the bytes after
// such a request were read as another request where an upstream would have closed.
struct connection_tokens {
    bool close = false;
    bool keep_alive = false;
};

void read_connection_tokens(std::string_view value, connection_tokens& t) noexcept {
    while (!value.empty()) {
        const std::size_t comma = value.find(',');
        std::string_view token = value.substr(0, comma);
        value = comma == std::string_view::npos ? std::string_view{} : value.substr(comma + 1);
        while (!token.empty() && (token.front() == ' ' || token.front() == '\t'))
            token.remove_prefix(1);
        while (!token.empty() && (token.back() == ' ' || token.back() == '\t'))
            token.remove_suffix(1);
        if (iequals(token, "close")) {
            t.close = true;
        } else if (iequals(token, "keep-alive")) {
            t.keep_alive = true;
        }
    }
}

}  // namespace

const llhttp_settings_t& request_parser::settings() noexcept {
    static const llhttp_settings_t s = [] {
        llhttp_settings_t s;
        llhttp_settings_init(&s);
        s.on_method = &request_parser::on_method;
        s.on_url = &request_parser::on_url;
        s.on_header_field = &request_parser::on_header_field;
        s.on_header_value = &request_parser::on_header_value;
        s.on_header_value_complete = &request_parser::on_header_value_complete;
        s.on_headers_complete = &request_parser::on_headers_complete;
        s.on_body = &request_parser::on_body;
        s.on_chunk_header = &request_parser::on_chunk_header;
        s.on_message_complete = &request_parser::on_message_complete;
        return s;
    }();
    return s;
}

request_parser::request_parser(const parser_limits& limits) noexcept : limits_(limits) {
    llhttp_init(&llhttp_, HTTP_REQUEST, &settings());
    llhttp_.data = this;
    reset();
}

void request_parser::reset() noexcept {
    begin_request();
    phase_ = phase::headers;
    error_status_ = 0;
    error_reason_ = {};
}

void request_parser::begin_request() noexcept {
    // llhttp_reset keeps settings and `data`; a fresh llhttp state per request means nothing a
    // previous request did (Connection: close, an upgrade) leaks into the next one.
    llhttp_reset(&llhttp_);
    phase_ = phase::headers;
    scanner_.reset();
    expect_continue_ = false;
    keep_alive_ = false;
    at_last_chunk_ = false;
    trailer_start_ = 0;
    fed_ = 0;
    trailer_scanned_ = 0;
    piece_ = {};
    method_ = {};
    target_ = {};
    fields_.clear();
    body_size_ = 0;
    request_.method = {};
    request_.target = {};
    request_.header_count = 0;
    request_.content_length.reset();
    request_.chunked = false;
    request_.upgrade = false;
    request_.body_pending = false;
    request_.expects_continue = false;
    request_.body_size = 0;
    request_.body = {};
}

parse_result request_parser::fail(unsigned http_status, std::string_view reason) noexcept {
    phase_ = phase::failed;
    error_status_ = http_status;
    error_reason_ = reason;
    return {parse_status::error, 0, http_status, reason};
}

int request_parser::fail_in_callback(unsigned http_status, std::string_view reason) noexcept {
    if (error_status_ == 0) {
        error_status_ = http_status;
        error_reason_ = reason;
    }
    return -1;
}

parse_result request_parser::parse(std::string_view buf) noexcept {
    if (phase_ == phase::failed) return {parse_status::error, 0, error_status_, error_reason_};
    if (phase_ == phase::done) begin_request();

    if (phase_ == phase::headers && scanner_.end() == 0) {
        if (!scan_headers(buf)) return fail(error_status_, error_reason_);
        if (scanner_.end() == 0) {
            if (scanner_.scanned() >= limits_.max_header_bytes) {
                return fail(431, "header section too large");
            }
            return {};
        }
    }

    // Never hand llhttp more than one message may take: the first call feeds the whole header
    // section (the scanner found its end), later calls continue the body where the last stopped.
    // Streaming, only the header section: the body is parse_body()'s.
    const std::size_t limit =
        limits_.stream_bodies ? scanner_.end() : std::min(buf.size(), max_message_bytes());
    if (fed_ < limit) {
        base_ = buf.data();
        llhttp_errno_t err = llhttp_execute(&llhttp_, buf.data() + fed_, limit - fed_);
        if (err == HPE_PAUSED && at_last_chunk_) {
            // Paused by on_chunk_header at the last chunk, to note where the trailers start.
            at_last_chunk_ = false;
            const char* const at = llhttp_get_error_pos(&llhttp_);
            trailer_start_ = static_cast<std::size_t>(at - buf.data());
            llhttp_resume(&llhttp_);
            err = llhttp_execute(&llhttp_, at, static_cast<std::size_t>(buf.data() + limit - at));
        }
        base_ = nullptr;
        if (err == HPE_PAUSED) {
            // Paused by on_message_complete: the error position is the first byte after it.
            const auto end = static_cast<std::size_t>(llhttp_get_error_pos(&llhttp_) - buf.data());
            if (request_.chunked) {
                const std::string_view bad =
                    rules::check_trailers(buf.substr(trailer_start_, end - trailer_start_));
                if (!bad.empty()) return fail(400, bad);
            }
            build_request(buf);
            phase_ = phase::done;
            return {parse_status::ready, end, 0, {}};
        }
        if (err != HPE_OK) {
            if (error_status_ != 0) return fail(error_status_, error_reason_);
            if (err == HPE_PAUSED_H2_UPGRADE) return fail(400, "HTTP/2 connection preface");
            const char* reason = llhttp_get_error_reason(&llhttp_);
            return fail(400, reason != nullptr ? std::string_view(reason) : "malformed request");
        }
        fed_ = limit;
        if (limits_.stream_bodies) {
            phase_ = phase::streaming;
            build_request(buf);
            return {parse_status::head, limit, 0, {}};
        }
    }
    if (fed_ >= max_message_bytes()) return fail(413, "message too large");
    return {};
}

body_step request_parser::fail_body(unsigned http_status, std::string_view reason) noexcept {
    fail(http_status, reason);
    return {body_event::error, 0, {}, http_status, reason};
}

body_step request_parser::body_failure(llhttp_errno_t err) noexcept {
    if (error_status_ != 0) return fail_body(error_status_, error_reason_);
    if (err == HPE_PAUSED_UPGRADE) return fail_body(400, "unexpected upgrade");
    const char* reason = llhttp_get_error_reason(&llhttp_);
    return fail_body(400, reason != nullptr ? std::string_view(reason) : "malformed body");
}

body_step request_parser::parse_body(std::string_view buf) noexcept {
    switch (phase_) {
        case phase::streaming:
            break;
        case phase::trailers:
            return parse_trailers(buf, 0);
        case phase::failed:
            return {body_event::error, 0, {}, error_status_, error_reason_};
        case phase::done:
            return {body_event::done, 0, {}, 0, {}};
        case phase::headers:
        case phase::body:
            return fail_body(400, "no request body is being read");
    }
    // A Content-Length body whose last byte came in the previous step still needs one call, on
    // no bytes, for llhttp to report the end of the message.
    if (buf.empty() && request_.chunked) return {};
    piece_ = {};
    at_last_chunk_ = false;
    const char* const data = buf.empty() ? "" : buf.data();
    base_ = data;
    const llhttp_errno_t err = llhttp_execute(&llhttp_, data, buf.size());
    base_ = nullptr;
    if (err == HPE_PAUSED) {
        const auto pos = static_cast<std::size_t>(llhttp_get_error_pos(&llhttp_) - data);
        llhttp_resume(&llhttp_);
        if (!piece_.empty()) return {body_event::data, pos, piece_, 0, {}};
        if (at_last_chunk_) {
            at_last_chunk_ = false;
            phase_ = phase::trailers;
            return parse_trailers(buf, pos);
        }
        phase_ = phase::done;
        return {body_event::done, pos, {}, 0, {}};
    }
    if (err != HPE_OK) return body_failure(err);
    return {body_event::need_more, buf.size(), {}, 0, {}};
}

body_step request_parser::parse_trailers(std::string_view buf, std::size_t from) noexcept {
    // Held until whole, then checked as one piece, as the header section is; framing only.
    const std::string_view rest = buf.substr(from);
    const rules::trailer_search found =
        rules::find_trailer_end(rest, trailer_scanned_, limits_.max_header_bytes);
    if (!found.error.empty()) return fail_body(400, found.error);
    if (found.end == 0) return {body_event::need_more, from, {}, 0, {}};
    const std::string_view section = rest.substr(0, found.end);
    if (const std::string_view bad = rules::check_trailers(section); !bad.empty()) {
        return fail_body(400, bad);
    }
    base_ = section.data();
    const llhttp_errno_t err = llhttp_execute(&llhttp_, section.data(), section.size());
    base_ = nullptr;
    if (err != HPE_PAUSED) return body_failure(err == HPE_OK ? HPE_INVALID_EOF_STATE : err);
    llhttp_resume(&llhttp_);
    phase_ = phase::done;
    return {body_event::done, from + found.end, {}, 0, {}};
}

bool request_parser::scan_headers(std::string_view buf) noexcept {
    if (scanner_.scan(buf, limits_.max_header_bytes)) return true;
    error_status_ = 400;
    error_reason_ = scanner_.reason();
    return false;
}

int request_parser::on_method(llhttp_t* p, const char* at, std::size_t n) {
    auto& self = *static_cast<request_parser*>(p->data);
    self.method_.extend(self.base_, at, n);
    return 0;
}

int request_parser::on_url(llhttp_t* p, const char* at, std::size_t n) {
    auto& self = *static_cast<request_parser*>(p->data);
    self.target_.extend(self.base_, at, n);
    return 0;
}

int request_parser::on_header_field(llhttp_t* p, const char* at, std::size_t n) {
    auto& self = *static_cast<request_parser*>(p->data);
    if (self.phase_ != phase::headers) return 0;  // a trailer field: framing only, ignored
    if (!self.fields_.add_name(self.base_, at, n, max_header_fields)) {
        return self.fail_in_callback(431, "too many header fields");
    }
    return 0;
}

int request_parser::on_header_value(llhttp_t* p, const char* at, std::size_t n) {
    auto& self = *static_cast<request_parser*>(p->data);
    if (self.phase_ != phase::headers) return 0;
    self.fields_.add_value(self.base_, at, n);
    return 0;
}

int request_parser::on_header_value_complete(llhttp_t* p) {
    auto& self = *static_cast<request_parser*>(p->data);
    if (self.phase_ != phase::headers) return 0;
    self.fields_.value_complete(self.base_);
    return 0;
}

int request_parser::on_headers_complete(llhttp_t* p) {
    auto& self = *static_cast<request_parser*>(p->data);
    // check_headers also decides keep_alive_, from the header section alone: trailers are framing
    // only (RFC 9110 section 6.5.1) and never decide the connection.
    const int rc = self.check_headers();
    self.phase_ = phase::body;
    return rc;
}

int request_parser::check_headers() noexcept {
    if (llhttp_.http_major != 1 || llhttp_.http_minor > 1) {
        return fail_in_callback(400, "unsupported HTTP version");
    }
    if (llhttp_.method == HTTP_CONNECT) return fail_in_callback(400, "CONNECT is not supported");

    rules::framing_fields framing;
    std::size_t hosts = 0;
    bool upgrade = false;
    connection_tokens connection;
    bool expect_continue = false;
    for (std::size_t i = 0; i < fields_.size(); ++i) {
        const std::string_view name = fields_[i].name.in(base_);
        const std::string_view value = fields_[i].value.in(base_);
        switch (framing.add(name, value)) {
            case rules::framing_fields::verdict::invalid_length:
                return fail_in_callback(400, "invalid Content-Length");
            case rules::framing_fields::verdict::length_overflow:
                return fail_in_callback(413, "body too large");
            case rules::framing_fields::verdict::ok:
                break;
        }
        if (iequals(name, "host")) {
            ++hosts;
        } else if (iequals(name, "connection")) {
            read_connection_tokens(value, connection);
        } else if (iequals(name, "upgrade")) {
            upgrade = true;
        } else if (iequals(name, "expect")) {
            expect_continue = iequals(value, "100-continue");
        }
    }
    if (const std::string_view bad = framing.check(); !bad.empty()) {
        return fail_in_callback(400, bad);
    }
    // RFC 9112 section 6.1: HTTP/1.0 has no chunked framing to agree on.
    if (framing.has_transfer_encoding() && llhttp_.http_minor == 0) {
        return fail_in_callback(400, "Transfer-Encoding in an HTTP/1.0 request");
    }
    const bool chunked = framing.chunked();
    const std::uint64_t content_length = framing.content_length();
    const std::size_t content_lengths = framing.content_lengths();
    if (hosts > 1) return fail_in_callback(400, "duplicate Host");
    // RFC 9112 section 3.2: a server must answer 400 to an HTTP/1.1 request without Host. Once
    // requests are forwarded, an upstream that routes by host must never see one without it.
    if (hosts == 0 && llhttp_.http_minor == 1 && limits_.require_host)
        return fail_in_callback(400, "missing Host");
    if (content_lengths != 0) {
        if (content_length > limits_.max_body_bytes) return fail_in_callback(413, "body too large");
        request_.content_length = content_length;
    }
    request_.chunked = chunked;
    // Any Upgrade field closes the connection after the response, with or without `upgrade` in
    // Connection and in either version. Whether the protocol switches is the upstream's choice
    // (RFC 9110 section 7.8 wants `Connection: upgrade`, not every server checks), and after a
    // switch the bytes that follow are not HTTP: parsing them as a next request would read the
    // stream differently from an upstream that switched. llhttp itself stops there
    // (HPE_PAUSED_UPGRADE) when Connection lists upgrade. Until upgrades are relayed, the request
    // is answered as a plain one and nothing after it is read as a request.
    request_.upgrade = upgrade;
    keep_alive_ =
        !connection.close && !upgrade && (llhttp_.http_minor == 1 || connection.keep_alive);
    expect_continue_ = expect_continue && (chunked || content_length != 0);
    return 0;
}

int request_parser::on_body(llhttp_t* p, const char* at, std::size_t n) {
    auto& self = *static_cast<request_parser*>(p->data);
    // Held whole, the caller reads the body in place. llhttp also flushes an open body span,
    // empty, at the end of a call that brought no bytes: not a piece.
    if (!self.limits_.stream_bodies || n == 0) return 0;
    // One piece per step: the caller forwards it before the parser looks at the bytes after it.
    self.piece_ = {at, n};
    return HPE_PAUSED;
}

int request_parser::on_chunk_header(llhttp_t* p) {
    auto& self = *static_cast<request_parser*>(p->data);
    // llhttp stores the announced chunk size in content_length: refuse before its data arrives.
    const std::uint64_t size = p->content_length;
    if (size > self.limits_.max_body_bytes - self.body_size_) {
        return self.fail_in_callback(413, "body too large");
    }
    self.body_size_ += size;
    if (size == 0) {
        self.at_last_chunk_ = true;
        return HPE_PAUSED;
    }
    return 0;
}

int request_parser::on_message_complete(llhttp_t*) {
    // Stop right after this message: the bytes that follow belong to the next request, which is
    // parsed by the next call (after the caller has answered this one).
    return HPE_PAUSED;
}

void request_parser::build_request(std::string_view buf) noexcept {
    request& r = request_;
    r.method = view(buf, method_);
    r.target = view(buf, target_);
    r.version_major = llhttp_.http_major;
    r.version_minor = llhttp_.http_minor;
    r.keep_alive = keep_alive_;
    for (std::size_t i = 0; i < fields_.size(); ++i) {
        r.headers[i] = {view(buf, fields_[i].name), view(buf, fields_[i].value)};
    }
    r.header_count = fields_.size();
    r.expects_continue = expect_continue_;
    if (phase_ == phase::streaming) {
        r.body_pending = true;
        r.body_size = r.content_length.value_or(0);
        r.body = {};
    } else if (r.chunked) {
        r.body_size = body_size_;
        r.body = {};
    } else {
        r.body_size = r.content_length.value_or(0);
        r.body = buf.substr(scanner_.end(), static_cast<std::size_t>(r.body_size));
    }
}

}  // namespace sluice::http
