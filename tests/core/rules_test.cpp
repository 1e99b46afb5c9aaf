// The rule set: which rules a request matches, the line --check-config prints for each, and the
// rule the flags make without a rules file.

#include "core/rules.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "tests/support/allocations.hpp"

namespace sluice::core {
namespace {

using std::chrono::milliseconds;

// A rule_match built part by part: make("login", on().methods({"POST"}).path("/login")).
struct on {
    rule_match value;
    on& methods(std::vector<std::string> m) {
        value.methods = std::move(m);
        return *this;
    }
    on& path(std::string p) {
        value.path = std::move(p);
        return *this;
    }
    on& prefix(std::string p) {
        value.path_prefix = std::move(p);
        return *this;
    }
    on& host(std::string h) {
        value.host = std::move(h);
        return *this;
    }
};

rule make(std::string name, on match = {}) {
    rule r;
    r.name = std::move(name);
    r.match = std::move(match.value);
    r.limit = 10;
    r.burst = 10;
    r.window = milliseconds(1000);
    return r;
}

// The names of the rules a request matches, in rule order.
std::vector<std::string> matched(const rule_set& set, std::string_view method,
                                 std::string_view host, std::string_view target) {
    std::vector<std::uint32_t> indices;
    set.match(method, host, target, indices);
    std::vector<std::string> names;
    for (const auto i : indices)
        names.push_back(set.rules()[i].name);
    return names;
}

using names = std::vector<std::string>;

TEST(Rules, EveryMatchingRuleApplies) {
    const rule_set set({
        make("login", on().methods({"POST"}).path("/login")),
        make("api", on().prefix("/api/")),
        make("everything"),
        make("api-writes", on().methods({"POST", "PUT", "DELETE"}).prefix("/api/")),
    });
    EXPECT_EQ(matched(set, "POST", "h", "/login"), (names{"login", "everything"}));
    EXPECT_EQ(matched(set, "GET", "h", "/login"), (names{"everything"}));
    EXPECT_EQ(matched(set, "PUT", "h", "/api/items"), (names{"api", "everything", "api-writes"}));
    EXPECT_EQ(matched(set, "GET", "h", "/api/items"), (names{"api", "everything"}));
}

// Two rules may apply together unless no request can match both; the loader bounds how many
// can apply at once with it, so it must never call disjoint what one request can match.
TEST(Rules, MayApplyTogetherOnlyFailsForRulesNoRequestMatchesBoth) {
    auto together = [](const on& a, const on& b) {
        EXPECT_EQ(may_apply_together(a.value, b.value), may_apply_together(b.value, a.value));
        return may_apply_together(a.value, b.value);
    };
    EXPECT_TRUE(together(on{}, on{}));
    EXPECT_TRUE(together(on{}, on().methods({"POST"}).path("/login")));
    EXPECT_TRUE(together(on().methods({"GET", "POST"}), on().methods({"POST"})));
    EXPECT_FALSE(together(on().methods({"GET"}), on().methods({"POST"})));
    EXPECT_FALSE(together(on().host("a.example"), on().host("b.example")));
    EXPECT_TRUE(together(on().host("a.example"), on().path("/x")));
    EXPECT_FALSE(together(on().path("/a"), on().path("/b")));
    EXPECT_TRUE(together(on().path("/api/x"), on().prefix("/api")));
    EXPECT_FALSE(together(on().path("/web"), on().prefix("/api")));
    EXPECT_TRUE(together(on().prefix("/api/"), on().prefix("/api")));
    EXPECT_FALSE(together(on().prefix("/api"), on().prefix("/web")));
}

TEST(Rules, ARequestNoRuleMatchesGetsNone) {
    const rule_set set({
        make("login", on().methods({"POST"}).path("/login")),
        make("api", on().host("api.example.com")),
    });
    EXPECT_EQ(matched(set, "GET", "www.example.com", "/"), names{});
    EXPECT_EQ(matched(rule_set{}, "GET", "h", "/"), names{});
}

TEST(Rules, Methods) {
    const rule_set set({
        make("get", on().methods({"GET"})),
        make("write", on().methods({"POST", "PATCH"})),
        make("purge", on().methods({"PURGE", "GET"})),
        make("propfind", on().methods({"PROPFIND"})),
    });
    EXPECT_EQ(matched(set, "GET", "", "/"), (names{"get", "purge"}));
    EXPECT_EQ(matched(set, "PATCH", "", "/"), names{"write"});
    EXPECT_EQ(matched(set, "PURGE", "", "/"), names{"purge"});
    EXPECT_EQ(matched(set, "PROPFIND", "", "/"), names{"propfind"});
    // Methods are case-sensitive (RFC 9110 9.1), and an unknown one matches no method list.
    EXPECT_EQ(matched(set, "get", "", "/"), names{});
    EXPECT_EQ(matched(set, "HEAD", "", "/"), names{});
    EXPECT_EQ(matched(set, "PURGEX", "", "/"), names{});
}

TEST(Rules, ExactPathAgainstPrefix) {
    const rule_set set({
        make("exact", on().path("/login")),
        make("prefix", on().prefix("/login")),
        make("dir", on().prefix("/login/")),
    });
    EXPECT_EQ(matched(set, "GET", "", "/login"), (names{"exact", "prefix"}));
    EXPECT_EQ(matched(set, "GET", "", "/login/"), (names{"prefix", "dir"}));
    EXPECT_EQ(matched(set, "GET", "", "/login/x"), (names{"prefix", "dir"}));
    EXPECT_EQ(matched(set, "GET", "", "/loginx"), names{"prefix"});
    EXPECT_EQ(matched(set, "GET", "", "/Login"), names{});
    EXPECT_EQ(matched(set, "GET", "", "/"), names{});
    // Only the path part of the target counts.
    EXPECT_EQ(matched(set, "GET", "", "/login?next=/x"), (names{"exact", "prefix"}));
    EXPECT_EQ(matched(set, "GET", "", "/login#top"), (names{"exact", "prefix"}));
    EXPECT_EQ(matched(set, "GET", "", "http://h:8080/login?x"), (names{"exact", "prefix"}));
    EXPECT_EQ(matched(set, "OPTIONS", "", "*"), names{});
}

TEST(Rules, HostIgnoresCaseAndPort) {
    const rule_set set({
        make("api", on().host("api.example.com")),
        make("v6", on().host("[2001:db8::1]")),
    });
    EXPECT_EQ(matched(set, "GET", "api.example.com", "/"), names{"api"});
    EXPECT_EQ(matched(set, "GET", "API.Example.COM", "/"), names{"api"});
    EXPECT_EQ(matched(set, "GET", "api.example.com:8080", "/"), names{"api"});
    EXPECT_EQ(matched(set, "GET", "api.example.com.", "/"), names{"api"});
    EXPECT_EQ(matched(set, "GET", "api.example.com.:80", "/"), names{"api"});
    EXPECT_EQ(matched(set, "GET", "[2001:db8::1]:443", "/"), names{"v6"});
    EXPECT_EQ(matched(set, "GET", "[2001:DB8::1]", "/"), names{"v6"});
    EXPECT_EQ(matched(set, "GET", "example.com", "/"), names{});
    EXPECT_EQ(matched(set, "GET", "xapi.example.com", "/"), names{});
    EXPECT_EQ(matched(set, "GET", "api.example.com.evil", "/"), names{});
    EXPECT_EQ(matched(set, "GET", "", "/"), names{});
}

TEST(Rules, AllPartsOfAMatchMustHold) {
    const rule_set set(
        {make("login", on().methods({"POST"}).path("/login").host("id.example.com"))});
    EXPECT_EQ(matched(set, "POST", "id.example.com", "/login"), names{"login"});
    EXPECT_EQ(matched(set, "GET", "id.example.com", "/login"), names{});
    EXPECT_EQ(matched(set, "POST", "www.example.com", "/login"), names{});
    EXPECT_EQ(matched(set, "POST", "id.example.com", "/logout"), names{});
}

TEST(Rules, RequestPathAndHost) {
    EXPECT_EQ(request_path("/a/b?c=d"), "/a/b");
    EXPECT_EQ(request_path("/"), "/");
    EXPECT_EQ(request_path("http://example.com"), "/");
    EXPECT_EQ(request_path("http://example.com?q"), "/");
    EXPECT_EQ(request_path("https://example.com:8443/x/y?q"), "/x/y");
    EXPECT_EQ(request_path("*"), "*");
    EXPECT_EQ(request_host("example.com:8080"), "example.com");
    EXPECT_EQ(request_host("[::1]:80"), "[::1]");
    EXPECT_EQ(request_host("[::1]"), "[::1]");
    EXPECT_EQ(request_host("Example.COM"), "Example.COM");
    EXPECT_EQ(request_host(""), "");
}

TEST(Rules, MatchingAllocatesNothingOnceWarm) {
    std::vector<rule> rules;
    rules.push_back(make("login", on().methods({"POST"}).path("/login")));
    rules.push_back(make("api", on().prefix("/api/").host("api.example.com")));
    rules.push_back(make("purge", on().methods({"PURGE"})));
    rules.push_back(make("all"));
    const rule_set set(std::move(rules));
    std::vector<std::uint32_t> out;
    set.match("GET", "x", "/", out);  // the first call sizes `out`

    const std::size_t before = test::thread_allocations();
    std::size_t total = 0;
    for (int i = 0; i < 1000; ++i) {
        set.match("POST", "x", "/login?next=/home", out);
        total += out.size();
        set.match("GET", "API.example.com:443", "/api/items/42", out);
        total += out.size();
        set.match("PURGE", "", "http://cache/x", out);
        total += out.size();
        set.match("BREW", "", "/pot", out);
        total += out.size();
    }
    EXPECT_EQ(test::thread_allocations() - before, 0u);
    EXPECT_EQ(total, 1000u * (2 + 2 + 2 + 1));
}

TEST(Rules, FindByName) {
    const rule_set set({make("a"), make("b")});
    ASSERT_NE(set.find("b"), nullptr);
    EXPECT_EQ(set.find("b")->name, "b");
    EXPECT_EQ(set.find("c"), nullptr);
    EXPECT_EQ(set.size(), 2u);
}

TEST(Rules, InvalidRulesAreRefused) {
    const auto error_of = [](rule r) -> std::string {
        try {
            rule_set set({std::move(r)});
        } catch (const config_error& e) {
            return e.what();
        }
        return "(no error)";
    };
    rule bad_name = make("Login");
    EXPECT_EQ(error_of(bad_name), "rule \"Login\": name: expected [a-z0-9_-]{1,64}");
    rule zero = make("z");
    zero.limit = 0;
    EXPECT_EQ(error_of(zero), "rule \"z\": limit: out of range");
    rule burst = make("b");
    burst.burst = 20;
    EXPECT_EQ(error_of(burst), "rule \"b\": burst: only token-bucket has a burst");
    rule cost = make("c");
    cost.cost = 11;
    EXPECT_EQ(error_of(cost), "rule \"c\": cost: out of range");
    EXPECT_THROW(rule_set({make("same"), make("same")}), config_error);
}

TEST(Rules, ValidNames) {
    EXPECT_TRUE(valid_rule_name("login"));
    EXPECT_TRUE(valid_rule_name("a-b_c-9"));
    EXPECT_TRUE(valid_rule_name(std::string(64, 'a')));
    EXPECT_FALSE(valid_rule_name(std::string(65, 'a')));
    EXPECT_FALSE(valid_rule_name(""));
    EXPECT_FALSE(valid_rule_name("Login"));
    EXPECT_FALSE(valid_rule_name("a.b"));
    EXPECT_FALSE(valid_rule_name("a b"));
    EXPECT_FALSE(valid_rule_name("a{b}"));
}

TEST(Rules, Describe) {
    rule login = make("login", on().methods({"POST", "PUT"}).path("/login"));
    login.window = milliseconds(60'000);
    login.limit = 5;
    login.burst = 5;
    EXPECT_EQ(describe(login), "login: match POST,PUT /login; key ip; sliding-log 5/1m");

    rule api = make("api", on().prefix("/v1/").host("api.example.com"));
    api.key = *key_source::parse("header:X-Api-Key");
    api.algorithm = algorithm::token_bucket;
    api.limit = 100;
    api.burst = 20;
    api.cost = 2;
    api.shadow = true;
    api.window = milliseconds(1500);
    EXPECT_EQ(describe(api),
              "api: match host=api.example.com prefix=/v1/; key header:x-api-key; token-bucket "
              "100/1500ms; burst 20; cost 2; shadow");

    rule all = make("all");
    all.algorithm = algorithm::fixed_window;
    EXPECT_EQ(describe(all), "all: match any; key ip; fixed-window 10/1s");
}

TEST(Rules, TheFlagsMakeOneDefaultRule) {
    config cfg;
    cfg.limit = 7;
    cfg.window = milliseconds(2'000);
    cfg.key = *key_source::parse("header:x-user");
    const rule_set set = rules_from_flags(cfg);
    ASSERT_EQ(set.size(), 1u);
    const rule& r = set.rules()[0];
    EXPECT_EQ(r.name, "default");
    EXPECT_TRUE(r.match.any());
    EXPECT_EQ(r.key, cfg.key);
    EXPECT_EQ(r.algorithm, algorithm::sliding_log);
    EXPECT_EQ(r.limit, 7u);
    EXPECT_EQ(r.burst, 7u);
    EXPECT_EQ(r.cost, 1u);
    EXPECT_EQ(r.window, milliseconds(2'000));
    EXPECT_FALSE(r.shadow);
    EXPECT_EQ(matched(set, "DELETE", "any.host", "/any/path"), names{"default"});

    cfg.algorithm = algorithm::token_bucket;
    cfg.burst = 30;
    EXPECT_EQ(rules_from_flags(cfg).rules()[0].burst, 30u);
}

}  // namespace
}  // namespace sluice::core
