// The drivers assembled from the algorithm modules, against a real redis-server:
// core/decide.lua (several rules of one client, all or nothing, shadow rules), core/quota.lua
// (read-only) and core/give_back.lua (undoing what an allowing call recorded). Keys are read with
// redis-cli (redis_server::cli), not through the client under test.

#include <gtest/gtest.h>

#include <cstdint>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "decide_lua.hpp"
#include "give_back_lua.hpp"
#include "quota_lua.hpp"
#include "tests/core/algorithm_models.hpp"
#include "tests/support/redis_server.hpp"
#include "tests/support/redis_sync.hpp"

namespace sluice::core {
namespace {

using test::model::i64;

const std::vector<std::string> algorithms = {"sliding-log", "fixed-window", "sliding-window",
                                             "token-bucket"};

std::string suffix(const std::string& algorithm) {
    static const std::map<std::string, std::string> s = {{"sliding-log", "log"},
                                                         {"fixed-window", "fw"},
                                                         {"sliding-window", "sw"},
                                                         {"token-bucket", "tb"}};
    return s.at(algorithm);
}

// A rule as decide.lua takes it, with its key for one client.
struct rule_arg {
    std::string name;
    std::string algorithm;
    i64 limit = 5;
    i64 window_ms = 10'000;
    i64 cost = 1;
    bool shadow = false;
    std::string key(const std::string& client) const {
        return "test:{" + client + "}:" + name + ":" + suffix(algorithm);
    }
};

struct rule_reply {
    bool allowed;
    i64 remaining, reset_ms, retry_ms;
    std::string token;
};

struct decision {
    bool allowed = false;
    std::vector<rule_reply> rules;
};

struct fixture {
    fixture()
        : conn{srv.port()},
          decide{conn.load(std::string(decide_lua))},
          quota{conn.load(std::string(quota_lua))},
          give_back{conn.load(std::string(give_back_lua))} {
        auto t = conn.call({"TIME"});
        // An hour ahead of the server: expiry times come from this clock, so nothing expires for
        // real during a test.
        now = std::stoll(t[0].text) * 1'000'000 + std::stoll(t[1].text) + 3'600'000'000LL;
        // Mid-window for every window used here, so a few milliseconds never cross a border.
        now = now / 60'000'000 * 60'000'000 + 20'000'000;
    }

    // One check of `client` against `rules`, with tokens, alone in its batch.
    decision run(const std::string& client, const std::vector<rule_arg>& rules) {
        return run_batch({{client, rules}}).at(0);
    }

    // One batch: a check per (client, rules), in order, each with tokens. Every rule is named
    // once in the batch's definitions.
    std::vector<decision> run_batch(
        const std::vector<std::pair<std::string, std::vector<rule_arg>>>& checks) {
        std::vector<std::string> keys, defs, tail;
        std::map<std::string, std::size_t> index;
        std::size_t replies = 0;
        for (const auto& [client, rules] : checks) {
            tail.push_back(std::to_string(-static_cast<long long>(rules.size())));
            for (const auto& r : rules) {
                keys.push_back(r.key(client));
                const std::string id = r.name + "/" + r.algorithm;
                if (!index.count(id)) {
                    index[id] = index.size() + 1;
                    defs.insert(defs.end(),
                                {r.algorithm, std::to_string(r.limit), std::to_string(r.window_ms),
                                 "", std::to_string(r.cost), r.shadow ? "1" : "0"});
                }
                tail.push_back(std::to_string(index[id]));
            }
            replies += 1 + 5 * rules.size();
        }
        std::vector<std::string> args = {"EVALSHA", decide, std::to_string(keys.size())};
        args.insert(args.end(), keys.begin(), keys.end());
        args.push_back(std::to_string(now));
        args.push_back(std::to_string(index.size()));
        args.insert(args.end(), defs.begin(), defs.end());
        args.insert(args.end(), tail.begin(), tail.end());
        auto reply = conn.call(args);
        std::vector<decision> out(checks.size());
        if (reply.is_error() || reply.items.size() != replies) {
            ADD_FAILURE() << "bad reply: " << reply.text;
            return out;
        }
        std::size_t at = 0;
        for (std::size_t c = 0; c < checks.size(); ++c) {
            out[c].allowed = reply[at++].integer() == 1;
            for (std::size_t i = 0; i < checks[c].second.size(); ++i, at += 5) {
                out[c].rules.push_back({reply[at].integer() == 1, reply[at + 1].integer(),
                                        reply[at + 2].integer(), reply[at + 3].integer(),
                                        reply[at + 4].text});
            }
        }
        return out;
    }

