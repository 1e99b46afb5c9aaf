// The link state machine, the backoff, the poll policy and the handshake, with made-up events.

#include "resp/link.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <set>

#include "resp/backoff.hpp"
#include "resp/handshake.hpp"
#include "resp/poll_policy.hpp"
#include "resp/script.hpp"

namespace sluice::resp {
namespace {

using namespace std::chrono_literals;
using clock = std::chrono::steady_clock;
using kind = link_event::kind;

const clock::time_point t0 = clock::time_point{} + 1h;

link_fsm make() {
    return link_fsm{backoff{50ms, 1000ms, 42}};
}

// Drives a fresh machine into `s` by the shortest path.
link_fsm in_state(link_state s) {
    link_fsm f = make();
    if (s == link_state::idle) return f;
    if (s == link_state::stopped) {
        f.stop();
        return f;
    }
    f.start(t0);
    if (s == link_state::connecting) return f;
    if (s == link_state::backing_off) {
        f.attempt_failed(t0, "refused");
        return f;
    }
    f.tcp_connected();
    if (s == link_state::handshaking) return f;
    f.handshake_done(t0);
    return f;
}

TEST(LinkState, RequestsWaitWhileTheLinkIsSetUpAndFailFastOnlyWhenItIsKnownDown) {
    EXPECT_EQ(admit(link_state::idle), admission::wait);
    EXPECT_EQ(admit(link_state::connecting), admission::wait);
    EXPECT_EQ(admit(link_state::handshaking), admission::wait);
    EXPECT_EQ(admit(link_state::ready), admission::send);
    EXPECT_EQ(admit(link_state::backing_off), admission::fail_fast);
    EXPECT_EQ(admit(link_state::stopped), admission::stopped);
}

TEST(LinkState, AFirstConnectionIsReportedOnce) {
    link_fsm f = make();
    EXPECT_EQ(f.state(), link_state::idle);
    link_action a = f.start(t0);
    EXPECT_TRUE(a.connect);
    EXPECT_FALSE(a.report);
    EXPECT_EQ(f.state(), link_state::connecting);
    EXPECT_EQ(f.tcp_connected(), link_action{});
    EXPECT_EQ(f.state(), link_state::handshaking);
    a = f.handshake_done(t0 + 3ms);
    EXPECT_EQ(f.state(), link_state::ready);
    ASSERT_TRUE(a.report);
    EXPECT_EQ(a.report->what, kind::connected);
    EXPECT_FALSE(a.fail_staged || a.fail_written);
    EXPECT_TRUE(f.ever_ready());
}

TEST(LinkState, ALostLinkIsRetriedAtOnceKeepingWhatWasNotWritten) {
    link_fsm f = in_state(link_state::ready);
    link_action a = f.link_lost(t0 + 1s, "read: End of file");
    EXPECT_EQ(f.state(), link_state::connecting);
    EXPECT_TRUE(a.fail_written);
    EXPECT_FALSE(a.fail_staged);  // they wait for the new link
    EXPECT_TRUE(a.connect);
    EXPECT_FALSE(a.wait);  // no backoff after a working link
    ASSERT_TRUE(a.report);
    EXPECT_EQ(a.report->what, kind::lost);
    EXPECT_EQ(a.report->reason, "read: End of file");

    f.tcp_connected();
    a = f.handshake_done(t0 + 1s + 1234ms);
    ASSERT_TRUE(a.report);
    EXPECT_EQ(a.report->what, kind::restored);
    EXPECT_EQ(a.report->outage, 1234ms);
}

TEST(LinkState, AFailedAttemptBacksOffFailsWhatWaitedAndIsReportedOncePerOutage) {
    link_fsm f = in_state(link_state::ready);
    f.link_lost(t0, "reset");
    link_action a = f.attempt_failed(t0 + 1ms, "connect: refused");
    EXPECT_EQ(f.state(), link_state::backing_off);
    EXPECT_TRUE(a.fail_staged);
    EXPECT_FALSE(a.fail_written);
    ASSERT_TRUE(a.wait);
    EXPECT_FALSE(a.report);  // the loss was said already
    a = f.backoff_elapsed();
    EXPECT_TRUE(a.connect);
    EXPECT_EQ(f.state(), link_state::connecting);
    f.tcp_connected();  // accepted, then the handshake failed
    a = f.attempt_failed(t0 + 100ms, "handshake: timed out");
    EXPECT_EQ(f.state(), link_state::backing_off);
    EXPECT_FALSE(a.report);
    f.backoff_elapsed();
    f.tcp_connected();
    a = f.handshake_done(t0 + 2s);
    ASSERT_TRUE(a.report);
    EXPECT_EQ(a.report->what, kind::restored);
    EXPECT_EQ(a.report->outage, 2s);
}

TEST(LinkState, AServerUnreachableFromTheStartIsReportedThenRestored) {
    link_fsm f = make();
    f.start(t0);
    link_action a = f.attempt_failed(t0, "connect: Connection refused");
    ASSERT_TRUE(a.report);
    EXPECT_EQ(a.report->what, kind::unreachable);
    EXPECT_EQ(a.report->reason, "connect: Connection refused");
    f.backoff_elapsed();
    EXPECT_FALSE(f.attempt_failed(t0 + 50ms, "again").report);
    f.backoff_elapsed();
    f.tcp_connected();
    a = f.handshake_done(t0 + 500ms);
    ASSERT_TRUE(a.report);
    EXPECT_EQ(a.report->what, kind::restored);
    EXPECT_EQ(a.report->outage, 500ms);
}

TEST(LinkState, BackoffGrowsDuringAnOutageAndStartsOverAfterALink) {
    link_fsm f = make();
    f.start(t0);
    std::chrono::milliseconds last{0};
    for (int i = 0; i < 8; ++i) {
        auto a = f.attempt_failed(t0, "refused");
        ASSERT_TRUE(a.wait);
        EXPECT_LE(*a.wait, 1000ms);
        // [d/2, d] with d doubling: never below the last one until the ceiling.
        if (i < 4) {
            EXPECT_GE(*a.wait, last);
        }
        last = *a.wait;
        f.backoff_elapsed();
    }
    EXPECT_GE(last, 500ms);  // at the ceiling: within [max/2, max]
    f.tcp_connected();
    f.handshake_done(t0);
    f.link_lost(t0, "reset");
    auto a = f.attempt_failed(t0, "refused");
    ASSERT_TRUE(a.wait);
    EXPECT_LE(*a.wait, 50ms);
}

TEST(LinkState, EventsThatDoNotBelongToTheStateChangeNothing) {
    const link_state all[] = {link_state::idle,  link_state::connecting,  link_state::handshaking,
                              link_state::ready, link_state::backing_off, link_state::stopped};
    for (link_state s : all) {
        SCOPED_TRACE(to_string(s));
        auto check = [&](auto event, std::set<link_state> allowed) {
            link_fsm f = in_state(s);
            ASSERT_EQ(f.state(), s);
            link_action a = event(f);
            if (allowed.count(s) == 0) {
                EXPECT_EQ(f.state(), s);
                EXPECT_EQ(a, link_action{});
            } else {
                EXPECT_NE(f.state(), s);
            }
        };
        check([](link_fsm& f) { return f.start(t0); }, {link_state::idle});
        check([](link_fsm& f) { return f.tcp_connected(); }, {link_state::connecting});
        check([](link_fsm& f) { return f.handshake_done(t0); }, {link_state::handshaking});
        check([](link_fsm& f) { return f.attempt_failed(t0, "x"); },
              {link_state::connecting, link_state::handshaking});
        check([](link_fsm& f) { return f.link_lost(t0, "x"); }, {link_state::ready});
        check([](link_fsm& f) { return f.backoff_elapsed(); }, {link_state::backing_off});
        check([](link_fsm& f) { return f.stop(); },
              {link_state::idle, link_state::connecting, link_state::handshaking, link_state::ready,
               link_state::backing_off});
    }
}

TEST(LinkState, RetargetDropsAWorkingLinkLikeALoss) {
    link_fsm f = in_state(link_state::ready);
    const link_action a = f.retarget(t0 + 1s, "primary moved");
    EXPECT_EQ(f.state(), link_state::connecting);
    EXPECT_TRUE(a.fail_written);
    EXPECT_FALSE(a.fail_staged);
    EXPECT_TRUE(a.connect);
    ASSERT_TRUE(a.report);
    EXPECT_EQ(a.report->what, kind::lost);
    f.tcp_connected();
    EXPECT_EQ(f.handshake_done(t0 + 1s + 20ms).report->what, kind::restored);
}

TEST(LinkState, RetargetCutsAnAttemptOrABackoffShortAndRequestsWait) {
    for (const link_state s :
         {link_state::connecting, link_state::handshaking, link_state::backing_off}) {
        link_fsm f = in_state(s);
        const link_action a = f.retarget(t0 + 1s, "primary moved");
        EXPECT_EQ(f.state(), link_state::connecting) << s;
        EXPECT_EQ(admit(f.state()), admission::wait) << s;
        EXPECT_TRUE(a.connect) << s;
        EXPECT_FALSE(a.fail_written || a.fail_staged) << s;
        EXPECT_FALSE(a.report) << s;
    }
    for (const link_state s : {link_state::idle, link_state::stopped}) {
        link_fsm f = in_state(s);
        EXPECT_EQ(f.retarget(t0, "primary moved"), link_action{}) << s;
        EXPECT_EQ(f.state(), s);
    }
}

TEST(LinkState, StopFailsEverythingAndIsFinal) {
    link_fsm f = in_state(link_state::ready);
    link_action a = f.stop();
    EXPECT_TRUE(a.fail_written);
    EXPECT_TRUE(a.fail_staged);
    EXPECT_FALSE(a.connect);
    EXPECT_EQ(f.state(), link_state::stopped);
    EXPECT_EQ(f.start(t0), link_action{});
    EXPECT_EQ(f.state(), link_state::stopped);
}

TEST(Backoff, DelaysStayWithinHalfToAllOfTheStep) {
    backoff b{100ms, 800ms, 7};
    const std::chrono::milliseconds steps[] = {100ms, 200ms, 400ms, 800ms, 800ms, 800ms};
    for (auto step : steps) {
        auto d = b.next();
        EXPECT_GE(d, step / 2);
        EXPECT_LE(d, step);
    }
    b.reset();
    EXPECT_LE(b.next(), 100ms);
}

TEST(Backoff, GatewaysWithOtherSeedsSpreadOut) {
    std::set<long> first;
    for (std::uint64_t seed = 1; seed <= 20; ++seed)
        first.insert(backoff{1000ms, 1000ms, seed}.next().count());
    EXPECT_GT(first.size(), 10u);
}

TEST(PollPolicy, ZeroBudgetNeverPolls) {
    poll_policy p{0us};
    for (int i = 0; i < 10; ++i)
        EXPECT_FALSE(p.poll_this_wait());
}

TEST(PollPolicy, MissesBackOffExponentiallyUpToSixtyFourWaits) {
    poll_policy p{50us};
    EXPECT_TRUE(p.poll_this_wait());
    unsigned expected = 2;
    for (int miss = 1; miss <= 8; ++miss) {
        p.miss();
        unsigned skipped = 0;
        while (!p.poll_this_wait())
            ++skipped;
        EXPECT_EQ(skipped, expected) << "after miss " << miss;
        expected = std::min(expected * 2, 64u);
    }
    p.hit();  // a hit starts the count over
    p.miss();
    EXPECT_EQ(p.skip(), 2u);
}

TEST(Handshake, SendsHelloAuthSelectAndOneLoadPerScript) {
    connection_config cfg;
    cfg.user = "app";
    cfg.password = "pw";
    cfg.db = 3;
    script a{"return 1"}, b{"return 2"};
    const script* scripts[] = {&a, &b};
    handshake h{cfg, scripts};
    request expected;
    expected.push("HELLO", "3", "AUTH", "app", "pw");
    expected.push("SELECT", 3);
    a.push_load(expected);
    b.push_load(expected);
    EXPECT_EQ(h.req().payload(), expected.payload());
    EXPECT_EQ(h.req().commands(), 4u);
}

TEST(Handshake, Resp2UsesAuthAndNothingMeansNothingToSend) {
    connection_config cfg;
    cfg.protocol = 2;
    cfg.password = "pw";
    handshake h{cfg, {}};
    request expected;
    expected.push("AUTH", "pw");
    EXPECT_EQ(h.req().payload(), expected.payload());

    connection_config plain;
    plain.protocol = 2;
    handshake none{plain, {}};
    EXPECT_TRUE(none.done());
}

TEST(Handshake, ARefusedAuthFailsItARefusedScriptLoadDoesNot) {
    connection_config cfg;
    cfg.password = "wrong";
    script s{"not lua"};
    const script* scripts[] = {&s};
    handshake h{cfg, scripts};
    h.on_node(node{type::simple_error, 1, 0, "WRONGPASS invalid username-password pair"});
    h.reply_done();
    h.on_node(node{type::simple_error, 1, 0, "ERR Error compiling script"});
    h.reply_done();
    EXPECT_TRUE(h.done());
    EXPECT_EQ(h.error(), "WRONGPASS invalid username-password pair");

    connection_config ok;
    handshake g{ok, scripts};
    g.on_node(node{type::map, 1, 0, ""});
    g.on_node(node{type::simple_string, 1, 1, "server"});
    g.on_node(node{type::simple_error, 1, 1, "nested errors are values, not refusals"});
    g.reply_done();
    g.on_node(node{type::simple_error, 1, 0, "ERR Error compiling script"});
    g.reply_done();
    EXPECT_TRUE(g.done());
    EXPECT_TRUE(g.error().empty());
}

TEST(Handshake, RequirePrimaryAsksRoleAndRefusesAReplica) {
    connection_config cfg;
    cfg.require_primary = true;
    script s{"return 1"};
    const script* scripts[] = {&s};
    const auto role_reply = [&](handshake& h, std::string_view role) {
        h.on_node(node{type::map, 1, 0, ""});  // HELLO
        h.reply_done();
        h.on_node(node{type::array, 3, 0, ""});
        h.on_node(node{type::bulk_string, 1, 1, role});
        h.on_node(node{type::integer, 1, 1, "0"});
        h.on_node(node{type::array, 0, 1, ""});
        h.reply_done();
        h.on_node(node{type::bulk_string, 1, 0, "sha"});
        h.reply_done();
    };
    handshake primary{cfg, scripts};
    request expected;
    expected.push("HELLO", "3");
    expected.push("ROLE");
    s.push_load(expected);
    EXPECT_EQ(primary.req().payload(), expected.payload());
    role_reply(primary, "master");
    EXPECT_TRUE(primary.done());
    EXPECT_TRUE(primary.error().empty()) << primary.error();

    handshake replica{cfg, scripts};
    role_reply(replica, "slave");
    EXPECT_TRUE(replica.done());
    EXPECT_EQ(replica.error(), "ROLE: the server is a slave, not the primary");

    handshake hostile{cfg, scripts};
    role_reply(hostile, "mas\x1bter");
    EXPECT_EQ(hostile.error(), "ROLE: the server is a mas?ter, not the primary");

    // Without the flag, no ROLE and no opinion on it.
    connection_config plain;
    handshake any{plain, {}};
    EXPECT_EQ(any.req().commands(), 1u);
    EXPECT_EQ(any.req().payload().find("ROLE"), std::string_view::npos);
}

}  // namespace
}  // namespace sluice::resp
