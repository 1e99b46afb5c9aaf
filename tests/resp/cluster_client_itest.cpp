// resp::cluster_client against a real Redis Cluster: routing by slot, MOVED patching the slot
// table without waiting for a refresh, ASK followed once with ASKING, readiness, and hostile
// topology answers.

#include <gtest/gtest.h>

#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/io_context.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/write.hpp>
#include <atomic>
#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "resp/cluster_client.hpp"
#include "resp/cluster_slot.hpp"
#include "resp/error.hpp"
#include "resp/script.hpp"
#include "tests/resp/harness.hpp"
#include "tests/support/redis_cluster.hpp"
#include "tests/support/redis_server.hpp"

namespace sluice::resp {
namespace {

using namespace std::chrono_literals;
using test::redis_cluster;
using test_harness::collect;
using test_harness::sleep_for;

// A cluster client on its own loop, and a way to run a test body on it.
struct fixture {
    explicit fixture(std::vector<unsigned short> seeds, cluster_config base = {}) {
        cfg = base;
        cfg.node.reconnect_min = 10ms;
        for (const unsigned short p : seeds) {
            connection_config c = cfg.node;
            c.port = p;
            cfg.seeds.push_back(c);
        }
    }

    template <class Body>
    void run(Body body, std::chrono::seconds limit = 30s) {
        cluster_client client{ctx.get_executor(), cfg};
        client.preload(incr);
        client.on_topology([this](const std::string& e) { topology_events.push_back(e); });
        bool finished = false;
        client.start();
        asio::co_spawn(
            ctx,
            [&]() -> asio::awaitable<void> {
                co_await body(client);
                finished = true;
                client.stop();
            },
            asio::detached);
        const auto deadline = std::chrono::steady_clock::now() + limit;
        while (!(finished && client.stopped()) && std::chrono::steady_clock::now() < deadline)
            ctx.run_for(50ms);
        ASSERT_TRUE(finished);
    }

    // INCR of `key` through the script, on the slot's primary; its reply or "ERR:...".
    asio::awaitable<std::string> incr_key(cluster_client& c, const std::string& key,
                                          std::error_code* ec_out = nullptr) {
        request req;
        incr.push(req, {key});
        collect reply;
        const std::error_code ec =
            co_await c.exec(incr, req, key_slot(key), reply, std::chrono::steady_clock::now() + 2s);
        if (ec_out) *ec_out = ec;
        co_return ec ? "error: " + ec.message() : (reply.values.empty() ? "" : reply.values[0]);
    }

    static asio::awaitable<void> wait_ready(cluster_client& c) {
        for (int i = 0; i < 400 && !c.ready(); ++i)
            co_await sleep_for(10ms);
    }

