#pragma once

#include <array>
#include <asio/awaitable.hpp>
#include <asio/buffer.hpp>
#include <asio/cancellation_type.hpp>
#include <asio/experimental/as_tuple.hpp>
#include <asio/experimental/awaitable_operators.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/steady_timer.hpp>
#include <asio/this_coro.hpp>
#include <asio/use_awaitable.hpp>
#include <asio/write.hpp>
#include <chrono>
#include <concepts>
#include <cstddef>
#include <cstring>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "http/request.hpp"
#include "http/request_parser.hpp"
#include "http/response.hpp"

namespace sluice::http {

struct server_limits {
    // Header section, body and chunk framing limits (431, 413).
    parser_limits parser{};
    // A header section must be complete this long after its first byte arrived.
    std::chrono::steady_clock::duration header_timeout = std::chrono::seconds(10);
    // A connection waiting for its next request, or a read of a body or a write that makes no
    // progress for this long, is closed.
    std::chrono::steady_clock::duration idle_timeout = std::chrono::seconds(60);
    // After a response that closes the connection, how long to keep reading (and discarding)
    // before closing: closing with unread bytes makes the kernel send RST, which can destroy the
    // response (a 413 in particular) before the client has read it.
    std::chrono::steady_clock::duration linger_timeout = std::chrono::seconds(1);
    // First size of the read buffer; it doubles as needed up to one maximal message.
    std::size_t initial_buffer_bytes = 4096;
    // Pending responses are written once they pass this size, even if more pipelined requests
    // are waiting, so a long pipeline cannot grow the output buffer without bound.
    std::size_t max_batch_bytes = 64 * 1024;
};

// The handler answers one request: it fills `res` (status, fields, body as views it keeps valid
// until it returns) and may suspend, e.g. to ask Redis. `peer` is the TCP peer of the
// connection. It is called for one request at a time per connection, in request order.
template <class H>
concept request_handler = requires(H& h, const request& req, const asio::ip::tcp::endpoint& peer,
                                   response& res) {
    { h.handle(req, peer, res) } -> std::same_as<asio::awaitable<void>>;
};

// A handler's way to write its response itself, piece by piece, instead of filling `response`:
// for a body too large to hold (a relayed upstream answer). The first write() makes it the
// handler's; the server then writes nothing for this request. Each write first sends the
// responses of earlier pipelined requests still buffered, so responses stay in order, and is
// held to the server's write deadline (idle_timeout without progress). A slow client thus holds
// the handler back: it reads its next piece only once the previous one is written.
class response_stream {
  public:
    // The Connection field the head must carry (close when the client or a shutdown asked for it,
    // or after close() was called; keep-alive for an HTTP/1.0 client that asked for it).
    virtual connection_header connection_field() const noexcept = 0;
    // The connection closes after this response (e.g. its body ends with the connection, or it
    // broke off halfway). Call it before writing the head so that the head says so.
    virtual void close() noexcept = 0;
    // False when the client is gone or the write deadline passed: stop, the connection closes.
    virtual asio::awaitable<bool> write(std::string_view a, std::string_view b = {},
                                        std::string_view c = {}) = 0;
    virtual bool started() const noexcept = 0;

  protected:
    ~response_stream() = default;
};

// A handler that may stream: the server calls this overload instead of the one above.
template <class H>
concept streaming_handler = requires(H& h, const request& req, const asio::ip::tcp::endpoint& peer,
                                     response& res, response_stream& out) {
    { h.handle(req, peer, res, out) } -> std::same_as<asio::awaitable<void>>;
};

namespace detail {

inline constexpr auto use_tuple = asio::experimental::as_tuple(asio::use_awaitable);

// What connection_control knows of a connection: an intrusive list node living in the
// connection's coroutine frame, so registering costs no allocation.
struct connection_entry {
    connection_entry* prev = nullptr;
    connection_entry* next = nullptr;
    asio::ip::tcp::socket* socket = nullptr;
    // Waiting for the first byte of a request with nothing buffered (or lingering after a final
    // response): closing it loses nothing.
    bool idle = false;
};

template <class Handler>
class connection;

}  // namespace detail

// The connections of one shard, for shutting them down. Not thread-safe: it belongs to the
// shard's event loop, like the connections it tracks; call it from that thread (post to it from
// a signal handler).
class connection_control {
  public:
    explicit connection_control(const asio::any_io_executor& executor) : closed_(executor) {}
    connection_control(const connection_control&) = delete;
    connection_control& operator=(const connection_control&) = delete;
    ~connection_control() = default;

