#include "resp/connection.hpp"

#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/experimental/as_tuple.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/post.hpp>
#include <asio/use_awaitable.hpp>
#include <asio/write.hpp>
#include <tuple>
#include <utility>

#include "resp/error.hpp"
#include "resp/handshake.hpp"
#include "resp/script.hpp"

namespace sluice::resp {

namespace {

constexpr auto nothrow = asio::experimental::as_tuple(asio::use_awaitable);

bool would_block(const std::error_code& ec) noexcept {
    return ec == asio::error::would_block || ec == asio::error::try_again;
}

std::uint64_t seed_of(const void* p) noexcept {
    return reinterpret_cast<std::uintptr_t>(p) ^
           static_cast<std::uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count());
}

}  // namespace

connection::connection(asio::any_io_executor ex, connection_config cfg)
    : ex_{std::move(ex)},
      cfg_{std::move(cfg)},
      socket_{ex_},
      fsm_{backoff{cfg_.reconnect_min, cfg_.reconnect_max, seed_of(this)}},
      mux_{cfg_.max_in_flight, cfg_.limits, stats_},
      poll_{cfg_.poll_budget},
      callers_(mux_.capacity()),
      reconnect_timer_{ex_},
      health_timer_{ex_},
      sweep_timer_{ex_},
      link_closed_{ex_} {
    failed_.reserve(mux_.capacity());
    expired_.reserve(mux_.capacity());
}

connection::~connection() = default;

void connection::start() {
    running_ += 2;
    asio::co_spawn(ex_, run(), asio::detached);
    asio::co_spawn(ex_, timeout_sweeper(), asio::detached);
}

void connection::start_untargeted() {
    untargeted_ = true;
    running_ += 1;
    asio::co_spawn(ex_, timeout_sweeper(), asio::detached);
}

void connection::retarget(std::string host, std::uint16_t port) {
    if (stopping_) return;
    if (untargeted_) {
        untargeted_ = false;
        cfg_.host = std::move(host);
        cfg_.port = port;
        running_ += 1;
        asio::co_spawn(ex_, run(), asio::detached);
        return;
    }
    if (host == cfg_.host && port == cfg_.port) return;
    cfg_.host = std::move(host);
    cfg_.port = port;
    ++target_epoch_;
    const std::string why = "primary moved to " + cfg_.host + ":" + std::to_string(cfg_.port);
    switch (fsm_.state()) {
        case link_state::ready:
            drop_link(errc::retargeted, why);
            break;
        case link_state::connecting:
        case link_state::handshaking: {
            // run() sees the epoch changed when connect_once() returns, and tries the new address
            // at once. Closing the socket ends a connect or a handshake read now; a resolve in
            // progress is checked when it completes.
            std::error_code ignored;
            socket_.close(ignored);
            perform(fsm_.retarget(std::chrono::steady_clock::now(), why), {}, {});
            break;
        }
        case link_state::backing_off:
            perform(fsm_.retarget(std::chrono::steady_clock::now(), why), {}, {});
            // run() sleeps on this timer only while backing off; it then connects again.
            reconnect_timer_.cancel();
            break;
        case link_state::idle:
        case link_state::stopped:
            break;
    }
}

void connection::stop() {
    if (stopping_) return;
    stopping_ = true;
    ++generation_;
    connected_.store(false, std::memory_order_relaxed);
    std::error_code ignored;
    socket_.close(ignored);
    perform(fsm_.stop(), errc::stopped, errc::stopped);
    fail_waiters();
    reconnect_timer_.cancel();
    health_timer_.cancel();
    sweep_timer_.cancel();
    link_closed_.cancel();
    writer_wakeup_.notify();
    sweeper_wakeup_.notify();
}

// ---------------------------------------------------------------------------------------------
// The link's life: the state machine decides, this performs.

void connection::perform(const link_action& a, std::error_code written_ec,
                         std::error_code staged_ec) {
    if (a.fail_written) {
        mux_.link_down(failed_);
        for (slot_id s : failed_)
            resume_later(s, written_ec);
        failed_.clear();
    }
    if (a.fail_staged) {
        mux_.fail_staged(failed_);
        for (slot_id s : failed_) {
            if (staged_ec == errc::not_connected) stats_.failed_fast.add();
            resume_later(s, staged_ec);
        }
        failed_.clear();
        fail_waiters();
    }
    wake_granted();
    if (a.report && on_event_) on_event_(*a.report);
}

