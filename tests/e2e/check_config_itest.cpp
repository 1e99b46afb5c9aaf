// `sluice --check-config FILE` end to end: the real binary, its output and its exit status, and the
// flags that go with a rules file.

#include <gtest/gtest.h>

#include <chrono>
#include <string>
#include <vector>

#include "tests/support/process.hpp"
#include "tests/support/temp_file.hpp"

namespace sluice::test {
namespace {

using namespace std::chrono_literals;

// Every line the program writes to stdout until it exits.
std::vector<std::string> stdout_lines(process& p) {
    std::vector<std::string> lines;
    for (;;) {
        bool ok = false;
        std::string line = p.read_line(5s, &ok);
        if (!ok) break;
        lines.push_back(std::move(line));
    }
    return lines;
}

TEST(CheckConfig, AValidFilePrintsOneLinePerRuleAndExitsZero) {
    const temp_file file(R"(rules:
  - name: login
    match: {methods: [POST], path: /login}
    key: ip
    algorithm: sliding-log
    limit: 5
    window: 1m
  - name: api
    match: {host: api.example.com, path_prefix: /v1/}
    key: header:X-Api-Key
    algorithm: token-bucket
    limit: 100
    window: 1m
    burst: 20
    cost: 2
    shadow: true
)");
    process p(binary("sluice"), {"--check-config", file.path()}, true, true);
    EXPECT_EQ(stdout_lines(p), (std::vector<std::string>{
                                   "login: match POST /login; key ip; sliding-log 5/1m",
                                   "api: match host=api.example.com prefix=/v1/; key "
                                   "header:x-api-key; token-bucket 100/1m; burst 20; cost 2; "
                                   "shadow",
                               }));
    EXPECT_EQ(p.wait(5s), 0);
    EXPECT_TRUE(p.stderr_lines(100ms).empty());
}

TEST(CheckConfig, ABrokenFilePrintsTheErrorAndExitsTwo) {
    const temp_file file("rules:\n  - name: login\n    limit: abc\n    window: 1m\n");
    process p(binary("sluice"), {"--check-config=" + file.path()}, true, true);
    EXPECT_EQ(stdout_lines(p), std::vector<std::string>{});
    EXPECT_EQ(p.wait(5s), 2);
    EXPECT_EQ(p.stderr_lines(100ms),
              std::vector<std::string>{
                  file.path() +
                  ":3:12: limit: expected a positive integer up to 1000000000, got \"abc\""});
}

TEST(CheckConfig, AMissingFileExitsTwo) {
    process p(binary("sluice"), {"--check-config", "/nonexistent/sluice.yaml"}, true, true);
    EXPECT_EQ(p.wait(5s), 2);
    EXPECT_EQ(p.stderr_lines(100ms),
              std::vector<std::string>{
                  "/nonexistent/sluice.yaml: cannot read: No such file or directory"});
}

TEST(CheckConfig, ConfigWithTheRuleFlagsIsAUsageError) {
    const temp_file file("rules:\n  - {name: a, limit: 5, window: 1s}\n");
    process p(binary("sluice"), {"--config", file.path(), "--limit", "3"}, true, true);
    EXPECT_EQ(p.wait(5s), 2);
    EXPECT_EQ(p.stderr_lines(100ms),
              std::vector<std::string>{
                  "sluice: --config: the rules file replaces --limit, --window, --algorithm, "
                  "--key and --burst; set limit in the file instead of --limit"});
}

// A rules file the gateway cannot serve is refused at start, with the line --check-config
// prints, before anything listens.
TEST(CheckConfig, TheGatewayRefusesAnInvalidRulesFileAtStart) {
    const temp_file file("rules:\n  - name: a\n    limit: abc\n    window: 1s\n");
    process p(binary("sluice"),
              {"--config", file.path(), "--listen", "127.0.0.1:0", "--admin", "127.0.0.1:0"}, true,
              true);
    EXPECT_EQ(p.wait(5s), 2);
    EXPECT_EQ(p.stderr_lines(100ms),
              std::vector<std::string>{
                  "sluice: config refused: " + file.path() +
                  ":3:12: limit: expected a positive integer up to 1000000000, got \"abc\""});
}

// More rules than the gateway decides at once could match one request: refused by
// --check-config (and so at start), naming the first rule concerned.
TEST(CheckConfig, MoreThanSixteenRulesThatCanApplyTogetherAreRefused) {
    std::string text = "rules:\n";
    for (int i = 0; i < 17; ++i)
        text += "  - {name: r" + std::to_string(i) + ", limit: 5, window: 1s}\n";
    const temp_file file(text);
    process p(binary("sluice"), {"--check-config", file.path()}, true, true);
    EXPECT_EQ(p.wait(5s), 2);
    EXPECT_EQ(p.stderr_lines(100ms),
              std::vector<std::string>{file.path() +
                                       ":2:12: match: 17 rules could apply to one request with "
                                       "\"r0\", at most 16 may"});
}

}  // namespace
}  // namespace sluice::test
