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
#include <string>
#include <system_error>
#include <tuple>
#include <vector>

#include "resp/adapter.hpp"
#include "resp/parser.hpp"
#include "resp/serializer.hpp"
#include "resp/url.hpp"
#include "resp/waiter.hpp"

namespace sluice::resp {

class script;

struct connection_config {
    std::string host = "127.0.0.1";
    std::uint16_t port = 6379;
    std::string user;      // empty: the default user
    std::string password;  // empty: no AUTH
    int db = 0;
    int protocol = 3;  // 3: HELLO 3 (RESP3, pushes); 2: plain RESP2 with AUTH

    std::chrono::milliseconds connect_timeout{1000};
    std::chrono::milliseconds reconnect_min{50};    // first backoff step
    std::chrono::milliseconds reconnect_max{2000};  // backoff ceiling
    // An idle connection sends PING this often; a PING unanswered within health_timeout means the
    // server is gone even though TCP has not noticed, and the connection is dropped and rebuilt.
    std::chrono::milliseconds health_interval{1000};  // zero: no health check
    std::chrono::milliseconds health_timeout{2000};
    // Requests in flight (written or waiting to be written) at most; past it exec() waits, so a
    // stalled server applies back-pressure instead of growing memory.
    std::size_t max_in_flight = 4096;
    // Request deadlines are checked this often, by one timer per connection rather than one per
    // request: a timeout fires up to this much late.
    std::chrono::milliseconds timeout_resolution{5};
    // While replies are due, the reader polls the socket for up to this long, yielding to the
    // event loop between polls, before it sleeps in the loop (see poll_for_reply()). Zero: never
    // poll. It trades CPU for latency: a reply from a nearby server arrives within tens of
    // microseconds, and sleeping and being woken again costs about as much.
    std::chrono::microseconds poll_budget{50};
    parser_limits limits{};

    // Where and as whom to connect, from a parsed redis:// URL; the rest keeps its defaults.
    static connection_config from_url(const redis_url& url) {
        connection_config c;
        c.host = url.host;
        c.port = url.port;
        c.user = url.user;
        c.password = url.password;
        c.db = url.db;
        return c;
    }
};

// Counters for /metrics. Written only by the connection's own thread (load + store, no locked
// instruction), readable from any thread.
struct connection_stats {
    std::atomic<std::uint64_t> replies{0};
    std::atomic<std::uint64_t> writes{0};
    std::atomic<std::uint64_t> timeouts{0};
    std::atomic<std::uint64_t> failed_fast{0};
    std::atomic<std::uint64_t> connects{0};
    std::atomic<std::uint64_t> disconnects{0};
    std::atomic<std::uint64_t> noscript_retries{0};
    std::atomic<std::uint64_t> poll_hits{0};    // replies found by polling, without sleeping
    std::atomic<std::uint64_t> poll_misses{0};  // polls whose budget ran out
};

// One pipelined connection to one Redis server.
//
// Any number of coroutines on the connection's executor call exec() concurrently. Each request's
// bytes are appended to one output buffer, and the single writer sends everything that
// accumulated during a turn of the event loop in one write. The single reader parses replies as
// they arrive and hands each to the oldest unanswered request: Redis answers in order, so the
// order of the write queue is the order of the replies.
//
//   exec() ──► out_ ──(one write per loop turn)──► socket ──► reader ──► slot FIFO ──► exec()
//   resumes
//
// A request whose caller stopped waiting (timeout) stays in the FIFO, marked abandoned: its reply
// is still read and dropped, so the replies that follow stay matched to their requests.
//
// Not thread-safe: one connection belongs to one event loop (one shard).
class connection {
  public:
    connection(asio::any_io_executor ex, connection_config cfg);
    ~connection();
    connection(const connection&) = delete;
    connection& operator=(const connection&) = delete;

    // Starts connecting (and reconnecting, forever, until stop()).
    void start();
    // Fails every pending request with errc::stopped and ends the connection's coroutines; they
    // finish on the executor, so let it run (or poll) before destroying the connection.
    void stop();
    bool stopped() const noexcept { return stopping_ && running_ == 0; }

    // Sends every command of `req` and delivers each reply's nodes to `a`, in order. Returns once
    // all of them arrived, or with:
    //   errc::not_connected  at once while the connection is down (fail fast);
    //   errc::timeout        when `timeout` passes first (the late replies are read and dropped);
    //   errc::disconnected   when the connection is lost with the request in flight;
    //   errc::stopped        after stop().
    // A Redis error reply (-ERR ...) is a reply: the adapter sees it as a node.
    // `req` must stay alive only until the call returns; it is copied into the write buffer.
    asio::awaitable<std::error_code> exec(const request& req, adapter a,
                                          std::chrono::steady_clock::duration timeout);

    // Runs a script with EVALSHA (`req` holds exactly one EVALSHA of `s`, see script::push).
    // When the server answers NOSCRIPT (its script cache was flushed, or it restarted or failed
    // over) it loads the script and runs it once more, and the adapter sees only the final reply.
    asio::awaitable<std::error_code> exec(const script& s, const request& req, adapter a,
                                          std::chrono::steady_clock::duration timeout);