asio::awaitable<void> connection::run() {
    perform(fsm_.start(std::chrono::steady_clock::now()), {}, {});
    while (!stopping_) {
        const std::uint64_t epoch = target_epoch_;
        std::error_code ec = co_await connect_once();
        if (stopping_) break;
        const auto now = std::chrono::steady_clock::now();
        if (epoch != target_epoch_) {
            // Retargeted during the attempt: whatever it got was from the old address.
            std::error_code ignored;
            socket_.close(ignored);
            mux_.reset_read();
            continue;
        }
        if (ec) {
            std::error_code ignored;
            socket_.close(ignored);
            mux_.reset_read();  // a partial handshake reply; nothing else was written
            link_action a = fsm_.attempt_failed(now, last_error_);
            perform(a, errc::disconnected, errc::not_connected);
            reconnect_timer_.expires_after(a.wait.value_or(cfg_.reconnect_min));
            co_await reconnect_timer_.async_wait(nothrow);
            if (stopping_) break;
            perform(fsm_.backoff_elapsed(), {}, {});
            continue;
        }

        const auto gen = ++generation_;
        perform(fsm_.handshake_done(now), {}, {});
        if (stats_.connects.get() > 0) stats_.reconnects.add();
        stats_.connects.add();
        writer_idle_ = false;  // the new writer's own, whatever the old one left
        connected_.store(true, std::memory_order_relaxed);
        running_ += 3;
        asio::co_spawn(ex_, reader(gen), asio::detached);
        asio::co_spawn(ex_, writer(gen), asio::detached);
        asio::co_spawn(ex_, health_checker(gen), asio::detached);
        // What waited for this link leaves with the writer's first write.
        while (gen == generation_ && !stopping_) {
            link_closed_.expires_at(asio::steady_timer::time_point::max());
            co_await link_closed_.async_wait(nothrow);
        }
    }
    --running_;
}

asio::awaitable<std::error_code> connection::connect_once() {
    std::error_code ignored;
    socket_.close(ignored);

    // One deadline covers resolving, connecting and the handshake.
    bool timed_out = false;
    bool finished = false;
    reconnect_timer_.expires_after(cfg_.connect_timeout);
    reconnect_timer_.async_wait([this, &timed_out, &finished](std::error_code ec) {
        if (ec || finished) return;
        timed_out = true;
        std::error_code ignored;
        socket_.close(ignored);
    });

    std::error_code ec;
    const std::uint64_t epoch = target_epoch_;
    asio::ip::tcp::resolver resolver{ex_};
    auto [rec, endpoints] =
        co_await resolver.async_resolve(cfg_.host, std::to_string(cfg_.port), nothrow);
    if (!rec && epoch != target_epoch_) rec = errc::retargeted;  // resolved the old address
    if (rec) {
        ec = rec;
        last_error_ = "resolve " + cfg_.host + ": " + rec.message();
    } else {
        ec = asio::error::host_not_found;
        for (const auto& ep : endpoints) {
            if (timed_out || stopping_ || epoch != target_epoch_) break;
            socket_ = asio::ip::tcp::socket{ex_};
            auto [cec] = co_await socket_.async_connect(ep.endpoint(), nothrow);
            ec = cec;
            if (!ec) break;
        }
        if (!ec && !timed_out && !stopping_) {
            perform(fsm_.tcp_connected(), {}, {});
            socket_.set_option(asio::ip::tcp::no_delay(true), ignored);
            // The writer (and write_now()) try the write directly and fall back to waiting for
            // readiness, so the socket must not block.
            socket_.non_blocking(true, ignored);
            ec = co_await exchange_handshake();
        } else if (ec && !timed_out) {
            last_error_ =
                "connect to " + cfg_.host + ":" + std::to_string(cfg_.port) + ": " + ec.message();
        }
    }
    // The timer's handler refers to `timed_out` and `finished` in this frame: let it run
    // (cancelled) before the frame can go away.
    finished = true;
    reconnect_timer_.cancel();
    reconnect_timer_.expires_after(std::chrono::seconds(0));
    co_await reconnect_timer_.async_wait(nothrow);
    if (stopping_) co_return errc::stopped;
    if (timed_out) {
        last_error_ = "connect to " + cfg_.host + ":" + std::to_string(cfg_.port) + " timed out";
        co_return errc::connect_timeout;
    }
    co_return ec;
}

