#include "http/response_parser.hpp"

#include <algorithm>

namespace sluice::http {

const llhttp_settings_t& response_parser::settings() noexcept {
    static const llhttp_settings_t s = [] {
        llhttp_settings_t s;
        llhttp_settings_init(&s);
        s.on_status = &response_parser::on_status;
        s.on_header_field = &response_parser::on_header_field;
        s.on_header_value = &response_parser::on_header_value;
        s.on_header_value_complete = &response_parser::on_header_value_complete;
        s.on_headers_complete = &response_parser::on_headers_complete;
        s.on_body = &response_parser::on_body;
        s.on_chunk_header = &response_parser::on_chunk_header;
        s.on_message_complete = &response_parser::on_message_complete;
        return s;
    }();
    return s;
}

response_parser::response_parser(const response_parser_limits& limits) noexcept : limits_(limits) {
    limits_.max_fields = std::min(limits_.max_fields, max_response_fields);
    llhttp_init(&llhttp_, HTTP_RESPONSE, &settings());
    llhttp_.data = this;
    reset();
}

void response_parser::reset() noexcept {
    head_request_ = false;
    begin_response();
}

void response_parser::expect_response_to(std::string_view method) noexcept {
    head_request_ = method == "HEAD";
    if (phase_ == phase::done) begin_response();
}

void response_parser::begin_response() noexcept {
    // A fresh llhttp state per response, as in request_parser: nothing a previous response said
    // (Connection: close, an upgrade) leaks into the next one.
    llhttp_reset(&llhttp_);
    scanner_.reset();
    phase_ = phase::head;
    at_last_chunk_ = false;
    message_end_ = false;
    trailer_scanned_ = 0;
    framing_ = body_framing::none;
    piece_ = {};
    reason_ = {};
    fields_.clear();
    error_reason_ = {};
}

response_step response_parser::fail(std::string_view reason) noexcept {
    phase_ = phase::failed;
    error_reason_ = reason;
    return {response_event::error, 0, {}, reason};
}

int response_parser::fail_in_callback(std::string_view reason) noexcept {
    if (error_reason_.empty()) error_reason_ = reason;
    return -1;
}

response_step response_parser::llhttp_failure(llhttp_errno_t err) noexcept {
    if (!error_reason_.empty()) return fail(error_reason_);
    if (err == HPE_PAUSED_UPGRADE) return fail("unexpected upgrade");
    const char* reason = llhttp_get_error_reason(&llhttp_);
    return fail(reason != nullptr ? std::string_view(reason) : "malformed response");
}

response_step response_parser::parse(std::string_view buf) noexcept {
    switch (phase_) {
        case phase::failed:
            return {response_event::error, 0, {}, error_reason_};
        case phase::done:
            begin_response();
            return parse_head(buf);
        case phase::head:
            return parse_head(buf);
        case phase::no_body:
            phase_ = framing_ == body_framing::switched ? phase::switched : phase::done;
            return {response_event::done, 0, {}, {}};
        case phase::switched:
            return {response_event::error, 0, {}, "protocol switched"};
        case phase::body:
            return parse_body(buf);
        case phase::trailers:
            return parse_trailers(buf, 0);
    }
    return {};
}

response_step response_parser::eof() noexcept {
    switch (phase_) {
        case phase::failed:
            return {response_event::error, 0, {}, error_reason_};
        case phase::body:
            if (framing_ == body_framing::until_close) {
                phase_ = phase::done;
                return {response_event::done, 0, {}, {}};
            }
            return fail("connection closed in the response body");
        case phase::no_body:
        case phase::switched:
            phase_ = phase::done;
            return {response_event::done, 0, {}, {}};
        case phase::trailers:
            return fail("connection closed in the response body");
        case phase::head:
        case phase::done:
            break;
    }
    return fail("connection closed before a response head");
}

response_step response_parser::parse_head(std::string_view buf) noexcept {
    if (!scanner_.scan(buf, limits_.max_header_bytes)) return fail(scanner_.reason());
    const std::size_t end = scanner_.end();
    if (end == 0) {
        if (scanner_.scanned() >= limits_.max_header_bytes) {
            return fail("header section too large");
        }
        return {};
    }
    // The whole section in one call: every span llhttp reports is then contiguous in `buf`.
    base_ = buf.data();
    message_end_ = false;
    const llhttp_errno_t err = llhttp_execute(&llhttp_, buf.data(), end);
    base_ = nullptr;
    if (err == HPE_PAUSED || err == HPE_PAUSED_UPGRADE) {
        if (!message_end_) return llhttp_failure(err);
        llhttp_resume(&llhttp_);
    } else if (err != HPE_OK) {
        return llhttp_failure(err);
    }
    build_head(buf);
    if (head_.interim()) {
        // The final response follows on the same exchange, with the same request method.
        begin_response();
    } else if (message_end_ || framing_ == body_framing::none ||
               framing_ == body_framing::switched) {
        // Content-Length: 0 ends the message with its head, too.
        phase_ = phase::no_body;
    } else {
        phase_ = phase::body;
    }
    return {response_event::head, end, {}, {}};
}

response_step response_parser::parse_body(std::string_view buf) noexcept {
    if (buf.empty() && framing_ != body_framing::content_length) return {};
    piece_ = {};
    at_last_chunk_ = false;
    message_end_ = false;
    // llhttp wants a valid pointer even for no bytes; a finished Content-Length body still needs
    // one call to report the end of the message.
    const char* data = buf.empty() ? "" : buf.data();
    base_ = data;
    const llhttp_errno_t err = llhttp_execute(&llhttp_, data, buf.size());
    base_ = nullptr;
    if (err == HPE_PAUSED) {
        // Every byte up to the pause is accounted for: framing lives on in llhttp's state, body
        // bytes are in the step.
        const auto pos = static_cast<std::size_t>(llhttp_get_error_pos(&llhttp_) - data);
        llhttp_resume(&llhttp_);
        if (!piece_.empty()) return {response_event::body, pos, piece_, {}};
        if (at_last_chunk_) {
            phase_ = phase::trailers;
            trailer_scanned_ = 0;
            return parse_trailers(buf, pos);
        }
        if (message_end_) {
            phase_ = phase::done;
            return {response_event::done, pos, {}, {}};
        }
    }
    if (err != HPE_OK) return llhttp_failure(err);
    return {response_event::need_more, buf.size(), {}, {}};
}

response_step response_parser::parse_trailers(std::string_view buf, std::size_t from) noexcept {
    // Held until the whole section is in the buffer, as the header section is, so that it is
    // checked as one piece; it is framing only and dropped.
    const std::string_view rest = buf.substr(from);
    const rules::trailer_search found =
        rules::find_trailer_end(rest, trailer_scanned_, limits_.max_header_bytes);
    if (!found.error.empty()) return fail(found.error);
    const std::size_t end = found.end;
    if (end == 0) return {response_event::need_more, from, {}, {}};
    if (const std::string_view bad = rules::check_trailers(rest.substr(0, end)); !bad.empty()) {
        return fail(bad);
    }
    base_ = rest.data();
    message_end_ = false;
    const llhttp_errno_t err = llhttp_execute(&llhttp_, rest.data(), end);
    base_ = nullptr;
    if (err == HPE_PAUSED && message_end_) {
        llhttp_resume(&llhttp_);
        phase_ = phase::done;
        return {response_event::done, from + end, {}, {}};
    }
    return llhttp_failure(err == HPE_OK ? HPE_INVALID_EOF_STATE : err);
}

int response_parser::on_status(llhttp_t* p, const char* at, std::size_t n) {
    auto& self = *static_cast<response_parser*>(p->data);
    self.reason_.extend(self.base_, at, n);
    return 0;
}

int response_parser::on_header_field(llhttp_t* p, const char* at, std::size_t n) {
    auto& self = *static_cast<response_parser*>(p->data);
    if (self.phase_ != phase::head) return 0;  // a trailer field: checked, then dropped
    if (!self.fields_.add_name(self.base_, at, n, self.limits_.max_fields)) {
        return self.fail_in_callback("too many header fields");
    }
    return 0;
}

int response_parser::on_header_value(llhttp_t* p, const char* at, std::size_t n) {
    auto& self = *static_cast<response_parser*>(p->data);
    if (self.phase_ != phase::head) return 0;
    self.fields_.add_value(self.base_, at, n);
    return 0;
}

int response_parser::on_header_value_complete(llhttp_t* p) {
    auto& self = *static_cast<response_parser*>(p->data);
    if (self.phase_ != phase::head) return 0;
    self.fields_.value_complete(self.base_);
    return 0;
}

int response_parser::on_headers_complete(llhttp_t* p) {
    auto& self = *static_cast<response_parser*>(p->data);
    if (self.check_head() != 0) return -1;
    // 1 tells llhttp the message has no body whatever its fields say: a response to HEAD, and
    // the statuses llhttp 8.1 would otherwise read a Content-Length body for (1xx, 204, 304).
    return self.framing_ == body_framing::none || self.framing_ == body_framing::switched ? 1 : 0;
}

int response_parser::check_head() noexcept {
    if (llhttp_.http_major != 1 || llhttp_.http_minor > 1) {
        return fail_in_callback("unsupported HTTP version");
    }
    const unsigned status = llhttp_.status_code;
    if (status < 100 || status > 599) return fail_in_callback("invalid status code");

    rules::framing_fields framing;
    for (std::size_t i = 0; i < fields_.size(); ++i) {
        const std::string_view name = fields_[i].name.in(base_);
        const std::string_view value = fields_[i].value.in(base_);
        switch (framing.add(name, value)) {
            case rules::framing_fields::verdict::invalid_length:
                return fail_in_callback("invalid Content-Length");
            case rules::framing_fields::verdict::length_overflow:
                return fail_in_callback("Content-Length too large");
            case rules::framing_fields::verdict::ok:
                break;
        }
    }
    if (const std::string_view bad = framing.check(); !bad.empty()) return fail_in_callback(bad);
    if (framing.has_transfer_encoding() && llhttp_.http_minor == 0) {
        return fail_in_callback("Transfer-Encoding in an HTTP/1.0 response");
    }
    const bool informational = status / 100 == 1;
    if ((informational || status == 204) &&
        (framing.has_transfer_encoding() ||
         (framing.content_lengths() != 0 && framing.content_length() != 0))) {
        return fail_in_callback("body framing on a response without a body");
    }

    if (status == 101) {
        framing_ = body_framing::switched;
    } else if (head_request_ || informational || status == 204 || status == 304) {
        framing_ = body_framing::none;
    } else if (framing.chunked()) {
        framing_ = body_framing::chunked;
    } else if (framing.content_lengths() != 0) {
        framing_ = body_framing::content_length;
    } else {
        framing_ = body_framing::until_close;
    }
    head_.has_content_length = framing.content_lengths() != 0;
    head_.content_length = framing.content_length();

    const bool close = (llhttp_.flags & F_CONNECTION_CLOSE) != 0;
    const bool asked = (llhttp_.flags & F_CONNECTION_KEEP_ALIVE) != 0;
    bool keep_alive = llhttp_.http_minor == 1 ? !close : asked && !close;
    if (framing_ == body_framing::until_close || framing_ == body_framing::switched) {
        keep_alive = false;
    }
    head_.keep_alive = keep_alive;
    return 0;
}

int response_parser::on_body(llhttp_t* p, const char* at, std::size_t n) {
    // llhttp flushes an open body span at the end of every call, also an empty one when a call
    // brought no bytes.
    if (n == 0) return 0;
    auto& self = *static_cast<response_parser*>(p->data);
    // One piece per step: llhttp stops right after it, so the caller can relay it before the
    // bytes that follow are looked at.
    self.piece_ = std::string_view(at, n);
    return HPE_PAUSED;
}

int response_parser::on_chunk_header(llhttp_t* p) {
    auto& self = *static_cast<response_parser*>(p->data);
    if (p->content_length == 0) {
        self.at_last_chunk_ = true;
        return HPE_PAUSED;
    }
    return 0;
}

int response_parser::on_message_complete(llhttp_t* p) {
    auto& self = *static_cast<response_parser*>(p->data);
    self.message_end_ = true;
    return HPE_PAUSED;
}

void response_parser::build_head(std::string_view buf) noexcept {
    response_head& h = head_;
    h.status = llhttp_.status_code;
    h.reason = buf.substr(reason_.offset, reason_.length);
    h.version_major = llhttp_.http_major;
    h.version_minor = llhttp_.http_minor;
    h.framing = framing_;
    for (std::size_t i = 0; i < fields_.size(); ++i) {
        h.headers[i] = {buf.substr(fields_[i].name.offset, fields_[i].name.length),
                        buf.substr(fields_[i].value.offset, fields_[i].value.length)};
    }
    h.header_count = fields_.size();
}

}  // namespace sluice::http