    // Receives RESP3 push messages (invalidation, pub/sub); they are never matched to a request.
    void set_push_handler(adapter a) noexcept { push_handler_ = a; }

    bool connected() const noexcept { return connected_.load(std::memory_order_relaxed); }
    const connection_stats& stats() const noexcept { return stats_; }
    // The last reason the connection went down or failed to come up (for logs and tests).
    const std::string& last_error() const noexcept { return last_error_; }
    std::size_t in_flight() const noexcept { return in_flight_; }
    const connection_config& config() const noexcept { return cfg_; }

  private:
    // A caller suspended in exec(): the completion handler of an operation whose value is the
    // result (see submit()).
    using caller_signature = void(std::error_code, std::error_code);
    using caller_type = asio::async_result<asio::use_awaitable_t<>, caller_signature>::handler_type;
    struct slot;
    struct space_waiter;

    asio::awaitable<void> run();
    asio::awaitable<std::error_code> connect_once();
    asio::awaitable<std::error_code> handshake();
    asio::awaitable<void> writer();
    asio::awaitable<void> reader();
    asio::awaitable<std::tuple<std::error_code, std::size_t>> poll_for_reply(std::uint64_t gen);
    bool poll_this_wait() noexcept;
    asio::awaitable<void> health_checker();
    asio::awaitable<void> timeout_sweeper();

    slot* acquire_slot() noexcept;
    void release_slot(slot* s) noexcept;
    void complete(slot* s, std::error_code ec) noexcept;
    void fail_all(std::error_code ec) noexcept;
    void drop_connection(std::error_code ec, std::string_view why);
    void on_node(const node& n);
    void on_reply_done();
    void retry_script(slot* s);
    asio::awaitable<std::error_code> submit(const script* scr, const request& req, adapter a,
                                            std::chrono::steady_clock::time_point deadline);
    void enqueue(caller_type caller, const script* scr, const request& req, adapter a,
                 std::chrono::steady_clock::time_point deadline);
    asio::awaitable<std::error_code> wait_for_slot(const script* scr, const request& req, adapter a,
                                                   std::chrono::steady_clock::time_point deadline);
    void wake_writer() noexcept;
    void write_now() noexcept;
    void wake_space_waiter() noexcept;
    void count(std::atomic<std::uint64_t>& c) noexcept {
        c.store(c.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
    }

    asio::any_io_executor ex_;
    connection_config cfg_;
    asio::ip::tcp::socket socket_;
    waiter writer_wakeup_;
    asio::steady_timer reconnect_timer_;
    asio::steady_timer health_timer_;
    asio::steady_timer sweep_timer_;
    waiter sweeper_wakeup_;  // the sweeper parks on it while nothing is in flight
    bool sweeper_parked_ = false;
    asio::steady_timer disconnected_;  // cancelled when the connection drops, to stop its loops

    // Slots are made once and recycled through a free list: exec() does not allocate per request.
    std::vector<std::unique_ptr<slot>> slots_;
    std::vector<slot*> free_slots_;
    // The FIFO of requests waiting for replies: a ring of slot pointers, power-of-two capacity.
    std::vector<slot*> fifo_;
    std::size_t fifo_head_ = 0;
    std::size_t fifo_tail_ = 0;
    std::size_t in_flight_ = 0;
    space_waiter* space_waiters_ = nullptr;  // intrusive list of coroutines waiting for a slot

    std::string out_;      // bytes appended by exec() since the last write began
    std::string writing_;  // bytes of the write in progress
    bool writer_idle_ = false;
    // The reader is handing out replies: callers it resumes append their next requests, and the
    // reader writes them all when it is done.
    bool dispatching_ = false;

    std::vector<char> in_;  // read buffer: [in_start_, in_end_) not yet parsed into a whole reply
    std::size_t in_start_ = 0;
    std::size_t in_end_ = 0;
    parser parser_;
    unsigned poll_misses_ = 0;     // consecutive polls that ran out of budget
    unsigned poll_skip_ = 0;       // waits left that sleep at once, after a miss
    bool reader_parked_ = false;   // the reader is in a read begun with no reply due
    bool poll_requested_ = false;  // exec() cancelled that read and decided this wait polls
    // Per-reply dispatch state of the reader.
    bool reply_is_push_ = false;
    bool reply_swallowed_ = false;  // a NOSCRIPT or the SCRIPT LOAD of its retry
    bool skipping_attribute_ = false;
    std::size_t attribute_depth_ = 0;
    request retry_;  // SCRIPT LOAD for a NOSCRIPT retry, rebuilt in place

    adapter push_handler_;
    connection_stats stats_;
    std::atomic<bool> connected_{false};
    bool stopping_ = false;
    bool link_up_ = false;          // handshake done, reader and writer running
    int running_ = 0;               // coroutines of this connection still alive
    std::uint64_t generation_ = 0;  // bumped when the link drops: its coroutines then end
    std::string last_error_;
    std::uint64_t rng_state_;
};

}  // namespace sluice::resp
