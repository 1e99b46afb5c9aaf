#include "core/log.hpp"

#include <gtest/gtest.h>

namespace sluice::core {
namespace {

using namespace std::chrono_literals;
using kind = resp::link_event::kind;

TEST(LinkEventLine, SaysWhatHappenedAndWhatRequestsGetMeanwhile) {
    EXPECT_EQ(
        describe_link_event(0, {kind::connected, {}, {}}, "127.0.0.1:6379", redis_failure::allow),
        "sluice: shard 0: redis connected (127.0.0.1:6379)");
    EXPECT_EQ(
        describe_link_event(1, {kind::lost, "read: End of file", {}}, "h:1", redis_failure::allow),
        "sluice: shard 1: redis lost (read: End of file); requests fail open");
    EXPECT_EQ(describe_link_event(1, {kind::lost, "health check: timed out", {}}, "h:1",
                                  redis_failure::deny),
              "sluice: shard 1: redis lost (health check: timed out); requests get 503");
    EXPECT_EQ(describe_link_event(2, {kind::unreachable, "connect: Connection refused", {}}, "h:1",
                                  redis_failure::allow),
              "sluice: shard 2: redis unreachable (connect: Connection refused); requests fail "
              "open");
    EXPECT_EQ(describe_link_event(0, {kind::restored, {}, 1234ms}, "h:1", redis_failure::allow),
              "sluice: shard 0: redis restored after 1.234s");
}

}  // namespace
}  // namespace sluice::core
