#pragma once

#include <asio/any_io_executor.hpp>
#include <asio/awaitable.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/steady_timer.hpp>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include "http/response_parser.hpp"
#include "resp/counter.hpp"

namespace sluice::core {

struct upstream_settings {
    asio::ip::tcp::endpoint endpoint;
    std::chrono::steady_clock::duration connect_timeout = std::chrono::seconds(2);
    // Kept idle connections beyond this are closed rather than pooled (--upstream-max-idle); 0
    // closes every connection after its exchange.
    std::size_t max_idle = 64;
    // An idle connection unused this long is closed by the sweep (--upstream-idle-timeout):
    // upstreams close theirs after a while too, and one found closed costs a retry.
    std::chrono::steady_clock::duration idle_timeout = std::chrono::seconds(30);
};

// What a pool did, for /metrics: one writer (the shard's loop), read by the admin thread. The
// counters only grow; `idle` and `busy` are the pool's state now.
struct upstream_pool_stats {
    resp::counter opened;           // connections established
    resp::counter reused;           // exchanges begun on a pooled idle connection
    resp::counter idle_closed;      // idle connections closed by the sweep (idle_timeout)
    resp::counter overflow_closed;  // reusable connections closed because max_idle were idle
    std::atomic<std::uint64_t> idle{0};
    std::atomic<std::uint64_t> busy{0};  // handed out by take_idle() or connect(), not released
};

// One connection to the upstream with its read buffer and parser. Never destroyed while its
// shard runs (closed ones are recycled), so a deadline's completion can never outlive it.
class upstream_connection {
  public:
    using clock = std::chrono::steady_clock;

    explicit upstream_connection(const asio::any_io_executor& executor);

    // From now until disarm(), an operation still running after `d` is cancelled and
    // timed_out() turns true.
    void arm(clock::duration d);
    void disarm() noexcept;
    bool timed_out() const noexcept { return timed_out_; }

    std::string_view pending() const noexcept { return {in_.data() + begin_, end_ - begin_}; }
    void consume(std::size_t n) noexcept;
    // The whole read buffer, for a tunnel to read into; the pending bytes are dropped (the caller
    // has passed them on).
    std::span<char> take_buffer() noexcept {
        begin_ = end_ = 0;
        return {in_.data(), in_.size()};
    }
    // Reads more bytes after the pending ones; the error of the read, or timed_out.
    asio::awaitable<std::error_code> read_more();
    void close() noexcept;

    asio::ip::tcp::socket socket;
    http::response_parser parser;
    std::string out;  // the request head (and body framing) written upstream
    clock::time_point idle_since{};
    std::uint64_t received = 0;  // bytes read since the caller last zeroed it

  private:
    asio::steady_timer timer_;
    std::vector<char> in_;
    std::size_t begin_ = 0;
    std::size_t end_ = 0;
    std::uint64_t generation_ = 0;
    bool timed_out_ = false;
};

// A shard's keep-alive connections to the upstream. Not thread-safe: it belongs to the shard's
// event loop.
class upstream_pool {
  public:
    upstream_pool(const asio::any_io_executor& executor, upstream_settings settings);
    upstream_pool(const upstream_pool&) = delete;
    upstream_pool& operator=(const upstream_pool&) = delete;
    ~upstream_pool();

    // The most recently used idle connection, or null.
    upstream_connection* take_idle();
    // A new connection within connect_timeout, or null with the error (timed_out for the
    // timeout).
    asio::awaitable<upstream_connection*> connect(std::error_code& ec);
    // Back to the pool when it may carry another exchange (the response complete, nothing unread
    // and the upstream did not ask to close), else closed.
    void release(upstream_connection* c, bool reusable) noexcept;

    const upstream_pool_stats& stats() const noexcept { return stats_; }

    // Starts the idle sweep; stop() ends it and closes every idle connection.
    void start();
    void stop() noexcept;
    // stop(), and the connections in use are closed too: their requests fail at once (a forced
    // shutdown must not wait for --upstream-timeout).
    void abort() noexcept;

  private:
    void arm_sweep();
    void sweep();
    upstream_connection* spare();
    // The gauges, after idle_ or busy_ changed.
    void publish() noexcept;

    asio::any_io_executor executor_;
    upstream_settings settings_;
    asio::steady_timer sweep_;
    bool stopped_ = false;
    std::size_t busy_ = 0;
    upstream_pool_stats stats_;
    std::vector<upstream_connection*> idle_;   // oldest first
    std::vector<upstream_connection*> spare_;  // closed, ready to be reused
    std::vector<std::unique_ptr<upstream_connection>> all_;
};

}  // namespace sluice::core
