#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace sluice::http {

// The reason phrase of a status code ("Too Many Requests"); empty for a code without a known
// phrase, which the status line allows.
std::string_view reason_phrase(unsigned status) noexcept;

// What the head says about the connection. keep_alive matters only to HTTP/1.0 clients, which
// close after every response unless told otherwise.
enum class connection_header : std::uint8_t { none, keep_alive, close };

// A response as a handler describes it: a status, up to max_fields extra fields and a body, all
// as views (or integers) that the handler keeps alive until the head is written. Writing the head
// formats it into a caller-owned buffer that keeps its capacity, so a warm connection writes
// responses without allocating. The body stays apart: a caller can send head and body as two
// buffers of one gather write, or append the body to the same buffer.
//
// Content-Length is always computed from the body (so a handler must not add its own), except for
// 1xx and 204 responses, which must not carry one.
class response {
  public:
    static constexpr std::size_t max_fields = 16;

    // Back to 200 with no fields and no body.
    void clear() noexcept {
        status_ = 200;
        count_ = 0;
        body_ = {};
    }

    // 100..599; anything else is written as 500.
    void set_status(unsigned status) noexcept { status_ = status; }
    unsigned status() const noexcept { return status_; }

    // Adds a field written as given: name and value must not contain CR or LF. Returns false, and
    // drops the field, when max_fields are already set.
    bool add_header(std::string_view name, std::string_view value) noexcept;
    // Adds a field whose value is an integer, formatted when the head is written.
    bool add_header(std::string_view name, std::int64_t value) noexcept;
    std::size_t header_count() const noexcept { return count_; }

    void set_body(std::string_view body) noexcept { body_ = body; }
    std::string_view body() const noexcept { return body_; }

    // Appends the head to `out`: status line, the fields, Content-Length, the Connection field and
    // the blank line. Returns the number of bytes appended.
    std::size_t write_head(std::string& out, connection_header connection) const;

  private:
    struct field {
        std::string_view name;
        std::string_view text;
        std::int64_t number = 0;
        bool is_number = false;
    };

    unsigned status_ = 200;
    std::size_t count_ = 0;
    std::string_view body_;
    std::array<field, max_fields> fields_{};
};

}  // namespace sluice::http
