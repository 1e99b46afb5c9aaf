#include "resp/parser.hpp"

#include <cstring>
#include <limits>

#include "resp/error.hpp"

namespace sluice::resp {

namespace {

// The type a type byte announces; the parser calls it only for the bytes it accepts.
constexpr type type_of(char t) noexcept {
    switch (t) {
        case '+':
            return type::simple_string;
        case '-':
            return type::simple_error;
        case ':':
            return type::integer;
        case '$':
            return type::bulk_string;
        case '*':
            return type::array;
        case '#':
            return type::boolean;
        case ',':
            return type::double_type;
        case '(':
            return type::big_number;
        case '!':
            return type::bulk_error;
        case '=':
            return type::verbatim_string;
        case '%':
            return type::map;
        case '~':
            return type::set;
        case '|':
            return type::attribute;
        case '>':
            return type::push;
        default:
            return type::null;  // '_'
    }
}

constexpr bool is_digit(char c) noexcept {
    return static_cast<unsigned char>(c - '0') < 10;
}

// 19 decimal digits always fit in 64 bits; one more could overflow, so longer numbers are
// rejected before the arithmetic instead of checked after it.
constexpr std::ptrdiff_t max_digits = 19;

// Every check below decides only from bytes that are present and answers "need more" only when
// the missing bytes could change the verdict. So a reply cut at any point is judged exactly as
// the whole reply would be, which is what makes parsing resumable at every byte boundary.

enum class scan : std::uint8_t { ok, more, fail };

struct number {
    scan st;
    errc err;
    bool negative;
    std::uint64_t value;
    const char* end;  // past the CRLF
};

// "<digits>\r\n" after a bulk or aggregate type byte. `-1` only where the caller allows a RESP2
// null; anything over `max` fails as soon as the digits read so far exceed it, so an absurd length
// is refused without waiting for its CRLF.
inline number read_length(const char* p, const char* end, std::uint64_t max,
                          bool allow_null) noexcept {
    if (p == end) return {scan::more, {}, false, 0, nullptr};
    bool negative = false;
    if (*p == '-') {
        if (!allow_null) return {scan::fail, errc::invalid_length, false, 0, nullptr};
        negative = true;
        max = 1;
        ++p;
    }
    const char* digits = p;
    std::uint64_t v = 0;
    while (p != end && is_digit(*p)) {
        if (p - digits == max_digits) return {scan::fail, errc::invalid_length, false, 0, nullptr};
        v = v * 10 + static_cast<unsigned>(*p - '0');
        if (v > max) return {scan::fail, errc::invalid_length, false, 0, nullptr};
        ++p;
    }
    if (p == end) return {scan::more, {}, false, 0, nullptr};
    if (p == digits || *p != '\r' || (negative && v != 1)) {
        return {scan::fail, errc::invalid_length, false, 0, nullptr};
    }
    if (p + 1 == end) return {scan::more, {}, false, 0, nullptr};
    if (p[1] != '\n') return {scan::fail, errc::missing_crlf, false, 0, nullptr};
    return {scan::ok, {}, negative, v, p + 2};
}

// ":[+-]<digits>\r\n", within int64.
inline number read_integer(const char* p, const char* end) noexcept {
    if (p == end) return {scan::more, {}, false, 0, nullptr};
    bool negative = false;
    if (*p == '-' || *p == '+') {
        negative = *p == '-';
        ++p;
    }
    const char* digits = p;
    std::uint64_t v = 0;
    while (p != end && is_digit(*p)) {
        if (p - digits == max_digits) return {scan::fail, errc::invalid_integer, false, 0, nullptr};
        v = v * 10 + static_cast<unsigned>(*p - '0');
        ++p;
    }
    constexpr auto int64_max = static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max());
    if (v > int64_max + (negative ? 1 : 0)) {
        return {scan::fail, errc::invalid_integer, false, 0, nullptr};
    }
    if (p == end) return {scan::more, {}, false, 0, nullptr};
    if (p == digits || *p != '\r') return {scan::fail, errc::invalid_integer, false, 0, nullptr};
    if (p + 1 == end) return {scan::more, {}, false, 0, nullptr};
    if (p[1] != '\n') return {scan::fail, errc::missing_crlf, false, 0, nullptr};
    return {scan::ok, {}, negative, v, p + 2};
}

bool valid_big_number(std::string_view s) noexcept {
    std::size_t i = 0;
    if (i < s.size() && (s[i] == '-' || s[i] == '+')) ++i;
    if (i == s.size()) return false;
    for (; i < s.size(); ++i) {
        if (!is_digit(s[i])) return false;
    }
    return true;
}

// [+-](inf|nan) or [+-]digits[.digits][(e|E)[+-]digits], with at least one mantissa digit: what
// Redis writes (printf "%.17g" and friends) and what the RESP3 spec describes.
bool valid_double(std::string_view s) noexcept {
    std::size_t i = 0;
    const std::size_t n = s.size();
    if (i < n && (s[i] == '-' || s[i] == '+')) ++i;
    const std::string_view rest = s.substr(i);
    if (rest == "inf" || rest == "nan") return true;
    std::size_t mantissa = 0;
    while (i < n && is_digit(s[i]))
        ++i, ++mantissa;
    if (i < n && s[i] == '.') {
        ++i;
        while (i < n && is_digit(s[i]))
            ++i, ++mantissa;
    }
    if (mantissa == 0) return false;
    if (i < n && (s[i] == 'e' || s[i] == 'E')) {
        ++i;
        if (i < n && (s[i] == '-' || s[i] == '+')) ++i;
        const std::size_t exponent = i;
        while (i < n && is_digit(s[i]))
            ++i;
        if (i == exponent) return false;
    }
    return i == n;
}

}  // namespace

