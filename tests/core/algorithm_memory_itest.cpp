// What each algorithm costs in Redis memory per client: 100,000 clients, each with one request
// (and sliding-log also with `limit` requests), measured two ways: the growth of INFO memory's
// used_memory (everything: the key, its value, the keyspace's and the expiry table's entries) and
// MEMORY USAGE of a sample of keys (the key and value alone). Prints one line per algorithm and
// writes them to <build>/algorithm-memory.txt.

#include <gtest/gtest.h>

#include <cstdint>
#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

#include "fixed_window_lua.hpp"
#include "sliding_log_lua.hpp"
#include "sliding_window_lua.hpp"
#include "tests/support/redis_server.hpp"
#include "tests/support/redis_sync.hpp"
#include "token_bucket_lua.hpp"

namespace sluice::core {
namespace {

constexpr int clients = 100'000;
constexpr int batch = 2'000;
constexpr int sample = 1'000;

std::int64_t used_memory(test::redis_sync& conn) {
    auto info = conn.call({"INFO", "memory"}).text;
    auto at = info.find("used_memory:");
    return std::stoll(info.substr(at + 12));
}

// An address per client, as the gateway keys them: ip:10.x.y.z.
std::string client(int i) {
    return "ip:10." + std::to_string(i >> 16 & 255) + "." + std::to_string(i >> 8 & 255) + "." +
           std::to_string(i & 255);
}

struct variant {
    std::string name;
    std::string_view source;
    std::string suffix;
    int requests;  // per client
};

struct figures {
    double used_per_client;
    double usage_per_key;
    double keys_per_client;
};

figures measure(test::redis_sync& conn, const variant& v) {
    conn.call({"FLUSHALL", "SYNC"});
    std::string sha = conn.load(std::string(v.source));
    conn.call({"MEMORY", "PURGE"});
    std::int64_t before = used_memory(conn);
    std::vector<std::vector<std::string>> cmds;
    for (int first = 0; first < clients; first += batch) {
        cmds.clear();
        for (int i = first; i < first + batch && i < clients; ++i) {
            // limit 10 per day: no key expires while measuring (a fixed window's counter goes at
            // its window's end, aligned on the clock: with a minute, a run crossing a minute's
            // border lost most of them).
            cmds.push_back({"EVALSHA", sha, "1", "sluice:{" + client(i) + "}:api:" + v.suffix, "10",
                            "86400000"});
        }
        for (int r = 0; r < v.requests; ++r) {
            for (const auto& reply : conn.pipeline(cmds)) {
                if (reply.is_error() || reply[0].integer() != 1) {
                    ADD_FAILURE() << v.name << ": " << reply.text;
                    return {};
                }
            }
        }
    }
    std::int64_t after = used_memory(conn);
    std::int64_t keys = std::stoll(conn.call({"DBSIZE"}).text);

    // MEMORY USAGE of the first `sample` clients' keys (SAMPLES 0: every element counted).
    std::int64_t usage = 0;
    int counted = 0;
    auto scan = conn.call({"KEYS", "sluice:{ip:10.0.[0-3].*"});
    cmds.clear();
    for (const auto& k : scan.items) {
        if (static_cast<int>(cmds.size()) == sample) break;
        cmds.push_back({"MEMORY", "USAGE", k.text, "SAMPLES", "0"});
    }
    for (const auto& reply : conn.pipeline(cmds)) {
        usage += reply.integer();
        ++counted;
    }
    return {static_cast<double>(after - before) / clients,
            counted ? static_cast<double>(usage) / counted : 0.0,
            static_cast<double>(keys) / clients};
}

TEST(AlgorithmMemory, BytesPerClient) {
    test::redis_server srv;
    test::redis_sync conn{srv.port()};
    const std::vector<variant> variants = {
        {"sliding-log, 1 entry", sliding_log_lua, "log", 1},
        {"sliding-log, 10 entries (= limit)", sliding_log_lua, "log", 10},
        {"fixed-window", fixed_window_lua, "fw", 1},
        {"sliding-window", sliding_window_lua, "sw", 1},
        {"token-bucket", token_bucket_lua, "tb", 1},
    };
    std::string version = conn.call({"INFO", "server"}).text;
    auto at = version.find("redis_version:");
    std::string report = "redis " + version.substr(at + 14, version.find('\r', at) - at - 14) +
                         ", " + std::to_string(clients) + " clients, keys like sluice:{" +
                         client(123456 % clients) + "}:api:<suffix>\n";
    for (const auto& v : variants) {
        auto f = measure(conn, v);
        char line[256];
        std::snprintf(
            line, sizeof line,
            "%-36s used_memory %6.1f B/client   MEMORY USAGE %6.1f B/key   %.0f key(s)/client\n",
            v.name.c_str(), f.used_per_client, f.usage_per_key, f.keys_per_client);
        report += line;
        EXPECT_DOUBLE_EQ(f.keys_per_client, 1.0) << v.name;
        EXPECT_GT(f.used_per_client, 0) << v.name;
        // O(1) per client: a few hundred bytes at most, whatever the limit.
        if (v.requests == 1) {
            EXPECT_LT(f.used_per_client, 300) << v.name;
        }
    }
    std::fputs(report.c_str(), stdout);
    std::ofstream{SLUICE_BINARY_DIR "/algorithm-memory.txt"} << report;
}

}  // namespace
}  // namespace sluice::core
