#include "http/response.hpp"

#include <charconv>
#include <cstring>

namespace sluice::http {

std::string_view reason_phrase(unsigned status) noexcept {
    switch (status) {
        case 100:
            return "Continue";
        case 101:
            return "Switching Protocols";
        case 200:
            return "OK";
        case 201:
            return "Created";
        case 202:
            return "Accepted";
        case 204:
            return "No Content";
        case 206:
            return "Partial Content";
        case 301:
            return "Moved Permanently";
        case 302:
            return "Found";
        case 303:
            return "See Other";
        case 304:
            return "Not Modified";
        case 307:
            return "Temporary Redirect";
        case 308:
            return "Permanent Redirect";
        case 400:
            return "Bad Request";
        case 401:
            return "Unauthorized";
        case 403:
            return "Forbidden";
        case 404:
            return "Not Found";
        case 405:
            return "Method Not Allowed";
        case 406:
            return "Not Acceptable";
        case 408:
            return "Request Timeout";
        case 409:
            return "Conflict";
        case 410:
            return "Gone";
        case 411:
            return "Length Required";
        case 412:
            return "Precondition Failed";
        case 413:
            return "Content Too Large";
        case 414:
            return "URI Too Long";
        case 415:
            return "Unsupported Media Type";
        case 416:
            return "Range Not Satisfiable";
        case 417:
            return "Expectation Failed";
        case 421:
            return "Misdirected Request";
        case 422:
            return "Unprocessable Content";
        case 426:
            return "Upgrade Required";
        case 428:
            return "Precondition Required";
        case 429:
            return "Too Many Requests";
        case 431:
            return "Request Header Fields Too Large";
        case 500:
            return "Internal Server Error";
        case 501:
            return "Not Implemented";
        case 502:
            return "Bad Gateway";
        case 503:
            return "Service Unavailable";
        case 504:
            return "Gateway Timeout";
        case 505:
            return "HTTP Version Not Supported";
        default:
            return {};
    }
}

bool response::add_header(std::string_view name, std::string_view value) noexcept {
    if (count_ == max_fields) return false;
    fields_[count_++] = {name, value, 0, false};
    return true;
}

bool response::add_header(std::string_view name, std::int64_t value) noexcept {
    if (count_ == max_fields) return false;
    fields_[count_++] = {name, {}, value, true};
    return true;
}

namespace {

// The longest decimal std::int64_t, sign included.
constexpr std::size_t max_int_chars = 20;

char* put(char* p, std::string_view s) noexcept {
    // An empty view may have a null data(), which memcpy must not see.
    if (s.empty()) return p;
    std::memcpy(p, s.data(), s.size());
    return p + s.size();
}

char* put_int(char* p, std::int64_t v) noexcept {
    return std::to_chars(p, p + max_int_chars, v).ptr;
}

}  // namespace

std::size_t response::write_head(std::string& out, connection_header connection) const {
    const unsigned status = status_ >= 100 && status_ <= 599 ? status_ : 500;
    const std::string_view reason = reason_phrase(status);
    const bool has_length = status >= 200 && status != 204;

    // Size the buffer once for the worst case and trim afterwards: one resize instead of an
    // append (and its capacity check) per piece. The capacity stays, so a warm buffer never
    // allocates.
    std::size_t bound = 13 + reason.size() + 2;  // "HTTP/1.1 ddd " reason CRLF
    for (std::size_t i = 0; i < count_; ++i) {
        const field& f = fields_[i];
        bound += f.name.size() + 2 + (f.is_number ? max_int_chars : f.text.size()) + 2;
    }
    bound += 16 + max_int_chars + 2;  // Content-Length
    bound += 24;                      // "Connection: keep-alive\r\n", the longer of the two
    bound += 2;

    const std::size_t start = out.size();
    out.resize(start + bound);
    char* const first = out.data() + start;
    char* p = put(first, "HTTP/1.1 ");
    *p++ = static_cast<char>('0' + status / 100);
    *p++ = static_cast<char>('0' + status / 10 % 10);
    *p++ = static_cast<char>('0' + status % 10);
    *p++ = ' ';
    p = put(p, reason);
    p = put(p, "\r\n");
    for (std::size_t i = 0; i < count_; ++i) {
        const field& f = fields_[i];
        p = put(p, f.name);
        p = put(p, ": ");
        p = f.is_number ? put_int(p, f.number) : put(p, f.text);
        p = put(p, "\r\n");
    }
    if (has_length) {
        p = put(p, "Content-Length: ");
        p = put_int(p, static_cast<std::int64_t>(body_.size()));
        p = put(p, "\r\n");
    }
    if (connection == connection_header::close) {
        p = put(p, "Connection: close\r\n");
    } else if (connection == connection_header::keep_alive) {
        p = put(p, "Connection: keep-alive\r\n");
    }
    p = put(p, "\r\n");
    const auto written = static_cast<std::size_t>(p - first);
    out.resize(start + written);
    return written;
}

}  // namespace sluice::http