    asio::io_context ctx;
    cluster_config cfg;
    script incr{"return redis.call('INCR', KEYS[1])"};
    std::vector<std::string> topology_events;
};

// A key of a slot `cluster` serves on `primary`.
std::string key_on(const redis_cluster& cluster, std::size_t primary, const std::string& base) {
    for (int i = 0;; ++i) {
        const std::string k = "{" + base + std::to_string(i) + "}";
        if (cluster.primary_for_key(k) == primary) return k;
    }
}

TEST(ClusterClient, RoutesEachSlotToItsPrimaryAndIsReady) {
    redis_cluster cluster;
    fixture f{{cluster.port(0)}};  // one seed is enough: the rest comes from CLUSTER SHARDS
    f.run([&](cluster_client& c) -> asio::awaitable<void> {
        co_await fixture::wait_ready(c);
        EXPECT_TRUE(c.ready());
        for (const std::size_t p : cluster.primaries()) {
            const std::string k = key_on(cluster, p, "route");
            EXPECT_EQ(co_await f.incr_key(c, k), "1");
            EXPECT_EQ(cluster.cli(p, {"GET", k}), "1");
        }
        EXPECT_EQ(c.stats().moved.get(), 0u);
        EXPECT_EQ(c.nodes(), 3u);  // the seed and the two other primaries
    });
}

// With refreshes held off, only the MOVED reply itself can put the slot's new owner in the table:
// the first call after the move is redirected once, the next go straight there.
TEST(ClusterClient, MovedPatchesTheSlotTableAtOnce) {
    redis_cluster cluster;
    cluster_config slow;
    slow.refresh_min_interval = 1h;
    slow.refresh_interval = 1h;
    fixture f{{cluster.port(0)}, slow};
    f.run([&](cluster_client& c) -> asio::awaitable<void> {
        co_await fixture::wait_ready(c);
        const auto primaries = cluster.primaries();
        const std::string k = key_on(cluster, primaries[0], "moved");
        EXPECT_EQ(co_await f.incr_key(c, k), "1");
        cluster.migrate_slot(key_slot(k), primaries[0], primaries[1]);
        EXPECT_EQ(co_await f.incr_key(c, k), "2");
        EXPECT_EQ(c.stats().moved.get(), 1u);
        EXPECT_EQ(co_await f.incr_key(c, k), "3");
        EXPECT_EQ(c.stats().moved.get(), 1u);
        EXPECT_EQ(c.stats().refreshes.get(), 1u);  // the first one only
        EXPECT_EQ(cluster.cli(primaries[1], {"GET", k}), "3");
    });
}

// Mid-migration a key the old owner no longer has is answered ASK: the command goes to the new
// owner after ASKING, once; the table still names the old owner, which keeps being asked first.
TEST(ClusterClient, AskIsFollowedOnceWithoutChangingTheTable) {
    redis_cluster cluster;
    fixture f{{cluster.port(0)}};
    f.run([&](cluster_client& c) -> asio::awaitable<void> {
        co_await fixture::wait_ready(c);
        const auto primaries = cluster.primaries();
        const std::string k = key_on(cluster, primaries[0], "asked");
        cluster.begin_migration(key_slot(k), primaries[0], primaries[1]);
        EXPECT_EQ(co_await f.incr_key(c, k), "1");
        EXPECT_EQ(c.stats().ask.get(), 1u);
        EXPECT_EQ(co_await f.incr_key(c, k), "2");
        EXPECT_EQ(c.stats().ask.get(), 2u);
        EXPECT_EQ(c.stats().moved.get(), 0u);
        cluster.finish_migration(key_slot(k), primaries[0], primaries[1]);
        EXPECT_EQ(co_await f.incr_key(c, k), "3");
    });
}

// A slot no shard owns (CLUSTER DELSLOTS everywhere): the client is not ready, and a key of that
// slot fails at its deadline with a clear reason instead of a bare timeout.
TEST(ClusterClient, AnUncoveredSlotIsNotReadyAndAClearError) {
    redis_cluster cluster;
    fixture f{{cluster.port(0)}};
    f.run([&](cluster_client& c) -> asio::awaitable<void> {
        co_await fixture::wait_ready(c);
        const std::string k = key_on(cluster, cluster.primaries()[1], "hole");
        const std::string slot = std::to_string(key_slot(k));
        for (std::size_t n = 0; n < cluster.size(); ++n)
            cluster.cli(n, {"CLUSTER", "DELSLOTS", slot});
        // Nothing tells the client until it asks: the answer (CLUSTERDOWN, the cluster having lost
        // full coverage) makes it refresh, and the new map has the hole.
        std::error_code ec;
        co_await f.incr_key(c, k, &ec);
        EXPECT_EQ(ec, errc::cluster_unavailable) << ec.message();
        for (int i = 0; i < 300 && c.ready(); ++i)
            co_await sleep_for(10ms);
        EXPECT_FALSE(c.ready());
    });
}

// A seed that is not a cluster node: no topology, a clear reason, never ready, and a call fails
// when its deadline passes instead of hanging.
TEST(ClusterClient, AStandaloneSeedIsAClearErrorNotAHang) {
    test::redis_server standalone;
    fixture f{{standalone.port()}};
    std::string error;
    f.run([&](cluster_client& c) -> asio::awaitable<void> {
        co_await sleep_for(300ms);
        EXPECT_FALSE(c.ready());
        std::error_code ec;
        const auto start = std::chrono::steady_clock::now();
        co_await f.incr_key(c, "{x}", &ec);
        EXPECT_EQ(ec, errc::timeout);
        EXPECT_LT(std::chrono::steady_clock::now() - start, 3s);
        EXPECT_GE(c.stats().refresh_failures.get(), 1u);
        error = c.last_error();
    });
    EXPECT_NE(error.find("cluster support disabled"), std::string::npos) << error;
    ASSERT_FALSE(f.topology_events.empty());
    EXPECT_EQ(f.topology_events.front(), error);
}

// A seed that answers garbage to CLUSTER SHARDS (a server that is not Redis): refused, reported,
// and the good seed after it is used.
TEST(ClusterClient, ASeedAnsweringGarbageIsSkipped) {
    redis_cluster cluster;
    asio::io_context garbage_ctx;
    asio::ip::tcp::acceptor acceptor{garbage_ctx, {asio::ip::make_address("127.0.0.1"), 0}};
    acceptor.non_blocking(true);
    const unsigned short garbage_port = acceptor.local_endpoint().port();
    std::atomic<bool> done{false};
    std::thread garbage([&] {
        // Answers every connection with bytes no RESP parser accepts, then closes it.
        while (!done) {
            asio::ip::tcp::socket s{garbage_ctx};
            std::error_code ec;
            acceptor.accept(s, ec);
            if (ec) {
                std::this_thread::sleep_for(5ms);
                continue;
            }
            s.non_blocking(false, ec);
            asio::write(s, asio::buffer(std::string("?garbage\r\n\x01\x02")), ec);
        }
    });
    fixture f{{garbage_port, cluster.port(0)}};
    f.run([&](cluster_client& c) -> asio::awaitable<void> {
        co_await fixture::wait_ready(c);
        EXPECT_TRUE(c.ready());
        const std::string k = key_on(cluster, cluster.primaries()[1], "after-garbage");
        EXPECT_EQ(co_await f.incr_key(c, k), "1");
    });
    done = true;
    garbage.join();
}

}  // namespace
}  // namespace sluice::resp