asio::awaitable<std::error_code> connection::exchange_handshake() {
    handshake h{cfg_, preload_};
    if (h.done()) co_return std::error_code{};
    auto [wec, wn] = co_await asio::async_write(socket_, asio::buffer(h.req().payload()), nothrow);
    if (wec) {
        last_error_ = "handshake: " + wec.message();
        co_return wec;
    }
    stats_.script_loads.add(preload_.size());
    for (;;) {
        std::error_code pec;
        auto st = mux_.next_handshake(h, pec);
        if (st == parser::status::done) break;
        if (st == parser::status::error) {
            last_error_ = "handshake: " + pec.message();
            co_return pec;
        }
        auto space = mux_.read_space();
        auto [rec, n] =
            co_await socket_.async_read_some(asio::buffer(space.data(), space.size()), nothrow);
        if (rec) {
            last_error_ = "handshake: " + rec.message();
            co_return rec;
        }
        mux_.commit_read(n);
    }
    if (!h.error().empty()) {
        last_error_ = "handshake: " + h.error();
        co_return errc::handshake_failed;
    }
    co_return std::error_code{};
}

void connection::drop_link(std::error_code ec, std::string_view why) {
    if (fsm_.state() != link_state::ready) return;
    ++generation_;
    poll_requested_ = false;  // a wake-up meant for the old link's reader
    connected_.store(false, std::memory_order_relaxed);
    stats_.disconnects.add();
    last_error_ = std::string(why) + ": " + ec.message();
    std::error_code ignored;
    socket_.close(ignored);
    perform(fsm_.link_lost(std::chrono::steady_clock::now(), last_error_), errc::disconnected,
            errc::not_connected);
    writer_wakeup_.notify();
    health_timer_.cancel();
    link_closed_.cancel();
}

// ---------------------------------------------------------------------------------------------
// Resuming callers

// Hands the result to the caller and frees the slot first, so the caller (resumed right here,
// inside the reader) may send its next request through a slot at once.
void connection::complete(slot_id s, std::error_code ec) {
    caller_type caller = std::move(*callers_[s]);
    callers_[s].reset();
    mux_.release(s);
    wake_granted();
    caller({}, ec);
}

// Failure paths resume through the event loop: the caller's next request must not re-enter the
// code that is failing this one.
void connection::resume_later(slot_id s, std::error_code ec) {
    if (callers_[s]) {
        asio::post(ex_, [caller = std::move(*callers_[s]), ec]() mutable { caller({}, ec); });
        callers_[s].reset();
    }
    mux_.release(s);
}

// Waiters for a slot sleep on a timer of their own, until their deadline; a slot handed to one,
// and a link that went down or stopped, cut that sleep short.
void connection::wake_granted() {
    while (auto* w = mux_.pop_granted())
        static_cast<asio::steady_timer*>(w->owner)->cancel();
}

void connection::fail_waiters() {
    while (auto* w = mux_.pop_waiter())
        static_cast<asio::steady_timer*>(w->owner)->cancel();
}

// ---------------------------------------------------------------------------------------------
// exec

asio::awaitable<std::error_code> connection::exec(const request& req, adapter a,
                                                  std::chrono::steady_clock::duration timeout) {
    return submit(nullptr, req, a, std::chrono::steady_clock::now() + timeout);
}

asio::awaitable<std::error_code> connection::exec(const script& scr, const request& req, adapter a,
                                                  std::chrono::steady_clock::duration timeout) {
    return submit(&scr, req, a, std::chrono::steady_clock::now() + timeout);
}

