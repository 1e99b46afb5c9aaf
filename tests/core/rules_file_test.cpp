// The YAML rules file: what a good file loads into, and the exact one line each broken one gets.

#include "core/rules_file.hpp"

#include <gtest/gtest.h>

#include <sstream>
#include <string>

#include "tests/support/temp_file.hpp"

namespace sluice::core {
namespace {

using test::temp_file;

using std::chrono::milliseconds;

std::string error_of(std::string_view text) {
    try {
        parse_rules(text, "sluice.yaml");
    } catch (const config_error& e) {
        return e.what();
    }
    return "(no error)";
}

struct broken {
    const char* what;
    const char* text;
    const char* message;
};

// One rule around the line under test: `name: r`, then the line, then limit and window unless
// the line is one of them.
const broken broken_files[] = {
    {"YAML syntax error", "rules:\n  - name: a\n    limit: [5\n",
     "sluice.yaml:4:1: invalid YAML: end of sequence flow not found"},
    {"bad indentation", "rules:\n  - name: a\n   limit: 5\n",
     "sluice.yaml:3:4: invalid YAML: end of sequence not found"},
    {"empty file", "", "sluice.yaml:1:1: expected a map with a \"rules\" list, got an empty file"},
    {"only a comment", "# nothing yet\n",
     "sluice.yaml:1:1: expected a map with a \"rules\" list, got an empty file"},
    {"two documents", "rules: []\n---\nrules: []\n",
     "sluice.yaml:3:1: expected one YAML document, got a second one"},
    {"top level a list", "- name: a\n",
     "sluice.yaml:1:1: expected a map with a \"rules\" list, got a list"},
    {"top level a scalar", "rules\n",
     "sluice.yaml:1:1: expected a map with a \"rules\" list, got \"rules\""},
    {"unknown top-level key", "rules:\n  - {name: a, limit: 1, window: 1s}\nrule: []\n",
     "sluice.yaml:3:1: unknown key \"rule\" at the top level (expected: rules)"},
    {"no rules key", "{}\n", "sluice.yaml:1:1: missing key \"rules\" (the list of rules)"},
    {"rules twice", "rules: []\nrules: []\n",
     "sluice.yaml:2:1: duplicate key \"rules\" at the top level (first at 1:1)"},
    {"rules not a list", "rules:\n  name: a\n",
     "sluice.yaml:2:3: rules: expected a list of rules, each a map with name, limit and window, "
     "got a map"},
    {"rules empty", "rules: []\n",
     "sluice.yaml:1:8: rules: expected a list of rules, each a map with name, limit and window, "
     "got an empty list"},
    {"rules empty value", "rules:\n",
     "sluice.yaml:1:1: rules: expected a list of rules, each a map with name, limit and window, "
     "got nothing"},
    {"rule not a map", "rules:\n  - login\n",
     "sluice.yaml:2:5: a rule: expected a map with name, limit, window and optionally match, key, "
     "algorithm, burst, cost, shadow, got \"login\""},
    {"unknown key in a rule", "rules:\n  - name: a\n    lmit: 5\n",
     "sluice.yaml:3:5: unknown key \"lmit\" in a rule (expected one of: name, match, key, "
     "algorithm, limit, window, burst, cost, shadow)"},
    {"duplicate key in a rule", "rules:\n  - name: a\n    limit: 5\n    window: 1s\n    limit: 6\n",
     "sluice.yaml:5:5: duplicate key \"limit\" in a rule (first at 3:5)"},
    {"missing name", "rules:\n  - limit: 5\n    window: 1s\n",
     "sluice.yaml:2:5: missing key \"name\" in a rule"},
    {"missing limit", "rules:\n  - name: a\n    window: 1s\n",
     "sluice.yaml:2:5: missing key \"limit\" in rule \"a\""},
    {"missing window", "rules:\n  - name: a\n    limit: 5\n",
     "sluice.yaml:2:5: missing key \"window\" in rule \"a\""},
    {"name upper case", "rules:\n  - name: Login\n    limit: 5\n    window: 1s\n",
     "sluice.yaml:2:11: name: expected a name of 1 to 64 lower-case letters, digits, '_' or '-', "
     "got \"Login\""},
    {"name with a dot", "rules:\n  - name: a.b\n    limit: 5\n    window: 1s\n",
     "sluice.yaml:2:11: name: expected a name of 1 to 64 lower-case letters, digits, '_' or '-', "
     "got \"a.b\""},
    {"name too long",
     "rules:\n  - name: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\n"
     "    limit: 5\n    window: 1s\n",
     "sluice.yaml:2:11: name: expected a name of 1 to 64 lower-case letters, digits, '_' or '-', "
     "got \"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\""},
    {"name empty", "rules:\n  - name:\n    limit: 5\n    window: 1s\n",
     "sluice.yaml:2:5: name: expected a name of 1 to 64 lower-case letters, digits, '_' or '-', "
     "got nothing"},
    {"name a list", "rules:\n  - name: [a]\n    limit: 5\n    window: 1s\n",
     "sluice.yaml:2:11: name: expected a name of 1 to 64 lower-case letters, digits, '_' or '-', "
     "got a list"},
    {"duplicate name",
     "rules:\n  - {name: login, limit: 5, window: 1s}\n  - {name: login, limit: 6, window: 1s}\n",
     "sluice.yaml:3:12: name: duplicate rule name \"login\" (first at 2:12)"},
    {"limit not a number", "rules:\n  - name: a\n    limit: abc\n    window: 1s\n",
     "sluice.yaml:3:12: limit: expected a positive integer up to 1000000000, got \"abc\""},
    {"limit zero", "rules:\n  - name: a\n    limit: 0\n    window: 1s\n",
     "sluice.yaml:3:12: limit: expected a positive integer up to 1000000000, got \"0\""},
    {"limit negative", "rules:\n  - name: a\n    limit: -5\n    window: 1s\n",
     "sluice.yaml:3:12: limit: expected a positive integer up to 1000000000, got \"-5\""},
    {"limit too big", "rules:\n  - name: a\n    limit: 1000000001\n    window: 1s\n",
     "sluice.yaml:3:12: limit: expected a positive integer up to 1000000000, got \"1000000001\""},
    {"limit a fraction", "rules:\n  - name: a\n    limit: 1.5\n    window: 1s\n",
     "sluice.yaml:3:12: limit: expected a positive integer up to 1000000000, got \"1.5\""},
    {"limit a map", "rules:\n  - name: a\n    limit: {n: 5}\n    window: 1s\n",
     "sluice.yaml:3:12: limit: expected a positive integer up to 1000000000, got a map"},
    {"window zero", "rules:\n  - name: a\n    limit: 5\n    window: 0s\n",
     "sluice.yaml:4:13: window: expected a positive duration (an integer with ms, s, m or h, "
     "e.g. 10s), got \"0s\""},
    {"window garbage", "rules:\n  - name: a\n    limit: 5\n    window: soon\n",
     "sluice.yaml:4:13: window: expected a positive duration (an integer with ms, s, m or h, "
     "e.g. 10s), got \"soon\""},
    {"window with a space", "rules:\n  - name: a\n    limit: 5\n    window: 10 s\n",
     "sluice.yaml:4:13: window: expected a positive duration (an integer with ms, s, m or h, "
     "e.g. 10s), got \"10 s\""},
    {"window below a millisecond", "rules:\n  - name: a\n    limit: 5\n    window: 1500us\n",
     "sluice.yaml:4:13: window: expected a whole number of milliseconds (e.g. 250ms), got "
     "\"1500us\""},
    {"bad key", "rules:\n  - name: a\n    key: cookie\n    limit: 5\n    window: 1s\n",
     "sluice.yaml:3:10: key: expected ip or header:NAME (NAME an HTTP header name), got "
     "\"cookie\""},
    {"bad key header",
     "rules:\n  - name: a\n    key: \"header:x y\"\n    limit: 5\n    window: 1s\n",
     "sluice.yaml:3:10: key: expected ip or header:NAME (NAME an HTTP header name), got "
     "\"header:x y\""},
    {"unknown algorithm",
     "rules:\n  - name: a\n    algorithm: leaky-bucket\n    limit: 5\n"
     "    window: 1s\n",
     "sluice.yaml:3:16: algorithm: expected one of: sliding-log, fixed-window, sliding-window, "
     "token-bucket, none, got \"leaky-bucket\""},
    {"burst zero",
     "rules:\n  - name: a\n    algorithm: token-bucket\n    limit: 5\n    window: 1s\n"
     "    burst: 0\n",
     "sluice.yaml:6:12: burst: expected a positive integer up to 1000000000, got \"0\""},
    {"cost zero", "rules:\n  - name: a\n    limit: 5\n    window: 1s\n    cost: 0\n",
     "sluice.yaml:5:11: cost: expected a positive integer up to 1000000000, got \"0\""},
    {"cost over the limit", "rules:\n  - name: a\n    limit: 5\n    window: 1s\n    cost: 6\n",
     "sluice.yaml:5:11: cost: 6 is more than the limit, 5: no request could ever be allowed"},
    {"cost over the burst",
     "rules:\n  - name: a\n    algorithm: token-bucket\n    limit: 100\n    window: 1s\n"
     "    burst: 10\n    cost: 11\n",
     "sluice.yaml:7:11: cost: 11 is more than the burst, 10: no request could ever be allowed"},
    {"shadow not a boolean", "rules:\n  - name: a\n    limit: 5\n    window: 1s\n    shadow: yes\n",
     "sluice.yaml:5:13: shadow: expected true or false, got \"yes\""},
    {"match not a map", "rules:\n  - name: a\n    match: /login\n    limit: 5\n    window: 1s\n",
     "sluice.yaml:3:12: match: expected a map of methods, path, path_prefix, host, got "
     "\"/login\""},
    {"match empty value", "rules:\n  - name: a\n    match:\n    limit: 5\n    window: 1s\n",
     "sluice.yaml:3:5: match: expected a map of methods, path, path_prefix, host, got nothing"},
    {"unknown key in match",
     "rules:\n  - name: a\n    match: {paht: /x}\n    limit: 5\n    window: 1s\n",
     "sluice.yaml:3:13: unknown key \"paht\" in match (expected one of: methods, path, "
     "path_prefix, host)"},
    {"duplicate key in match",
     "rules:\n  - name: a\n    match:\n      host: a\n      host: b\n    limit: 5\n"
     "    window: 1s\n",
     "sluice.yaml:5:7: duplicate key \"host\" in match (first at 4:7)"},
    {"methods not a list",
     "rules:\n  - name: a\n    match: {methods: GET}\n    limit: 5\n    window: 1s\n",
     "sluice.yaml:3:22: methods: expected a list of HTTP methods such as [GET, POST], got "
     "\"GET\""},
    {"methods empty",
     "rules:\n  - name: a\n    match: {methods: []}\n    limit: 5\n    window: 1s\n",
     "sluice.yaml:3:22: methods: expected a list of HTTP methods such as [GET, POST], got an "
     "empty list"},
    {"method in lower case",
     "rules:\n  - name: a\n    match: {methods: [GET, post]}\n    limit: 5\n    window: 1s\n",
     "sluice.yaml:3:28: methods: expected an HTTP method in upper case, such as GET, got "
     "\"post\""},
    {"method not a token",
     "rules:\n  - name: a\n    match: {methods: [\"GE T\"]}\n    limit: 5\n    window: 1s\n",
     "sluice.yaml:3:23: methods: expected an HTTP method in upper case, such as GET, got "
     "\"GE T\""},
    {"method a list",
     "rules:\n  - name: a\n    match: {methods: [[GET]]}\n    limit: 5\n    window: 1s\n",
     "sluice.yaml:3:23: methods: expected an HTTP method in upper case, such as GET, got a list"},
    {"method twice",
     "rules:\n  - name: a\n    match: {methods: [GET, GET]}\n    limit: 5\n    window: 1s\n",
     "sluice.yaml:3:28: methods: \"GET\" is listed twice"},
    {"path without a leading slash",
     "rules:\n  - name: a\n    match: {path: login}\n    limit: 5\n    window: 1s\n",
     "sluice.yaml:3:19: path: expected a path starting with '/', without query, fragment, "
     "spaces or control characters, got \"login\""},
    {"path with a query",
     "rules:\n  - name: a\n    match: {path: \"/login?x=1\"}\n    limit: 5\n    window: 1s\n",
     "sluice.yaml:3:19: path: expected a path starting with '/', without query, fragment, "
     "spaces or control characters, got \"/login?x=1\""},
    {"path_prefix without a leading slash",
     "rules:\n  - name: a\n    match: {path_prefix: api}\n    limit: 5\n    window: 1s\n",
     "sluice.yaml:3:26: path_prefix: expected a path starting with '/', without query, "
     "fragment, spaces or control characters, got \"api\""},
    {"path and path_prefix",
     "rules:\n  - name: a\n    match: {path: /a, path_prefix: /b}\n    limit: 5\n    window: 1s\n",
     "sluice.yaml:3:23: path_prefix: a match has path or path_prefix, not both"},
    {"host with a port",
     "rules:\n  - name: a\n    match: {host: \"example.com:8080\"}\n    limit: 5\n    window: 1s\n",
     "sluice.yaml:3:19: host: expected a host name without port, such as api.example.com or "
     "[2001:db8::1], got \"example.com:8080\""},
    {"host with a final dot",
     "rules:\n  - name: a\n    match: {host: example.com.}\n    limit: 5\n    window: 1s\n",
     "sluice.yaml:3:19: host: expected a host name without port, such as api.example.com or "
     "[2001:db8::1], got \"example.com.\""},
    {"host a bad IPv6 literal",
     "rules:\n  - name: a\n    match: {host: \"[::g]\"}\n    limit: 5\n    window: 1s\n",
     "sluice.yaml:3:19: host: expected a host name without port, such as api.example.com or "
     "[2001:db8::1], got \"[::g]\""},
    {"a key that is a map", "rules:\n  - name: a\n    ? {x: 1}\n    : 5\n",
     "sluice.yaml:3:7: expected a key name in a rule, got a map"},
    {"a control character in a value",
     "rules:\n  - name: \"a\\tb\"\n    limit: 5\n    window: 1s\n",
     "sluice.yaml:2:11: name: expected a name of 1 to 64 lower-case letters, digits, '_' or '-', "
     "got \"a\\x09b\""},
};

TEST(RulesFile, EachBrokenFileGetsItsOneLine) {
    for (const auto& b : broken_files) {
        SCOPED_TRACE(b.what);
        const std::string message = error_of(b.text);
        EXPECT_EQ(message, b.message);
        EXPECT_EQ(message.find('\n'), std::string::npos);
    }
    EXPECT_GE(std::size(broken_files), 25u);
}

TEST(RulesFile, AGoodFileLoadsEveryField) {
    const rule_set set = parse_rules(R"(# Sluice rules
rules:
  - name: login                 # [a-z0-9_-]{1,64}
    match: {methods: [POST], path: /login}
    key: ip
    algorithm: sliding-log
    limit: 5
    window: 1m
  - name: api
    match:
      methods: [GET, PURGE]
      host: API.Example.com
      path_prefix: /v1/
    key: header:X-Api-Key
    algorithm: token-bucket
    limit: 100
    window: 1s
    burst: 20
    cost: 2
    shadow: true
  - name: "everything"
    limit: 1000000000
    window: 250ms
    shadow: false
  - {name: fixed, algorithm: fixed-window, limit: 3, window: 2h, cost: 3}
  - {name: sliding, algorithm: sliding-window, limit: 3, window: 90s}
  - {name: off, algorithm: none, limit: 1, window: 1}
)",
                                     "sluice.yaml");
    ASSERT_EQ(set.size(), 6u);

