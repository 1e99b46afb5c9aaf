#pragma once

#include <charconv>
#include <concepts>
#include <cstddef>
#include <string>
#include <string_view>

namespace sluice::resp {

// A batch of commands, serialized as RESP arrays of bulk strings straight into one buffer.
//
// A request is meant to be kept and reused: clear() keeps the buffer's capacity, so a caller that
// sends the same shape of command again and again (the limiter) does not allocate once warm.
// Integers and doubles are formatted with std::to_chars, without allocating.
class request {
  public:
    // push("SET", key, value), push("PEXPIRE", key, 1500): strings and arithmetic arguments.
    template <class... Args>
    void push(std::string_view command, const Args&... args) {
        write_array_header(1 + sizeof...(Args));
        write_bulk(command);
        (write_arg(args), ...);
        ++commands_;
    }

    // push_range("DEL", keys): a command whose arguments are the elements of a range.
    template <class Range>
    void push_range(std::string_view command, const Range& range) {
        write_array_header(1 + std::size(range));
        write_bulk(command);
        for (const auto& a : range)
            write_arg(a);
        ++commands_;
    }

    // Low level, for commands whose arity is known only while writing: write_array_header(n)
    // then n arguments, then end_command().
    void write_array_header(std::size_t n);
    void write_bulk(std::string_view s);
    void end_command() noexcept { ++commands_; }
    // Bytes already serialized as bulk strings (arguments prepared once and sent many times);
    // the caller counts them in write_array_header.
    void write_raw(std::string_view resp) { buf_.append(resp); }

    void write_arg(std::string_view s) { write_bulk(s); }
    void write_arg(const std::string& s) { write_bulk(s); }
    void write_arg(const char* s) { write_bulk(s); }
    template <std::integral I>
    void write_arg(I v) {
        char tmp[24];
        auto [end, ec] = std::to_chars(tmp, tmp + sizeof tmp, v);
        write_bulk({tmp, static_cast<std::size_t>(end - tmp)});
    }
    void write_arg(double v);

    std::string_view payload() const noexcept { return buf_; }
    std::size_t commands() const noexcept { return commands_; }  // replies this request expects
    bool empty() const noexcept { return commands_ == 0; }
    void clear() noexcept {
        buf_.clear();
        commands_ = 0;
    }
    void reserve(std::size_t bytes) { buf_.reserve(bytes); }

  private:
    std::string buf_;
    std::size_t commands_ = 0;
};

}  // namespace sluice::resp