    // {remaining, reset_ms} per rule.
    std::vector<std::vector<i64>> read_quota(const std::string& client,
                                             const std::vector<rule_arg>& rules,
                                             const std::string& command = "EVALSHA") {
        std::vector<std::string> args = {command, quota, std::to_string(rules.size())};
        for (const auto& r : rules)
            args.push_back(r.key(client));
        for (const auto& r : rules)
            args.insert(args.end(),
                        {r.algorithm, std::to_string(r.limit), std::to_string(r.window_ms), ""});
        args.push_back(std::to_string(now));
        auto reply = conn.call(args);
        std::vector<std::vector<i64>> out;
        if (reply.is_error()) {
            ADD_FAILURE() << "quota: " << reply.text;
            return out;
        }
        for (const auto& r : reply.items)
            out.push_back(r.integers());
        return out;
    }

    std::vector<i64> undo(const std::string& client, const std::vector<rule_arg>& rules,
                          const decision& d) {
        std::vector<std::string> args = {"EVALSHA", give_back, std::to_string(rules.size())};
        for (const auto& r : rules)
            args.push_back(r.key(client));
        for (std::size_t i = 0; i < rules.size(); ++i) {
            const auto& r = rules[i];
            args.insert(args.end(),
                        {r.algorithm, std::to_string(r.limit), std::to_string(r.window_ms), "",
                         std::to_string(r.cost), d.rules.at(i).token});
        }
        args.push_back(std::to_string(now));
        auto reply = conn.call(args);
        if (reply.is_error()) {
            ADD_FAILURE() << "give_back: " << reply.text;
            return {};
        }
        return reply.integers();
    }

    // Everything Redis holds for one rule of one client, read with redis-cli: each key, its type,
    // content and absolute expiry.
    std::string state(const std::string& client, const rule_arg& r) {
        std::string pattern = r.key(client) + "*";
        std::istringstream keys{srv.cli({"--raw", "KEYS", pattern})};
        std::string out, key;
        std::vector<std::string> sorted;
        while (std::getline(keys, key))
            if (!key.empty()) sorted.push_back(key);
        std::sort(sorted.begin(), sorted.end());
        for (const auto& k : sorted) {
            std::string type = srv.cli({"TYPE", k});
            out += k + " " + type + " expires " + srv.cli({"PEXPIRETIME", k}) + "\n";
            if (type == "string") out += srv.cli({"GET", k});
            if (type == "hash") out += srv.cli({"HGETALL", k});
            if (type == "zset") out += srv.cli({"ZRANGE", k, "0", "-1", "WITHSCORES"});
            out += "\n";
        }
        return out;
    }