    // Graceful: a connection waiting for a request closes at once; one in the middle of a
    // request finishes it, answers with `Connection: close` and closes. Connections that start
    // afterwards close at once.
    void stop() noexcept {
        stopping_ = true;
        for (detail::connection_entry* e = head_; e != nullptr; e = e->next) {
            if (e->idle) {
                asio::error_code ignored;
                e->socket->cancel(ignored);
            }
        }
    }

    // Forceful, for when a graceful stop took too long: every socket is closed now. A handler
    // that is running finishes, but its response is not written.
    void abort() noexcept {
        stopping_ = true;
        for (detail::connection_entry* e = head_; e != nullptr; e = e->next) {
            asio::error_code ignored;
            e->socket->close(ignored);
        }
    }

    bool stopping() const noexcept { return stopping_; }
    std::size_t active() const noexcept { return active_; }

    // Completes once no connection is left (at once if none is), or when cancelled.
    asio::awaitable<void> wait_closed() {
        // A handle that sees later cancellations. Taken in its own statement: GCC 12 builds a
        // crashing coroutine from `if ((co_await this_coro::cancellation_state).cancelled())`.
        const asio::cancellation_state state = co_await asio::this_coro::cancellation_state;
        while (active_ != 0) {
            closed_.expires_at(asio::steady_timer::time_point::max());
            co_await closed_.async_wait(detail::use_tuple);
            if (state.cancelled() != asio::cancellation_type::none) co_return;
        }
    }

  private:
    template <class Handler>
    friend class detail::connection;

    void attach(detail::connection_entry& e) noexcept {
        e.prev = nullptr;
        e.next = head_;
        if (head_ != nullptr) head_->prev = &e;
        head_ = &e;
        ++active_;
    }

    void detach(detail::connection_entry& e) noexcept {
        if (e.prev != nullptr) e.prev->next = e.next;
        if (e.next != nullptr) e.next->prev = e.prev;
        if (head_ == &e) head_ = e.next;
        e.prev = e.next = nullptr;
        if (--active_ == 0) closed_.cancel();
    }

    detail::connection_entry* head_ = nullptr;
    std::size_t active_ = 0;
    bool stopping_ = false;
    // Used as a condition variable by wait_closed().
    asio::steady_timer closed_;
};

namespace detail {

// One HTTP/1.1 connection: a session coroutine that reads, answers and writes, and a watchdog
// coroutine that enforces the deadlines.
//
// Why a watchdog with a deadline variable rather than racing every read against a timer with
// `||`: the operator builds a parallel group (allocations, a spawned coroutine) per operation,
// and re-arming a timer per read costs a timer-queue update and a cancelled wait per request.
// Here the session only stores a new deadline (one clock read); the watchdog sleeps until the
// deadline it last saw, and on waking re-arms for the current one if it moved later. The timer is
// cancelled only when a deadline moves earlier (a header section left incomplete, lingering), not
// once per request. When the deadline passes, the watchdog cancels the socket's operations and
// the session ends. While the handler runs there is no deadline: the handler bounds its own waits
// (the gateway's Redis timeout), and cancelling it halfway would lose its answer.
template <class Handler>
class connection final : public response_stream {
  public:
    using clock = std::chrono::steady_clock;

    connection(asio::ip::tcp::socket socket, Handler& handler, const server_limits& limits,
               connection_control& control)
        : socket_(std::move(socket)),
          timer_(socket_.get_executor()),
          handler_(handler),
          limits_(limits),
          control_(control),
          parser_(limits.parser),
          in_(std::max<std::size_t>(limits.initial_buffer_bytes, 512)) {
        entry_.socket = &socket_;
        control_.attach(entry_);
    }

    connection(const connection&) = delete;
    connection& operator=(const connection&) = delete;
    ~connection() { control_.detach(entry_); }

    asio::awaitable<void> run() {
        using namespace asio::experimental::awaitable_operators;
        asio::error_code ec;
        peer_ = socket_.remote_endpoint(ec);
        // Accepted while stopping (it waited in the listen backlog): a request it has already
        // sent is in flight and gets its answer; a connection that sent nothing yet is closed.
        if (!ec && control_.stopping()) {
            if (socket_.available(ec) == 0 && !ec) ec = asio::error::shut_down;
            owed_read_ = true;
        }
        if (!ec) {
            // Responses are batched by hand; Nagle would only delay the batch.
            socket_.set_option(asio::ip::tcp::no_delay(true), ec);
            // A new connection owes its first header section within header_timeout, counted
            // from the connect: a client that connects and stays silent holds a descriptor like
            // one that trickles bytes.
            header_deadline_ = clock::now() + limits_.header_timeout;
            header_deadline_set_ = true;
            deadline_ = header_deadline_;
            co_await (session() || watchdog());
        }
        socket_.close(ec);
    }

