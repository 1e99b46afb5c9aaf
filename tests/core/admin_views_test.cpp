#include "core/admin_views.hpp"

#include <gtest/gtest.h>

#include <string>

namespace sluice::core {
namespace {

std::string json_string(std::string_view s) {
    std::string out;
    append_json_string(out, s);
    return out;
}

TEST(AdminViews, JsonStringsEscapeQuotesBackslashesAndControls) {
    EXPECT_EQ(json_string("plain /path-1"), R"("plain /path-1")");
    EXPECT_EQ(json_string("a\"b\\c"), R"("a\"b\\c")");
    EXPECT_EQ(json_string(std::string("\n\t\x01\x7f", 4)), R"("\u000a\u0009\u0001\u007f")");
}

TEST(AdminViews, ConfigListsEveryRuleWithItsGenerationAndLoadTime) {
    rule login;
    login.name = "login";
    login.match.methods = {"POST"};
    login.match.path = "/login";
    login.limit = 5;
    login.window = std::chrono::minutes(1);
    login.burst = 5;
    rule api;
    api.name = "api";
    api.match.host = "api.example.com";
    api.match.path_prefix = "/v1/";
    api.key = *key_source::parse("header:X-Api-Key");
    api.algorithm = algorithm::token_bucket;
    api.limit = 100;
    api.window = std::chrono::minutes(1);
    api.burst = 20;
    api.cost = 2;
    api.shadow = true;
    const rule_set rules{{login, api}};
    std::string out;
    append_config_json(out, rules, 2, 1'796'133'787'250, "sluice.yaml");
    EXPECT_EQ(out,
              R"({"generation":2,"loaded_at":"2026-12-01T14:03:07.250Z","source":"sluice.yaml",)"
              R"("rules":[{"name":"login","match":{"methods":["POST"],"path":"/login"},)"
              R"("key":"ip","algorithm":"sliding-log","limit":5,"window_ms":60000,"burst":5,)"
              R"("cost":1,"shadow":false},{"name":"api","match":{"path_prefix":"/v1/",)"
              R"("host":"api.example.com"},"key":"header:x-api-key","algorithm":"token-bucket",)"
              R"("limit":100,"window_ms":60000,"burst":20,"cost":2,"shadow":true}]})");
}

TEST(AdminViews, ConfigOfTheFlagsRuleMatchesEverything) {
    config cfg;
    std::string out;
    append_config_json(out, rules_from_flags(cfg), 1, 0, "flags");
    EXPECT_EQ(out, R"({"generation":1,"loaded_at":"1970-01-01T00:00:00.000Z","source":"flags",)"
                   R"("rules":[{"name":"default","match":{},"key":"ip","algorithm":"sliding-log",)"
                   R"("limit":5,"window_ms":10000,"burst":5,"cost":1,"shadow":false}]})");
}

TEST(AdminViews, Quota) {
    std::string out;
    append_quota_json(out, "login", "ip:192.0.2.1", 5, 3, 41250);
    EXPECT_EQ(out,
              R"({"rule":"login","key":"ip:192.0.2.1","limit":5,"remaining":3,"reset_ms":41250})");
}

TEST(AdminViews, QueryParametersArePercentDecoded) {
    std::string v;
    EXPECT_TRUE(query_param("rule=login&key=ip%3A192.0.2.1", "key", v));
    EXPECT_EQ(v, "ip:192.0.2.1");
    EXPECT_TRUE(query_param("rule=login&key=ip%3A192.0.2.1", "rule", v));
    EXPECT_EQ(v, "login");
    EXPECT_TRUE(query_param("key=a+b%2Bc", "key", v));
    EXPECT_EQ(v, "a b+c");
    // The first occurrence wins; a parameter without '=' is empty.
    EXPECT_TRUE(query_param("key=first&key=second", "key", v));
    EXPECT_EQ(v, "first");
    EXPECT_TRUE(query_param("x&key", "key", v));
    EXPECT_EQ(v, "");
}

TEST(AdminViews, AbsentOrMalformedParametersAreRefused) {
    std::string v;
    EXPECT_FALSE(query_param("", "key", v));
    EXPECT_FALSE(query_param("rule=login", "key", v));
    EXPECT_FALSE(query_param("keys=x", "key", v));  // another name that starts the same
    for (const char* bad : {"key=%", "key=%4", "key=%zz", "key=ab%g1"}) {
        EXPECT_FALSE(query_param(bad, "key", v)) << bad;
    }
}

}  // namespace
}  // namespace sluice::core
