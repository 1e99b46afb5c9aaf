// The proxy path of --upstream: an allowed request is forwarded, framed by us, its body streamed
// as it arrives; the answer is relayed as it arrives; a WebSocket upgrade becomes a tunnel.

#include <arpa/inet.h>

#include <algorithm>
#include <array>
#include <asio/experimental/as_tuple.hpp>
#include <asio/use_awaitable.hpp>
#include <asio/write.hpp>
#include <utility>

#include "core/shard.hpp"
#include "http/request_writer.hpp"

namespace sluice::core {

namespace {

constexpr auto nothrow = asio::experimental::as_tuple(asio::use_awaitable);
constexpr std::string_view json = "application/json";
constexpr std::string_view bad_gateway_body = R"({"error":"bad_gateway"})";
constexpr std::string_view gateway_timeout_body = R"({"error":"gateway_timeout"})";

// How long a request with `Expect: 100-continue` waits for the upstream's 100 (or its final
// answer) before the body is sent anyway. An upstream need not answer 100 at all (RFC 9110
// section 10.1.1 lets the client go on after a while); curl waits 1 s too.
constexpr auto continue_wait = std::chrono::seconds(1);

// Methods a client may repeat (RFC 9110 section 9.2.2): safe to send again when a pooled
// connection turned out closed before any answer.
bool idempotent(std::string_view method) noexcept {
    return method == "GET" || method == "HEAD" || method == "PUT" || method == "DELETE" ||
           method == "OPTIONS" || method == "TRACE";
}

std::size_t index(upstream_error e) noexcept {
    return static_cast<std::size_t>(e);
}

// How waiting for the upstream's response head ended.
enum class head_outcome : std::uint8_t {
    head,               // a final head (or a 101) is in c.parser.head()
    continue_,          // a `100 Continue` (only when asked to stop there), consumed
    timed_out,          // the connection's deadline passed
    closed_unanswered,  // closed or broken before a single byte came back
    closed,             // closed or broken in the middle of a head
    malformed,          // a head the parser refuses
};

// Reads up to the next response head, skipping interim 1xx answers other than 100, and 100 too
// unless `stop_at_continue`. The head's bytes stay in the buffer: `step.consumed` says how many.
asio::awaitable<head_outcome> read_head(upstream_connection& c, http::response_step& step,
                                        bool stop_at_continue) {
    for (;;) {
        step = c.parser.parse(c.pending());
        if (step.event == http::response_event::need_more) {
            c.consume(step.consumed);
            const std::error_code ec = co_await c.read_more();
            if (c.timed_out()) co_return head_outcome::timed_out;
            if (ec)
                co_return c.received == 0 ? head_outcome::closed_unanswered : head_outcome::closed;
            continue;
        }
        if (step.event != http::response_event::head) co_return head_outcome::malformed;
        if (!c.parser.head().interim()) co_return head_outcome::head;
        const bool is_continue = c.parser.head().status == 100;
        c.consume(step.consumed);
        if (is_continue && stop_at_continue) co_return head_outcome::continue_;
    }
}

// Writes a piece of the request body upstream, framed as the forwarded head says: as it is under
// Content-Length, as one chunk (and the last chunk after the final piece) when chunked. Held to
// `timeout` without progress.
asio::awaitable<std::error_code> send_piece(upstream_connection& c, std::string_view piece,
                                            bool chunked, bool last,
                                            std::chrono::steady_clock::duration timeout) {
    c.out.clear();
    std::string_view after;
    if (chunked) {
        if (!piece.empty()) http::write_chunk_header(c.out, piece.size());
        after = piece.empty() ? (last ? "0\r\n\r\n" : "") : (last ? "\r\n0\r\n\r\n" : "\r\n");
    }
    const std::array<asio::const_buffer, 3> bytes{asio::buffer(c.out), asio::buffer(piece),
                                                  asio::buffer(after)};
    c.arm(timeout);
    auto [ec, n] = co_await asio::async_write(c.socket, bytes, nothrow);
    const bool timed_out = c.timed_out();
    c.disarm();
    co_return timed_out ? std::make_error_code(std::errc::timed_out) : ec;
}

}  // namespace

asio::awaitable<void> gateway_handler::proxy(const http::request& req,
                                             const asio::ip::tcp::endpoint& peer,
                                             http::response& res, http::response_stream& out,
                                             http::request_body& body,
                                             std::span<const http::header> extra) {
    auto fail = [&](upstream_error kind, unsigned status) {
        metrics_.upstream_errors[index(kind)].add();
        if (status == 504) {
            metrics_.upstream_timeout.add();
        } else {
            metrics_.upstream_bad_gateway.add();
        }
        res.set_status(status);
        res.add_header("Content-Type", json);
        res.set_body(status == 504 ? gateway_timeout_body : bad_gateway_body);
    };
    char peer_text[INET6_ADDRSTRLEN] = {};
    {
        const asio::ip::address a = peer.address();
        if (a.is_v4()) {
            const auto bytes = a.to_v4().to_bytes();
            inet_ntop(AF_INET, bytes.data(), peer_text, sizeof peer_text);
        } else {
            const auto bytes = a.to_v6().to_bytes();
            inet_ntop(AF_INET6, bytes.data(), peer_text, sizeof peer_text);
        }
    }
    const bool trusted = identifier_.trusted().contains(to_ip(peer.address()));
    const http::upstream_request forwarded =
        http::upstream_request_for(req, cfg_.upstream->prefix, peer_text, trusted);
    const bool chunked = forwarded.body == http::body_length::chunked;

    // The body's first piece goes out with the head, in one write: for most requests it is the
    // whole body, already buffered. A client that waits for `100 Continue` has sent nothing yet.
    // A body that cannot be read ends here: the server answers its 400 or 413, or nobody is left.
    std::string_view first;
    if (req.body_pending && !req.expects_continue && !co_await body.read(first)) co_return;

    upstream_connection* c = nullptr;
    http::response_step step;
    head_outcome outcome = head_outcome::head;
    bool sent_whole = false;  // the upstream has the whole request: the connection may be reused
    auto started = std::chrono::steady_clock::now();
    for (int attempt = 0;; ++attempt) {
        bool reused = false;
        if (attempt == 0) {
            c = upstream_->take_idle();
            reused = c != nullptr;
        }
        if (c == nullptr) {
            std::error_code ec;
            c = co_await upstream_->connect(ec);
            if (c == nullptr) {
                fail(upstream_error::connect, ec == std::errc::timed_out ? 504 : 502);
                co_return;
            }
        }
        // Everything sent in this attempt can be sent again on a retry: the head and `first`,
        // which stays valid until the body is read further.
        bool replayable = true;
        const bool whole = body.body_complete();
        c->out.clear();
        http::write_request_head(c->out, forwarded);
        std::string_view after;
        if (chunked) {
            if (!first.empty()) http::write_chunk_header(c->out, first.size());
            after = first.empty() ? (whole ? "0\r\n\r\n" : "") : (whole ? "\r\n0\r\n\r\n" : "\r\n");
        }
        c->parser.expect_response_to(req.method);
        c->received = 0;
        started = std::chrono::steady_clock::now();
        c->arm(cfg_.upstream_timeout);
        const std::array<asio::const_buffer, 3> request_bytes{
            asio::buffer(c->out), asio::buffer(first), asio::buffer(after)};
        auto [wec, written] = co_await asio::async_write(c->socket, request_bytes, nothrow);
        sent_whole = !wec && whole;
        bool have_outcome = c->timed_out();
        outcome = head_outcome::timed_out;
        if (!wec && !whole) {
            if (req.expects_continue && first.empty()) {
                // Relayed: the upstream may refuse the body (401, 413, 417) before it is sent.
                c->arm(std::min<std::chrono::steady_clock::duration>(continue_wait,
                                                                     cfg_.upstream_timeout));
                outcome = co_await read_head(*c, step, true);
                have_outcome =
                    outcome != head_outcome::continue_ && outcome != head_outcome::timed_out;
                if (!have_outcome && !co_await body.send_continue()) {
                    upstream_->release(c, false);
                    co_return;
                }
            }
            std::error_code ec;
            while (!have_outcome && !body.body_complete()) {
                std::string_view piece;
                replayable = false;
                if (!co_await body.read(piece)) {
                    // The upstream got part of a request: that connection is done.
                    upstream_->release(c, false);
                    co_return;
                }
                ec = co_await send_piece(*c, piece, chunked, body.body_complete(),
                                         cfg_.upstream_timeout);
                // The upstream stopped reading: perhaps it answered already (a 413), read it.
                if (ec) break;
            }
            sent_whole = !ec && !have_outcome;
            if (ec == std::errc::timed_out) {
                outcome = head_outcome::timed_out;
                have_outcome = true;
            }
        }
        if (!have_outcome) {
            // --upstream-timeout counts from the end of the request to the response's head.
            c->arm(cfg_.upstream_timeout);
            outcome = co_await read_head(*c, step, false);
        }
        c->disarm();
        if (outcome == head_outcome::head) break;
        upstream_->release(c, false);
        c = nullptr;
        if (outcome == head_outcome::timed_out) {
            fail(upstream_error::timeout, 504);
            co_return;
        }
        if (outcome == head_outcome::closed_unanswered && reused && attempt == 0 && replayable &&
            idempotent(req.method)) {
            metrics_.upstream_retries.add();
            continue;
        }
        fail(outcome == head_outcome::malformed ? upstream_error::protocol : upstream_error::reset,
             502);
        co_return;
    }
    metrics_.upstream_latency.observe(std::chrono::steady_clock::now() - started);

    const http::response_head& head = c->parser.head();
    const bool switched = head.framing == http::body_framing::switched;
    if (switched && !(req.upgrade && http::is_websocket_upgrade(head.fields()))) {
        // A 101 nobody asked for: what follows is not HTTP, and not ours to relay.
        upstream_->release(c, false);
        fail(upstream_error::protocol, 502);
        co_return;
    }
    const bool upstream_keeps = head.keep_alive && sent_whole;
    metrics_.upstream_responses[std::min<unsigned>(head.status / 100, 5) - 1].add();
    const bool http11 = req.version_minor != 0;
    bool relay_chunked = false;
    http::relayed_response relayed;
    relayed.status = head.status;
    relayed.reason = head.reason;
    relayed.fields = head.fields();
    relayed.extra = extra;
    switch (head.framing) {
        case http::body_framing::none:
            // A HEAD or 304 answer announces the representation's length; a 204 has none.
            if (head.has_content_length && head.status != 204) {
                relayed.body = http::body_length::known;
                relayed.content_length = head.content_length;
            }
            break;
        case http::body_framing::content_length:
            relayed.body = http::body_length::known;
            relayed.content_length = head.content_length;
            break;
        case http::body_framing::switched:
            break;
        case http::body_framing::chunked:
        case http::body_framing::until_close:
            // Re-framed chunked for HTTP/1.1; an HTTP/1.0 client reads to the close.
            if (http11) {
                relayed.body = http::body_length::chunked;
                relay_chunked = true;
            } else {
                out.close();
            }
            break;
    }
    relayed.connection = out.connection_field();
    c->out.clear();
    http::write_response_head(c->out, relayed);
    c->consume(step.consumed);
    if (switched) {
        metrics_.upstream_tunnels.add();
        // Bytes of the new protocol that came with the 101 go with it.
        if (!co_await out.write(c->out, c->pending())) {
            upstream_->release(c, false);
            co_return;
        }
        co_await out.tunnel(c->socket, c->take_buffer());
        upstream_->release(c, false);
        co_return;
    }
    // The head goes out with the body's first piece when that came with it, as it does for most
    // answers: one write, not two. Any other first step is the loop's below.
    bool have_step = false;
    step = c->parser.parse(c->pending());
    bool ok = false;
    if (step.event == http::response_event::body) {
        if (relay_chunked) http::write_chunk_header(c->out, step.body.size());
        ok = co_await out.write(c->out, step.body, relay_chunked ? http::chunk_end : "");
        c->consume(step.consumed);
    } else {
        have_step = true;
        ok = co_await out.write(c->out);
    }
    if (!ok) {
        upstream_->release(c, false);
        co_return;
    }
    auto broken = [&](upstream_error kind) {
        metrics_.upstream_truncated.add();
        metrics_.upstream_errors[index(kind)].add();
        out.close();
        upstream_->release(c, false);
    };
    for (;;) {
        if (!std::exchange(have_step, false)) step = c->parser.parse(c->pending());
        switch (step.event) {
            case http::response_event::need_more: {
                c->consume(step.consumed);
                // Without progress for --upstream-timeout the body is given up.
                c->arm(cfg_.upstream_timeout);
                const std::error_code ec = co_await c->read_more();
                const bool timed_out = c->timed_out();
                c->disarm();
                if (ec == asio::error::eof && !timed_out) {
                    step = c->parser.eof();
                    if (step.event == http::response_event::done) {
                        if (relay_chunked) co_await out.write("0\r\n\r\n");
                        upstream_->release(c, false);
                        co_return;
                    }
                }
                if (ec) {
                    broken(timed_out ? upstream_error::timeout : upstream_error::reset);
                    co_return;
                }
                break;
            }
            case http::response_event::body: {
                bool ok = false;
                if (relay_chunked) {
                    c->out.clear();
                    http::write_chunk_header(c->out, step.body.size());
                    ok = co_await out.write(c->out, step.body, http::chunk_end);
                } else {
                    ok = co_await out.write(step.body);
                }
                c->consume(step.consumed);
                if (!ok) {
                    upstream_->release(c, false);
                    co_return;
                }
                break;
            }
            case http::response_event::done:
                c->consume(step.consumed);
                if (relay_chunked && !co_await out.write("0\r\n\r\n")) {
                    upstream_->release(c, false);
                    co_return;
                }
                upstream_->release(c, upstream_keeps);
                co_return;
            case http::response_event::head:
            case http::response_event::error:
                broken(upstream_error::protocol);
                co_return;
        }
    }
}

}  // namespace sluice::core
