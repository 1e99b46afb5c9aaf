#include "core/metrics.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace sluice::core {
namespace {

// The value of one sample line of a rendered exposition, or -1 when the line is absent.
long long sample(const std::string& text, const std::string& name) {
    const auto pos = text.find("\n" + name + " ");
    if (pos == std::string::npos) return -1;
    return std::stoll(text.substr(pos + name.size() + 2));
}

TEST(Metrics, UpstreamPoolsAreSummedOverTheShards) {
    shard_metrics a;
    shard_metrics b;
    const std::vector<const shard_metrics*> shards{&a, &b};
    const std::vector<redis_view> redis(2);
    const std::vector<upstream_view> pools{
        {.opened = 5, .reused = 40, .idle_closed = 2, .overflow_closed = 1, .idle = 2, .busy = 1},
        {.opened = 3, .reused = 10, .idle_closed = 1, .overflow_closed = 0, .idle = 1, .busy = 4}};
    const std::string text = render_metrics(shards, redis, pools);
    EXPECT_EQ(sample(text, R"(sluice_upstream_connections_total{event="opened"})"), 8);
    EXPECT_EQ(sample(text, R"(sluice_upstream_connections_total{event="reused"})"), 50);
    EXPECT_EQ(sample(text, R"(sluice_upstream_connections_total{event="idle_closed"})"), 3);
    EXPECT_EQ(sample(text, R"(sluice_upstream_connections_total{event="overflow_closed"})"), 1);
    EXPECT_EQ(sample(text, R"(sluice_upstream_open_connections{state="idle"})"), 3);
    EXPECT_EQ(sample(text, R"(sluice_upstream_open_connections{state="busy"})"), 5);
    EXPECT_NE(text.find("# TYPE sluice_upstream_connections_total counter\n"), std::string::npos);
    EXPECT_NE(text.find("# TYPE sluice_upstream_open_connections gauge\n"), std::string::npos);
}

TEST(Metrics, UpstreamPoolSamplesAreThereWithoutAnUpstream) {
    shard_metrics a;
    const std::vector<const shard_metrics*> shards{&a};
    const std::vector<redis_view> redis(1);
    const std::vector<upstream_view> pools(1);
    const std::string text = render_metrics(shards, redis, pools);
    EXPECT_EQ(sample(text, R"(sluice_upstream_connections_total{event="opened"})"), 0);
    EXPECT_EQ(sample(text, R"(sluice_upstream_open_connections{state="busy"})"), 0);
}

}  // namespace
}  // namespace sluice::core
