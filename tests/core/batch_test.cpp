// The batch encoding and its reply reader (core/batch.hpp), without a socket: the bytes one
// EVALSHA of core/decide.lua carries for a batch, and the reply read back into the checks.

#include "core/batch.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "resp/parser.hpp"
#include "resp/script.hpp"

namespace sluice::core {
namespace {

using namespace std::chrono_literals;

// A request's arrays, as the limiters keep them.
struct request_arrays {
    std::vector<std::string> keys;
    std::vector<const batch_rule*> rules;
    std::vector<rule_decision> decisions;
    std::vector<std::string> tokens;
    std::vector<std::uint8_t> order;

    request_arrays(std::vector<std::string> k, std::vector<const batch_rule*> r)
        : keys{std::move(k)}, rules{std::move(r)}, decisions(keys.size()), tokens(keys.size()) {
        for (std::size_t i = 0; i < keys.size(); ++i)
            order.push_back(static_cast<std::uint8_t>(i));
    }
    batch_check check(bool with_tokens = false) {
        batch_check c;
        c.count = keys.size();
        c.order = order.data();
        c.keys = keys.data();
        c.rules = rules.data();
        c.decisions = decisions.data();
        c.tokens = with_tokens ? tokens.data() : nullptr;
        return c;
    }
};

// Feeds `bytes` (one reply) through the RESP parser into `reader`.
bool read_reply(const std::string& bytes, batch_reader& reader) {
    resp::parser p;
    const auto r = p.parse(bytes, reader);
    EXPECT_EQ(r.st, resp::parser::status::done) << r.ec.message();
    return reader.finish();
}

const resp::script decide{"-- decide"};

TEST(BatchRule, ArgumentsAreSerializedOnce) {
    const batch_rule r{algorithm::sliding_log, 5, 10'000ms, 0, 1, false};
    EXPECT_EQ(r.resp_args(),
              "$11\r\nsliding-log\r\n$1\r\n5\r\n$5\r\n10000\r\n$0\r\n\r\n$0\r\n\r\n$1\r\n0\r\n");
    const batch_rule tb{algorithm::token_bucket, 10, 1'000ms, 20, 3, true};
    EXPECT_EQ(
        tb.resp_args(),
        "$12\r\ntoken-bucket\r\n$2\r\n10\r\n$4\r\n1000\r\n$2\r\n20\r\n$1\r\n3\r\n$1\r\n1\r\n");
}

// Keys first (every key of the batch in KEYS, for Redis Cluster), then the clock (empty: the
// server's TIME), the rules named once, and per check its count and its rules' numbers.
TEST(BatchEncoder, OneEvalshaWithEveryKeyAndEachRuleOnce) {
    const batch_rule a{algorithm::sliding_log, 5, 10'000ms, 0, 1, false};
    const batch_rule b{algorithm::fixed_window, 100, 60'000ms, 0, 1, true};
    request_arrays one{{"p:{x}:log"}, {&a}};
    request_arrays two{{"p:{y}:a:log", "p:{y}:b:fw"}, {&a, &b}};
    batch_check c1 = one.check(), c2 = two.check(true);
    batch_encoder e;
    e.add(c1);
    e.add(c2);
    EXPECT_EQ(e.checks(), 2u);
    EXPECT_EQ(e.keys(), 3u);
    resp::request req;
    e.encode(decide, req);
    std::string expected = "*" + std::to_string(3 + 3 + 2 + 12 + 2 + 3) + "\r\n";
    expected += "$7\r\nEVALSHA\r\n$40\r\n" + decide.sha() + "\r\n$1\r\n3\r\n";
    expected += "$9\r\np:{x}:log\r\n$11\r\np:{y}:a:log\r\n$10\r\np:{y}:b:fw\r\n";
    expected += "$0\r\n\r\n$1\r\n2\r\n";
    expected += std::string(a.resp_args()) + std::string(b.resp_args());
    expected += "$1\r\n1\r\n$1\r\n1\r\n";              // check 1: one rule, definition 1
    expected += "$2\r\n-2\r\n$1\r\n1\r\n$1\r\n2\r\n";  // check 2: two rules, with tokens
    EXPECT_EQ(req.payload(), expected);
    EXPECT_EQ(req.commands(), 1u);
}

TEST(BatchEncoder, ABatchIsBoundedByChecksAndRules) {
    const batch_rule a{algorithm::sliding_log, 5, 10'000ms, 0, 1, false};
    request_arrays r{{"k"}, {&a}};
    batch_check c = r.check();
    batch_encoder e;
    EXPECT_TRUE(e.fits({&c, 1}, 2));
    e.add(c);
    EXPECT_TRUE(e.fits({&c, 1}, 2));
    e.add(c);
    EXPECT_FALSE(e.fits({&c, 1}, 2));
    // An empty batch takes any request, whatever the bound: a request is never split.
    e.clear();
    std::vector<batch_check> many(3, c);
    EXPECT_TRUE(e.fits(many, 1));
    // Rule definitions are bounded too: 16 distinct rules per request, 64 per batch.
    std::vector<batch_rule> rules;
    for (int i = 0; i < 80; ++i)
        rules.emplace_back(algorithm::sliding_log, i + 1, 1'000ms, 0, 1, false);
    std::vector<request_arrays> requests;
    for (int q = 0; q < 5; ++q) {
        std::vector<std::string> keys;
        std::vector<const batch_rule*> rs;
        for (int i = 0; i < 16; ++i) {
            keys.push_back("k" + std::to_string(q) + "-" + std::to_string(i));
            rs.push_back(&rules[q * 16 + i]);
        }
        requests.emplace_back(keys, rs);
    }
    e.clear();
    int added = 0;
    for (auto& q : requests) {
        batch_check qc = q.check();
        if (!e.fits({&qc, 1}, 256)) break;
        e.add(qc);
        ++added;
    }
    EXPECT_EQ(added, 4);
}

TEST(BatchReader, ReadsEachChecksPartIntoItsArrays) {
    const batch_rule a{algorithm::sliding_log, 5, 10'000ms, 0, 1, false};
    request_arrays one{{"x"}, {&a}};
    request_arrays two{{"y1", "y2"}, {&a, &a}};
    batch_check c1 = one.check(), c2 = two.check(true);
    batch_check* list[] = {&c1, &c2};
    batch_reader reader{list};
    // Check 1 allowed (4 left, reset 9000); check 2 rejected by its second rule.
    ASSERT_TRUE(read_reply(
        "*16\r\n:1\r\n:1\r\n:4\r\n:9000\r\n:0\r\n"
        ":0\r\n:1\r\n:3\r\n:8000\r\n:0\r\n$0\r\n\r\n:0\r\n:0\r\n:7000\r\n:7000\r\n$0\r\n\r\n",
        reader));
    EXPECT_TRUE(c1.allowed);
    EXPECT_FALSE(c1.bad);
    EXPECT_EQ(one.decisions[0].remaining, 4);
    EXPECT_EQ(one.decisions[0].reset_ms, 9000);
    EXPECT_FALSE(c2.allowed);
    EXPECT_TRUE(two.decisions[0].allowed);
    EXPECT_EQ(two.decisions[0].remaining, 3);
    EXPECT_FALSE(two.decisions[1].allowed);
    EXPECT_EQ(two.decisions[1].retry_after_ms, 7000);
}

// A reply that is not what the script returns marks every check bad: none is decided from it.
TEST(BatchReader, AWrongShapeOrAnErrorMarksEveryCheckBad) {
    const batch_rule a{algorithm::sliding_log, 5, 10'000ms, 0, 1, false};
    request_arrays one{{"x"}, {&a}};
    for (std::string reply : {"*4\r\n:1\r\n:1\r\n:4\r\n:9000\r\n",  // a field short
                              "-ERR decide: unknown algorithm\r\n",
                              "*5\r\n:1\r\n:1\r\n$1\r\nx\r\n:9000\r\n:0\r\n",   // text for a number
                              "*5\r\n:1\r\n*1\r\n:1\r\n:4\r\n:9000\r\n:0\r\n",  // nested
                              ":1\r\n"}) {
        batch_check c = one.check();
        batch_check* list[] = {&c};
        batch_reader reader{list};
        resp::parser p;
        p.parse(reply, reader);
        reader.finish();
        EXPECT_TRUE(c.bad) << reply;
    }
}

}  // namespace
}  // namespace sluice::core
