// `sluice --config FILE` end to end: the real binary and a real redis-server serving a rules file.
// Every applying rule decides; a rejected request is recorded by none of them (read back from
// Redis itself); the answers name the rules; /metrics counts per rule.

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <memory>
#include <regex>
#include <string>
#include <vector>

#include "tests/support/http_client.hpp"
#include "tests/support/redis_server.hpp"
#include "tests/support/sluice_gateway.hpp"
#include "tests/support/temp_file.hpp"

namespace sluice::test {
namespace {

using namespace std::chrono_literals;

// A gateway serving `rules`, ready.
struct rules_gateway {
    rules_gateway(const redis_server& redis, const std::string& rules,
                  std::vector<std::string> extra = {})
        : file{rules}, gw{redis.url(), {.flags = flags(file, std::move(extra))}} {
        EXPECT_TRUE(gw.wait_ready());
    }

    static std::vector<std::string> flags(const temp_file& f, std::vector<std::string> extra) {
        std::vector<std::string> out = {"--config", f.path()};
        if (std::find(extra.begin(), extra.end(), "--threads") == extra.end()) {
            out.insert(out.end(), {"--threads", "1"});
        }
        out.insert(out.end(), extra.begin(), extra.end());
        return out;
    }

    // One request on a fresh connection.
    http_response send(const std::string& method, const std::string& target,
                       const std::string& headers = "Host: t\r\n") const {
        http_client c{gw.port};
        c.send(method + " " + target + " HTTP/1.1\r\n" + headers + "\r\n");
        auto r = c.read_response();
        return r ? *r : http_response{};
    }

    long long rule_metric(const std::string& rule, const std::string& decision) {
        return gw.metric("sluice_rule_decisions_total{rule=\"" + rule + "\",decision=\"" +
                         decision + "\"}");
    }

