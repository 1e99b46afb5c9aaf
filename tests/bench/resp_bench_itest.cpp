// The real resp-bench binary against a real redis-server, scaled down: both clients run every
// command at every depth without errors, and each line carries the ratio and the CPU per operation.
#include <gtest/gtest.h>

#include <chrono>
#include <regex>
#include <string>

#include "tests/support/process.hpp"
#include "tests/support/redis_server.hpp"

namespace sluice::test {
namespace {

using namespace std::chrono_literals;

std::string read_all(process& p) {
    std::string out;
    bool ok = true;
    while (true) {
        std::string line = p.read_line(60s, &ok);
        if (!ok) break;
        out += line + "\n";
    }
    return out;
}

void expect_full_table(const std::string& out) {
    std::regex row(R"((PING|SET|EVALSHA) +(1|16|256) +(\d+) +(\d+) ratio=(\d+\.\d\d)  )"
                   R"(cpu us/op: sluice (\d+\.\d\d), hiredis (\d+\.\d\d))");
    int rows = 0;
    for (std::sregex_iterator it(out.begin(), out.end(), row), end; it != end; ++it) {
        ++rows;
        EXPECT_GT(std::stol((*it)[3]), 0) << it->str();
        EXPECT_GT(std::stol((*it)[4]), 0) << it->str();
        EXPECT_GT(std::stod((*it)[6]), 0) << it->str();
        EXPECT_GT(std::stod((*it)[7]), 0) << it->str();
    }
    EXPECT_EQ(rows, 9) << out;
}

TEST(RespBench, MeasuresBothClientsAtEveryDepth) {
    redis_server redis;
    process p(binary("resp-bench"), {"--redis", redis.url(), "--rounds", "1", "--scale", "0.01"});
    const std::string out = read_all(p);
    EXPECT_EQ(p.wait(30s), 0) << out;
    EXPECT_NE(out.find("sluice poll budget 50 us"), std::string::npos) << out;
    expect_full_table(out);
}

TEST(RespBench, PollBudgetZeroSleepsAtOnce) {
    redis_server redis;
    process p(binary("resp-bench"),
              {"--redis", redis.url(), "--rounds", "1", "--scale", "0.01", "--poll-us", "0"});
    const std::string out = read_all(p);
    EXPECT_EQ(p.wait(30s), 0) << out;
    EXPECT_NE(out.find("sluice poll budget 0 us"), std::string::npos) << out;
    expect_full_table(out);
}

TEST(RespBench, BadFlagsExitTwo) {
    for (auto args :
         {std::vector<std::string>{"--poll-us", "-1"},
          std::vector<std::string>{"--poll-us", "fast"}, std::vector<std::string>{"--rounds", "0"},
          std::vector<std::string>{"--redis", "rediss://h:1"},
          std::vector<std::string>{"--bogus"}}) {
        process p(binary("resp-bench"), args);
        EXPECT_EQ(p.wait(10s), 2) << args[0];
    }
}

}  // namespace
}  // namespace sluice::test
