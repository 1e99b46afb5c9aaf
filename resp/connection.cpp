#include "resp/connection.hpp"

#include <algorithm>
#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/experimental/as_tuple.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/use_awaitable.hpp>
#include <asio/write.hpp>
#include <bit>
#include <cstring>

#include "resp/error.hpp"
#include "resp/script.hpp"

namespace sluice::resp {

namespace {

constexpr auto nothrow = asio::experimental::as_tuple(asio::use_awaitable);

constexpr std::size_t initial_read_buffer = 16 * 1024;
// Read at least this much per read_some: a smaller window would split large replies into many
// reads; the buffer grows (doubling) only when one reply does not fit.
constexpr std::size_t min_read_window = 4 * 1024;

std::uint64_t splitmix64(std::uint64_t& state) noexcept {
    std::uint64_t z = (state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

// The first reply of a multi-reply request that the caller does not see: a handshake step or
// the SCRIPT LOAD in front of a retried EVALSHA. Counts top-level replies so it can route nodes.
struct reply_router {
    std::size_t reply = 0;  // index of the reply being delivered (1-based once the first starts)
    bool in_attribute = false;

    // Returns the index of the top-level reply `n` belongs to.
    std::size_t route(const node& n) noexcept {
        if (n.depth == 0 && n.data_type != type::attribute) ++reply;
        return reply;
    }
};

}  // namespace

// One request in flight. Made once per connection and recycled.
struct connection::slot {
    waiter wake;  // exec() sleeps on it until the reply is in or the deadline passed
    std::chrono::steady_clock::time_point deadline;
    adapter a;
    std::size_t replies_left = 0;
    std::error_code ec;
    bool done = false;
    bool timed_out = false;
    bool abandoned = false;  // the waiter has gone; the reply is read and dropped
};

// A coroutine waiting for a free slot (the in-flight bound was reached).
struct connection::space_waiter {
    asio::steady_timer* timer;
    space_waiter* next;
};

connection::connection(asio::any_io_executor ex, connection_config cfg)
    : ex_{std::move(ex)},
      cfg_{std::move(cfg)},
      socket_{ex_},
      reconnect_timer_{ex_},
      health_timer_{ex_},
      sweep_timer_{ex_},
      disconnected_{ex_},
      parser_{cfg_.limits},
      rng_state_{
          reinterpret_cast<std::uintptr_t>(this) ^
          static_cast<std::uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count())} {
    std::size_t n = std::max<std::size_t>(cfg_.max_in_flight, 1);
    slots_.reserve(n);
    free_slots_.reserve(n);
    for (std::size_t i = 0; i < n; ++i) {
        slots_.push_back(std::make_unique<slot>());
        free_slots_.push_back(slots_.back().get());
    }
    fifo_.resize(std::bit_ceil(n));
    in_.resize(initial_read_buffer);
    out_.reserve(initial_read_buffer);
    writing_.reserve(initial_read_buffer);
}

connection::~connection() = default;

void connection::start() {
    ++running_;
    asio::co_spawn(ex_, run(), asio::detached);
}

void connection::stop() {
    if (stopping_) return;
    stopping_ = true;
    drop_connection(errc::stopped, "stopped");
    fail_all(errc::stopped);
    reconnect_timer_.cancel();
    disconnected_.cancel();
    for (auto* w = space_waiters_; w != nullptr; w = w->next)
        w->timer->cancel();
}

// ---------------------------------------------------------------------------------------------
// Connection lifecycle: connect, handshake, serve until the link drops, back off, again.

asio::awaitable<void> connection::run() {
    unsigned attempt = 0;
    while (!stopping_) {
        std::error_code ec = co_await connect_once();
        if (stopping_) break;
        if (!ec) {
            attempt = 0;
            link_up_ = true;
            connected_.store(true, std::memory_order_relaxed);
            count(stats_.connects);
            running_ += 4;
            asio::co_spawn(ex_, reader(), asio::detached);
            asio::co_spawn(ex_, writer(), asio::detached);
            asio::co_spawn(ex_, health_checker(), asio::detached);
            asio::co_spawn(ex_, timeout_sweeper(), asio::detached);
            while (link_up_ && !stopping_) {
                disconnected_.expires_at(asio::steady_timer::time_point::max());
                co_await disconnected_.async_wait(nothrow);
            }
            if (stopping_) break;
        } else {
            std::error_code ignored;
            socket_.close(ignored);
            if (last_error_.empty()) last_error_ = "connect: " + ec.message();
        }

        // Exponential backoff with full jitter in [delay/2, delay]: gateways that lost the same
        // Redis at the same moment must not all reconnect at the same moment.
        auto ceiling = cfg_.reconnect_max.count();
        auto delay = cfg_.reconnect_min.count() << std::min(attempt, 16u);
        delay = std::min<decltype(delay)>(std::max<decltype(delay)>(delay, 1), ceiling);
        auto jittered =
            delay / 2 + static_cast<decltype(delay)>(splitmix64(rng_state_) %
                                                     static_cast<std::uint64_t>(delay / 2 + 1));
        ++attempt;
        reconnect_timer_.expires_after(std::chrono::milliseconds(jittered));
        co_await reconnect_timer_.async_wait(nothrow);
    }
    fail_all(errc::stopped);
    --running_;
}

asio::awaitable<std::error_code> connection::connect_once() {
    std::error_code ignored;
    socket_.close(ignored);
    parser_.reset();
    in_start_ = in_end_ = 0;
    out_.clear();

    asio::ip::tcp::resolver resolver{ex_};
    auto [rec, endpoints] =
        co_await resolver.async_resolve(cfg_.host, std::to_string(cfg_.port), nothrow);
    if (rec) {
        last_error_ = "resolve " + cfg_.host + ": " + rec.message();
        co_return rec;
    }

    // One deadline covers connect and handshake: a server that accepts but never answers HELLO
    // is as unavailable as one that does not accept.
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
    {
        for (const auto& ep : endpoints) {
            socket_ = asio::ip::tcp::socket{ex_};
            auto [cec] = co_await socket_.async_connect(ep.endpoint(), nothrow);
            ec = cec;
            if (!ec || timed_out) break;
        }
        if (!ec) {
            socket_.set_option(asio::ip::tcp::no_delay(true), ignored);
            // The reader and writer try system calls directly and fall back to waiting for
            // readiness, so the socket must not block.
            socket_.non_blocking(true, ignored);
            ec = co_await handshake();
        }
        // The timer's handler refers to `timed_out` and `finished` in this frame: let it run
        // (cancelled) before the frame can go away.
        finished = true;
        reconnect_timer_.cancel();
        reconnect_timer_.expires_after(std::chrono::seconds(0));
        co_await reconnect_timer_.async_wait(nothrow);
    }
    if (timed_out) {
        last_error_ = "connect to " + cfg_.host + ":" + std::to_string(cfg_.port) + " timed out";
        co_return errc::connect_timeout;
    }
    if (ec && last_error_.empty()) {
        last_error_ =
            "connect to " + cfg_.host + ":" + std::to_string(cfg_.port) + ": " + ec.message();
    }
    co_return ec;
}

// HELLO 3 (with AUTH) or AUTH, then SELECT, written in one go and read back before the link is
// declared up, so every request sent afterwards runs authenticated and in the right database.
asio::awaitable<std::error_code> connection::handshake() {
    request req;
    if (cfg_.protocol == 3) {
        if (!cfg_.password.empty()) {
            req.push("HELLO", "3", "AUTH", cfg_.user.empty() ? "default" : cfg_.user,
                     cfg_.password);
        } else {
            req.push("HELLO", "3");
        }
    } else if (!cfg_.password.empty()) {
        if (cfg_.user.empty())
            req.push("AUTH", cfg_.password);
        else
            req.push("AUTH", cfg_.user, cfg_.password);
    }
    if (cfg_.db != 0) req.push("SELECT", cfg_.db);
    if (req.empty()) co_return std::error_code{};

    auto [wec, wn] = co_await asio::async_write(socket_, asio::buffer(req.payload()), nothrow);
    if (wec) co_return wec;

    std::size_t replies = 0;
    std::string server_error;
    reply_router router;
    auto check = [&](const node& n) {
        router.route(n);
        if (n.depth == 0 && is_error(n.data_type) && server_error.empty()) {
            server_error = std::string(n.value);
        }
    };
    while (replies < req.commands()) {
        auto r = parser_.parse({in_.data() + in_start_, in_end_ - in_start_}, check);
        if (r.st == parser::status::error) co_return r.ec;
        if (r.st == parser::status::done) {
            in_start_ += r.consumed;
            ++replies;
            continue;
        }
        if (in_end_ == in_.size()) co_return errc::handshake_failed;  // absurd handshake reply
        auto [rec, n] = co_await socket_.async_read_some(
            asio::buffer(in_.data() + in_end_, in_.size() - in_end_), nothrow);
        if (rec) co_return rec;
        in_end_ += n;
    }
    if (!server_error.empty()) {
        last_error_ = "handshake: " + server_error;
        co_return errc::handshake_failed;
    }
    last_error_.clear();
    co_return std::error_code{};
}

void connection::drop_connection(std::error_code ec, std::string_view why) {
    if (!link_up_) return;
    link_up_ = false;
    ++generation_;
    connected_.store(false, std::memory_order_relaxed);
    count(stats_.disconnects);
    last_error_ = std::string(why) + ": " + ec.message();
    std::error_code ignored;
    socket_.close(ignored);
    fail_all(stopping_ ? std::error_code{errc::stopped} : std::error_code{errc::disconnected});
    writer_wakeup_.notify();
    sweeper_wakeup_.notify();
    sweep_timer_.cancel();
    health_timer_.cancel();
    disconnected_.cancel();
}

// ---------------------------------------------------------------------------------------------
// The writer: everything exec() appended during one loop turn leaves in one write.

void connection::write_now() noexcept {
    std::error_code ec;
    std::size_t n = socket_.write_some(asio::buffer(out_), ec);
    if (ec && ec != asio::error::would_block && ec != asio::error::try_again) {
        // The reader sees the broken connection too; leave the bytes to the writer, which
        // reports it.
        wake_writer();
        return;
    }
    if (ec) n = 0;
    if (n == out_.size()) {
        out_.clear();
        count(stats_.writes);
    } else {
        out_.erase(0, n);
        wake_writer();
    }
}

void connection::wake_writer() noexcept {
    if (writer_idle_) {
        writer_idle_ = false;
        writer_wakeup_.notify();
    }
}

asio::awaitable<void> connection::writer() {
    const auto gen = generation_;
    while (gen == generation_) {
        if (out_.empty()) {
            writer_idle_ = true;
            co_await writer_wakeup_.wait();
            writer_idle_ = false;
            continue;
        }
        // exec() keeps appending to out_ while this write is in progress; those bytes form the
        // next write. Swapping keeps both buffers' capacity: no allocation once warm.
        std::swap(out_, writing_);
        // The socket buffer almost always has room: write now, and go through the event loop
        // only for what did not fit. A write that completes at once costs no loop turn.
        std::error_code ec;
        std::size_t n = socket_.write_some(asio::buffer(writing_), ec);
        if (ec == asio::error::would_block || ec == asio::error::try_again) {
            ec = {};
            n = 0;
        }
        if (!ec && n < writing_.size()) {
            auto [aec, an] =
                co_await asio::async_write(socket_, asio::buffer(writing_) + n, nothrow);
            ec = aec;
        }
        writing_.clear();
        if (gen != generation_) break;
        if (ec) {
            drop_connection(ec, "write");
            break;
        }
        count(stats_.writes);
    }
    --running_;
}

// ---------------------------------------------------------------------------------------------
// The reader: drains every complete reply per read and hands each to the oldest request.

asio::awaitable<void> connection::reader() {
    const auto gen = generation_;
    auto on = [this](const node& n) { on_node(n); };
    while (gen == generation_) {
        // Callers resumed by these replies run inside this loop and usually send their next
        // request at once. Like Redis's beforeSleep, everything they sent is flushed in one
        // write below, before the reader waits again, instead of a loop turn later.
        dispatching_ = true;
        for (;;) {
            auto r = parser_.parse({in_.data() + in_start_, in_end_ - in_start_}, on);
            if (r.st == parser::status::need_more) break;
            if (r.st == parser::status::error) {
                dispatching_ = false;
                drop_connection(r.ec, "protocol error");
                --running_;
                co_return;
            }
            in_start_ += r.consumed;
            on_reply_done();
            if (gen != generation_) {
                dispatching_ = false;
                --running_;
                co_return;
            }
        }
        dispatching_ = false;
        if (!out_.empty() && writer_idle_) write_now();
        if (in_start_ == in_end_) {
            in_start_ = in_end_ = 0;
        } else if (in_.size() - in_end_ < min_read_window) {
            // Keep the partial reply, drop what was parsed; grow only if the reply alone fills
            // the buffer. The parser's position is relative to the reply's first byte.
            std::size_t pending = in_end_ - in_start_;
            std::memmove(in_.data(), in_.data() + in_start_, pending);
            in_start_ = 0;
            in_end_ = pending;
            if (in_.size() - in_end_ < min_read_window) in_.resize(in_.size() * 2);
        }
        auto [ec, n] = co_await socket_.async_read_some(
            asio::buffer(in_.data() + in_end_, in_.size() - in_end_), nothrow);
        if (gen != generation_) break;
        if (ec) {
            drop_connection(ec, ec == asio::error::eof ? "server closed the connection" : "read");
            break;
        }
        in_end_ += n;
    }
    --running_;
}

void connection::on_node(const node& n) {
    // Attributes carry metadata about the value that follows; no caller asked for them.
    if (skipping_attribute_) {
        if (n.depth > attribute_depth_) return;
        skipping_attribute_ = false;
    }
    if (n.data_type == type::attribute) {
        skipping_attribute_ = true;
        attribute_depth_ = n.depth;
        return;
    }
    if (n.depth == 0) {
        reply_is_push_ = n.data_type == type::push;
        saw_top_ = true;
    }
    if (reply_is_push_) {
        if (push_handler_) push_handler_(n);
        return;
    }
    if (fifo_head_ == fifo_tail_) return;  // on_reply_done() reports the stray reply
    slot* s = fifo_[fifo_head_ & (fifo_.size() - 1)];
    if (!s->abandoned) s->a(n);
}

void connection::on_reply_done() {
    skipping_attribute_ = false;
    saw_top_ = false;
    if (reply_is_push_) {
        reply_is_push_ = false;
        return;
    }
    if (fifo_head_ == fifo_tail_) {
        // A reply nobody asked for: the stream is out of step and nothing after it can be trusted.
        drop_connection(errc::invalid_type_byte, "unexpected reply");
        return;
    }
    count(stats_.replies);
    slot* s = fifo_[fifo_head_ & (fifo_.size() - 1)];
    if (--s->replies_left == 0) {
        ++fifo_head_;
        complete(s, {});
    }
}

// ---------------------------------------------------------------------------------------------
// Slots and the FIFO.

connection::slot* connection::acquire_slot() noexcept {
    if (free_slots_.empty()) return nullptr;
    slot* s = free_slots_.back();
    free_slots_.pop_back();
    ++in_flight_;
    return s;
}

void connection::release_slot(slot* s) noexcept {
    s->a = adapter{};
    free_slots_.push_back(s);
    --in_flight_;
    wake_space_waiter();
}

void connection::wake_space_waiter() noexcept {
    if (space_waiters_ != nullptr) space_waiters_->timer->cancel();
}

void connection::complete(slot* s, std::error_code ec) noexcept {
    s->done = true;
    s->ec = ec;
    if (s->abandoned) {
        release_slot(s);
    } else {
        ++resuming_;
        s->wake.resume();
    }
}

void connection::fail_all(std::error_code ec) noexcept {
    while (fifo_head_ != fifo_tail_) {
        slot* s = fifo_[fifo_head_ & (fifo_.size() - 1)];
        ++fifo_head_;
        complete(s, ec);
    }
    out_.clear();
    parser_.reset();
    in_start_ = in_end_ = 0;
    skipping_attribute_ = reply_is_push_ = saw_top_ = false;
    for (auto* w = space_waiters_; w != nullptr; w = w->next)
        w->timer->cancel();
}

// ---------------------------------------------------------------------------------------------
// exec

asio::awaitable<std::error_code> connection::exec(const request& req, adapter a,
                                                  std::chrono::steady_clock::duration timeout) {
    if (stopping_) co_return errc::stopped;
    if (req.empty()) co_return std::error_code{};
    const auto deadline = std::chrono::steady_clock::now() + timeout;

    slot* s = nullptr;
    while (s == nullptr) {
        if (stopping_) co_return errc::stopped;
        if (!link_up_) {
            count(stats_.failed_fast);
            co_return errc::not_connected;
        }
        s = acquire_slot();
        if (s != nullptr) break;
        // Back-pressure: the in-flight bound is reached. Wait (until the deadline) for a slot.
        // Rare by design, so a timer of its own is fine here.
        if (std::chrono::steady_clock::now() >= deadline) {
            count(stats_.timeouts);
            co_return errc::timeout;
        }
        asio::steady_timer t{ex_};
        t.expires_at(deadline);
        space_waiter w{&t, nullptr};
        space_waiter** tail = &space_waiters_;
        while (*tail != nullptr)
            tail = &(*tail)->next;
        *tail = &w;
        co_await t.async_wait(nothrow);
        for (auto** p = &space_waiters_; *p != nullptr; p = &(*p)->next) {
            if (*p == &w) {
                *p = w.next;
                break;
            }
        }
    }

    s->a = a;
    s->replies_left = req.commands();
    s->deadline = deadline;
    s->done = false;
    s->timed_out = false;
    s->abandoned = false;
    s->ec = {};
    // A request with nothing else in flight and no other caller about to resume in this loop
    // turn has nobody to share a write with: send it now instead of a loop turn later. Anything
    // else is left to the writer (or to the reader, when it is handing out replies), which sends
    // all that accumulated in one write.
    const bool alone = fifo_head_ == fifo_tail_ && resuming_ == 0 && writer_idle_ && out_.empty();
    fifo_[fifo_tail_ & (fifo_.size() - 1)] = s;
    ++fifo_tail_;
    out_.append(req.payload());
    if (dispatching_) {
        // Called from a reply the reader is handing out: the reader flushes when it is done.
    } else if (alone) {
        write_now();
    } else {
        wake_writer();
    }
    if (sweeper_parked_) {
        sweeper_parked_ = false;
        sweeper_wakeup_.notify();
    }

    co_await s->wake.wait();
    --resuming_;
    if (s->done) {
        std::error_code ec = s->ec;
        release_slot(s);
        co_return ec;
    }
    // Timed out. The request may already be on the wire: leave
    // the slot in the FIFO so its reply is consumed, but stop delivering to the caller's adapter.
    s->abandoned = true;
    s->a = adapter{};
    count(stats_.timeouts);
    co_return errc::timeout;
}

asio::awaitable<std::error_code> connection::exec(const script& scr, const request& req, adapter a,
                                                  std::chrono::steady_clock::duration timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    struct noscript_filter {
        adapter inner;
        bool noscript = false;
        void operator()(const node& n) {
            if (n.depth == 0 && is_error(n.data_type) && n.value.starts_with("NOSCRIPT")) {
                noscript = true;
            }
            if (!noscript) inner(n);
        }
    } filter{a};
    std::error_code ec = co_await exec(req, filter, timeout);
    if (ec || !filter.noscript) co_return ec;

    // The server forgot the script. SCRIPT LOAD and the same EVALSHA again, in one write; the
    // caller sees only the EVALSHA's reply. The rare path may allocate.
    count(stats_.noscript_retries);
    request retry;
    scr.push_load(retry);
    retry.append(req);
    struct load_filter {
        adapter inner;
        reply_router router;
        bool load_failed = false;
        void operator()(const node& n) {
            if (router.route(n) == 1) {
                if (n.depth == 0 && is_error(n.data_type)) load_failed = true;
                return;
            }
            inner(n);
        }
    } loader{a, {}};
    auto left = deadline - std::chrono::steady_clock::now();
    if (left <= std::chrono::steady_clock::duration::zero()) {
        count(stats_.timeouts);
        co_return errc::timeout;
    }
    ec = co_await exec(retry, loader, left);
    if (!ec && loader.load_failed) ec = errc::script_load_failed;
    co_return ec;
}

// ---------------------------------------------------------------------------------------------
// Health: a PING on an otherwise idle link finds a server that stopped answering (paused,
// partitioned) long before TCP keepalive would.

asio::awaitable<void> connection::health_checker() {
    const auto gen = generation_;
    if (cfg_.health_interval.count() > 0) {
        request ping;
        ping.push("PING");
        std::uint64_t last_replies = stats_.replies.load(std::memory_order_relaxed);
        while (gen == generation_) {
            health_timer_.expires_after(cfg_.health_interval);
            co_await health_timer_.async_wait(nothrow);
            if (gen != generation_) break;
            std::uint64_t now_replies = stats_.replies.load(std::memory_order_relaxed);
            if (now_replies != last_replies && in_flight_ == 0) {
                last_replies = now_replies;  // traffic proves the link works
                continue;
            }
            auto ec = co_await exec(ping, ignore, cfg_.health_timeout);
            if (gen != generation_) break;
            if (ec == errc::timeout) {
                drop_connection(ec, "health check");
                break;
            }
            last_replies = stats_.replies.load(std::memory_order_relaxed);
        }
    }
    --running_;
}

// ---------------------------------------------------------------------------------------------
// Timeouts: one timer per connection sweeps the FIFO, instead of a timer per request (a timer
// queue update, and often a timerfd_settime system call, for every request).

asio::awaitable<void> connection::timeout_sweeper() {
    const auto gen = generation_;
    int idle_ticks = 0;
    while (gen == generation_) {
        if (in_flight_ == 0) {
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
        if (gen != generation_) break;
        const auto now = std::chrono::steady_clock::now();
        for (std::size_t i = fifo_head_; i != fifo_tail_; ++i) {
            slot* s = fifo_[i & (fifo_.size() - 1)];
            if (!s->abandoned && !s->done && !s->timed_out && s->deadline <= now) {
                s->timed_out = true;
                ++resuming_;
                s->wake.resume();
            }
        }
    }
    --running_;
}

}  // namespace sluice::resp