// Not a coroutine: the usual case is an asynchronous operation that puts the caller straight
// into a slot, with no frame of its own. Only when every slot is taken does a coroutine wait.
asio::awaitable<std::error_code> connection::submit(const script* scr, const request& req,
                                                    adapter a, time_point deadline) {
    const auto adm = admit(fsm_.state());
    if (!req.empty() && (adm == admission::send || adm == admission::wait) && !mux_.can_acquire()) {
        return wait_for_slot(scr, req, a, deadline);
    }
    // The result travels as the operation's value: use_awaitable would turn an error_code in
    // first position into an exception, so that one is always clear.
    return asio::async_initiate<const asio::use_awaitable_t<>&, caller_signature>(
        [this, scr, &req, a, deadline](caller_type caller) {
            enqueue(std::move(caller), multiplexer::no_slot, scr, req, a, deadline);
        },
        asio::use_awaitable);
}

void connection::enqueue(caller_type caller, slot_id granted, const script* scr, const request& req,
                         adapter a, time_point deadline) {
    const auto adm = admit(fsm_.state());
    std::error_code now;
    slot_id s = granted;
    if (adm == admission::stopped) {
        now = errc::stopped;
    } else if (req.empty()) {
        // Nothing to send, nothing to wait for.
    } else if (adm == admission::fail_fast) {
        stats_.failed_fast.add();
        now = errc::not_connected;
    } else if (s == multiplexer::no_slot) {
        s = mux_.acquire();  // submit() saw one free, and nothing ran since
    }
    if (s == multiplexer::no_slot || now) {
        if (s != multiplexer::no_slot) {
            mux_.release(s);
            wake_granted();
        }
        // Finished before it began: still resume the caller from the event loop, never inside
        // its own co_await.
        asio::post(ex_, [caller = std::move(caller), now]() mutable { caller({}, now); });
        return;
    }

    callers_[s].emplace(std::move(caller));
    // A request with nothing else in flight has nobody to share a write with: send it now
    // instead of a loop turn later. Anything else is left to the writer (or to the reader, when
    // it is handing out replies), which sends all that accumulated in one write.
    const bool alone = mux_.idle() && writer_idle_ && !mux_.write_pending();
    mux_.stage(s, req, a, deadline, scr);
    if (adm == admission::wait) {
        // The link is being set up: the writer of the new link sends it.
        stats_.waited.add();
    } else if (dispatching_) {
        // Called from a reply the reader is handing out: the reader flushes when it is done.
    } else if (alone) {
        write_now();
        // The reader sleeps in a read it began with nothing due. Its reply is now due: wake it
        // to poll for it (poll_for_reply()). Nothing else waits on the socket (no write is
        // pending when the request is alone), so cancel() ends only that read, without a
        // system call.
        if (reader_parked_ && !mux_.write_pending() && poll_.poll_this_wait()) {
            reader_parked_ = false;
            poll_requested_ = true;
            std::error_code ignored;
            socket_.cancel(ignored);
        }
    } else {
        wake_writer();
    }
    if (sweeper_parked_) {
        sweeper_parked_ = false;
        sweeper_wakeup_.notify();
    }
}

// Back-pressure: every slot is taken, or others already wait for one. Wait in line (until the
// deadline); each slot released goes to the oldest waiter. Rare by design, so a coroutine frame
// and a timer of its own are fine here.
asio::awaitable<std::error_code> connection::wait_for_slot(const script* scr, const request& req,
                                                           adapter a, time_point deadline) {
    asio::steady_timer t{ex_};
    multiplexer::waiter w;
    w.owner = &t;
    mux_.enqueue_waiter(w);
    t.expires_at(deadline);
    co_await t.async_wait(nothrow);
    mux_.remove_waiter(w);
    const slot_id s = w.granted;
    const auto adm = admit(fsm_.state());
    std::error_code ec;
    if (adm == admission::stopped) {
        ec = errc::stopped;
    } else if (adm == admission::fail_fast) {
        stats_.failed_fast.add();
        ec = errc::not_connected;
    } else if (s == multiplexer::no_slot || std::chrono::steady_clock::now() >= deadline) {
        stats_.timeouts.add();
        ec = errc::timeout;
    }
    if (ec) {
        if (s != multiplexer::no_slot) {
            mux_.release(s);
            wake_granted();
        }
        co_return ec;
    }
    co_return co_await asio::async_initiate<const asio::use_awaitable_t<>&, caller_signature>(
        [this, s, scr, &req, a, deadline](caller_type caller) {
            enqueue(std::move(caller), s, scr, req, a, deadline);
        },
        asio::use_awaitable);
}

