#pragma once

#include <asio/any_io_executor.hpp>
#include <asio/awaitable.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/steady_timer.hpp>
#include <asio/use_awaitable.hpp>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <system_error>
#include <tuple>
#include <vector>

#include "resp/adapter.hpp"
#include "resp/config.hpp"
#include "resp/link.hpp"
#include "resp/multiplexer.hpp"
#include "resp/poll_policy.hpp"
#include "resp/serializer.hpp"
#include "resp/waiter.hpp"

namespace sluice::resp {

class script;

// One pipelined connection to one Redis server: the thin Asio layer over three pure pieces.
//
//   link_fsm     what state the link is in and what to do on each event (resp/link.hpp)
//   multiplexer  the requests, their bytes, their replies (resp/multiplexer.hpp)
//   handshake    what a new link sends first (resp/handshake.hpp)
//
// This file only moves bytes and resumes callers: one writer sends everything staged during a
// turn of the event loop in one write; one reader reads and hands every complete reply to the
// multiplexer, resuming the caller it names.
//
//   exec() ──► multiplexer (staged) ──(one write per loop turn)──► socket
//   socket ──► reader ──► multiplexer.next() ──► caller resumed
//
// A request that arrives while the link is being set up waits for it within its own deadline;
// only a link known to be down fails a request at once (see link_fsm).
//
// Not thread-safe: one connection belongs to one event loop (one shard). connected() and
// stats() may be read from any thread.
class connection {
  public:
    connection(asio::any_io_executor ex, connection_config cfg);
    ~connection();
    connection(const connection&) = delete;
    connection& operator=(const connection&) = delete;

    // A script every link loads in its handshake. Call before start(); `s` must outlive the
    // connection.
    void preload(const script& s) { preload_.push_back(&s); }

    // Called on each operational event (connected, unreachable, lost, restored): rare by
    // definition, never per request.
    void on_event(std::function<void(const link_event&)> f) { on_event_ = std::move(f); }

    // Starts connecting (and reconnecting, forever, until stop()).
    void start();
    // Starts without an address: requests wait (within their deadlines, as during a connect)
    // until the first retarget() names the server. For a primary found through Sentinel.
    void start_untargeted();
    // Points the connection at another server (a failover): requests on the wire fail as on a
    // lost link (errc::disconnected), the rest wait, and a link to host:port is set up at once,
    // cutting short an attempt or a backoff in progress. The same address again does nothing.
    // Off the hot path: a few times per failover.
    void retarget(std::string host, std::uint16_t port);
    // Fails every pending request with errc::stopped and ends the connection's coroutines; they
    // finish on the executor, so let it run (or poll) before destroying the connection.
    void stop();
    bool stopped() const noexcept { return stopping_ && running_ == 0; }

    // Sends every command of `req` and delivers each reply's nodes to `a`, in order. Returns once
    // all of them arrived, or with:
    //   errc::not_connected  at once while the link is known to be down (backing off);
    //   errc::timeout        when `timeout` passes first, whether the link was up or still being
    //                        set up (a late reply is read and dropped);
    //   errc::disconnected   when the link is lost with the request on the wire;
    //   errc::stopped        after stop().
    // A Redis error reply (-ERR ...) is a reply: the adapter sees it as a node.
    // `req` must stay alive until the call returns.
    asio::awaitable<std::error_code> exec(const request& req, adapter a,
                                          std::chrono::steady_clock::duration timeout);

    // Runs a script with EVALSHA (`req` holds exactly one EVALSHA of `s`, see script::push).
    // When the server answers NOSCRIPT (its script cache was flushed) it is loaded once and the
    // EVALSHA sent again, and the adapter sees only the final reply.
    asio::awaitable<std::error_code> exec(const script& s, const request& req, adapter a,
                                          std::chrono::steady_clock::duration timeout);

