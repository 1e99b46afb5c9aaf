// sluice-load: an HTTP/1.1 load generator that also checks the answers: the status counts, and
// with --verify-limit whether the allowed answers kept the limit (bench/load/verify.hpp).
//
// Every connection keeps exactly one request in flight. In a closed loop (the default) the next
// request leaves as soon as the previous answer arrived; with --rate the requests follow a fixed
// schedule, and a request's latency counts from the moment it was due, so a stalled server
// shows up as latency instead of as fewer requests sent (coordinated omission).
//
// All connections are opened before the first request leaves, so `-c 6 -n 6` really sends six
// requests at once. Each event-loop thread owns its connections and its statistics; the threads
// share one atomic request counter (and with --key-seq one key counter) and nothing else until the
// statistics are merged at the end.
//
// On a terminal a live line on stderr follows the run; it reads per-thread relaxed counters
// (bench/load/live.hpp) from a thread of its own, so the event loops neither lock nor wait for it.
//
// Every request gets exactly one answer: bytes that arrive with no request outstanding (a second
// response, or anything after a complete one) are a protocol error, never taken as the answer
// to a later request.
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <asio/awaitable.hpp>
#include <asio/buffer.hpp>
#include <asio/co_spawn.hpp>
#include <asio/experimental/as_tuple.hpp>
#include <asio/io_context.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/post.hpp>
#include <asio/signal_set.hpp>
#include <asio/steady_timer.hpp>
#include <asio/use_awaitable.hpp>
#include <asio/write.hpp>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "bench/load/live.hpp"
#include "bench/load/options.hpp"
#include "bench/load/request.hpp"
#include "bench/load/response_parser.hpp"
#include "bench/load/stats.hpp"
#include "bench/load/verify.hpp"

namespace {

using namespace sluice::load;
using asio::ip::tcp;
using steady = std::chrono::steady_clock;

constexpr auto use_tuple = asio::experimental::as_tuple(asio::use_awaitable);

// After a failed reconnect, so a dead server does not turn the run into a busy loop of refused
// connections.
constexpr auto reconnect_backoff = std::chrono::milliseconds(10);

// Coroutines never let an exception escape on purpose; if one does (out of memory), it must end
// the program instead of silently leaving the run waiting for a connection that is gone.
void rethrow(std::exception_ptr e) {
    if (e) std::rethrow_exception(e);
}

// What every connection reads, plus the counter they share.
struct plan {
    plan(const options& o, std::vector<tcp::resolver::results_type> e)
        : opts(o), endpoints(std::move(e)), key_seq(o.keys) {}

    const options& opts;
    const std::vector<tcp::resolver::results_type> endpoints;  // one per URL
    steady::time_point start;
    steady::time_point deadline;
    std::atomic<std::uint64_t> next_slot{0};
    std::atomic<bool> stopping{false};
    std::atomic<std::size_t> running{0};
    key_sequence key_seq;  // --key-seq

    // The next request a connection may send, or nothing when the run is over. In an open loop
    // the answer is the moment the request is due; in a closed loop, now.
    std::optional<steady::time_point> claim() {
        if (stopping.load(std::memory_order_relaxed)) return std::nullopt;
        if (opts.rate > 0) {
            std::uint64_t i = next_slot.fetch_add(1, std::memory_order_relaxed);
            if (opts.requests && i >= *opts.requests) return std::nullopt;
            auto due =
                start + std::chrono::duration_cast<steady::duration>(
                            std::chrono::duration<double>(static_cast<double>(i) / opts.rate));
            if (!opts.requests && due >= deadline) return std::nullopt;
            return due;
        }
        if (opts.requests) {
            std::uint64_t i = next_slot.fetch_add(1, std::memory_order_relaxed);
            if (i >= *opts.requests) return std::nullopt;
            return steady::now();
        }
        auto now = steady::now();
        if (now >= deadline) return std::nullopt;
        return now;
    }
};

class connection {
  public:
    connection(asio::io_context& ctx, plan& p, run_stats& stats, live_counters& live,
               answer_log& answers, std::size_t url, std::uint64_t seed)
        : socket_(ctx),
          timer_(ctx),
          pace_(ctx),
          plan_(p),
          stats_(stats),
          live_(live),
          answers_(answers),
          endpoints_(p.endpoints[url]),
          writer_(p.opts.targets[url], p.opts.key_header),
          keys_(seed, p.opts.keys, p.opts.hot_keys, p.opts.hot_share) {}

