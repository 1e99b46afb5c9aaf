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
#include <span>
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
    // After a `101` head was written: relays bytes both ways between the client and `peer` until
    // both sides have closed, or either fails, or nothing moves for the server's idle_timeout.
    // `peer_buffer` is for reading from `peer`; bytes the caller already read from it must be
    // written first. The client's bytes after the request's head go to `peer` first. The request's
    // views are invalid afterwards, and the connection closes.
    virtual asio::awaitable<void> tunnel(asio::ip::tcp::socket& peer,
                                         std::span<char> peer_buffer) = 0;

  protected:
    ~response_stream() = default;
};

// A streamed request's body (request::body_pending), read by the handler piece by piece as it
// arrives, so a body of any size passes through the connection's fixed buffer. What the handler
// leaves unread is skipped if it is already buffered; otherwise the connection closes after the
// response (it cannot find the next request without reading the body).
class request_body {
  public:
    // The next piece of the decoded body, valid until the next call; empty once the body is
    // complete (at once for a request without one). False when it cannot be read: malformed or
    // too large (body_error() is the 400 or 413 the server then answers, unless the handler
    // started its response), or the client left or stalled for idle_timeout (body_error() 0).
    virtual asio::awaitable<bool> read(std::string_view& piece) = 0;
    virtual bool body_complete() const noexcept = 0;
    virtual unsigned body_error() const noexcept = 0;
    // `100 Continue` to a client that asked for it and is still owed it; nothing otherwise.
    // Call it once the request is certain to be read; a client may also send its body unasked.
    virtual asio::awaitable<bool> send_continue() = 0;

  protected:
    ~request_body() = default;
};