    temp_file file;
    sluice_gateway gw;
};

// The body of a rejection by `rule`, with its retry_after_ms; -1 when it is not one.
long long rejected_by(const http_response& r, const std::string& rule, int limit, int window_ms) {
    std::smatch m;
    const std::regex body(R"(\{"error":"too_many_requests","rule":")" + rule + R"(","limit":)" +
                          std::to_string(limit) + R"(,"window_ms":)" + std::to_string(window_ms) +
                          R"(,"retry_after_ms":(\d+)\})");
    if (!std::regex_match(r.body, m, body)) return -1;
    return std::stoll(m[1]);
}

TEST(RulesGateway, OfTwoRulesOnOneKeyTheRejectingOneIsNamedAndTheOtherRecordsNothing) {
    redis_server redis;
    rules_gateway g{redis, R"(rules:
  - {name: tight, match: {path: /x}, limit: 1, window: 1m}
  - {name: wide, limit: 10, window: 1m}
)"};
    EXPECT_EQ(g.send("GET", "/x").status, 200);
    const auto second = g.send("GET", "/x");
    EXPECT_EQ(second.status, 429);
    const long long retry = rejected_by(second, "tight", 1, 60000);
    EXPECT_GT(retry, 50000) << second.body;
    EXPECT_LE(retry, 60000);
    EXPECT_EQ(second.header("retry-after"), "60");
    EXPECT_EQ(second.header("x-ratelimit-limit"), "1");
    EXPECT_EQ(second.header("x-ratelimit-remaining"), "0");
    // wide allowed both, but only the request that was served is in its log.
    EXPECT_EQ(redis.cli({"ZCARD", "sluice:{ip:127.0.0.1}:wide:log"}), "1");
    EXPECT_EQ(redis.cli({"ZCARD", "sluice:{ip:127.0.0.1}:tight:log"}), "1");
    EXPECT_EQ(g.rule_metric("tight", "allowed"), 1);
    EXPECT_EQ(g.rule_metric("tight", "rejected"), 1);
    EXPECT_EQ(g.rule_metric("wide", "allowed"), 2);
    EXPECT_EQ(g.rule_metric("wide", "rejected"), 0);
    EXPECT_EQ(g.gw.metric("sluice_requests_total{decision=\"rejected\"}"), 1);
}

TEST(RulesGateway, ARejectionByOneClientKeyGivesBackWhatTheOtherKeysRulesRecorded) {
    redis_server redis;
    rules_gateway g{redis, R"(rules:
  - {name: per-ip, key: ip, limit: 1, window: 1m}
  - {name: per-key-log, key: "header:X-Api-Key", limit: 10, window: 1m}
  - {name: per-key-fw, key: "header:X-Api-Key", algorithm: fixed-window, limit: 10, window: 1h}
)"};
    const std::string headers = "Host: t\r\nX-Api-Key: k1\r\n";
    EXPECT_EQ(g.send("GET", "/", headers).status, 200);
    const auto fw_keys = redis.cli({"KEYS", "sluice:{key:k1}:per-key-fw:fw:*"});
    ASSERT_FALSE(fw_keys.empty());
    ASSERT_EQ(fw_keys.find('\n'), std::string::npos) << fw_keys;
    for (int i = 0; i < 3; ++i) {
        const auto r = g.send("GET", "/", headers);
        EXPECT_EQ(r.status, 429);
        EXPECT_GE(rejected_by(r, "per-ip", 1, 60000), 0) << r.body;
    }
    // The header key's rules allowed each rejected request in their own call, then gave it back.
    EXPECT_EQ(redis.cli({"ZCARD", "sluice:{key:k1}:per-key-log:log"}), "1");
    EXPECT_EQ(redis.cli({"GET", fw_keys}), "1");
    EXPECT_EQ(g.rule_metric("per-key-log", "allowed"), 4);
    EXPECT_EQ(g.rule_metric("per-ip", "rejected"), 3);
}

TEST(RulesGateway, AShadowRuleOverItsLimitIsCountedButNeverRejects) {
    redis_server redis;
    rules_gateway g{redis, R"(rules:
  - {name: trial, limit: 1, window: 1m, shadow: true}
)"};
    for (int i = 0; i < 3; ++i) {
        const auto r = g.send("GET", "/");
        EXPECT_EQ(r.status, 200);
        // A shadow rule stays out of the answer.
        EXPECT_EQ(r.header("x-ratelimit-limit"), "");
        EXPECT_EQ(r.header("ratelimit-policy"), "");
    }
    EXPECT_EQ(g.rule_metric("trial", "allowed"), 1);
    EXPECT_EQ(g.rule_metric("trial", "shadow_rejected"), 2);
    EXPECT_EQ(g.rule_metric("trial", "rejected"), 0);
    EXPECT_EQ(g.gw.metric("sluice_requests_total{decision=\"allowed\"}"), 3);
    // It records what it would allow, as it would enforced.
    EXPECT_EQ(redis.cli({"ZCARD", "sluice:{ip:127.0.0.1}:trial:log"}), "1");
}

TEST(RulesGateway, ACostOfTwoUsesTwoUnits) {
    redis_server redis;
    rules_gateway g{redis, R"(rules:
  - {name: heavy, limit: 5, window: 1m, cost: 2}
)"};
    auto r = g.send("GET", "/");
    EXPECT_EQ(r.status, 200);
    EXPECT_EQ(r.header("x-ratelimit-remaining"), "3");
    r = g.send("GET", "/");
    EXPECT_EQ(r.status, 200);
    EXPECT_EQ(r.header("x-ratelimit-remaining"), "1");
    EXPECT_EQ(g.send("GET", "/").status, 429);
    EXPECT_EQ(redis.cli({"ZCARD", "sluice:{ip:127.0.0.1}:heavy:log"}), "4");
}

TEST(RulesGateway, RulesMatchOnMethodPathPrefixAndHostAndTheRestIsUnlimited) {
    redis_server redis;
    rules_gateway g{redis, R"(rules:
  - {name: login, match: {methods: [POST], path: /login}, limit: 5, window: 1m}
  - {name: api, match: {path_prefix: /api/}, limit: 7, window: 1m}
  - {name: admin, match: {host: admin.example}, limit: 9, window: 1m}
)"};
    auto policy = [&](const std::string& method, const std::string& target,
                      const std::string& host = "t") {
        const auto r = g.send(method, target, "Host: " + host + "\r\n");
        EXPECT_EQ(r.status, 200) << method << " " << target;
        return r.header("ratelimit-policy");
    };
    EXPECT_EQ(policy("POST", "/login"), R"("login";q=5;w=60)");
    EXPECT_EQ(policy("POST", "/login?next=/"), R"("login";q=5;w=60)");
    EXPECT_EQ(policy("GET", "/api/users"), R"("api";q=7;w=60)");
    EXPECT_EQ(policy("GET", "/", "Admin.Example:8080"), R"("admin";q=9;w=60)");
    EXPECT_EQ(policy("POST", "/api/x", "admin.example"), R"("api";q=7;w=60, "admin";q=9;w=60)");
    // Unmatched: served, no rate-limit fields, counted as unlimited.
    const long long before = g.gw.metric("sluice_requests_total{decision=\"unlimited\"}");
    for (const auto& [method, target] : std::vector<std::pair<std::string, std::string>>{
             {"GET", "/login"}, {"POST", "/login/x"}, {"GET", "/apix"}, {"GET", "/"}}) {
        const auto r = g.send(method, target);
        EXPECT_EQ(r.status, 200);
        EXPECT_EQ(r.body, R"({"status":"ok"})");
        EXPECT_EQ(r.header("x-ratelimit-limit"), "") << method << " " << target;
        EXPECT_EQ(r.header("ratelimit"), "");
    }
    EXPECT_EQ(g.gw.metric("sluice_requests_total{decision=\"unlimited\"}"), before + 4);
    EXPECT_EQ(g.rule_metric("login", "allowed"), 2);
    EXPECT_EQ(g.rule_metric("api", "allowed"), 2);
}

TEST(RulesGateway, TwoRulesGiveTwoMembersAndTheLegacyFieldsOfTheFewestRemaining) {
    redis_server redis;
    rules_gateway g{redis, R"(rules:
  - {name: login, limit: 5, window: 1m}
  - {name: api, algorithm: token-bucket, limit: 60, window: 1h, burst: 3}
)"};
    // api refills a token a minute: one used leaves 2, full again in 60 s.
    const auto r = g.send("GET", "/");
    EXPECT_EQ(r.status, 200);
    EXPECT_EQ(r.header("ratelimit-policy"), R"("login";q=5;w=60, "api";q=60;w=3600)");
    EXPECT_EQ(r.header("ratelimit"), R"("login";r=4;t=60, "api";r=2;t=60)");
    EXPECT_EQ(r.header("x-ratelimit-limit"), "60");
    EXPECT_EQ(r.header("x-ratelimit-remaining"), "2");
    EXPECT_EQ(r.header("x-ratelimit-reset"), "60");
    g.send("GET", "/");
    g.send("GET", "/");
    // The bucket is empty: rejected by api, login's state as it was (nothing recorded).
    const auto rejected = g.send("GET", "/");
    EXPECT_EQ(rejected.status, 429);
    EXPECT_GE(rejected_by(rejected, "api", 60, 3600000), 0) << rejected.body;
    EXPECT_EQ(rejected.header("retry-after"), "60");
    EXPECT_EQ(rejected.header("x-ratelimit-limit"), "60");
    EXPECT_EQ(rejected.header("ratelimit"), R"("login";r=2;t=60, "api";r=0;t=60)");
    EXPECT_EQ(redis.cli({"ZCARD", "sluice:{ip:127.0.0.1}:login:log"}), "3");
}

// The seed's check with a rule from a file: six at once, exactly five allowed, on every shard
// count.
TEST(RulesGateway, SixConcurrentRequestsGiveExactlyFiveOkAndOneRejectionNamingTheRule) {
    for (const char* threads : {"1", "4"}) {
        redis_server redis;
        rules_gateway g{
            redis, "rules:\n  - {name: seed, limit: 5, window: 10s}\n", {"--threads", threads}};
        std::vector<std::unique_ptr<http_client>> clients;
        for (int i = 0; i < 6; ++i)
            clients.push_back(std::make_unique<http_client>(g.gw.port));
        for (auto& c : clients)
            c->send("GET / HTTP/1.1\r\nHost: t\r\n\r\n");
        int ok = 0, limited = 0;
        for (auto& c : clients) {
            const auto r = c->read_response();
            ASSERT_TRUE(r);
            if (r->status == 200) ++ok;
            if (r->status == 429) {
                ++limited;
                EXPECT_GE(rejected_by(*r, "seed", 5, 10000), 0) << r->body;
            }
        }
        EXPECT_EQ(ok, 5) << threads << " shards";
        EXPECT_EQ(limited, 1) << threads << " shards";
        EXPECT_EQ(redis.cli({"ZCARD", "sluice:{ip:127.0.0.1}:seed:log"}), "5");
    }
}

TEST(RulesGateway, ForwardAuthMatchesTheOriginalRequest) {
    redis_server redis;
    rules_gateway g{redis,
                    "rules:\n  - {name: login, match: {methods: [POST], path: /login}, limit: 1, "
                    "window: 1m}\n",
                    {"--forward-auth", "--deny-status", "403"}};
    const std::string original = "Host: auth\r\nX-Original-Method: POST\r\n";
    auto r = g.send("GET", "/auth", original + "X-Original-URI: /login?next=/\r\n");
    EXPECT_EQ(r.status, 200);
    EXPECT_EQ(r.body, "");
    EXPECT_EQ(r.header("ratelimit-policy"), R"("login";q=1;w=60)");
    r = g.send("GET", "/auth", original + "X-Original-URI: /login\r\n");
    EXPECT_EQ(r.status, 403);
    EXPECT_GE(rejected_by(r, "login", 1, 60000), 0) << r.body;
    // Another original URI, or the same with another method: no rule applies.
    r = g.send("GET", "/auth", original + "X-Original-URI: /other\r\n");
    EXPECT_EQ(r.status, 200);
    EXPECT_EQ(r.header("ratelimit-policy"), "");
    r = g.send("POST", "/login",
               "Host: auth\r\nX-Original-Method: GET\r\nX-Original-URI: /login\r\n");
    EXPECT_EQ(r.status, 200);
    EXPECT_EQ(r.header("ratelimit-policy"), "");
    EXPECT_EQ(g.gw.metric("sluice_forward_auth_requests_total{uri_from=\"x-original-uri\"}"), 4);
}

// Rules of one client identity: a client blocked by its only rule is answered by the rules
// version's cache, with the rule's name and fields; rules of two identities never use a cache (a
// give-back could free a slot before the time Redis announced).
TEST(RulesGateway, BlockedClientsOfOneIdentityAreAnsweredFromTheCache) {
    redis_server redis;
    rules_gateway one{redis, R"(rules:
  - {name: api, key: "header:X-Api-Key", limit: 1, window: 10s}
)"};
    const std::string key = "Host: t\r\nX-Api-Key: k1\r\n";
    EXPECT_EQ(one.send("GET", "/", key).status, 200);
    EXPECT_EQ(one.send("GET", "/", key).status, 429);
    for (int i = 0; i < 5; ++i) {
        const auto r = one.send("GET", "/", key);
        EXPECT_EQ(r.status, 429);
        EXPECT_GT(rejected_by(r, "api", 1, 10'000), 9'000);
        EXPECT_EQ(r.header("ratelimit-policy"), "\"api\";q=1;w=10");
    }
    EXPECT_EQ(one.gw.metric("sluice_blocked_cache_hits_total{shard=\"0\"}"), 5);
    EXPECT_EQ(one.rule_metric("api", "rejected"), 6);

    rules_gateway two{redis, R"(rules:
  - {name: per-key, key: "header:X-Api-Key", limit: 1, window: 10s}
  - {name: per-ip, limit: 1000, window: 10s}
)"};
    EXPECT_EQ(two.send("GET", "/", key).status, 200);
    for (int i = 0; i < 3; ++i)
        EXPECT_EQ(two.send("GET", "/", key).status, 429);
    EXPECT_EQ(two.gw.metric("sluice_blocked_cache_hits_total{shard=\"0\"}"), 0);
}

}  // namespace
}  // namespace sluice::test
