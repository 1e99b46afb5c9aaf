#pragma once

// The header-section rules the request and the response parser share: what a field line, a start
// line and a trailer section may contain, and the framing fields (Content-Length,
// Transfer-Encoding) that must not be ambiguous. A message that breaks them could be read
// differently by another HTTP implementation on the path, the root of request smuggling and of
// response splitting, so both directions refuse it.

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <string_view>

namespace sluice::http::rules {

// tchar from RFC 9110 section 5.6.2: the only bytes allowed in a method or a field name.
constexpr std::array<bool, 256> make_tchar_table() {
    std::array<bool, 256> t{};
    for (int c = '0'; c <= '9'; ++c)
        t[c] = true;
    for (int c = 'a'; c <= 'z'; ++c)
        t[c] = true;
    for (int c = 'A'; c <= 'Z'; ++c)
        t[c] = true;
    for (char c : std::string_view("!#$%&'*+-.^_`|~"))
        t[static_cast<unsigned char>(c)] = true;
    return t;
}
inline constexpr std::array<bool, 256> tchar = make_tchar_table();

constexpr bool is_target_char(unsigned char c) noexcept {
    return c > 0x20 && c < 0x7f;
}

// field-vchar, SP, HTAB and obs-text; everything else (CTLs, DEL) is refused in a value.
constexpr bool is_value_char(unsigned char c) noexcept {
    return c == '\t' || (c >= 0x20 && c != 0x7f);
}

constexpr bool is_digit(unsigned char c) noexcept {
    return c >= '0' && c <= '9';
}

// Where a piece of the message lies in the buffer llhttp is executing over: offsets, not
// pointers, so a caller may move the buffer between two executes.
struct span {
    std::uint32_t offset = 0;
    std::uint32_t length = 0;

    // llhttp may report one span in pieces; they are adjacent in the buffer, so the span just
    // grows to cover them.
    void extend(const char* base, const char* at, std::size_t n) noexcept {
        const auto at_offset = static_cast<std::uint32_t>(at - base);
        if (length == 0) offset = at_offset;
        length = static_cast<std::uint32_t>(at_offset + n - offset);
    }
    std::string_view in(const char* base) const noexcept { return {base + offset, length}; }
};

// The field lines llhttp reports, as spans, at most N: what both parsers' field callbacks do.
template <std::size_t N>
class field_spans {
  public:
    struct field {
        span name;
        span value;
    };

    void clear() noexcept {
        count_ = 0;
        open_ = false;
    }
    // A piece of a field name; false when `limit` (at most N) fields are there already.
    bool add_name(const char* base, const char* at, std::size_t n, std::size_t limit) noexcept {
        if (!open_) {
            if (count_ == std::min(limit, N)) return false;
            fields_[count_] = {};
            open_ = true;
        }
        fields_[count_].name.extend(base, at, n);
        return true;
    }
    void add_value(const char* base, const char* at, std::size_t n) noexcept {
        fields_[count_].value.extend(base, at, n);
    }
    // llhttp skips the whitespace before a value but keeps the whitespace after it.
    void value_complete(const char* base) noexcept {
        span& value = fields_[count_].value;
        while (value.length != 0) {
            const char last = base[value.offset + value.length - 1];
            if (last != ' ' && last != '\t') break;
            --value.length;
        }
        ++count_;
        open_ = false;
    }

    std::size_t size() const noexcept { return count_; }
    const field& operator[](std::size_t i) const noexcept { return fields_[i]; }

  private:
    std::array<field, N> fields_{};
    std::size_t count_ = 0;
    bool open_ = false;  // a field name was reported and its value is not complete yet
};

// Scans a header section one byte at a time, across calls, up to the blank line that ends it:
// the start line (a request line or a status line) and the field lines. It checks the bytes only;
// the meaning of the fields is checked once llhttp has split them.
class header_scanner {
  public:
    enum class start_line : std::uint8_t {
        // `method SP target SP HTTP/d.d`, after optional empty lines (RFC 9112 section 2.2).
        request,
        // `HTTP/d.d SP 3DIGIT SP reason`, the reason possibly empty; nothing before it.
        status,
    };

