#include "core/upstream.hpp"

#include <algorithm>
#include <asio/connect.hpp>
#include <asio/experimental/as_tuple.hpp>
#include <asio/use_awaitable.hpp>
#include <cstring>

namespace sluice::core {

namespace {
constexpr auto nothrow = asio::experimental::as_tuple(asio::use_awaitable);
constexpr std::size_t read_buffer_bytes = 16 * 1024;
}  // namespace

upstream_connection::upstream_connection(const asio::any_io_executor& executor)
    : socket(executor), timer_(executor), in_(read_buffer_bytes) {}

void upstream_connection::arm(clock::duration d) {
    timed_out_ = false;
    const std::uint64_t generation = ++generation_;
    timer_.expires_after(d);
    // A completion already queued when the timer was re-armed carries an old generation and is
    // ignored; the object outlives every completion (see the class comment).
    timer_.async_wait([this, generation](const std::error_code& ec) {
        if (ec || generation != generation_) return;
        timed_out_ = true;
        std::error_code ignored;
        socket.cancel(ignored);
    });
}

void upstream_connection::disarm() noexcept {
    ++generation_;
    timer_.cancel();
}

void upstream_connection::consume(std::size_t n) noexcept {
    begin_ += n;
    if (begin_ == end_) begin_ = end_ = 0;
}

asio::awaitable<std::error_code> upstream_connection::read_more() {
    if (end_ == in_.size()) {
        if (begin_ == 0) {
            // One header section fills the buffer: grow up to the parser's bound.
            if (in_.size() >= parser.limits().max_header_bytes * 2) {
                co_return std::make_error_code(std::errc::message_size);
            }
            in_.resize(in_.size() * 2);
        } else {
            std::memmove(in_.data(), in_.data() + begin_, end_ - begin_);
            end_ -= begin_;
            begin_ = 0;
        }
    }
    auto [ec, n] = co_await socket.async_read_some(
        asio::buffer(in_.data() + end_, in_.size() - end_), nothrow);
    if (timed_out_) co_return std::make_error_code(std::errc::timed_out);
    end_ += n;
    received += n;
    co_return ec;
}

void upstream_connection::close() noexcept {
    disarm();
    std::error_code ignored;
    socket.close(ignored);
    parser.reset();
    begin_ = end_ = 0;
}

upstream_pool::upstream_pool(const asio::any_io_executor& executor, upstream_settings settings)
    : executor_(executor), settings_(std::move(settings)), sweep_(executor) {
    // A warm pool releases without allocating; past this the vector grows when the pool does.
    idle_.reserve(std::min<std::size_t>(settings_.max_idle, 1024));
}

void upstream_pool::publish() noexcept {
    stats_.idle.store(idle_.size(), std::memory_order_relaxed);
    stats_.busy.store(busy_, std::memory_order_relaxed);
}

upstream_pool::~upstream_pool() {
    stop();
}

upstream_connection* upstream_pool::take_idle() {
    while (!idle_.empty()) {
        upstream_connection* c = idle_.back();
        idle_.pop_back();
        // Bytes that arrived while it was idle belong to no request: a reply to them would be
        // read as the next request's.
        std::error_code ec;
        if (c->socket.available(ec) == 0 && !ec) {
            ++busy_;
            stats_.reused.add();
            publish();
            return c;
        }
        c->close();
        spare_.push_back(c);
    }
    publish();
    return nullptr;
}

upstream_connection* upstream_pool::spare() {
    if (!spare_.empty()) {
        upstream_connection* c = spare_.back();
        spare_.pop_back();
        return c;
    }
    all_.push_back(std::make_unique<upstream_connection>(executor_));
    spare_.reserve(all_.size());
    return all_.back().get();
}

asio::awaitable<upstream_connection*> upstream_pool::connect(std::error_code& ec) {
    upstream_connection* c = spare();
    c->arm(settings_.connect_timeout);
    auto [cec] = co_await c->socket.async_connect(settings_.endpoint, nothrow);
    const bool timed_out = c->timed_out();
    c->disarm();
    ec = timed_out ? std::make_error_code(std::errc::timed_out) : cec;
    if (!ec) {
        c->socket.set_option(asio::ip::tcp::no_delay(true), ec);
        ec = {};
        ++busy_;
        stats_.opened.add();
        publish();
        co_return c;
    }
    c->close();
    spare_.push_back(c);
    co_return nullptr;
}

void upstream_pool::release(upstream_connection* c, bool reusable) noexcept {
    c->disarm();
    if (busy_ > 0) --busy_;
    if (reusable && !stopped_ && c->pending().empty()) {
        if (idle_.size() < settings_.max_idle) {
            c->parser.reset();
            c->idle_since = upstream_connection::clock::now();
            idle_.push_back(c);
            publish();
            return;
        }
        stats_.overflow_closed.add();
    }
    c->close();
    spare_.push_back(c);
    publish();
}

void upstream_pool::start() {
    stopped_ = false;
    arm_sweep();
}

// The sweep runs every min(1 s, idle_timeout / 2), though not more often than every 10 ms, so a
// connection is closed between idle_timeout and idle_timeout + that period after its last use: at
// most 1 s late for a long timeout, and at most half the timeout late for one from 20 ms to 2 s (a
// 300ms timeout closes within 450 ms). A single periodic timer costs nothing per exchange, where a
// deadline of its own per idle connection would re-arm a timer on every release.
void upstream_pool::arm_sweep() {
    // Nothing is ever idle.
    if (settings_.max_idle == 0) return;
    const std::chrono::steady_clock::duration period =
        std::clamp<std::chrono::steady_clock::duration>(
            settings_.idle_timeout / 2, std::chrono::milliseconds(10), std::chrono::seconds(1));
    sweep_.expires_after(period);
    sweep_.async_wait([this](const std::error_code& ec) {
        if (ec || stopped_) return;
        sweep();
        arm_sweep();
    });
}

void upstream_pool::sweep() {
    // Compared as idle durations, not against now - idle_timeout: a timeout of centuries would
    // take that cutoff below the clock's range.
    const auto now = upstream_connection::clock::now();
    std::size_t expired = 0;
    while (expired < idle_.size() && now - idle_[expired]->idle_since >= settings_.idle_timeout)
        ++expired;
    if (expired == 0) return;
    for (std::size_t i = 0; i < expired; ++i) {
        idle_[i]->close();
        spare_.push_back(idle_[i]);
    }
    idle_.erase(idle_.begin(), idle_.begin() + static_cast<std::ptrdiff_t>(expired));
    stats_.idle_closed.add(expired);
    publish();
}

void upstream_pool::abort() noexcept {
    stop();
    for (const auto& c : all_) {
        std::error_code ignored;
        c->socket.close(ignored);
    }
}

void upstream_pool::stop() noexcept {
    stopped_ = true;
    sweep_.cancel();
    for (upstream_connection* c : idle_) {
        c->close();
        spare_.push_back(c);
    }
    idle_.clear();
    publish();
}

}  // namespace sluice::core