    test::redis_server srv;
    test::redis_sync conn;
    std::string decide, quota, give_back;
    i64 now = 0;
};

// Two rules of one client, every pair of algorithms: the second is used up, so the request is
// rejected, and the first, which would have allowed it, records nothing.
TEST(Decide, OneRuleRejectsTheOtherRecordsNothing) {
    for (const auto& first : algorithms) {
        for (const auto& second : algorithms) {
            fixture f;
            std::string client = "aon";
            rule_arg a{"a", first, 5};
            rule_arg b{"b", second, 2};
            auto d1 = f.run(client, {a, b});
            f.now += 1000;
            auto d2 = f.run(client, {a, b});
            f.now += 1000;
            ASSERT_TRUE(d1.allowed && d2.allowed) << first << " + " << second;
            EXPECT_EQ(d2.rules[0].remaining, 3);
            EXPECT_EQ(d2.rules[1].remaining, 0);
            EXPECT_FALSE(d2.rules[0].token.empty());

            std::string before = f.state(client, a);
            auto d3 = f.run(client, {a, b});
            EXPECT_FALSE(d3.allowed) << first << " + " << second;
            // The first rule allows, and says what it has left without this request.
            EXPECT_TRUE(d3.rules[0].allowed);
            EXPECT_EQ(d3.rules[0].remaining, 3) << first << " + " << second;
            EXPECT_EQ(d3.rules[0].token, "");
            EXPECT_FALSE(d3.rules[1].allowed);
            EXPECT_EQ(d3.rules[1].remaining, 0);
            EXPECT_GT(d3.rules[1].retry_ms, 0);
            EXPECT_EQ(d3.rules[1].token, "");
            EXPECT_EQ(f.state(client, a), before) << first << " + " << second;
            EXPECT_NE(before, "");
        }
    }
}

// A request allowed by every rule is recorded by every rule, each with its own cost.
TEST(Decide, AllowedByAllRecordedByAllWithTheirCosts) {
    fixture f;
    rule_arg a{"a", "sliding-log", 10, 10'000, 3};
    rule_arg b{"b", "token-bucket", 10, 10'000, 2};
    rule_arg c{"c", "sliding-window", 10, 10'000, 1};
    auto d = f.run("all", {a, b, c});
    ASSERT_TRUE(d.allowed);
    EXPECT_EQ(d.rules[0].remaining, 7);
    EXPECT_EQ(d.rules[1].remaining, 8);
    EXPECT_EQ(d.rules[2].remaining, 9);
    EXPECT_EQ(f.srv.cli({"ZCARD", a.key("all")}), "3");
    for (const auto& r : d.rules) {
        EXPECT_TRUE(r.allowed);
        EXPECT_EQ(r.retry_ms, 0);
        EXPECT_FALSE(r.token.empty());
    }
}

// A shadow rule never rejects. It records a request when it allows it and the request is allowed,
// so its state is what it would be if it were enforced; what it would reject it does not record.
TEST(Decide, AShadowRuleNeverRejectsAndRecordsWhatItWouldAllow) {
    for (const auto& algorithm : algorithms) {
        fixture f;
        rule_arg enforced{"enforced", "sliding-log", 100};
        rule_arg shadow{"shadow", algorithm, 2, 10'000, 1, true};
        int allowed = 0, shadow_rejected = 0;
        for (int i = 0; i < 5; ++i) {
            auto d = f.run("sh", {enforced, shadow});
            f.now += 1000;
            allowed += d.allowed;
            shadow_rejected += !d.rules[1].allowed;
        }
        EXPECT_EQ(allowed, 5) << algorithm;
        EXPECT_EQ(shadow_rejected, 3) << algorithm;
        EXPECT_EQ(f.srv.cli({"ZCARD", enforced.key("sh")}), "5");
        // The shadow rule holds the two it allowed, as an enforced rule would.
        auto q = f.read_quota("sh", {shadow});
        EXPECT_EQ(q.at(0).at(0), 0) << algorithm;
        if (algorithm == "sliding-log") {
            EXPECT_EQ(f.srv.cli({"ZCARD", shadow.key("sh")}), "2");
        }

        // An enforced rule's rejection is not recorded by a shadow rule either.
        fixture g;
        rule_arg exhausted{"exhausted", "fixed-window", 1};
        rule_arg watching{"watching", algorithm, 10, 10'000, 1, true};
        g.run("sh2", {exhausted, watching});
        std::string before = g.state("sh2", watching);
        auto d = g.run("sh2", {exhausted, watching});
        EXPECT_FALSE(d.allowed);
        EXPECT_TRUE(d.rules[1].allowed);
        EXPECT_EQ(g.state("sh2", watching), before) << algorithm;
    }
}

// The quota query agrees with the reference model, uses nothing, and runs as a read-only script.
TEST(Quota, ReadsWhatIsLeftWithoutUsingIt) {
    for (const auto& algorithm : algorithms) {
        fixture f;
        rule_arg r{"q", algorithm, 6, 2'000};
        test::model::rule mr{algorithm, 6, 2'000, 6};
        auto m = test::model::make(algorithm);
        EXPECT_EQ(f.read_quota("qc", {r}).at(0), (std::vector<i64>{6, 0})) << algorithm;
        for (int i = 0; i < 9; ++i) {
            f.run("qc", {r});
            test::model::decide(*m, f.now, mr, 1);
            f.now += 150'000;
            std::string before = f.state("qc", r);
            auto q = f.read_quota("qc", {r});
            auto ro = f.read_quota("qc", {r}, "EVALSHA_RO");
            EXPECT_EQ(q, ro);
            EXPECT_EQ(q.at(0).at(0), test::model::remaining(*m, f.now, mr))
                << algorithm << " " << i;
            EXPECT_EQ(q.at(0).at(1), test::model::ceil_ms(m->reset_us(f.now, mr)))
                << algorithm << " " << i;
            EXPECT_EQ(f.state("qc", r), before) << algorithm;
        }
    }
}

// Giving back what an allowed request recorded leaves the state as it was before it.
TEST(GiveBack, RestoresTheStateBeforeTheRequest) {
    for (const auto& algorithm : algorithms) {
        for (int earlier : {0, 2}) {
            fixture f;
            rule_arg r{"g", algorithm, 5, 10'000, 2};
            rule_arg one = r;
            one.cost = 1;
            for (int i = 0; i < earlier; ++i) {
                f.run("gb", {one});
                f.now += 1000;
            }
            std::string before = f.state("gb", r);
            auto q_before = f.read_quota("gb", {r});
            auto d = f.run("gb", {r});
            ASSERT_TRUE(d.allowed);
            EXPECT_NE(f.state("gb", r), before);
            auto back = f.undo("gb", {r}, d);
            EXPECT_EQ(back, (std::vector<i64>{2})) << algorithm;
            EXPECT_EQ(f.state("gb", r), before) << algorithm << " after " << earlier;
            EXPECT_EQ(f.read_quota("gb", {r}), q_before) << algorithm;
            // A rule that recorded nothing has nothing to give back.
            rule_reply none{false, 0, 0, 0, ""};
            EXPECT_EQ(f.undo("gb", {r}, decision{false, {none}}), (std::vector<i64>{0}));
        }
    }
}

// A request whose rules live in two slots (keyed by ip and by an API key): decided in two calls,
// the first allows and records, the second rejects, and the first is given back. In between, an
// observer sees the request counted; afterwards the state is as before.
TEST(GiveBack, AcrossTwoCallsAndWhatAnObserverSeesInBetween) {
    for (const auto& algorithm : algorithms) {
        fixture f;
        rule_arg per_ip{"per-ip", algorithm, 2};
        rule_arg per_key{"per-key", "fixed-window", 1};
        f.run("ip:192.0.2.9", {per_ip});  // one of two used
        f.run("key:abc", {per_key});      // the API key's only one used
        f.now += 1000;
        std::string before = f.state("ip:192.0.2.9", per_ip);

        auto first = f.run("ip:192.0.2.9", {per_ip});
        ASSERT_TRUE(first.allowed);
        // In between: the request is counted. Another request from the same address is rejected
        // now, and that rejection stands.
        EXPECT_EQ(f.read_quota("ip:192.0.2.9", {per_ip}).at(0).at(0), 0) << algorithm;
        EXPECT_FALSE(f.run("ip:192.0.2.9", {per_ip}).allowed) << algorithm;

        auto second = f.run("key:abc", {per_key});
        ASSERT_FALSE(second.allowed);
        EXPECT_EQ(f.undo("ip:192.0.2.9", {per_ip}, first), (std::vector<i64>{1}));
        EXPECT_EQ(f.state("ip:192.0.2.9", per_ip), before) << algorithm;
        EXPECT_EQ(f.read_quota("ip:192.0.2.9", {per_ip}).at(0).at(0), 1) << algorithm;
    }
}

// A batch runs its checks in order, each seeing the ones before: the same key twice counts
// twice, another client has its own state, and a check without tokens gets 4 fields per rule.
TEST(Decide, ABatchDecidesItsChecksInOrder) {
    for (const auto& algorithm : algorithms) {
        fixture f;
        const rule_arg r{"r", algorithm, 2, 10'000};
        auto d = f.run_batch({{"a", {r}}, {"a", {r}}, {"b", {r}}, {"a", {r}}});
        EXPECT_TRUE(d[0].allowed) << algorithm;
        EXPECT_EQ(d[0].rules.at(0).remaining, 1) << algorithm;
        EXPECT_TRUE(d[1].allowed) << algorithm;
        EXPECT_EQ(d[1].rules.at(0).remaining, 0) << algorithm;
        EXPECT_TRUE(d[2].allowed) << algorithm;
        EXPECT_EQ(d[2].rules.at(0).remaining, 1) << algorithm;
        EXPECT_FALSE(d[3].allowed) << algorithm;
        EXPECT_GT(d[3].rules.at(0).retry_ms, 0) << algorithm;
    }
    fixture f;
    auto plain = f.conn.call({"EVALSHA", f.decide, "2", "test:{p}:r:log", "test:{q}:r:log",
                              std::to_string(f.now), "1", "sliding-log", "5", "1000", "", "", "0",
                              "1", "1", "1", "1"});
    ASSERT_FALSE(plain.is_error()) << plain.text;
    EXPECT_EQ(plain.integers(), (std::vector<i64>{1, 1, 4, 1000, 0, 1, 1, 4, 1000, 0}));
}

TEST(Decide, BadArgumentsAreErrors) {
    fixture f;
    auto truncated =
        f.conn.call({"EVALSHA", f.decide, "1", "test:{x}:a:log", "", "1", "sliding-log", "5"});
    EXPECT_TRUE(truncated.is_error());
    auto unknown = f.conn.call({"EVALSHA", f.decide, "1", "test:{x}:a:log", "", "1", "leaky-bucket",
                                "5", "1000", "", "1", "0", "1", "1"});
    EXPECT_TRUE(unknown.is_error());
    EXPECT_NE(unknown.text.find("leaky-bucket"), std::string::npos);
    auto no_such_rule = f.conn.call({"EVALSHA", f.decide, "1", "test:{x}:a:log", "", "1",
                                     "sliding-log", "5", "1000", "", "1", "0", "1", "2"});
    EXPECT_TRUE(no_such_rule.is_error());
    auto keys_left = f.conn.call({"EVALSHA", f.decide, "2", "test:{x}:a:log", "test:{y}:a:log", "",
                                  "1", "sliding-log", "5", "1000", "", "1", "0", "1", "1"});
    EXPECT_TRUE(keys_left.is_error());
    EXPECT_EQ(f.srv.cli({"DBSIZE"}), "0");
}

// The server's clock is used when the test-only argument is empty.
TEST(Decide, TheServerClockIsTheDefault) {
    fixture f;
    auto d = f.conn.call({"EVALSHA",
                          f.decide,
                          "2",
                          "test:{c}:a:tb",
                          "test:{c}:b:fw",
                          "",
                          "2",
                          "token-bucket",
                          "3",
                          "60000",
                          "",
                          "",
                          "0",
                          "fixed-window",
                          "3",
                          "60000",
                          "",
                          "",
                          "0",
                          "2",
                          "1",
                          "2"});
    ASSERT_FALSE(d.is_error()) << d.text;
    EXPECT_EQ(d[0].integer(), 1);
    auto pttl = std::stoll(f.srv.cli({"PTTL", "test:{c}:a:tb"}));
    EXPECT_GT(pttl, 0);
    EXPECT_LE(pttl, 20'000);
}

}  // namespace
}  // namespace sluice::core