    // Opens the connection, trying each resolved address in turn, within --timeout.
    asio::awaitable<std::error_code> open() {
        std::error_code ec = asio::error::host_not_found;
        arm_timeout();
        for (const auto& entry : endpoints_) {
            std::error_code ignored;
            socket_.close(ignored);
            auto [err] = co_await socket_.async_connect(entry.endpoint(), use_tuple);
            ec = err;
            if (!ec) break;
            if (timed_out_) {
                ec = asio::error::timed_out;
                break;
            }
        }
        disarm_timeout();
        timer_.cancel();
        if (ec) {
            std::error_code ignored;
            socket_.close(ignored);
            co_return ec;
        }
        std::error_code ignored;
        socket_.set_option(tcp::no_delay(true), ignored);
        parser_.reset();
        reused_ = false;
        co_return ec;
    }

    asio::awaitable<void> run() {
        while (auto due = plan_.claim()) {
            if (plan_.opts.rate > 0 && *due > steady::now()) {
                pace_.expires_at(*due);
                co_await pace_.async_wait(use_tuple);
                if (plan_.stopping.load(std::memory_order_relaxed)) break;
            }
            drop_if_unsolicited();
            if (!socket_.is_open()) {
                if (co_await open()) {
                    fail(failure::connect);
                    pace_.expires_after(reconnect_backoff);
                    co_await pace_.async_wait(use_tuple);
                    continue;
                }
                ++stats_.reconnects;
            }
            co_await exchange(plan_.opts.rate > 0 ? due : std::nullopt);
        }
        drop_if_unsolicited();
        timer_.cancel();
        std::error_code ignored;
        socket_.close(ignored);
    }

    // From another thread, through post(): wakes a connection waiting for its next due time.
    void stop() { pace_.cancel(); }

  private:
    // One request and its response. The latency counts from `due` in an open loop, else from
    // the moment the request is sent.
    asio::awaitable<void> exchange(std::optional<steady::time_point> due) {
        std::uint64_t key = plan_.opts.keys == 0 ? 0
                            : plan_.opts.key_seq ? plan_.key_seq.next()
                                                 : keys_.next();
        std::string_view request = plan_.opts.keys > 0 ? writer_.with_key(key) : writer_.plain();
        // Before the first attempt: a retried request may have been decided on the first.
        const auto sent = steady::now();
        const auto t0 = due.value_or(sent);
        for (int attempt = 0;; ++attempt) {
            outcome o = co_await attempt_once(request);
            // A server may close a keep-alive connection that sat idle just as the request went
            // out; then nothing of an answer came back, and a GET may be sent again on a fresh
            // connection. Once, so a server that closes every connection is still counted.
            if (o == outcome::closed_before_response && attempt == 0) {
                if (!co_await open()) {
                    ++stats_.reconnects;
                    continue;
                }
                fail(failure::connect);
                co_return;
            }
            if (o == outcome::answered) {
                const auto received = steady::now();
                auto us = std::chrono::duration_cast<std::chrono::microseconds>(received - t0);
                record(parser_.status(),
                       static_cast<std::uint64_t>(std::max<std::int64_t>(us.count(), 0)));
                answers_.add(parser_.status(), parser_.has_ratelimit_remaining(), key,
                             since_start(sent), since_start(received));
                // The response is the answer; what came with it is an answer to nothing.
                if (stray_) fail(failure::protocol);
                finish_response();
            } else {
                fail(o == outcome::timed_out ? failure::timeout
                     : o == outcome::garbage ? failure::protocol
                                             : failure::closed);
                close();
            }
            co_return;
        }
    }

    enum class outcome { answered, timed_out, garbage, closed_before_response, closed };

