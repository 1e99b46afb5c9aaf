// The multiplexer without sockets: made-up requests, made-up reply bytes, made-up clocks.

#include "resp/multiplexer.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <string>
#include <string_view>
#include <vector>

#include "resp/error.hpp"
#include "resp/handshake.hpp"
#include "resp/script.hpp"

namespace sluice::resp {
namespace {

using namespace std::chrono_literals;
using clock = std::chrono::steady_clock;
using step = multiplexer::step;
using slot_id = multiplexer::slot_id;

const clock::time_point t0 = clock::time_point{} + 1h;

// Collects the top-level scalar values a request's adapter sees.
struct values {
    std::vector<std::string> seen;
    void operator()(const node& n) {
        if (n.depth == 0) seen.emplace_back(n.value);
    }
};

struct fixture {
    explicit fixture(std::size_t capacity = 8) : mux{capacity, parser_limits{}, stats} {}

    // Copies `bytes` into the read buffer, in pieces if it does not fit at once.
    void feed(std::string_view bytes) {
        while (!bytes.empty()) {
            auto space = mux.read_space();
            std::size_t n = std::min(space.size(), bytes.size());
            std::copy_n(bytes.data(), n, space.data());
            mux.commit_read(n);
            bytes.remove_prefix(n);
        }
    }

    // Every step until need_more (or an error).
    std::vector<step> drain() {
        std::vector<step> out;
        for (;;) {
            step s = mux.next();
            if (s.what == step::kind::need_more) break;
            out.push_back(s);
            if (s.what == step::kind::error) break;
        }
        return out;
    }

    std::string write_all() {
        std::string w{mux.pending_write()};
        mux.wrote(w.size());
        return w;
    }

    slot_id send(const request& req, adapter a, clock::time_point deadline = t0 + 1s,
                 const script* scr = nullptr) {
        slot_id s = mux.acquire();
        EXPECT_NE(s, multiplexer::no_slot);
        mux.stage(s, req, a, deadline, scr);
        return s;
    }

