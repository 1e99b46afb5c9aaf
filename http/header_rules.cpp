#include "http/header_rules.hpp"

#include <algorithm>
#include <limits>

#include "http/request.hpp"

namespace sluice::http::rules {

namespace {

constexpr std::string_view http_version_pattern = "HTTP/d.d";

// The reason for a byte the scanner refuses: line-ending misuse gets its own words because those
// are the smuggling attempts worth recognising in a log.
std::string_view byte_reason(unsigned char c, std::string_view otherwise) noexcept {
    if (c == '\n') return "bare LF in header section";
    if (c == '\r') return "CR not followed by LF";
    return otherwise;
}

}  // namespace

void header_scanner::reset() noexcept {
    state_ = kind_ == start_line::request ? state::start : state::status_version;
    pos_ = 0;
    scanned_ = 0;
    end_ = 0;
    reason_ = {};
}

bool header_scanner::refuse(unsigned char c, std::string_view reason) noexcept {
    reason_ = byte_reason(c, reason);
    return false;
}

bool header_scanner::scan(std::string_view buf, std::size_t limit) noexcept {
    limit = std::min(buf.size(), limit);
    const auto* bytes = reinterpret_cast<const unsigned char*>(buf.data());
    std::size_t i = scanned_;
    for (; i < limit; ++i) {
        const unsigned char c = bytes[i];
        switch (state_) {
            case state::start:
                if (c == '\r') {
                    state_ = state::start_lf;
                } else if (tchar[c]) {
                    state_ = state::method;
                } else {
                    return refuse(c, "invalid request line");
                }
                break;
            case state::start_lf:
                if (c != '\n') return refuse('\r', {});
                state_ = state::start;
                break;
            case state::method:
                if (c == ' ') {
                    state_ = state::target;
                    pos_ = 0;
                } else if (!tchar[c]) {
                    return refuse(c, "invalid method");
                }
                break;
            case state::target:
                // pos_ counts target bytes here, only to refuse an empty target.
                if (is_target_char(c)) {
                    pos_ = 1;
                } else if (c == ' ' && pos_ != 0) {
                    state_ = state::version;
                    pos_ = 0;
                } else {
                    return refuse(c, "invalid request target");
                }
                break;
            case state::version:
                if (pos_ == http_version_pattern.size()) {
                    if (c != '\r') return refuse(c, "invalid HTTP version");
                    state_ = state::line_lf;
                } else {
                    const char want = http_version_pattern[pos_];
                    if (want == 'd' ? !is_digit(c) : c != static_cast<unsigned char>(want)) {
                        return refuse(c, "invalid HTTP version");
                    }
                    ++pos_;
                }
                break;
            case state::status_version:
                if (pos_ == http_version_pattern.size()) {
                    if (c != ' ') return refuse(c, "invalid status line");
                    state_ = state::status_code;
                    pos_ = 0;
                } else {
                    const char want = http_version_pattern[pos_];
                    if (want == 'd' ? !is_digit(c) : c != static_cast<unsigned char>(want)) {
                        return refuse(c, "invalid HTTP version");
                    }
                    ++pos_;
                }
                break;
            case state::status_code:
                if (pos_ == 3) {
                    if (c != ' ') return refuse(c, "invalid status line");
                    state_ = state::status_reason;
                } else {
                    if (!is_digit(c)) return refuse(c, "invalid status code");
                    ++pos_;
                }
                break;
            case state::status_reason:
                if (c == '\r') {
                    state_ = state::line_lf;
                } else if (!is_value_char(c)) {
                    return refuse(c, "invalid reason phrase");
                }
                break;
            case state::line_lf:
                if (c != '\n') return refuse('\r', {});
                state_ = state::line_start;
                break;
            case state::line_start:
                if (c == '\r') {
                    state_ = state::end_lf;
                } else if (c == ' ' || c == '\t') {
                    return refuse(c, "obs-fold (line folding) in header section");
                } else if (tchar[c]) {
                    state_ = state::name;
                } else {
                    return refuse(c, c == ':' ? "empty header name" : "invalid header name");
                }
                break;
            case state::name:
                if (c == ':') {
                    state_ = state::value;
                } else if (c == ' ' || c == '\t') {
                    return refuse(c, "whitespace between header name and colon");
                } else if (c == '\r') {
                    return refuse(0, "header line without colon");
                } else if (!tchar[c]) {
                    return refuse(c, "invalid header name");
                }
                break;
            case state::value:
                if (c == '\r') {
                    state_ = state::line_lf;
                } else if (!is_value_char(c)) {
                    return refuse(c, "invalid header value");
                }
                break;
            case state::end_lf:
                if (c != '\n') return refuse('\r', {});
                end_ = i + 1;
                scanned_ = i + 1;
                return true;
        }
    }
    scanned_ = i;
    return true;
}

trailer_search find_trailer_end(std::string_view rest, std::size_t& scanned,
                                std::size_t max_bytes) noexcept {
    const std::size_t resume = scanned > 3 ? scanned - 3 : 0;
    std::size_t end = 0;
    if (rest.starts_with("\r\n")) {
        end = 2;
    } else if (const auto blank = rest.find("\r\n\r\n", resume); blank != std::string_view::npos) {
        end = blank + 4;
    }
    // A wrong line ending is looked for first, within the bytes the limit allows, in a complete
    // section too: so the reason does not depend on where the reads ended (check_trailers, or the
    // size, could name another fault of the same bytes). A CR at `to - 1` is judged by a later
    // call, with the byte after it.
    const std::size_t to = std::min(end == 0 ? rest.size() : end, max_bytes);
    for (std::size_t i = resume; i < to; ++i) {
        if (rest[i] == '\n' && (i == 0 || rest[i - 1] != '\r'))
            return {0, "bare LF in trailer section"};
        if (rest[i] == '\r' && i + 1 < to && rest[i + 1] != '\n') {
            return {0, "CR not followed by LF"};
        }
    }
    if (end > max_bytes || (end == 0 && rest.size() >= max_bytes)) {
        return {0, "trailer section too large"};
    }
    if (end != 0) return {end, {}};
    scanned = rest.size();
    return {};
}

std::string_view check_trailers(std::string_view s) noexcept {
    const auto* bytes = reinterpret_cast<const unsigned char*>(s.data());
    std::size_t i = 0;
    const auto crlf = [&]() noexcept -> std::string_view {
        if (i + 1 >= s.size() || bytes[i + 1] != '\n') return "CR not followed by LF";
        i += 2;
        return {};
    };
    for (;;) {
        if (i == s.size()) return "unterminated trailer section";
        const unsigned char c = bytes[i];
        if (c == '\r') {
            if (const auto bad = crlf(); !bad.empty()) return bad;
            return i == s.size() ? std::string_view{} : "bytes after trailer section";
        }
        if (c == '\n') return "bare LF in trailer section";
        if (c == ' ' || c == '\t') return "obs-fold (line folding) in trailer section";
        const std::size_t name = i;
        while (i < s.size() && tchar[bytes[i]])
            ++i;
        if (i == name || i == s.size() || bytes[i] != ':') return "invalid trailer field";
        ++i;
        while (i < s.size() && bytes[i] != '\r' && bytes[i] != '\n') {
            if (!is_value_char(bytes[i])) return "invalid trailer field";
            ++i;
        }
        if (i == s.size() || bytes[i] == '\n') return "bare LF in trailer section";
        if (const auto bad = crlf(); !bad.empty()) return bad;
    }
}

framing_fields::verdict framing_fields::add(std::string_view name,
                                            std::string_view value) noexcept {
    if (iequals(name, "content-length")) {
        ++content_lengths_;
        if (value.empty()) return verdict::invalid_length;
        content_length_ = 0;
        for (const char ch : value) {
            const auto c = static_cast<unsigned char>(ch);
            if (!is_digit(c)) return verdict::invalid_length;
            if (content_length_ > (std::numeric_limits<std::uint64_t>::max() - 9) / 10) {
                return verdict::length_overflow;
            }
            content_length_ = content_length_ * 10 + (c - '0');
        }
    } else if (iequals(name, "transfer-encoding")) {
        ++transfer_encodings_;
        chunked_ = iequals(value, "chunked");
    }
    return verdict::ok;
}

std::string_view framing_fields::check() const noexcept {
    if (content_lengths_ > 1) return "duplicate Content-Length";
    if (transfer_encodings_ != 0) {
        if (content_lengths_ != 0) return "both Content-Length and Transfer-Encoding";
        if (transfer_encodings_ > 1) return "repeated Transfer-Encoding";
        if (!chunked_) return "Transfer-Encoding other than chunked";
    }
    return {};
}

}  // namespace sluice::http::rules