    asio::awaitable<outcome> attempt_once(std::string_view request) {
        bool reused = reused_;
        arm_timeout();
        auto [wec, written] = co_await asio::async_write(socket_, asio::buffer(request), use_tuple);
        (void)written;
        if (wec) {
            disarm_timeout();
            if (timed_out_) co_return outcome::timed_out;
            co_return reused ? outcome::closed_before_response : outcome::closed;
        }
        bool got_bytes = false;
        for (;;) {
            auto [rec, n] = co_await socket_.async_read_some(asio::buffer(buf_), use_tuple);
            if (rec == asio::error::eof) {
                disarm_timeout();
                if (parser_.finish() == response_parser::state::complete) {
                    // Nothing more can come on this connection.
                    must_close_ = true;
                    co_return outcome::answered;
                }
                co_return !got_bytes && reused ? outcome::closed_before_response : outcome::closed;
            }
            if (rec) {
                disarm_timeout();
                if (timed_out_) co_return outcome::timed_out;
                co_return !got_bytes && reused ? outcome::closed_before_response : outcome::closed;
            }
            got_bytes = true;
            const char* data = buf_.data();
            std::size_t left = n;
            for (;;) {
                auto r = parser_.feed(data, left);
                if (r.state == response_parser::state::incomplete) break;
                if (r.state == response_parser::state::failed) {
                    disarm_timeout();
                    co_return outcome::garbage;
                }
                // An interim 1xx (103 Early Hints, an unasked-for 100) precedes the answer; a 101
                // ends HTTP on the connection and is the answer.
                int status = parser_.status();
                if (status >= 100 && status < 200 && status != 101) {
                    data += r.consumed;
                    left -= r.consumed;
                    parser_.next();
                    if (left == 0) break;
                    continue;
                }
                disarm_timeout();
                must_close_ = r.consumed != left;
                // After a 101 the bytes belong to another protocol.
                stray_ = must_close_ && status != 101;
                co_return outcome::answered;
            }
        }
    }

    // Bytes that are waiting while no request is outstanding answer nothing that was asked:
    // taken as the answer to the next request they would shift every later answer by one.
    void drop_if_unsolicited() {
        if (!socket_.is_open()) return;
        std::error_code ec;
        if (socket_.available(ec) == 0 || ec) return;
        fail(failure::protocol);
        close();
    }

    // Every count goes to both: the statistics for the report, the live counters for the line.
    void record(int status, std::uint64_t latency_us) noexcept {
        stats_.record(status, latency_us);
        live_.record(status);
    }
    void fail(failure f) noexcept {
        stats_.fail(f);
        live_.fail();
    }

    std::int64_t since_start(steady::time_point t) const {
        return std::chrono::duration_cast<std::chrono::nanoseconds>(t - plan_.start).count();
    }

    // After a complete response: keep the connection only if both sides agree it stays open and
    // the server sent nothing beyond the response (with one request in flight, extra bytes mean
    // the stream is out of step).
    void finish_response() {
        bool keep = parser_.keep_alive() && !must_close_;
        must_close_ = false;
        stray_ = false;
        parser_.next();
        reused_ = true;
        if (!keep) close();
    }

    void close() {
        std::error_code ignored;
        socket_.close(ignored);
    }

    // The watchdog is re-armed for every operation instead of racing each read against a timer:
    // one timer per connection, no allocation. The generation number drops a stale expiry that
    // was already queued when the operation finished, so it cannot cut the next request short.
    void arm_timeout() {
        timed_out_ = false;
        timer_.expires_after(plan_.opts.timeout);
        timer_.async_wait([this, gen = ++generation_](std::error_code ec) {
            if (ec || gen != generation_) return;
            timed_out_ = true;
            std::error_code ignored;
            socket_.cancel(ignored);
        });
    }
    void disarm_timeout() { ++generation_; }

    tcp::socket socket_;
    asio::steady_timer timer_;
    asio::steady_timer pace_;
    plan& plan_;
    run_stats& stats_;
    live_counters& live_;
    answer_log& answers_;
    const tcp::resolver::results_type& endpoints_;
    request_writer writer_;
    key_picker keys_;
    response_parser parser_;
    std::uint64_t generation_ = 0;
    bool timed_out_ = false;
    bool reused_ = false;
    bool must_close_ = false;
    bool stray_ = false;  // bytes followed the complete response
    std::array<char, 8192> buf_;
};

// One event loop, its connections and what they observed.
struct worker {
    explicit worker(bool keep_counted) : answers(keep_counted) {}

    asio::io_context ctx{1};
    run_stats stats;
    live_counters live;
    answer_log answers;
    std::vector<std::unique_ptr<connection>> connections;
};

// Runs every worker's event loop until it has nothing left to do: worker 0 on this thread, the
// others on their own.
void run_workers(std::vector<std::unique_ptr<worker>>& workers) {
    std::vector<std::thread> threads;
    for (std::size_t i = 1; i < workers.size(); ++i) {
        threads.emplace_back([w = workers[i].get()] { w->ctx.run(); });
    }
    workers[0]->ctx.run();
    for (auto& t : threads)
        t.join();
    for (auto& w : workers)
        w->ctx.restart();
}

// The live line on a terminal (bench/load/live.hpp): its own thread, so that drawing it never
// delays an event loop, and a thread that only wakes four times a second.
class live_display {
  public:
    explicit live_display(const std::vector<std::unique_ptr<worker>>& workers)
        : workers_(workers) {}
    ~live_display() { stop(); }