// ---------------------------------------------------------------------------------------------
// The writer: everything staged during one loop turn leaves in one write.

void connection::write_now() noexcept {
    std::string_view bytes = mux_.pending_write();
    wake_granted();
    if (bytes.empty()) return;
    std::error_code ec;
    std::size_t n = socket_.write_some(asio::buffer(bytes.data(), bytes.size()), ec);
    if (ec && !would_block(ec)) {
        // The reader sees the broken link too; the writer reports it.
        wake_writer();
        return;
    }
    if (ec) n = 0;
    mux_.wrote(n);
    if (mux_.write_pending())
        wake_writer();
    else
        stats_.writes.add();
}

void connection::wake_writer() noexcept {
    if (writer_idle_) {
        writer_idle_ = false;
        writer_wakeup_.notify();
    }
}

void connection::flush() noexcept {
    if (mux_.write_pending() && writer_idle_) write_now();
}

asio::awaitable<void> connection::writer(std::uint64_t gen) {
    while (gen == generation_) {
        std::string_view bytes = mux_.pending_write();
        wake_granted();
        if (bytes.empty()) {
            writer_idle_ = true;
            co_await writer_wakeup_.wait();
            if (gen != generation_) break;  // the flag is the next link's writer's now
            writer_idle_ = false;
            continue;
        }
        // The socket buffer almost always has room: write now, and go through the event loop
        // only for what did not fit. A write that completes at once costs no loop turn.
        std::error_code ec;
        std::size_t n = socket_.write_some(asio::buffer(bytes.data(), bytes.size()), ec);
        if (would_block(ec)) {
            ec = {};
            n = 0;
        }
        if (!ec) mux_.wrote(n);
        if (!ec && n < bytes.size()) {
            std::string_view rest = mux_.pending_write();
            auto [aec, an] = co_await asio::async_write(
                socket_, asio::buffer(rest.data(), rest.size()), nothrow);
            if (gen != generation_) break;
            ec = aec;
            if (!ec) mux_.wrote(an);
        }
        if (gen != generation_) break;
        if (ec) {
            drop_link(ec, "write");
            break;
        }
        stats_.writes.add();
    }
    --running_;
}

// ---------------------------------------------------------------------------------------------
// The reader: drains every complete reply per read and hands each to its caller.

asio::awaitable<void> connection::reader(std::uint64_t gen) {
    while (gen == generation_) {
        // Callers resumed by these replies run inside this loop and usually send their next
        // request at once. Like Redis's beforeSleep, everything they sent is flushed in one
        // write below, before the reader waits again, instead of a loop turn later.
        dispatching_ = true;
        for (;;) {
            auto st = mux_.next();
            if (st.what == multiplexer::step::kind::need_more) break;
            if (st.what == multiplexer::step::kind::error) {
                dispatching_ = false;
                drop_link(st.ec,
                          st.ec == errc::unexpected_reply ? "unexpected reply" : "protocol error");
                --running_;
                co_return;
            }
            complete(st.slot, st.ec);
            if (gen != generation_) {
                dispatching_ = false;
                --running_;
                co_return;
            }
        }
        dispatching_ = false;
        wake_granted();  // abandoned replies read free slots too
        flush();
        std::error_code ec;
        std::size_t n = 0;
        // Each wait is decided once: here, or already by exec() when it woke the reader to poll.
        const bool requested = std::exchange(poll_requested_, false);
        if (!mux_.idle() && (requested || poll_.poll_this_wait())) {
            std::tie(ec, n) = co_await poll_for_reply(gen);
        }
        if (gen != generation_) break;
        if (!ec && n == 0) {
            // Nothing due: exec() may cut this wait short to poll for the reply it will send.
            reader_parked_ = mux_.idle();
            auto space = mux_.read_space();
            std::tie(ec, n) =
                co_await socket_.async_read_some(asio::buffer(space.data(), space.size()), nothrow);
            reader_parked_ = false;
            if (gen != generation_) break;
            // On a live link only exec() cancels the read, and it did so to have the reader poll.
            if (ec == asio::error::operation_aborted) continue;
        }
        if (ec) {
            drop_link(ec, ec == asio::error::eof ? "server closed the connection" : "read");
            break;
        }
        mux_.commit_read(n);
    }
    --running_;
}

