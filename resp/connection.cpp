#include "resp/connection.hpp"

#include <algorithm>
#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/experimental/as_tuple.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/post.hpp>
#include <asio/use_awaitable.hpp>
#include <asio/write.hpp>
#include <bit>
#include <cstring>
#include <optional>
#include <tuple>
#include <utility>

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

}  // namespace

// One request in flight. Made once per connection and recycled.
//
// The caller's coroutine does not wait in a frame of exec()'s own: exec() is an asynchronous
// operation whose completion handler (the suspended caller) is kept here, in place. The reader
// resumes it with the result when the reply is in, the sweeper when the deadline passed.
struct connection::slot {
    std::optional<caller_type> caller;  // empty once resumed (or abandoned)
    std::chrono::steady_clock::time_point deadline;
    adapter a;
    std::size_t replies_left = 0;
    // Scripts: the EVALSHA to send again after NOSCRIPT. Valid while the caller waits.
    const script* scr = nullptr;
    const request* req = nullptr;
    std::size_t swallow = 0;  // leading replies the caller does not see (the SCRIPT LOAD)
    bool noscript = false;
    bool retried = false;
    bool load_failed = false;
    bool abandoned = false;  // the caller has gone (timeout); the reply is read and dropped
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
    // drop_connection() fails what is in flight when the link is up; fail_all() covers a link
    // that was down (and wakes callers waiting for a slot either way).
    drop_connection(errc::stopped, "stopped");
    fail_all(errc::stopped);
    reconnect_timer_.cancel();
    disconnected_.cancel();
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
    for (const auto& ep : endpoints) {
        socket_ = asio::ip::tcp::socket{ex_};
        auto [cec] = co_await socket_.async_connect(ep.endpoint(), nothrow);
        ec = cec;
        if (!ec || timed_out) break;
    }
    if (!ec) {
        socket_.set_option(asio::ip::tcp::no_delay(true), ignored);
        // The writer (and write_now()) try the write directly and fall back to waiting for
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
    auto check = [&](const node& n) {
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
    poll_requested_ = false;  // a wake-up meant for the old link's reader
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
        std::error_code ec;
        std::size_t n = 0;
        // Each wait is decided once: here, or already by exec() when it woke the reader to poll.
        const bool requested = std::exchange(poll_requested_, false);
        if (fifo_head_ != fifo_tail_ && (requested || poll_this_wait())) {
            std::tie(ec, n) = co_await poll_for_reply(gen);
        }
        if (gen != generation_) break;
        if (!ec && n == 0) {
            // Nothing due: exec() may cut this wait short to poll for the reply it will send.
            reader_parked_ = fifo_head_ == fifo_tail_;
            std::tie(ec, n) = co_await socket_.async_read_some(
                asio::buffer(in_.data() + in_end_, in_.size() - in_end_), nothrow);
            reader_parked_ = false;
            if (gen != generation_) break;
            // On a live link only exec() cancels the read, and it did so to have the reader poll.
            if (ec == asio::error::operation_aborted) continue;
        }
        if (ec) {
            drop_connection(ec, ec == asio::error::eof ? "server closed the connection" : "read");
            break;
        }
        in_end_ += n;
    }
    --running_;
}

// Polling before sleeping. Sleeping in the event loop and being woken by the reply costs two
// context switches and, on a virtual machine, an interrupt delivered through the hypervisor: about
// as long as a nearby Redis takes to answer. So while replies are due, the reader first polls the
// socket with non-blocking reads for up to cfg_.poll_budget. Between two polls it yields to the
// event loop, which runs every other ready handler and checks every other socket (a zero-timeout
// epoll_wait), so the rest of the shard is served as before; only the idle time is spent polling.
// A reply found by polling skips the sleep and the wake-up; a read that finds it costs the same
// read the event loop would have made.
//
// When polling stops paying (a distant or slow server), it backs off: after n misses in a row the
// next 2^n waits (at most 64) sleep at once, so a distant server costs at most one budget in 64
// round trips, and a server that comes near again is polled again within 64.
//
// Called once per wait for a due reply, by whichever of the reader and exec() begins it.
bool connection::poll_this_wait() noexcept {
    if (cfg_.poll_budget.count() <= 0) return false;
    if (poll_skip_ > 0) {
        --poll_skip_;
        return false;
    }
    return true;
}

// Returns what the read returned, or nothing (no error, no bytes) when the budget ran out.
asio::awaitable<std::tuple<std::error_code, std::size_t>> connection::poll_for_reply(
    std::uint64_t gen) {
    constexpr unsigned max_backoff_shift = 6;
    // The clock is read only once the first read has come back empty.
    std::chrono::steady_clock::time_point until{};
    for (;;) {
        std::error_code ec;
        std::size_t n =
            socket_.read_some(asio::buffer(in_.data() + in_end_, in_.size() - in_end_), ec);
        if (ec != asio::error::would_block && ec != asio::error::try_again) {
            if (!ec) {
                count(stats_.poll_hits);
                poll_misses_ = 0;
            }
            co_return std::tuple{ec, n};
        }
        const auto now = std::chrono::steady_clock::now();
        if (until == std::chrono::steady_clock::time_point{}) {
            until = now + cfg_.poll_budget;
        } else if (now >= until) {
            break;
        }
        co_await asio::post(ex_, asio::use_awaitable);
        // The link may have dropped, and a new one come up on a new socket, in the meantime.
        if (gen != generation_ || fifo_head_ == fifo_tail_)
            co_return std::tuple{std::error_code{}, 0};
    }
    count(stats_.poll_misses);
    poll_misses_ = std::min(poll_misses_ + 1, max_backoff_shift);
    poll_skip_ = 1u << poll_misses_;
    co_return std::tuple{std::error_code{}, 0};
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
    if (n.depth == 0) reply_is_push_ = n.data_type == type::push;
    if (reply_is_push_) {
        if (push_handler_) push_handler_(n);
        return;
    }
    if (fifo_head_ == fifo_tail_) return;  // on_reply_done() reports the stray reply
    slot* s = fifo_[fifo_head_ & (fifo_.size() - 1)];
    if (n.depth == 0) {
        reply_swallowed_ = false;
        if (s->swallow > 0) {
            // The SCRIPT LOAD in front of a retried EVALSHA: only its failure matters.
            reply_swallowed_ = true;
            if (is_error(n.data_type)) s->load_failed = true;
        } else if (s->scr != nullptr && !s->retried && is_error(n.data_type) &&
                   n.value.starts_with("NOSCRIPT")) {
            // The server has forgotten the script: on_reply_done() sends it again.
            reply_swallowed_ = true;
            s->noscript = true;
        }
    }
    if (!reply_swallowed_ && !s->abandoned) s->a(n);
}

void connection::on_reply_done() {
    skipping_attribute_ = false;
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
    if (reply_swallowed_ && s->swallow > 0) --s->swallow;
    reply_swallowed_ = false;
    if (--s->replies_left != 0) return;
    ++fifo_head_;
    if (s->noscript && !s->abandoned) {
        retry_script(s);
    } else {
        complete(s, s->load_failed ? std::error_code{errc::script_load_failed} : std::error_code{});
    }
}

// NOSCRIPT (the script cache was flushed, or the server restarted or failed over): SCRIPT LOAD
// and the same EVALSHA again, in one write, within the caller's original deadline. The slot
// goes to the back of the FIFO, behind everything already sent.
void connection::retry_script(slot* s) {
    count(stats_.noscript_retries);
    s->noscript = false;
    s->retried = true;
    s->swallow = 1;
    s->replies_left = 2;
    retry_.clear();
    s->scr->push_load(retry_);
    out_.append(retry_.payload());
    out_.append(s->req->payload());
    fifo_[fifo_tail_ & (fifo_.size() - 1)] = s;
    ++fifo_tail_;
    if (!dispatching_) wake_writer();
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

// Hands the result to the caller and frees the slot first, so the caller (resumed right here,
// inside the reader) may send its next request through the same slot.
void connection::complete(slot* s, std::error_code ec) noexcept {
    if (s->abandoned || !s->caller) {
        release_slot(s);
        return;
    }
    caller_type caller = std::move(*s->caller);
    s->caller.reset();
    release_slot(s);
    caller({}, ec);
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
    skipping_attribute_ = reply_is_push_ = reply_swallowed_ = false;
    for (auto* w = space_waiters_; w != nullptr; w = w->next)
        w->timer->cancel();
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
asio::awaitable<std::error_code> connection::submit(
    const script* scr, const request& req, adapter a,
    std::chrono::steady_clock::time_point deadline) {
    if (free_slots_.empty() && link_up_ && !stopping_ && !req.empty()) {
        return wait_for_slot(scr, req, a, deadline);
    }
    // The result travels as the operation's value: use_awaitable would turn an error_code in
    // first position into an exception, so that one is always clear.
    return asio::async_initiate<const asio::use_awaitable_t<>&, caller_signature>(
        [this, scr, &req, a, deadline](caller_type caller) {
            enqueue(std::move(caller), scr, req, a, deadline);
        },
        asio::use_awaitable);
}

void connection::enqueue(caller_type caller, const script* scr, const request& req, adapter a,
                         std::chrono::steady_clock::time_point deadline) {
    std::error_code now;
    slot* s = nullptr;
    if (stopping_) {
        now = errc::stopped;
    } else if (req.empty()) {
        // Nothing to send, nothing to wait for.
    } else if (!link_up_) {
        count(stats_.failed_fast);
        now = errc::not_connected;
    } else if ((s = acquire_slot()) == nullptr) {
        count(stats_.timeouts);
        now = errc::timeout;
    }
    if (s == nullptr) {
        // Finished before it began: still resume the caller from the event loop, never inside
        // its own co_await.
        asio::post(ex_, [caller = std::move(caller), now]() mutable { caller({}, now); });
        return;
    }

    s->caller.emplace(std::move(caller));
    s->deadline = deadline;
    s->a = a;
    s->replies_left = req.commands();
    s->scr = scr;
    s->req = &req;
    s->swallow = 0;
    s->noscript = s->retried = s->load_failed = s->abandoned = false;

    // A request with nothing else in flight has nobody to share a write with: send it now
    // instead of a loop turn later. Anything else is left to the writer (or to the reader, when
    // it is handing out replies), which sends all that accumulated in one write.
    const bool alone = fifo_head_ == fifo_tail_ && writer_idle_ && out_.empty();
    fifo_[fifo_tail_ & (fifo_.size() - 1)] = s;
    ++fifo_tail_;
    out_.append(req.payload());
    if (dispatching_) {
        // Called from a reply the reader is handing out: the reader flushes when it is done.
    } else if (alone) {
        write_now();
        // The reader sleeps in a read it began with nothing due. Its reply is now due: wake it
        // to poll for it (poll_for_reply()). Nothing else waits on the socket (no write is
        // pending when the request is alone), so cancel() ends only that read, without a
        // system call.
        if (reader_parked_ && out_.empty() && poll_this_wait()) {
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

// Back-pressure: the in-flight bound is reached. Wait (until the deadline) for a slot. Rare by
// design, so a coroutine frame and a timer of its own are fine here.
asio::awaitable<std::error_code> connection::wait_for_slot(
    const script* scr, const request& req, adapter a,
    std::chrono::steady_clock::time_point deadline) {
    while (free_slots_.empty()) {
        if (stopping_) co_return errc::stopped;
        if (!link_up_) {
            count(stats_.failed_fast);
            co_return errc::not_connected;
        }
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
    co_return co_await submit(scr, req, a, deadline);
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
        for (std::size_t i = fifo_head_; i != fifo_tail_ && gen == generation_; ++i) {
            slot* s = fifo_[i & (fifo_.size() - 1)];
            if (s->abandoned || !s->caller || s->deadline > now) continue;
            // The request may already be on the wire: the slot stays in the FIFO, abandoned,
            // so its reply is still read and dropped and later replies stay matched.
            s->abandoned = true;
            s->a = adapter{};
            count(stats_.timeouts);
            caller_type caller = std::move(*s->caller);
            s->caller.reset();
            caller({}, errc::timeout);
        }
    }
    --running_;
}

}  // namespace sluice::resp
