#include "bench/load/response_parser.hpp"

#include <string_view>

namespace sluice::load {

namespace {

constexpr std::string_view remaining_name = "x-ratelimit-remaining";
constexpr std::size_t no_match = static_cast<std::size_t>(-1);

std::size_t offset(const llhttp_t& p, const char* data, std::size_t size) {
    const char* pos = llhttp_get_error_pos(&p);
    if (pos == nullptr || pos < data || pos > data + size) return size;
    return static_cast<std::size_t>(pos - data);
}

}  // namespace

response_parser::response_parser() {
    reset();
}

void response_parser::reset() noexcept {
    // llhttp keeps a pointer to its settings for its whole life: they must outlive every parser.
    static const llhttp_settings_t settings = [] {
        llhttp_settings_t s;
        llhttp_settings_init(&s);
        s.on_status = &response_parser::on_header_bytes;
        s.on_header_field = &response_parser::on_header_field;
        s.on_header_value = &response_parser::on_header_bytes;
        s.on_header_field_complete = &response_parser::on_header_field_complete;
        s.on_headers_complete = &response_parser::on_headers_complete;
        s.on_message_complete = &response_parser::on_message_complete;
        return s;
    }();
    // llhttp_reset would keep a previous error: errors are sticky until llhttp_init.
    llhttp_init(&parser_, HTTP_RESPONSE, &settings);
    parser_.data = this;
    paused_ = false;
    next();
}

void response_parser::next() noexcept {
    if (paused_) {
        llhttp_resume(&parser_);
        paused_ = false;
    }
    state_ = state::incomplete;
    status_ = 0;
    keep_alive_ = false;
    header_bytes_ = 0;
    name_matched_ = 0;
    in_headers_ = true;
    has_remaining_ = false;
    error_ = "";
}

int response_parser::on_header_bytes(llhttp_t* p, const char*, std::size_t n) {
    auto* self = static_cast<response_parser*>(p->data);
    self->header_bytes_ += n;
    if (self->header_bytes_ > max_header_bytes) {
        llhttp_set_error_reason(p, "response header section too large");
        return HPE_USER;
    }
    return HPE_OK;
}

// A field name may arrive in pieces, split wherever a read ended: the match carries over.
int response_parser::on_header_field(llhttp_t* p, const char* at, std::size_t n) {
    auto* self = static_cast<response_parser*>(p->data);
    if (int rc = on_header_bytes(p, at, n); rc != HPE_OK) return rc;
    std::size_t m = self->name_matched_;
    for (std::size_t i = 0; i < n && m != no_match; ++i) {
        char c = at[i];
        if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
        m = m < remaining_name.size() && c == remaining_name[m] ? m + 1 : no_match;
    }
    self->name_matched_ = m;
    return HPE_OK;
}

int response_parser::on_header_field_complete(llhttp_t* p) {
    auto* self = static_cast<response_parser*>(p->data);
    // A trailer of a chunked body is no part of the limiter's answer.
    if (self->in_headers_ && self->name_matched_ == remaining_name.size()) {
        self->has_remaining_ = true;
    }
    self->name_matched_ = 0;
    return HPE_OK;
}

int response_parser::on_headers_complete(llhttp_t* p) {
    static_cast<response_parser*>(p->data)->in_headers_ = false;
    return HPE_OK;
}

// Pausing here makes llhttp_execute return at the last byte of this response, which is how the
// caller learns where it ended.
int response_parser::on_message_complete(llhttp_t* p) {
    auto* self = static_cast<response_parser*>(p->data);
    self->status_ = llhttp_get_status_code(p);
    // After a 101 nothing on the connection is HTTP any more.
    self->keep_alive_ = llhttp_should_keep_alive(p) != 0 && llhttp_get_upgrade(p) == 0;
    self->state_ = state::complete;
    self->paused_ = true;
    return HPE_PAUSED;
}

response_parser::feed_result response_parser::feed(const char* data, std::size_t size) noexcept {
    if (state_ != state::incomplete || size == 0) return {state_, 0};
    llhttp_errno_t err = llhttp_execute(&parser_, data, size);
    switch (err) {
        case HPE_OK:
            return {state_, size};
        case HPE_PAUSED:
            return {state_, offset(parser_, data, size)};
        case HPE_PAUSED_UPGRADE:
            // A 101 hands the connection to another protocol: the response is complete, but
            // nothing after it is HTTP any more.
            status_ = llhttp_get_status_code(&parser_);
            keep_alive_ = false;
            state_ = state::complete;
            return {state_, offset(parser_, data, size)};
        default:
            state_ = state::failed;
            error_ = llhttp_get_error_reason(&parser_);
            if (error_ == nullptr || *error_ == '\0') error_ = llhttp_errno_name(err);
            return {state_, offset(parser_, data, size)};
    }
}

response_parser::state response_parser::finish() noexcept {
    if (state_ != state::incomplete) return state_;
    llhttp_errno_t err = llhttp_finish(&parser_);
    // A body delimited by the end of the connection completes here (on_message_complete ran).
    if (state_ == state::complete) return state_;
    state_ = state::failed;
    if (err == HPE_OK) {
        error_ = "connection closed before a response";
    } else {
        error_ = llhttp_get_error_reason(&parser_);
        if (error_ == nullptr || *error_ == '\0') error_ = llhttp_errno_name(err);
    }
    return state_;
}

}  // namespace sluice::load