    connection_header connection_field() const noexcept override {
        if (current_ == nullptr || !current_->keep_alive || control_.stopping() || stream_close_) {
            return connection_header::close;
        }
        return current_->version_minor == 0 ? connection_header::keep_alive
                                            : connection_header::none;
    }

    void close() noexcept override { stream_close_ = true; }

    bool started() const noexcept override { return stream_started_; }

    asio::awaitable<bool> write(std::string_view a, std::string_view b,
                                std::string_view c) override {
        stream_started_ = true;
        if (stream_failed_) co_return false;
        // The handler's own waits end here: the write is held to the server's deadline.
        busy_ = false;
        set_deadline(clock::now() + limits_.idle_timeout);
        const std::array<asio::const_buffer, 4> buffers{asio::buffer(out_), asio::buffer(a),
                                                        asio::buffer(b), asio::buffer(c)};
        auto [ec, n] = co_await asio::async_write(socket_, buffers, use_tuple);
        out_.clear();
        busy_ = true;
        if (ec || timed_out_) stream_failed_ = true;
        co_return !stream_failed_;
    }

  private:
    std::string_view pending() const noexcept { return {in_.data() + begin_, end_ - begin_}; }

    // HEAD, 1xx, 204 and 304 responses end with their head whatever body the handler set.
    static bool carries_body(const request& req, unsigned status) noexcept {
        return req.method != "HEAD" && status >= 200 && status != 204 && status != 304;
    }

    void consume(std::size_t n) noexcept {
        begin_ += n;
        if (begin_ == end_) begin_ = end_ = 0;
    }

    // Moves the deadline; wakes the watchdog only when it moves earlier than the timer.
    void set_deadline(clock::time_point t) noexcept {
        deadline_ = t;
        if (t < timer_.expiry()) timer_.cancel();
    }

    asio::awaitable<void> session() {
        struct mark_done {
            bool& done;
            ~mark_done() { done = true; }
        } guard{done_};

        for (;;) {
            bool close = false;
            // Answer every complete request already buffered, in order; their responses go out
            // together in one write.
            for (;;) {
                const parse_result r = parser_.parse(pending());
                if (r.status == parse_status::need_more) break;
                if (r.status == parse_status::error) {
                    res_.clear();
                    res_.set_status(r.http_status);
                    res_.write_head(out_, connection_header::close);
                    close = true;
                    break;
                }
                const request& req = parser_.current();
                res_.clear();
                busy_ = true;
                current_ = &req;
                stream_started_ = stream_close_ = stream_failed_ = false;
                if constexpr (streaming_handler<Handler>) {
                    co_await handler_.handle(req, peer_, res_, *this);
                } else {
                    co_await handler_.handle(req, peer_, res_);
                }
                busy_ = false;
                current_ = nullptr;
                if (stream_failed_) co_return;
                close = !req.keep_alive || control_.stopping() || stream_close_;
                if (stream_started_) {
                    consume(r.consumed);
                    header_deadline_set_ = false;
                    continue_sent_ = false;
                    if (close) break;
                    continue;
                }
                const connection_header conn = close ? connection_header::close
                                               : req.version_minor == 0
                                                   ? connection_header::keep_alive
                                                   : connection_header::none;
                res_.write_head(out_, conn);
                // The body is copied rather than gathered: its view lives only until the next
                // handler call, and a few hundred bytes copy faster than a growing buffer list.
                if (carries_body(req, res_.status())) out_.append(res_.body());
                consume(r.consumed);
                header_deadline_set_ = false;
                continue_sent_ = false;
                if (close) break;
                if (out_.size() >= limits_.max_batch_bytes && !co_await flush()) co_return;
            }
            if (!close && !continue_sent_ && parser_.expects_continue()) {
                out_.append("HTTP/1.1 100 Continue\r\n\r\n");
                continue_sent_ = true;
            }
            if (!out_.empty() && !co_await flush()) co_return;
            if (close) {
                co_await linger();
                co_return;
            }
            if (!co_await read()) co_return;
        }
    }

    asio::awaitable<bool> flush() {
        set_deadline(clock::now() + limits_.idle_timeout);
        auto [ec, n] = co_await asio::async_write(socket_, asio::buffer(out_), use_tuple);
        out_.clear();
        co_return !ec && !timed_out_;
    }