    explicit header_scanner(start_line kind) noexcept : kind_(kind) { reset(); }

    void reset() noexcept;

    // Scans buf[scanned()..min(buf.size(), limit)). Returns false on a byte the rules refuse
    // (reason() says which); true otherwise, with end() set once the blank line was seen.
    bool scan(std::string_view buf, std::size_t limit) noexcept;

    // Offset just past the blank line, or 0 while the section is incomplete.
    std::size_t end() const noexcept { return end_; }
    std::size_t scanned() const noexcept { return scanned_; }
    std::string_view reason() const noexcept { return reason_; }

  private:
    enum class state : std::uint8_t {
        start,           // before the request line (empty lines are skipped)
        start_lf,        // CR seen before the request line
        method,          // tchar until SP
        target,          // visible ASCII until SP; pos_ notes whether any was seen
        version,         // request: "HTTP/d.d", position in pos_, then CR
        status_version,  // status: "HTTP/d.d", position in pos_, then SP
        status_code,     // three digits, then SP
        status_reason,   // HTAB, SP, VCHAR, obs-text until CR
        line_lf,         // CR seen at the end of the start line or of a field line
        line_start,      // first byte of a field line, or CR of the final blank line
        name,            // tchar until the colon
        value,           // field-vchar, SP, HTAB, obs-text until CR
        end_lf,          // CR of the blank line seen
    };

    bool refuse(unsigned char c, std::string_view reason) noexcept;

    start_line kind_;
    state state_ = state::start;
    std::uint8_t pos_ = 0;
    std::size_t scanned_ = 0;
    std::size_t end_ = 0;
    std::string_view reason_;
};

// The trailer section of a chunked message, from the byte after the last chunk's size line to the
// end of the message, by the rules the header section is held to: field lines of a token, ':'
// and a value, each ended by CRLF, then CRLF. Returns why not, or an empty view. llhttp alone
// accepts a bare LF ending the section, obs-fold and an empty field name there, which another
// implementation could read as a different end of the message.
std::string_view check_trailers(std::string_view s) noexcept;

// Looks for the end of a trailer section that starts at rest[0] and may be incomplete: a parser
// holds the section until it is whole, then checks it as one piece with check_trailers().
// `scanned` carries what earlier calls already searched (start it at 0), so a peer that sends the
// section byte by byte does not make the search quadratic. A line ending that is already wrong
// is reported before the section is complete, and before any other fault of a complete one, so
// that the error does not depend on how the bytes were split.
struct trailer_search {
    std::size_t end = 0;     // bytes of the whole section, 0 while it is incomplete
    std::string_view error;  // why the bytes so far cannot start a valid section
};
trailer_search find_trailer_end(std::string_view rest, std::size_t& scanned,
                                std::size_t max_bytes) noexcept;

// The framing fields of one header section, gathered field by field.
class framing_fields {
  public:
    enum class verdict : std::uint8_t { ok, invalid_length, length_overflow };

    // Notes one field. A Content-Length that is not only digits, or that does not fit 64 bits,
    // is refused at once.
    verdict add(std::string_view name, std::string_view value) noexcept;

    // What is wrong with the section's framing fields as a whole, or an empty view: Content-Length
    // given twice (even with equal values: llhttp refuses it, and no sane sender does it),
    // Content-Length with Transfer-Encoding, Transfer-Encoding twice, or other than exactly
    // `chunked` (the only coding a gateway can remove and re-apply). Transfer-Encoding in HTTP/1.0,
    // which has no chunked framing to agree on (RFC 9112 section 6.1), is left to the caller.
    std::string_view check() const noexcept;

    std::size_t content_lengths() const noexcept { return content_lengths_; }
    std::uint64_t content_length() const noexcept { return content_length_; }
    bool has_transfer_encoding() const noexcept { return transfer_encodings_ != 0; }
    bool chunked() const noexcept { return chunked_; }

  private:
    std::size_t content_lengths_ = 0;
    std::size_t transfer_encodings_ = 0;
    std::uint64_t content_length_ = 0;
    bool chunked_ = false;
};

}  // namespace sluice::http::rules