    // Receives RESP3 push messages (invalidation, pub/sub); they are never matched to a request.
    void set_push_handler(adapter a) noexcept { mux_.set_push_handler(a); }

    link_state state() const noexcept { return fsm_.state(); }
    bool connected() const noexcept { return connected_.load(std::memory_order_relaxed); }
    const connection_stats& stats() const noexcept { return stats_; }
    // The last reason the link went down or failed to come up (for logs and tests).
    const std::string& last_error() const noexcept { return last_error_; }
    std::size_t in_flight() const noexcept { return mux_.in_flight(); }
    const connection_config& config() const noexcept { return cfg_; }

  private:
    // A caller suspended in exec(): the completion handler of an operation whose value is the
    // result. Kept in callers_[slot]: no coroutine frame of exec()'s own.
    using caller_signature = void(std::error_code, std::error_code);
    using caller_type = asio::async_result<asio::use_awaitable_t<>, caller_signature>::handler_type;
    using slot_id = multiplexer::slot_id;
    using time_point = std::chrono::steady_clock::time_point;

    asio::awaitable<void> run();
    asio::awaitable<std::error_code> connect_once();
    asio::awaitable<std::error_code> exchange_handshake();
    asio::awaitable<void> writer(std::uint64_t gen);
    asio::awaitable<void> reader(std::uint64_t gen);
    asio::awaitable<std::tuple<std::error_code, std::size_t>> poll_for_reply(std::uint64_t gen);
    asio::awaitable<void> health_checker(std::uint64_t gen);
    asio::awaitable<void> timeout_sweeper();

    void perform(const link_action& a, std::error_code written_ec, std::error_code staged_ec);
    void drop_link(std::error_code ec, std::string_view why);
    void complete(slot_id s, std::error_code ec);
    void resume_later(slot_id s, std::error_code ec);
    void wake_granted();
    void fail_waiters();

    asio::awaitable<std::error_code> submit(const script* scr, const request& req, adapter a,
                                            time_point deadline);
    void enqueue(caller_type caller, slot_id granted, const script* scr, const request& req,
                 adapter a, time_point deadline);
    asio::awaitable<std::error_code> wait_for_slot(const script* scr, const request& req, adapter a,
                                                   time_point deadline);
    void wake_writer() noexcept;
    void write_now() noexcept;
    void flush() noexcept;

    asio::any_io_executor ex_;
    connection_config cfg_;
    std::vector<const script*> preload_;
    std::function<void(const link_event&)> on_event_;
    asio::ip::tcp::socket socket_;
    connection_stats stats_;
    link_fsm fsm_;
    multiplexer mux_;
    poll_policy poll_;
    std::vector<std::optional<caller_type>> callers_;  // by slot
    std::vector<slot_id> failed_;                      // scratch for fail paths
    std::vector<slot_id> expired_;                     // scratch for the sweeper

    waiter writer_wakeup_;
    waiter sweeper_wakeup_;
    asio::steady_timer reconnect_timer_;
    asio::steady_timer health_timer_;
    asio::steady_timer sweep_timer_;
    asio::steady_timer link_closed_;  // run() sleeps on it while the link is up

    bool writer_idle_ = false;
    bool sweeper_parked_ = false;
    // The reader is handing out replies: callers it resumes stage their next requests, and the
    // reader writes them all when it is done.
    bool dispatching_ = false;
    bool reader_parked_ = false;   // the reader is in a read begun with no reply due
    bool poll_requested_ = false;  // exec() cancelled that read and decided this wait polls

    std::atomic<bool> connected_{false};
    bool stopping_ = false;
    int running_ = 0;                 // coroutines of this connection still alive
    std::uint64_t generation_ = 0;    // bumped when a link closes: its coroutines then end
    std::uint64_t target_epoch_ = 0;  // bumped by retarget(): an attempt under way is stale
    bool untargeted_ = false;         // started, waiting for the first retarget()
    std::string last_error_;
};

}  // namespace sluice::resp