    connection_stats stats;
    multiplexer mux;
};

request command(std::string_view name, std::string_view arg) {
    request r;
    r.push(name, arg);
    return r;
}

std::vector<slot_id> completed(const std::vector<step>& steps) {
    std::vector<slot_id> out;
    for (const auto& s : steps) {
        EXPECT_EQ(s.what, step::kind::completed);
        out.push_back(s.slot);
    }
    return out;
}

TEST(Multiplexer, StagedRequestsLeaveInOneWriteAndRepliesMatchInOrder) {
    fixture f;
    request a = command("GET", "a"), b = command("GET", "b"), c = command("GET", "c");
    values va, vb, vc;
    slot_id sa = f.send(a, va), sb = f.send(b, vb), sc = f.send(c, vc);
    EXPECT_EQ(f.mux.staged_count(), 3u);
    EXPECT_EQ(f.write_all(),
              std::string(a.payload()) + std::string(b.payload()) + std::string(c.payload()));
    EXPECT_EQ(f.mux.written_count(), 3u);
    EXPECT_FALSE(f.mux.write_pending());

    f.feed("+A\r\n+B\r\n+C\r\n");
    EXPECT_EQ(completed(f.drain()), (std::vector<slot_id>{sa, sb, sc}));
    EXPECT_EQ(va.seen, std::vector<std::string>{"A"});
    EXPECT_EQ(vb.seen, std::vector<std::string>{"B"});
    EXPECT_EQ(vc.seen, std::vector<std::string>{"C"});
    EXPECT_EQ(f.stats.replies.get(), 3u);
    EXPECT_TRUE(f.mux.idle());
}

TEST(Multiplexer, RepliesSplitAtEveryByteCompleteTheSame) {
    const std::string replies = "+OK\r\n:42\r\n$5\r\nhello\r\n*2\r\n:1\r\n:2\r\n-ERR no\r\n";
    for (std::size_t cut = 0; cut <= replies.size(); ++cut) {
        fixture f;
        std::vector<request> reqs;
        for (int i = 0; i < 5; ++i)
            reqs.push_back(command("GET", std::to_string(i)));
        std::vector<values> v(5);
        std::vector<slot_id> slots;
        for (int i = 0; i < 5; ++i)
            slots.push_back(
                f.send(reqs[static_cast<std::size_t>(i)], v[static_cast<std::size_t>(i)]));
        f.write_all();
        f.feed(std::string_view{replies}.substr(0, cut));
        auto first = completed(f.drain());
        f.feed(std::string_view{replies}.substr(cut));
        auto second = completed(f.drain());
        first.insert(first.end(), second.begin(), second.end());
        ASSERT_EQ(first, slots) << "cut at " << cut;
        EXPECT_EQ(v[0].seen, std::vector<std::string>{"OK"});
        EXPECT_EQ(v[1].seen, std::vector<std::string>{"42"});
        EXPECT_EQ(v[2].seen, std::vector<std::string>{"hello"});
        EXPECT_EQ(v[3].seen.size(), 1u);  // the array header
        EXPECT_EQ(v[4].seen, std::vector<std::string>{"ERR no"});
    }
}

TEST(Multiplexer, RepliesFedByteByByteCompleteTheSame) {
    fixture f;
    request a = command("GET", "a"), b = command("GET", "b");
    values va, vb;
    slot_id sa = f.send(a, va), sb = f.send(b, vb);
    f.write_all();
    std::vector<slot_id> done;
    for (char ch : std::string("$3\r\nabc\r\n%1\r\n+k\r\n+v\r\n")) {
        f.feed(std::string_view{&ch, 1});
        for (auto s : completed(f.drain()))
            done.push_back(s);
    }
    EXPECT_EQ(done, (std::vector<slot_id>{sa, sb}));
    EXPECT_EQ(va.seen, std::vector<std::string>{"abc"});
}

TEST(Multiplexer, ARequestOfSeveralCommandsCompletesWithItsLastReply) {
    fixture f;
    request r;
    r.push("SET", "k", "v");
    r.push("GET", "k");
    values v;
    slot_id s = f.send(r, v);
    f.write_all();
    f.feed("+OK\r\n");
    EXPECT_TRUE(f.drain().empty());
    f.feed("$1\r\nv\r\n");
    EXPECT_EQ(completed(f.drain()), std::vector<slot_id>{s});
    EXPECT_EQ(v.seen, (std::vector<std::string>{"OK", "v"}));
}

TEST(Multiplexer, AWrittenRequestThatExpiresStaysMatchedAndItsLateReplyIsDropped) {
    fixture f;
    request a = command("GET", "a"), b = command("GET", "b");
    values va, vb;
    slot_id sa = f.send(a, va, t0 + 10ms);
    slot_id sb = f.send(b, vb, t0 + 1s);
    f.write_all();

    std::vector<slot_id> expired;
    f.mux.expire(t0 + 9ms, expired);
    EXPECT_TRUE(expired.empty());
    f.mux.expire(t0 + 10ms, expired);
    EXPECT_EQ(expired, std::vector<slot_id>{sa});
    EXPECT_EQ(f.stats.timeouts.get(), 1u);
    expired.clear();
    f.mux.expire(t0 + 20ms, expired);  // reported once
    EXPECT_TRUE(expired.empty());
    EXPECT_EQ(f.mux.in_flight(), 2u);  // its slot waits for the reply

    f.feed("+late\r\n+B\r\n");
    EXPECT_EQ(completed(f.drain()), std::vector<slot_id>{sb});
    EXPECT_TRUE(va.seen.empty());  // the abandoned caller's adapter is never called
    EXPECT_EQ(vb.seen, std::vector<std::string>{"B"});
    EXPECT_EQ(f.mux.in_flight(), 1u);  // the late reply freed the abandoned slot
}

TEST(Multiplexer, AStagedRequestThatExpiresIsCutOutOfTheWrite) {
    fixture f;
    request a = command("GET", "a"), b = command("GET", "b"), c = command("GET", "c");
    values va, vb, vc;
    slot_id sa = f.send(a, va, t0 + 1s);
    slot_id sb = f.send(b, vb, t0 + 10ms);
    slot_id sc = f.send(c, vc, t0 + 1s);
    std::vector<slot_id> expired;
    f.mux.expire(t0 + 10ms, expired);
    EXPECT_EQ(expired, std::vector<slot_id>{sb});
    // Redis never sees it, so it never counts a request whose caller was already answered.
    EXPECT_EQ(f.write_all(), std::string(a.payload()) + std::string(c.payload()));
    EXPECT_EQ(f.mux.written_count(), 2u);
    EXPECT_EQ(f.mux.in_flight(), 2u);
    f.feed("+A\r\n+C\r\n");
    EXPECT_EQ(completed(f.drain()), (std::vector<slot_id>{sa, sc}));
}

TEST(Multiplexer, BackPressureHandsEachFreedSlotToTheOldestWaiter) {
    fixture f{2};
    request r = command("GET", "x");
    values v;
    slot_id s1 = f.send(r, v), s2 = f.send(r, v);
    EXPECT_FALSE(f.mux.can_acquire());
    EXPECT_EQ(f.mux.acquire(), multiplexer::no_slot);

    multiplexer::waiter w1, w2, w3;
    f.mux.enqueue_waiter(w1);
    f.mux.enqueue_waiter(w2);
    f.mux.enqueue_waiter(w3);
    EXPECT_EQ(f.mux.pop_granted(), nullptr);

    // Two slots freed: the two oldest waiters get them, in order; the third still waits.
    f.mux.release(s1);
    f.mux.release(s2);
    EXPECT_EQ(f.mux.pop_granted(), &w1);
    EXPECT_EQ(f.mux.pop_granted(), &w2);
    EXPECT_EQ(f.mux.pop_granted(), nullptr);
    EXPECT_EQ(w1.granted, s1);
    EXPECT_EQ(w2.granted, s2);
    EXPECT_EQ(w3.granted, multiplexer::no_slot);
    EXPECT_EQ(f.mux.in_flight(), 2u);  // handed over, not freed

    // w1 gives its slot back unused: it goes to w3, not to a newcomer.
    f.mux.release(w1.granted);
    EXPECT_EQ(f.mux.pop_granted(), &w3);
    EXPECT_EQ(w3.granted, s1);
    // Nobody waits now: a freed slot is free for anyone.
    f.mux.release(w2.granted);
    EXPECT_TRUE(f.mux.can_acquire());
    EXPECT_EQ(f.mux.acquire(), s2);
}

TEST(Multiplexer, ANewCallerDoesNotJumpTheQueueOfWaiters) {
    fixture f{2};
    request r = command("GET", "x");
    values v;
    slot_id s1 = f.send(r, v);
    f.send(r, v);
    multiplexer::waiter w;
    f.mux.enqueue_waiter(w);
    f.mux.release(s1);
    // Freed while w waited: it is w's before w has even run, so a newcomer finds none.
    EXPECT_EQ(f.mux.acquire(), multiplexer::no_slot);
    ASSERT_EQ(f.mux.pop_granted(), &w);
    // A free slot exists only on paper: it is w's. With another waiter queued, nobody new may
    // take a slot even while one is free.
    multiplexer::waiter w2;
    f.mux.enqueue_waiter(w2);
    f.mux.release(w.granted);
    EXPECT_EQ(f.mux.pop_granted(), &w2);
    multiplexer::waiter w3;
    f.mux.enqueue_waiter(w3);
    EXPECT_FALSE(f.mux.can_acquire());
    f.mux.remove_waiter(w3);            // gave up (deadline)
    EXPECT_FALSE(f.mux.can_acquire());  // both slots are taken
    f.mux.release(w2.granted);
    EXPECT_TRUE(f.mux.can_acquire());
}

TEST(Multiplexer, AWaiterThatGivesUpLeavesTheQueueWhereverItIs) {
    fixture f{1};
    request r = command("GET", "x");
    values v;
    slot_id s = f.send(r, v);
    multiplexer::waiter w1, w2, w3;
    f.mux.enqueue_waiter(w1);
    f.mux.enqueue_waiter(w2);
    f.mux.enqueue_waiter(w3);
    f.mux.remove_waiter(w2);
    f.mux.remove_waiter(w2);  // twice is harmless
    f.mux.release(s);
    EXPECT_EQ(f.mux.pop_granted(), &w1);
    f.mux.release(w1.granted);
    EXPECT_EQ(f.mux.pop_granted(), &w3);
    EXPECT_EQ(f.mux.pop_waiter(), nullptr);
}

TEST(Multiplexer, NoscriptReloadsTheScriptOnceForEveryRefusedEvalsha) {
    fixture f;
    script scr{"return 7"};
    std::vector<request> reqs(3);
    std::vector<values> v(3);
    std::vector<slot_id> slots;
    for (std::size_t i = 0; i < 3; ++i) {
        scr.push(reqs[i], {"k" + std::to_string(i)});
        slots.push_back(f.send(reqs[i], v[i], t0 + 1s, &scr));
    }
    f.write_all();
    // The cache was flushed: all three are refused, one after the other.
    f.feed(
        "-NOSCRIPT No matching script. Please use EVAL.\r\n"
        "-NOSCRIPT No matching script. Please use EVAL.\r\n"
        "-NOSCRIPT No matching script. Please use EVAL.\r\n");
    EXPECT_TRUE(f.drain().empty());
    request load;
    scr.push_load(load);
    EXPECT_EQ(f.write_all(), std::string(load.payload()) + std::string(reqs[0].payload()) +
                                 std::string(reqs[1].payload()) + std::string(reqs[2].payload()));
    EXPECT_EQ(f.stats.script_loads.get(), 1u);
    EXPECT_EQ(f.stats.noscript_retries.get(), 3u);

    f.feed("$40\r\n" + scr.sha() + "\r\n:7\r\n:7\r\n:7\r\n");
    auto steps = f.drain();
    EXPECT_EQ(completed(steps), slots);
    for (const auto& s : steps)
        EXPECT_EQ(s.ec, std::error_code{});
    for (const auto& seen : v)
        EXPECT_EQ(seen.seen, std::vector<std::string>{"7"});  // never the NOSCRIPT
}

TEST(Multiplexer, AScriptRefusedAgainAfterTheReloadFailsWithScriptLoadFailed) {
    fixture f;
    script scr{"this is not lua"};
    request r;
    scr.push(r, {"k"});
    values v;
    slot_id s = f.send(r, v, t0 + 1s, &scr);
    f.write_all();
    f.feed("-NOSCRIPT No matching script.\r\n");
    EXPECT_TRUE(f.drain().empty());
    f.write_all();
    f.feed("-ERR Error compiling script\r\n-NOSCRIPT No matching script.\r\n");
    auto steps = f.drain();
    ASSERT_EQ(steps.size(), 1u);
    EXPECT_EQ(steps[0].slot, s);
    EXPECT_EQ(steps[0].ec, errc::script_load_failed);
    EXPECT_TRUE(v.seen.empty());
    EXPECT_TRUE(f.mux.idle());
}

TEST(Multiplexer, ANoscriptForAnAbandonedRequestIsNotRetried) {
    fixture f;
    script scr{"return 1"};
    request r;
    scr.push(r, {"k"});
    values v;
    f.send(r, v, t0 + 10ms, &scr);
    f.write_all();
    std::vector<slot_id> expired;
    f.mux.expire(t0 + 10ms, expired);
    f.feed("-NOSCRIPT No matching script.\r\n");
    EXPECT_TRUE(f.drain().empty());
    EXPECT_FALSE(f.mux.write_pending());
    EXPECT_EQ(f.mux.in_flight(), 0u);
}

TEST(Multiplexer, ALostLinkFailsWhatWasWrittenAndKeepsWhatWasNot) {
    fixture f;
    request a = command("GET", "a"), b = command("GET", "b"), c = command("GET", "c");
    values va, vb, vc;
    slot_id sa = f.send(a, va);
    f.write_all();
    f.feed("$5\r\nhal");  // a partial reply, lost with the link
    slot_id sb = f.send(b, vb);
    slot_id sc = f.send(c, vc);
    std::vector<slot_id> lost;
    f.mux.link_down(lost);
    EXPECT_EQ(lost, std::vector<slot_id>{sa});
    EXPECT_EQ(f.mux.in_flight(), 3u);  // the caller layer releases sa after resuming it
    f.mux.release(sa);

    // The next link sends what had not left, and its replies start afresh.
    EXPECT_EQ(f.write_all(), std::string(b.payload()) + std::string(c.payload()));
    f.feed("+B\r\n+C\r\n");
    EXPECT_EQ(completed(f.drain()), (std::vector<slot_id>{sb, sc}));
    EXPECT_TRUE(va.seen.empty());
}

TEST(Multiplexer, APartialWriteIsFinishedBeforeAnythingStagedLater) {
    fixture f;
    request a = command("GET", "aaaaaaaa"), b = command("GET", "b");
    values v;
    f.send(a, v);
    std::string first{f.mux.pending_write()};
    f.mux.wrote(5);
    f.send(b, v);
    EXPECT_EQ(f.mux.pending_write(), first.substr(5));
    f.mux.wrote(first.size() - 5);
    EXPECT_EQ(f.write_all(), b.payload());
}

TEST(Multiplexer, ALinkLostMidWriteFailsTheRequestsOfThatWrite) {
    fixture f;
    request a = command("GET", "a"), b = command("GET", "b");
    values v;
    slot_id sa = f.send(a, v);
    f.mux.pending_write();
    f.mux.wrote(2);  // a part of it may have reached the server
    slot_id sb = f.send(b, v);
    std::vector<slot_id> lost;
    f.mux.link_down(lost);
    EXPECT_EQ(lost, std::vector<slot_id>{sa});
    f.mux.release(sa);
    EXPECT_EQ(f.write_all(), b.payload());
    f.feed("+B\r\n");
    EXPECT_EQ(completed(f.drain()), std::vector<slot_id>{sb});
}

TEST(Multiplexer, NoLinkInTimeFailsTheStagedRequests) {
    fixture f;
    request a = command("GET", "a"), b = command("GET", "b");
    values v;
    slot_id sa = f.send(a, v, t0 + 10ms);
    slot_id sb = f.send(b, v, t0 + 1s);
    std::vector<slot_id> expired;
    f.mux.expire(t0 + 10ms, expired);  // sa's caller is gone already
    std::vector<slot_id> failed;
    f.mux.fail_staged(failed);
    EXPECT_EQ(failed, std::vector<slot_id>{sb});
    EXPECT_EQ(f.mux.in_flight(), 1u);  // sa freed here, sb by the caller layer
    (void)sa;
    EXPECT_FALSE(f.mux.write_pending());
    EXPECT_TRUE(f.mux.idle());
}

TEST(Multiplexer, AReplyNobodyAskedForIsAnError) {
    fixture f;
    f.feed("+surprise\r\n");
    auto steps = f.drain();
    ASSERT_EQ(steps.size(), 1u);
    EXPECT_EQ(steps[0].what, step::kind::error);
    EXPECT_EQ(steps[0].ec, errc::unexpected_reply);

    // Staged but not written is not asked for either.
    fixture g;
    request a = command("GET", "a");
    values v;
    g.send(a, v);
    g.feed("+early\r\n");
    EXPECT_EQ(g.drain().at(0).ec, errc::unexpected_reply);
}

TEST(Multiplexer, MalformedBytesAreAProtocolError) {
    fixture f;
    request a = command("GET", "a");
    values v;
    f.send(a, v);
    f.write_all();
    f.feed("?what\r\n");
    auto steps = f.drain();
    ASSERT_EQ(steps.size(), 1u);
    EXPECT_EQ(steps[0].what, step::kind::error);
    EXPECT_TRUE(is_protocol_error(static_cast<errc>(steps[0].ec.value())));
}

TEST(Multiplexer, PushesGoToThePushHandlerAndAttributesAreSkipped) {
    fixture f;
    std::vector<std::string> pushes;
    auto on_push = [&](const node& n) {
        if (n.depth == 1) pushes.emplace_back(n.value);
    };
    f.mux.set_push_handler(on_push);
    request a = command("GET", "a");
    values v;
    slot_id s = f.send(a, v);
    f.write_all();
    f.feed(">2\r\n+invalidate\r\n+k\r\n|1\r\n+ttl\r\n:3\r\n+A\r\n");
    EXPECT_EQ(completed(f.drain()), std::vector<slot_id>{s});
    EXPECT_EQ(pushes, (std::vector<std::string>{"invalidate", "k"}));
    EXPECT_EQ(v.seen, std::vector<std::string>{"A"});
}

TEST(Multiplexer, TheHealthCheckPingIsOneAtATimeAndNotARoundTrip) {
    fixture f;
    EXPECT_TRUE(f.mux.stage_ping());
    EXPECT_FALSE(f.mux.stage_ping());
    EXPECT_EQ(f.write_all(), "*1\r\n$4\r\nPING\r\n");
    EXPECT_TRUE(f.mux.ping_outstanding());
    f.feed("+PONG\r\n");
    EXPECT_TRUE(f.drain().empty());
    EXPECT_FALSE(f.mux.ping_outstanding());
    EXPECT_EQ(f.stats.replies.get(), 0u);
    EXPECT_EQ(f.stats.health_checks.get(), 1u);
    EXPECT_TRUE(f.mux.idle());
}

TEST(Multiplexer, TheOldLinksOwnRequestsAreNotSentOnTheNext) {
    fixture f;
    request a = command("GET", "a");
    values v;
    f.mux.stage_ping();
    slot_id s = f.send(a, v);
    std::vector<slot_id> lost;
    f.mux.link_down(lost);
    EXPECT_TRUE(lost.empty());
    EXPECT_FALSE(f.mux.ping_outstanding());
    EXPECT_EQ(f.write_all(), a.payload());
    f.feed("+A\r\n");
    EXPECT_EQ(completed(f.drain()), std::vector<slot_id>{s});
}

TEST(Multiplexer, AReplyLargerThanTheBufferGrowsIt) {
    fixture f;
    request a = command("GET", "big");
    values v;
    slot_id s = f.send(a, v);
    f.write_all();
    const std::string payload(100'000, 'x');
    f.feed("$100000\r\n" + payload + "\r\n");
    EXPECT_EQ(completed(f.drain()), std::vector<slot_id>{s});
    EXPECT_EQ(v.seen, std::vector<std::string>{payload});
}

TEST(Multiplexer, TheHandshakeRepliesComeFirst) {
    connection_config cfg;
    cfg.password = "secret";
    cfg.db = 2;
    script scr{"return 1"};
    const script* scripts[] = {&scr};
    handshake h{cfg, scripts};
    fixture f;
    std::error_code ec;
    f.feed("%1\r\n+server\r\n+redis\r\n+OK\r\n");
    EXPECT_EQ(f.mux.next_handshake(h, ec), parser::status::need_more);
    f.feed("$40\r\n" + scr.sha() + "\r\n");
    EXPECT_EQ(f.mux.next_handshake(h, ec), parser::status::done);
    EXPECT_TRUE(h.error().empty());
}

}  // namespace
}  // namespace sluice::resp