    asio::awaitable<bool> read() {
        const clock::time_point now = clock::now();
        const bool empty = begin_ == end_;
        if (empty) {
            if (control_.stopping() && !std::exchange(owed_read_, false)) co_return false;
            set_deadline(header_deadline_set_ ? header_deadline_ : now + limits_.idle_timeout);
        } else if (!parser_.headers_complete()) {
            if (!header_deadline_set_) {
                header_deadline_ = now + limits_.header_timeout;
                header_deadline_set_ = true;
            }
            set_deadline(header_deadline_);
        } else {
            set_deadline(now + limits_.idle_timeout);
        }
        if (!make_room()) co_return false;
        entry_.idle = empty;
        auto [ec, n] = co_await socket_.async_read_some(
            asio::buffer(in_.data() + end_, in_.size() - end_), use_tuple);
        entry_.idle = false;
        if (ec || timed_out_) co_return false;
        end_ += n;
        co_return true;
    }

    // Free space after end_: slide the pending bytes to the front when the tail is short, grow
    // (doubling, up to one maximal message) when the buffer is full of one unfinished request.
    bool make_room() {
        constexpr std::size_t min_read = 1024;
        if (in_.size() - end_ >= min_read) return true;
        if (begin_ != 0) {
            std::memmove(in_.data(), in_.data() + begin_, end_ - begin_);
            end_ -= begin_;
            begin_ = 0;
        }
        if (end_ < in_.size()) return true;
        const std::size_t cap = parser_.max_message_bytes();
        // The parser refuses a message before it fills a buffer of `cap` bytes.
        if (in_.size() >= cap) return false;
        in_.resize(std::min(in_.size() * 2, cap));
        return true;
    }

    // After the final response: stop sending, then read and discard until the client closes or
    // linger_timeout passes.
    asio::awaitable<void> linger() {
        asio::error_code ec;
        socket_.shutdown(asio::ip::tcp::socket::shutdown_send, ec);
        if (ec) co_return;
        set_deadline(clock::now() + limits_.linger_timeout);
        entry_.idle = true;
        for (;;) {
            auto [rec, n] = co_await socket_.async_read_some(asio::buffer(in_), use_tuple);
            if (rec || timed_out_) co_return;
        }
    }

    asio::awaitable<void> watchdog() {
        for (;;) {
            if (timed_out_) {
                timer_.expires_at(clock::time_point::max());
            } else if (busy_) {
                timer_.expires_after(limits_.idle_timeout);
            } else {
                timer_.expires_at(deadline_);
            }
            co_await timer_.async_wait(use_tuple);
            // Cancelled by the `||` once the session has ended, or woken to re-arm earlier.
            if (done_) co_return;
            if (!busy_ && !timed_out_ && deadline_ <= clock::now()) {
                timed_out_ = true;
                asio::error_code ignored;
                socket_.cancel(ignored);
            }
        }
    }

    asio::ip::tcp::socket socket_;
    asio::steady_timer timer_;
    Handler& handler_;
    const server_limits& limits_;
    connection_control& control_;
    connection_entry entry_;
    asio::ip::tcp::endpoint peer_;

    request_parser parser_;
    response res_;
    std::vector<char> in_;
    std::size_t begin_ = 0;
    std::size_t end_ = 0;
    std::string out_;

    clock::time_point deadline_{};
    clock::time_point header_deadline_{};
    bool header_deadline_set_ = false;
    bool continue_sent_ = false;
    bool busy_ = false;
    const request* current_ = nullptr;
    bool stream_started_ = false;
    bool stream_close_ = false;
    bool stream_failed_ = false;
    bool timed_out_ = false;
    bool done_ = false;
    bool owed_read_ = false;  // accepted while stopping with a request already sent: read it
};

}  // namespace detail

// Serves one accepted connection until it closes: HTTP/1.1 keep-alive and pipelining (responses
// in request order, those of one read batched into one write), 400/431/413 and close on bad
// input, the header and idle deadlines of `limits`, graceful close through `control`.
// `handler`, `limits` and `control` must outlive the coroutine. An exception thrown by the
// handler ends the connection and reaches the coroutine's completion handler.
template <request_handler Handler>
asio::awaitable<void> serve_connection(asio::ip::tcp::socket socket, Handler& handler,
                                       const server_limits& limits, connection_control& control) {
    detail::connection<Handler> c(std::move(socket), handler, limits, control);
    co_await c.run();
}

}  // namespace sluice::http