    rule login;
    login.name = "login";
    login.match.methods = {"POST"};
    login.match.path = "/login";
    login.limit = 5;
    login.burst = 5;
    login.window = milliseconds(60'000);
    EXPECT_EQ(set.rules()[0], login);

    rule api;
    api.name = "api";
    api.match.methods = {"GET", "PURGE"};
    api.match.host = "api.example.com";
    api.match.path_prefix = "/v1/";
    api.key = *key_source::parse("header:x-api-key");
    api.algorithm = algorithm::token_bucket;
    api.limit = 100;
    api.window = milliseconds(1'000);
    api.burst = 20;
    api.cost = 2;
    api.shadow = true;
    EXPECT_EQ(set.rules()[1], api);

    const rule& everything = set.rules()[2];
    EXPECT_EQ(everything.name, "everything");
    EXPECT_TRUE(everything.match.any());
    EXPECT_EQ(everything.key, key_source{});
    EXPECT_EQ(everything.algorithm, algorithm::sliding_log);
    EXPECT_EQ(everything.limit, 1'000'000'000u);
    EXPECT_EQ(everything.burst, 1'000'000'000u);
    EXPECT_EQ(everything.cost, 1u);
    EXPECT_EQ(everything.window, milliseconds(250));
    EXPECT_FALSE(everything.shadow);

    EXPECT_EQ(set.rules()[3].algorithm, algorithm::fixed_window);
    EXPECT_EQ(set.rules()[3].window, milliseconds(7'200'000));
    EXPECT_EQ(set.rules()[3].cost, 3u);
    EXPECT_EQ(set.rules()[4].algorithm, algorithm::sliding_window);
    EXPECT_EQ(set.rules()[5].algorithm, algorithm::none);
    EXPECT_EQ(set.rules()[5].window, milliseconds(1'000));  // a bare integer means seconds
}

TEST(RulesFile, DescribedRulesReadBackTheSame) {
    const rule_set set = parse_rules(R"(rules:
  - {name: a, match: {methods: [POST, PUT], path: /login}, limit: 5, window: 1m}
  - {name: b, match: {host: api.example.com, path_prefix: /v1/}, key: "header:X-Key",
     algorithm: token-bucket, limit: 100, window: 1500ms, burst: 20, cost: 2, shadow: true}
  - {name: c, limit: 7, window: 1h}
)",
                                     "f.yaml");
    std::vector<std::string> lines;
    for (const auto& r : set.rules())
        lines.push_back(describe(r));
    EXPECT_EQ(lines, (std::vector<std::string>{
                         "a: match POST,PUT /login; key ip; sliding-log 5/1m",
                         "b: match host=api.example.com prefix=/v1/; key header:x-key; "
                         "token-bucket 100/1500ms; burst 20; cost 2; shadow",
                         "c: match any; key ip; sliding-log 7/1h",
                     }));
}

TEST(RulesFile, MatchesWhatTheFileSays) {
    const rule_set set = parse_rules(R"(rules:
  - {name: login, match: {methods: [POST], path: /login}, limit: 5, window: 1m}
  - {name: api, match: {host: API.example.com, path_prefix: /api/}, limit: 50, window: 1m}
  - {name: all, limit: 100, window: 1m}
)",
                                     "f.yaml");
    std::vector<std::uint32_t> out;
    set.match("POST", "www.example.com", "/login?next=/", out);
    EXPECT_EQ(out, (std::vector<std::uint32_t>{0, 2}));
    set.match("POST", "api.example.com:8443", "/api/login", out);
    EXPECT_EQ(out, (std::vector<std::uint32_t>{1, 2}));
}

TEST(RulesFile, CostMayEqualTheCapacity) {
    EXPECT_EQ(error_of("rules:\n  - {name: a, limit: 5, window: 1s, cost: 5}\n"), "(no error)");
    EXPECT_EQ(error_of("rules:\n  - {name: a, algorithm: token-bucket, limit: 1, window: 1s, "
                       "burst: 10, cost: 10}\n"),
              "(no error)");
}

// The contract's example lists every key on one rule, burst included: only token-bucket reads it.
TEST(RulesFile, ABurstOnAnotherAlgorithmHasNoEffect) {
    const rule_set rs = parse_rules(
        "rules:\n"
        "  - name: login\n"
        "    match: {methods: [POST], path: /login}\n"
        "    key: ip\n"
        "    algorithm: sliding-log\n"
        "    limit: 5\n"
        "    window: 1m\n"
        "    burst: 10\n"
        "    cost: 1\n"
        "    shadow: false\n",
        "sluice.yaml");
    ASSERT_EQ(rs.rules().size(), 1u);
    EXPECT_EQ(rs.rules()[0].burst, 5u);
    // Still checked as a number.
    EXPECT_NE(error_of("rules:\n  - {name: a, algorithm: fixed-window, limit: 5, window: 1s, "
                       "burst: x}\n")
                  .find("burst: expected a positive integer"),
              std::string::npos);
}

TEST(RulesFile, LoadsFromDiskAndNamesTheFile) {
    const temp_file good("rules:\n  - {name: a, limit: 5, window: 1s}\n");
    EXPECT_EQ(load_rules_file(good.path()).size(), 1u);

    const temp_file bad("rules:\n  - {name: a, limit: 5, window: 0}\n");
    try {
        load_rules_file(bad.path());
        ADD_FAILURE() << "no error";
    } catch (const config_error& e) {
        EXPECT_EQ(std::string(e.what()),
                  bad.path() +
                      ":2:33: window: expected a positive duration (an integer with ms, s, m or "
                      "h, e.g. 10s), got \"0\"");
    }
    try {
        load_rules_file("/nonexistent/sluice.yaml");
        ADD_FAILURE() << "no error";
    } catch (const config_error& e) {
        EXPECT_EQ(std::string(e.what()),
                  "/nonexistent/sluice.yaml: cannot read: No such file or directory");
    }
}

TEST(RulesFile, CheckPrintsOneLinePerRuleOrTheError) {
    const temp_file good(
        "rules:\n  - {name: a, limit: 5, window: 1s}\n  - {name: b, limit: 6, window: 1m}\n");
    std::ostringstream out;
    std::ostringstream err;
    EXPECT_EQ(check_rules_file(good.path(), out, err), 0);
    EXPECT_EQ(out.str(),
              "a: match any; key ip; sliding-log 5/1s\nb: match any; key ip; sliding-log 6/1m\n");
    EXPECT_EQ(err.str(), "");

    const temp_file bad("rules:\n  - {name: a, limit: 5, window: 1s, colour: red}\n");
    std::ostringstream out2;
    std::ostringstream err2;
    EXPECT_EQ(check_rules_file(bad.path(), out2, err2), 2);
    EXPECT_EQ(out2.str(), "");
    EXPECT_EQ(err2.str(), bad.path() +
                              ":2:37: unknown key \"colour\" in a rule (expected one of: name, "
                              "match, key, algorithm, limit, window, burst, cost, shadow)\n");
}

}  // namespace
}  // namespace sluice::core