// A handler that may stream: the server calls this overload instead of the one above. With
// server_limits::parser.stream_bodies, it is called once a request's head is read, and reads the
// body through `body`.
template <class H>
concept streaming_handler = requires(H& h, const request& req, const asio::ip::tcp::endpoint& peer,
                                     response& res, response_stream& out, request_body& body) {
    { h.handle(req, peer, res, out, body) } -> std::same_as<asio::awaitable<void>>;
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
class connection final : public response_stream, public request_body {
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
        // sent is in flight and gets its answer. Its bytes may not be queued on this socket yet
        // (the client's send() can return before loopback delivers them, when the machine is
        // busy), so it gets a short wait for them rather than none; one that sends nothing in
        // that time is closed.
        const bool owed = !ec && control_.stopping();
        owed_read_ = owed;
        if (!ec) {
            // Responses are batched by hand; Nagle would only delay the batch.
            socket_.set_option(asio::ip::tcp::no_delay(true), ec);
            // A new connection owes its first header section within header_timeout, counted
            // from the connect: a client that connects and stays silent holds a descriptor like
            // one that trickles bytes.
            header_deadline_ = clock::now() + (owed ? std::min<clock::duration>(
                                                          limits_.header_timeout, owed_request_wait)
                                                    : limits_.header_timeout);
            header_deadline_set_ = true;
            deadline_ = header_deadline_;
            co_await (session() || watchdog());
        }
        socket_.close(ec);
    }

    connection_header connection_field() const noexcept override {
        if (current_ == nullptr || !current_->keep_alive || control_.stopping() || stream_close_ ||
            !body_complete()) {
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
        co_return co_await send(a, b, c);
    }

    asio::awaitable<bool> read(std::string_view& piece) override {
        piece = {};
        if (body_failed_) co_return false;
        if (body_complete()) co_return true;
        tail_ += std::exchange(piece_consumed_, 0);
        for (;;) {
            const body_step step = next_body_step();
            switch (step.event) {
                case body_event::data:
                    piece = step.data;
                    piece_consumed_ = step.consumed;
                    look_ahead();
                    co_return true;
                case body_event::done:
                    tail_ += step.consumed;
                    body_done_ = true;
                    co_return true;
                case body_event::error:
                    body_error_ = step.http_status;
                    body_failed_ = true;
                    co_return false;
                case body_event::need_more:
                    tail_ += step.consumed;
                    if (!co_await read_body_bytes()) {
                        // Gone or stalled: nobody is left to answer.
                        body_failed_ = stream_failed_ = true;
                        co_return false;
                    }
                    break;
            }
        }
    }

    bool body_complete() const noexcept override {
        return current_ == nullptr || !current_->body_pending || body_done_;
    }

    unsigned body_error() const noexcept override { return body_error_; }

    asio::awaitable<bool> send_continue() override {
        if (current_ == nullptr || !current_->expects_continue || continue_sent_ ||
            body_complete() || stream_started_) {
            co_return !stream_failed_;
        }
        continue_sent_ = true;
        co_return co_await send(continue_line);
    }

    asio::awaitable<void> tunnel(asio::ip::tcp::socket& peer,
                                 std::span<char> peer_buffer) override {
        using namespace asio::experimental::awaitable_operators;
        stream_started_ = stream_close_ = true;
        if (stream_failed_) co_return;
        busy_ = false;
        bool ok = true;
        if (tail_ < end_) {
            set_deadline(clock::now() + limits_.idle_timeout);
            auto [ec, n] = co_await asio::async_write(
                peer, asio::buffer(in_.data() + tail_, end_ - tail_), use_tuple);
            ok = !ec && !timed_out_;
            tail_ = end_;
        }
        if (ok) {
            co_await (relay(socket_, peer, {in_.data(), in_.size()}) &&
                      relay(peer, socket_, peer_buffer));
        }
        asio::error_code ignored;
        peer.close(ignored);
        busy_ = true;
        // The connection carried another protocol: it ends here, with nothing to linger for.
        stream_failed_ = true;
    }

  private:
    static constexpr std::string_view continue_line = "HTTP/1.1 100 Continue\r\n\r\n";
    // How long a connection adopted from the listen backlog at shutdown may take to show the
    // request it sent: long enough for a busy machine to deliver it, short enough not to hold
    // the shutdown for a client that sent nothing.
    static constexpr std::chrono::milliseconds owed_request_wait{200};

    std::string_view pending() const noexcept { return {in_.data() + begin_, end_ - begin_}; }

    // Writes the buffered responses of earlier requests, then a, b and c, held to the write
    // deadline: the handler's own waits end here.
    asio::awaitable<bool> send(std::string_view a, std::string_view b = {},
                               std::string_view c = {}) {
        if (stream_failed_) co_return false;
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

    // One direction of a tunnel. A clean end (the sender closed) is passed on as a half-close, so
    // the other direction can finish; a failure or a stall ends both.
    asio::awaitable<void> relay(asio::ip::tcp::socket& from, asio::ip::tcp::socket& to,
                                std::span<char> buffer) {
        asio::error_code ec;
        for (;;) {
            set_deadline(clock::now() + limits_.idle_timeout);
            auto [rec, n] = co_await from.async_read_some(
                asio::buffer(buffer.data(), buffer.size()), use_tuple);
            if (n != 0) {
                auto [wec, written] =
                    co_await asio::async_write(to, asio::buffer(buffer.data(), n), use_tuple);
                ec = wec;
                if (ec) break;
            }
            if (timed_out_) {
                ec = asio::error::timed_out;
                break;
            }
            if (rec) {
                ec = rec;
                break;
            }
        }
        if (ec == asio::error::eof) {
            to.shutdown(asio::ip::tcp::socket::shutdown_send, ec);
            co_return;
        }
        from.cancel(ec);
        to.cancel(ec);
    }

    // The head of a streamed request stays where the handler's views point; the body passes
    // through the room after it, which must hold a whole trailer section and a read.
    void prepare_body(std::size_t head_bytes) {
        const std::size_t room = limits_.parser.max_header_bytes + 16 * 1024;
        if (in_.size() - begin_ - head_bytes < room) {
            std::memmove(in_.data(), in_.data() + begin_, end_ - begin_);
            end_ -= begin_;
            begin_ = 0;
            if (in_.size() < head_bytes + room) in_.resize(head_bytes + room);
            parser_.rebind(pending());
        }
        head_bytes_ = head_bytes;
        tail_ = begin_ + head_bytes;
    }

    // More body bytes after the unread ones, which slide down to the head when the room is short.
    asio::awaitable<bool> read_body_bytes() {
        const std::size_t floor = begin_ + head_bytes_;
        if (tail_ == end_) {
            tail_ = end_ = floor;
        } else if (in_.size() - end_ < 1024 && tail_ > floor) {
            std::memmove(in_.data() + floor, in_.data() + tail_, end_ - tail_);
            end_ -= tail_ - floor;
            tail_ = floor;
        }
        // prepare_body left room for the longest trailer section the parser holds, and more.
        if (end_ == in_.size()) co_return false;
        busy_ = false;
        set_deadline(clock::now() + limits_.idle_timeout);
        auto [ec, n] = co_await socket_.async_read_some(
            asio::buffer(in_.data() + end_, in_.size() - end_), use_tuple);
        busy_ = true;
        if (ec || timed_out_) co_return false;
        end_ += n;
        co_return true;
    }

    body_step next_body_step() noexcept {
        if (stashed_) {
            stashed_ = false;
            return stash_;
        }
        return parser_.parse_body({in_.data() + tail_, end_ - tail_});
    }

    // After a piece, the parser looks at the bytes already buffered behind it, without moving any:
    // when the body ends there, body_complete() says so with the piece still in hand, and a
    // proxy sends it as the last one (one write for a whole small body). A next step that is
    // not the end is kept for the next read().
    void look_ahead() noexcept {
        const std::size_t from = tail_ + piece_consumed_;
        const body_step next = parser_.parse_body({in_.data() + from, end_ - from});
        switch (next.event) {
            case body_event::done:
                tail_ = from + next.consumed;
                piece_consumed_ = 0;
                body_done_ = true;
                break;
            case body_event::need_more:
                piece_consumed_ += next.consumed;  // framing the parser has taken in
                break;
            case body_event::data:
            case body_event::error:
                stash_ = next;
                stashed_ = true;
                break;
        }
    }

    // After the handler: the rest of a body it did not read, if it is all buffered already.
    bool skip_buffered_body() noexcept {
        if (body_complete()) return true;
        if (body_failed_) return false;
        tail_ += std::exchange(piece_consumed_, 0);
        for (;;) {
            const body_step step = next_body_step();
            tail_ += step.consumed;
            if (step.event == body_event::done) return body_done_ = true;
            if (step.event != body_event::data) return false;
        }
    }

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
                if (r.status == parse_status::head) {
                    prepare_body(r.consumed);
                } else {
                    head_bytes_ = r.consumed;
                    tail_ = begin_ + r.consumed;
                }
                const request& req = parser_.current();
                res_.clear();
                busy_ = true;
                current_ = &req;
                stream_started_ = stream_close_ = stream_failed_ = false;
                body_done_ = body_failed_ = stashed_ = false;
                body_error_ = 0;
                piece_consumed_ = 0;
                if constexpr (streaming_handler<Handler>) {
                    co_await handler_.handle(req, peer_, res_, *this, *this);
                } else {
                    co_await handler_.handle(req, peer_, res_);
                }
                busy_ = false;
                if (stream_failed_) co_return;
                // A body left unread and not all here: the next request cannot be found.
                const bool body_read = skip_buffered_body();
                current_ = nullptr;
                close = !req.keep_alive || control_.stopping() || stream_close_ || !body_read;
                if (stream_started_) {
                    consume(tail_ - begin_);
                    header_deadline_set_ = false;
                    continue_sent_ = false;
                    if (close) break;
                    continue;
                }
                if (body_error_ != 0) {
                    res_.clear();
                    res_.set_status(body_error_);
                }
                const connection_header conn = close ? connection_header::close
                                               : req.version_minor == 0
                                                   ? connection_header::keep_alive
                                                   : connection_header::none;
                res_.write_head(out_, conn);
                // The body is copied rather than gathered: its view lives only until the next
                // handler call, and a few hundred bytes copy faster than a growing buffer list.
                if (carries_body(req, res_.status())) out_.append(res_.body());
                consume(tail_ - begin_);
                header_deadline_set_ = false;
                continue_sent_ = false;
                if (close) break;
                if (out_.size() >= limits_.max_batch_bytes && !co_await flush()) co_return;
            }
            if (!close && !continue_sent_ && parser_.expects_continue()) {
                out_.append(continue_line);
                continue_sent_ = true;
            }
            if (!out_.empty() && !co_await flush()) co_return;
            if (close) {
                co_await linger();
                co_return;
            }
            if (!co_await read_request()) co_return;
        }
    }

    asio::awaitable<bool> flush() {
        set_deadline(clock::now() + limits_.idle_timeout);
        auto [ec, n] = co_await asio::async_write(socket_, asio::buffer(out_), use_tuple);
        out_.clear();
        co_return !ec && !timed_out_;
    }

    asio::awaitable<bool> read_request() {
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

    // The current request: its head is in_[begin_, begin_ + head_bytes_); the bytes from tail_ on
    // are not yet read as its body (or, once it is complete, belong to what follows it).
    std::size_t head_bytes_ = 0;
    std::size_t tail_ = 0;
    std::size_t piece_consumed_ = 0;  // the last piece read(), consumed at the next call
    bool body_done_ = false;
    bool body_failed_ = false;
    unsigned body_error_ = 0;
    body_step stash_{};  // a step look_ahead() found, relative to tail_ after the last piece
    bool stashed_ = false;
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