void parser::reset() noexcept {
    pos_ = 0;
    scan_ = 0;
    depth_ = 0;
    attributes_ = 0;
}

bool parser::idle() const noexcept {
    return pos_ == 0 && scan_ == 0;
}

parser::result parser::parse(std::string_view buf, adapter on_node) {
    // An empty adapter discards nodes (a reply read only to keep replies matched).
    constexpr auto discard = [](const node&) noexcept {};
    if (!on_node) on_node = discard;

    const char* const data = buf.data();
    const char* const end = data + buf.size();
    const std::size_t size = buf.size();
    // Locals rather than members across the loop: the adapter call is opaque to the optimizer.
    std::size_t pos = pos_;
    std::size_t depth = depth_;

    const auto need_more = [&]() noexcept {
        pos_ = pos;
        depth_ = depth;
        return result{status::need_more, 0, {}};
    };
    const auto fail = [&](errc e) noexcept {
        pos_ = pos;
        depth_ = depth;
        return result{status::error, 0, make_error_code(e)};
    };

    for (;;) {
        if (pos >= size) return need_more();
        const char* const p = data + pos;
        const char t = *p;
        node n;
        n.depth = depth;
        n.size = 1;
        const char* next = nullptr;

        switch (t) {
            case ':': {
                const number num = read_integer(p + 1, end);
                if (num.st == scan::more) return need_more();
                if (num.st == scan::fail) return fail(num.err);
                n.data_type = type_of(t);
                n.value = {p + 1, static_cast<std::size_t>(num.end - 2 - (p + 1))};
                next = num.end;
                break;
            }

            case '+':
            case '-':
            case '(':
            case ',':
            case '#':
            case '_': {
                // A line without a length: find its CR, at most max_line bytes in. A line that
                // arrives in pieces is searched once, from where the previous search stopped.
                const std::size_t room = size - (pos + 1);
                const std::size_t window = room <= limits_.max_line ? room : limits_.max_line + 1;
                const std::size_t stop = pos + 1 + window;
                const std::size_t from = scan_ > pos + 1 ? scan_ : pos + 1;
                const void* cr =
                    from < stop ? std::memchr(data + from, '\r', stop - from) : nullptr;
                if (cr == nullptr) {
                    if (room > limits_.max_line) return fail(errc::line_too_long);
                    scan_ = stop;
                    return need_more();
                }
                const char* const crp = static_cast<const char*>(cr);
                if (crp + 1 == end) {
                    scan_ = static_cast<std::size_t>(crp - data);
                    return need_more();
                }
                if (crp[1] != '\n') return fail(errc::missing_crlf);
                n.value = {p + 1, static_cast<std::size_t>(crp - (p + 1))};
                next = crp + 2;
                n.data_type = type_of(t);
                switch (t) {
                    case '(':
                        if (!valid_big_number(n.value)) return fail(errc::invalid_integer);
                        break;
                    case ',':
                        if (!valid_double(n.value)) return fail(errc::invalid_double);
                        break;
                    case '#':
                        if (n.value != "t" && n.value != "f") return fail(errc::invalid_boolean);
                        break;
                    case '_':  // nothing may stand between the type byte and its CRLF
                        if (!n.value.empty()) return fail(errc::missing_crlf);
                        n.size = 0;
                        break;
                }
                break;
            }

            case '$':
            case '!':
            case '=': {
                const number len = read_length(p + 1, end, limits_.max_bulk, t == '$');
                if (len.st == scan::more) return need_more();
                if (len.st == scan::fail) return fail(len.err);
                if (len.negative) {
                    n.data_type = type::null;
                    n.size = 0;
                    next = len.end;
                    break;
                }
                // The header is read again on every call until the payload is complete: it is a
                // few bytes, and keeping no state for it keeps resumption trivially correct.
                const std::size_t have = static_cast<std::size_t>(end - len.end);
                const std::size_t want = static_cast<std::size_t>(len.value);
                if (have <= want) return need_more();
                if (len.end[want] != '\r') return fail(errc::missing_crlf);
                if (have == want + 1) return need_more();
                if (len.end[want + 1] != '\n') return fail(errc::missing_crlf);
                n.value = {len.end, want};
                next = len.end + want + 2;
                if (t == '=' && (want < 4 || n.value[3] != ':')) {
                    return fail(errc::invalid_verbatim);
                }
                n.data_type = type_of(t);
                break;
            }

            case '*':
            case '%':
            case '~':
            case '|':
            case '>': {
                // Refused at the type byte: deeper bytes cannot make the nesting acceptable.
                if (depth > limits_.max_depth) return fail(errc::nesting_too_deep);
                const bool pairs = t == '%' || t == '|';
                std::uint64_t max = limits_.max_aggregate;
                if (pairs && max > std::numeric_limits<std::uint64_t>::max() / 2) {
                    max = std::numeric_limits<std::uint64_t>::max() / 2;
                }
                const number len = read_length(p + 1, end, max, t == '*');
                if (len.st == scan::more) return need_more();
                if (len.st == scan::fail) return fail(len.err);
                if (len.negative) {
                    n.data_type = type::null;
                    n.size = 0;
                    next = len.end;
                    break;
                }
                n.data_type = type_of(t);
                n.size = static_cast<std::size_t>(len.value);
                on_node(n);
                pos = static_cast<std::size_t>(len.end - data);
                scan_ = 0;
                const std::uint64_t children = pairs ? 2 * len.value : len.value;
                if (children != 0) {
                    remaining_[depth] = children;
                    if (t == '|') attributes_ |= std::uint64_t{1} << depth;
                    ++depth;
                    continue;
                }
                // An empty attribute annotates the value that follows it; an empty aggregate is
                // a complete element.
                if (t == '|') continue;
                goto element_complete;
            }

            default:
                return fail(errc::invalid_type_byte);
        }

        on_node(n);
        pos = static_cast<std::size_t>(next - data);
        scan_ = 0;

    element_complete:
        // Close every aggregate this element completes. A closing attribute is not an element of
        // its parent: the value it annotates is still to come, at the attribute's depth.
        for (;;) {
            if (depth == 0) {
                pos_ = 0;
                depth_ = 0;
                return {status::done, pos, {}};
            }
            if (--remaining_[depth - 1] != 0) break;
            --depth;
            const std::uint64_t bit = std::uint64_t{1} << depth;
            if (attributes_ & bit) {
                attributes_ &= ~bit;
                break;
            }
        }
    }
}

}  // namespace sluice::resp
