#include "resp/sentinel_reply.hpp"

#include <gtest/gtest.h>

#include <string>

#include "resp/adapter.hpp"
#include "resp/error.hpp"
#include "resp/parser.hpp"
#include "tests/resp/resp_text.hpp"

namespace sluice::resp {
namespace {

using namespace std::string_literals;

using namespace resp_text;

// Feeds every reply in `wire` to `a`, as the connection does; false on a parse error.
bool feed(std::string_view wire, adapter a) {
    parser p;
    while (!wire.empty()) {
        const auto r = p.parse(wire, a);
        if (r.st != parser::status::done) return false;
        wire.remove_prefix(r.consumed);
    }
    return true;
}

struct addr_result {
    std::optional<primary_address> address;
    std::error_code ec;
};

addr_result read_addr(const std::string& wire) {
    master_addr_reader r;
    EXPECT_TRUE(feed(wire, r));
    return {r.address(), r.error()};
}

// ---------------------------------------------------------------------------------------------
// SENTINEL GET-MASTER-ADDR-BY-NAME

TEST(SentinelReply, RequestNamesTheMaster) {
    request req;
    push_get_master_addr(req, "mymaster");
    EXPECT_EQ(req.payload(),
              arr(3) + bulk("SENTINEL") + bulk("GET-MASTER-ADDR-BY-NAME") + bulk("mymaster"));
    EXPECT_EQ(req.commands(), 1u);
}

TEST(SentinelReply, HostAndPort) {
    const auto r = read_addr(arr(2) + bulk("127.0.0.1") + bulk("6380"));
    ASSERT_TRUE(r.address);
    EXPECT_EQ(*r.address, (primary_address{"127.0.0.1", 6380}));
    EXPECT_FALSE(r.ec);
    EXPECT_EQ(to_string(*r.address), "127.0.0.1:6380");
}

TEST(SentinelReply, Ipv6AndNames) {
    auto r = read_addr(arr(2) + bulk("::1") + bulk("7000"));
    ASSERT_TRUE(r.address);
    EXPECT_EQ(to_string(*r.address), "[::1]:7000");
    r = read_addr(arr(2) + bulk("redis-0.redis.svc.cluster.local") + bulk("6379"));
    ASSERT_TRUE(r.address);
    EXPECT_EQ(r.address->host, "redis-0.redis.svc.cluster.local");
}

TEST(SentinelReply, NullIsAnUnknownName) {
    EXPECT_EQ(read_addr("_\r\n").ec, errc::sentinel_unknown_master);
    EXPECT_EQ(read_addr("*-1\r\n").ec, errc::sentinel_unknown_master);  // RESP2
    EXPECT_EQ(read_addr("$-1\r\n").ec, errc::sentinel_unknown_master);
}

TEST(SentinelReply, ErrorReplyKeepsAPrintableText) {
    master_addr_reader r;
    ASSERT_TRUE(feed("-ERR unknown command\r\n", r));
    EXPECT_EQ(r.error(), errc::sentinel_error_reply);
    EXPECT_EQ(r.error_text(), "ERR unknown command");
    master_addr_reader hostile;
    ASSERT_TRUE(feed("!9\r\nA\x1b[2Jxy\nz\r\n", hostile));
    EXPECT_EQ(hostile.error(), errc::sentinel_error_reply);
    EXPECT_EQ(hostile.error_text(), "A?[2Jxy?z");
}

TEST(SentinelReply, HostileRepliesAreRefused) {
    const std::string bad[] = {
        // wrong shapes
        "+OK\r\n",
        ":6379\r\n",
        arr(0),
        arr(1) + bulk("127.0.0.1"),
        arr(3) + bulk("127.0.0.1") + bulk("6379") + bulk("x"),
        arr(2) + arr(1) + bulk("127.0.0.1") + bulk("6379"),
        arr(2) + bulk("127.0.0.1") + ":6379\r\n",
        // ports
        arr(2) + bulk("127.0.0.1") + bulk("0"),
        arr(2) + bulk("127.0.0.1") + bulk("65536"),
        arr(2) + bulk("127.0.0.1") + bulk("-1"),
        arr(2) + bulk("127.0.0.1") + bulk("+80"),
        arr(2) + bulk("127.0.0.1") + bulk("80 "),
        arr(2) + bulk("127.0.0.1") + bulk(""),
        arr(2) + bulk("127.0.0.1") + bulk("0000080"),
        // hosts that would reach a connect call or the log
        arr(2) + bulk("") + bulk("6379"),
        arr(2) + bulk("evil\r\nhost") + bulk("6379"),
        arr(2) + bulk("a b") + bulk("6379"),
        arr(2) + bulk("host\x1b[31m") + bulk("6379"),
        arr(2) + bulk(std::string(254, 'a')) + bulk("6379"),
        arr(2) + bulk("h\0st"s) + bulk("6379"),
    };
    for (const std::string& wire : bad) {
        const auto r = read_addr(wire);
        EXPECT_FALSE(r.address) << wire;
        EXPECT_EQ(r.ec, errc::sentinel_bad_reply) << wire;
    }
}

TEST(SentinelReply, NoReplyAtAllIsBad) {
    master_addr_reader r;
    EXPECT_EQ(r.error(), errc::sentinel_bad_reply);
    EXPECT_FALSE(r.address());
}

TEST(SentinelReply, HostIsCopiedOutOfTheReadBuffer) {
    std::string wire = arr(2) + bulk("10.0.0.7") + bulk("6379");
    master_addr_reader r;
    ASSERT_TRUE(feed(wire, r));
    wire.assign(wire.size(), 'x');
    EXPECT_EQ(r.address()->host, "10.0.0.7");
}

// ---------------------------------------------------------------------------------------------
// +switch-master

TEST(SwitchMaster, FiveFields) {
    const auto m = parse_switch_master("mymaster 127.0.0.1 6379 127.0.0.1 6380");
    ASSERT_TRUE(m);
    EXPECT_EQ(m->name, "mymaster");
    EXPECT_EQ(m->old_host, "127.0.0.1");
    EXPECT_EQ(m->old_port, 6379);
    EXPECT_EQ(m->new_host, "127.0.0.1");
    EXPECT_EQ(m->new_port, 6380);
    EXPECT_TRUE(parse_switch_master("m ::1 1 2001:db8::2 65535"));
}

TEST(SwitchMaster, HostileMessagesAreRefused) {
    const std::string_view bad[] = {
        "",
        " ",
        "mymaster",
        "mymaster 127.0.0.1 6379 127.0.0.1",
        "mymaster 127.0.0.1 6379 127.0.0.1 6380 extra",
        "mymaster  127.0.0.1 6379 127.0.0.1 6380",
        " mymaster 127.0.0.1 6379 127.0.0.1 6380",
        "mymaster 127.0.0.1 6379 127.0.0.1 6380 ",
        "mymaster 127.0.0.1 6379 127.0.0.1 0",
        "mymaster 127.0.0.1 6379 127.0.0.1 70000",
        "mymaster 127.0.0.1 6379 127.0.0.1 6380x",
        "mymaster 127.0.0.1 x 127.0.0.1 6380",
        "mymaster 127.0.0.1 6379 evil\r\nhost 6380",
        "mymaster 127.0.0.1 6379 127.0.0.1\t 6380",
        "my\x01master 127.0.0.1 6379 127.0.0.1 6380",
    };
    for (const std::string_view p : bad)
        EXPECT_FALSE(parse_switch_master(p)) << p;
}

TEST(SwitchMaster, SubscribeAwaitsOnlyThePing) {
    request req;
    push_subscribe_switch_master(req);
    EXPECT_EQ(req.payload(),
              arr(2) + bulk("SUBSCRIBE") + bulk("+switch-master") + arr(1) + bulk("PING"));
    EXPECT_EQ(req.commands(), 1u);
}

std::string message(std::string_view channel, std::string_view payload) {
    return push(3) + bulk("message") + bulk(channel) + bulk(payload);
}

TEST(SwitchMaster, ListenerKeepsTheLastSwitchOfItsName) {
    switch_master_listener l{"mymaster"};
    ASSERT_TRUE(feed(push(3) + bulk("subscribe") + bulk("+switch-master") + ":1\r\n", l));
    EXPECT_FALSE(l.pending());
    ASSERT_TRUE(feed(message("+switch-master", "other 127.0.0.1 1 127.0.0.1 2"), l));
    EXPECT_FALSE(l.pending());
    ASSERT_TRUE(feed(message("+switch-master", "mymaster 127.0.0.1 6379 127.0.0.1 6380") +
                         message("+switch-master", "mymaster 127.0.0.1 6380 127.0.0.1 6381"),
                     l));
    EXPECT_EQ(l.take(), (primary_address{"127.0.0.1", 6381}));
    EXPECT_FALSE(l.take());
    EXPECT_EQ(l.ignored(), 2u);
}

TEST(SwitchMaster, ListenerIgnoresHostilePushes) {
    switch_master_listener l{"m"};
    const std::string bad[] = {
        message("+sdown", "m 127.0.0.1 1 127.0.0.1 2"),
        message("+switch-master", "m 127.0.0.1 1 127.0.0.1"),
        push(3) + bulk("pmessage") + bulk("+switch-master") + bulk("m 127.0.0.1 1 127.0.0.1 2"),
        push(4) + bulk("message") + bulk("+switch-master") + bulk("m 127.0.0.1 1 127.0.0.1 2") +
            bulk("x"),
        push(3) + bulk("message") + bulk("+switch-master") + arr(1) +
            bulk("m 127.0.0.1 1 127.0.0.1 2"),
        push(3) + bulk("message") + bulk("+switch-master") + ":5\r\n",
        push(0),
        push(3) + arr(2) + bulk("message") + bulk("+switch-master") + bulk("x") + bulk("y"),
    };
    for (const std::string& wire : bad) {
        ASSERT_TRUE(feed(wire, l)) << wire;
        EXPECT_FALSE(l.pending()) << wire;
    }
    // ... and is still in step for the next good one.
    ASSERT_TRUE(feed(message("+switch-master", "m 127.0.0.1 1 127.0.0.1 2"), l));
    EXPECT_EQ(l.take(), (primary_address{"127.0.0.1", 2}));
}

}  // namespace
}  // namespace sluice::resp