// Polling before sleeping (see poll_policy): non-blocking reads for up to the budget, yielding to
// the event loop between two, which runs every other ready handler and checks every other socket
// (a zero-timeout epoll_wait), so the rest of the shard is served as before; only idle time is
// spent polling. Returns what the read returned, or nothing when the budget ran out.
asio::awaitable<std::tuple<std::error_code, std::size_t>> connection::poll_for_reply(
    std::uint64_t gen) {
    // The clock is read only once the first read has come back empty.
    std::chrono::steady_clock::time_point until{};
    for (;;) {
        auto space = mux_.read_space();
        std::error_code ec;
        std::size_t n = socket_.read_some(asio::buffer(space.data(), space.size()), ec);
        if (!would_block(ec)) {
            if (!ec) {
                stats_.poll_hits.add();
                poll_.hit();
            }
            co_return std::tuple{ec, n};
        }
        const auto now = std::chrono::steady_clock::now();
        if (until == std::chrono::steady_clock::time_point{}) {
            until = now + poll_.budget();
        } else if (now >= until) {
            break;
        }
        co_await asio::post(ex_, asio::use_awaitable);
        // The link may have dropped, and a new one come up on a new socket, in the meantime.
        if (gen != generation_ || mux_.idle()) co_return std::tuple{std::error_code{}, 0};
    }
    stats_.poll_misses.add();
    poll_.miss();
    co_return std::tuple{std::error_code{}, 0};
}

// ---------------------------------------------------------------------------------------------
// Health: a PING on a link that has not answered anything for an interval finds a server that
// stopped answering (paused, partitioned) long before TCP keepalive would.

asio::awaitable<void> connection::health_checker(std::uint64_t gen) {
    if (cfg_.health_interval.count() > 0) {
        std::uint64_t last_replies = stats_.replies.get();
        while (gen == generation_) {
            health_timer_.expires_after(cfg_.health_interval);
            co_await health_timer_.async_wait(nothrow);
            if (gen != generation_) break;
            const std::uint64_t now_replies = stats_.replies.get();
            if (now_replies != last_replies) {
                last_replies = now_replies;  // traffic proves the link works
                continue;
            }
            if (mux_.stage_ping()) {
                if (writer_idle_) write_now();
            }
            health_timer_.expires_after(cfg_.health_timeout);
            co_await health_timer_.async_wait(nothrow);
            if (gen != generation_) break;
            if (mux_.ping_outstanding()) {
                drop_link(errc::health_check_failed, "health check");
                break;
            }
            last_replies = stats_.replies.get();
        }
    }
    --running_;
}

// ---------------------------------------------------------------------------------------------
// Timeouts: one timer per connection sweeps the FIFO, instead of a timer per request (a timer
// queue update, and often a timerfd_settime system call, for every request). It runs whatever
// the link's state: requests waiting for a link that is being set up time out too.

asio::awaitable<void> connection::timeout_sweeper() {
    int idle_ticks = 0;
    while (!stopping_) {
        if (mux_.idle()) {
            // Nothing to watch for two ticks running: park until exec() has something.
            if (++idle_ticks >= 2) {
                sweeper_parked_ = true;
                co_await sweeper_wakeup_.wait();
                sweeper_parked_ = false;
                idle_ticks = 0;
                continue;
            }
        } else {
            idle_ticks = 0;
        }
        sweep_timer_.expires_after(cfg_.timeout_resolution);
        co_await sweep_timer_.async_wait(nothrow);
        if (stopping_) break;
        mux_.expire(std::chrono::steady_clock::now(), expired_);
        for (slot_id s : expired_) {
            // The slot stays taken until its reply is read (or, not written yet, it is cut out
            // of the next write); only the caller is let go.
            if (!callers_[s]) continue;
            caller_type caller = std::move(*callers_[s]);
            callers_[s].reset();
            caller({}, errc::timeout);
        }
        expired_.clear();
    }
    --running_;
}

}  // namespace sluice::resp