    // From `start` on; does nothing when stderr is not a terminal.
    void start(steady::time_point start) {
        if (!::isatty(STDERR_FILENO)) return;
        start_ = start;
        thread_ = std::thread([this] { run(); });
    }

    // Clears the line, so that what is printed next starts on a clean one.
    void stop() {
        if (!thread_.joinable()) return;
        {
            std::lock_guard lock(mutex_);
            stopping_ = true;
        }
        wake_.notify_one();
        thread_.join();
    }

  private:
    void run() {
        live_snapshot before;
        bool drawn = false;
        std::unique_lock lock(mutex_);
        while (!wake_.wait_for(lock, live_interval, [this] { return stopping_; })) {
            live_snapshot now;
            now.elapsed = steady::now() - start_;
            for (const auto& w : workers_)
                w->live.add_to(now);
            // Asked each time: the terminal may have been resized.
            winsize ws{};
            std::size_t width = ::ioctl(STDERR_FILENO, TIOCGWINSZ, &ws) == 0 ? ws.ws_col : 0;
            std::string line = "\r" + format_live_line(now, before, width) + "\033[K";
            std::fputs(line.c_str(), stderr);
            drawn = true;
            before = now;
        }
        if (drawn) std::fputs("\r\033[K", stderr);
    }

    const std::vector<std::unique_ptr<worker>>& workers_;
    steady::time_point start_;
    std::thread thread_;
    std::mutex mutex_;
    std::condition_variable wake_;
    bool stopping_ = false;
};

// Each connection is a file descriptor; the usual soft limit of 1024 would fail a large -c long
// before the hard limit does.
void raise_fd_limit(std::size_t connections) {
    rlimit lim{};
    if (::getrlimit(RLIMIT_NOFILE, &lim) != 0) return;
    rlim_t wanted = static_cast<rlim_t>(connections) + 64;
    if (lim.rlim_cur != RLIM_INFINITY && lim.rlim_cur < wanted) {
        lim.rlim_cur = lim.rlim_max == RLIM_INFINITY ? wanted : std::min(wanted, lim.rlim_max);
        ::setrlimit(RLIMIT_NOFILE, &lim);
    }
}

int run(const options& opts) {
    // Opened before the run so that a path that cannot be written costs nothing, not the run.
    std::unique_ptr<std::FILE, int (*)(std::FILE*)> curve_file(nullptr, std::fclose);
    if (!opts.percentiles.empty()) {
        curve_file.reset(std::fopen(opts.percentiles.c_str(), "w"));
        if (!curve_file) {
            std::fprintf(stderr, "sluice-load: --percentiles: cannot write \"%s\": %s\n",
                         opts.percentiles.c_str(), std::strerror(errno));
            return 2;
        }
    }
    raise_fd_limit(opts.connections);
    asio::io_context resolve_ctx;
    tcp::resolver resolver(resolve_ctx);
    std::vector<tcp::resolver::results_type> endpoints;
    for (const target& t : opts.targets) {
        std::error_code ec;
        auto resolved = resolver.resolve(t.host, std::to_string(t.port), ec);
        if (ec || resolved.empty()) {
            std::fprintf(stderr, "sluice-load: cannot resolve \"%s\": %s\n", t.host.c_str(),
                         ec ? ec.message().c_str() : "no address");
            return 1;
        }
        endpoints.push_back(std::move(resolved));
    }

    plan p(opts, std::move(endpoints));
    std::vector<std::unique_ptr<worker>> workers;
    for (std::size_t i = 0; i < opts.threads; ++i)
        workers.push_back(std::make_unique<worker>(opts.verify.has_value()));
    std::uint64_t seed = std::random_device{}();
    seed = (seed << 32) ^ std::random_device{}();
    for (std::size_t i = 0; i < opts.connections; ++i) {
        worker& w = *workers[i % workers.size()];
        w.connections.push_back(std::make_unique<connection>(
            w.ctx, p, w.stats, w.live, w.answers, i % opts.targets.size(),
            seed ^ (static_cast<std::uint64_t>(i) * 0xd1b54a32d192ed03ULL)));
    }

    // Every connection is open before the first request leaves.
    std::vector<std::error_code> connect_errors(opts.connections);
    for (std::size_t i = 0; i < opts.connections; ++i) {
        worker& w = *workers[i % workers.size()];
        connection& c = *w.connections[i / workers.size()];
        asio::co_spawn(
            w.ctx,
            [&c, &err = connect_errors[i]]() -> asio::awaitable<void> { err = co_await c.open(); },
            rethrow);
    }
    run_workers(workers);
    for (std::size_t i = 0; i < opts.connections; ++i) {
        if (const auto& err = connect_errors[i]) {
            std::size_t url = i % opts.targets.size();
            std::fprintf(stderr, "sluice-load: cannot connect to %s (%s): %s\n",
                         opts.urls[url].c_str(), opts.targets[url].authority.c_str(),
                         err.message().c_str());
            return 1;
        }
    }

    // Ctrl-C stops issuing requests and still prints what was measured; a second one quits.
    asio::signal_set signals(workers[0]->ctx, SIGINT, SIGTERM);
    bool finished = false;  // touched only on worker 0's thread
    signals.async_wait([&](std::error_code sec, int) {
        // A signal that arrived just as the run ended must not start a new wait.
        if (sec || finished) return;
        p.stopping = true;
        for (auto& w : workers) {
            asio::post(w->ctx, [w = w.get()] {
                for (auto& c : w->connections)
                    c->stop();
            });
        }
        signals.async_wait([](std::error_code again, int) {
            if (!again) std::_Exit(130);
        });
    });

    p.running = opts.connections;
    p.start = steady::now();
    p.deadline = p.start + opts.duration;
    live_display live(workers);
    live.start(p.start);
    for (auto& w : workers) {
        for (auto& c : w->connections) {
            asio::co_spawn(
                w->ctx,
                [&c = *c, &p, &signals, &finished,
                 &ctx0 = workers[0]->ctx]() -> asio::awaitable<void> {
                    co_await c.run();
                    // The last connection to finish releases the signal wait that keeps worker
                    // 0's loop alive.
                    if (p.running.fetch_sub(1) == 1) {
                        asio::post(ctx0, [&] {
                            finished = true;
                            signals.cancel();
                        });
                    }
                },
                rethrow);
        }
    }
    run_workers(workers);
    auto elapsed = steady::now() - p.start;
    live.stop();

    run_stats total;
    answer_log& answers = workers[0]->answers;
    for (auto& w : workers) {
        total.merge(w->stats);
        if (w != workers[0]) answers.merge(w->answers);
    }
    summary s = summarize(total, elapsed);
    s.uncounted_200 = answers.uncounted();
    if (opts.verify) {
        s.verify = verify(answers.counted(), *opts.verify, opts.keys > 0, answers.uncounted());
    }
    std::string out;
    if (opts.json) {
        out = to_json(s) + "\n";
    } else {
        std::string urls;
        for (const auto& u : opts.urls)
            urls += (urls.empty() ? "" : ", ") + u;
        out = "target        " + urls + " (" + std::to_string(opts.connections) +
              (opts.connections == 1 ? " connection, " : " connections, ") +
              std::to_string(opts.threads) + (opts.threads == 1 ? " thread, " : " threads, ") +
              (opts.rate > 0 ? "open loop)\n" : "closed loop)\n") + to_text(s);
    }
    std::fputs(out.c_str(), stdout);
    std::fflush(stdout);

    int status = 0;
    if (curve_file) {
        const std::string curve = format_percentiles(percentile_curve(total.latency));
        bool written = std::fwrite(curve.data(), 1, curve.size(), curve_file.get()) == curve.size();
        written = std::fclose(curve_file.release()) == 0 && written;
        if (!written) {
            std::fprintf(stderr, "sluice-load: --percentiles: cannot write \"%s\": %s\n",
                         opts.percentiles.c_str(), std::strerror(errno));
            status = 1;
        }
    }
    // Both checks are reported, and either fails the run.
    if (opts.expect) {
        if (auto why = check_expectation(*opts.expect, s)) {
            std::fprintf(stderr, "sluice-load: --expect not met: %s\n", why->c_str());
            status = 1;
        }
    }
    if (s.verify) {
        if (auto why = violation(*s.verify)) {
            std::fprintf(stderr, "sluice-load: --verify-limit not met: %s\n", why->c_str());
            status = 1;
        }
    }
    return status;
}

}  // namespace

int main(int argc, char** argv) {
    std::vector<std::string_view> args(argv + 1, argv + argc);
    options opts;
    try {
        opts = parse_options(args);
    } catch (const usage_error& e) {
        std::fprintf(stderr, "sluice-load: %s\n", e.what());
        return 2;
    }
    if (opts.help) {
        std::fputs(usage().data(), stdout);
        return 0;
    }
    // A server that closes the connection while a request is being written must give an error
    // code, not kill the process.
    ::signal(SIGPIPE, SIG_IGN);
    return run(opts);
}
