#include "resp/redirect.hpp"

#include <gtest/gtest.h>

#include <string>

namespace sluice::resp {
namespace {

using namespace std::string_literals;

redirect moved(std::uint16_t slot, std::string_view host, std::uint16_t port) {
    return {redirect_kind::moved, slot, host, port};
}

redirect ask(std::uint16_t slot, std::string_view host, std::uint16_t port) {
    return {redirect_kind::ask, slot, host, port};
}

TEST(Redirect, Moved) {
    EXPECT_EQ(parse_redirect("MOVED 3999 127.0.0.1:6381"), moved(3999, "127.0.0.1", 6381));
    EXPECT_EQ(parse_redirect("MOVED 0 10.0.0.1:1"), moved(0, "10.0.0.1", 1));
    EXPECT_EQ(parse_redirect("MOVED 16383 h:65535"), moved(16383, "h", 65535));
    EXPECT_EQ(parse_redirect("MOVED 7 redis-2.cache.internal:7000"),
              moved(7, "redis-2.cache.internal", 7000));
}

TEST(Redirect, Ask) {
    EXPECT_EQ(parse_redirect("ASK 3999 127.0.0.1:6381"), ask(3999, "127.0.0.1", 6381));
}

TEST(Redirect, HostPointsIntoTheText) {
    const std::string text = "MOVED 12 10.1.2.3:7001";
    const auto r = parse_redirect(text);
    EXPECT_EQ(r.host.data(), text.data() + 9);
}

TEST(Redirect, Ipv6SplitsAtTheLastColon) {
    EXPECT_EQ(parse_redirect("MOVED 1 ::1:7000"), moved(1, "::1", 7000));
    EXPECT_EQ(parse_redirect("ASK 2 2001:db8::7:6379"), ask(2, "2001:db8::7", 6379));
    EXPECT_EQ(parse_redirect("MOVED 1 [::1]:7000"), moved(1, "::1", 7000));
}

TEST(Redirect, EmptyHostMeansTheSameHost) {
    // Redis sends this when the target's endpoint is unknown (cluster-preferred-endpoint-type
    // unknown-endpoint): the client keeps the host it asked and takes the port.
    EXPECT_EQ(parse_redirect("MOVED 1 :7000"), moved(1, "", 7000));
    EXPECT_EQ(parse_redirect("ASK 5 :7001"), ask(5, "", 7001));
}

TEST(Redirect, TryAgainAndClusterDown) {
    EXPECT_EQ(parse_redirect("TRYAGAIN Multiple keys request during rehashing of slot").kind,
              redirect_kind::tryagain);
    EXPECT_EQ(parse_redirect("TRYAGAIN").kind, redirect_kind::tryagain);
    EXPECT_EQ(parse_redirect("CLUSTERDOWN The cluster is down").kind, redirect_kind::clusterdown);
    EXPECT_EQ(parse_redirect("CLUSTERDOWN Hash slot not served").kind, redirect_kind::clusterdown);
    EXPECT_EQ(parse_redirect("CLUSTERDOWN").kind, redirect_kind::clusterdown);
    // Only a redirection carries a target.
    EXPECT_EQ(parse_redirect("TRYAGAIN 1 h:2"), (redirect{redirect_kind::tryagain, 0, "", 0}));
}

TEST(Redirect, OtherErrors) {
    for (const char* text : {"ERR unknown command 'FOO'", "WRONGTYPE Operation against a key",
                             "NOSCRIPT No matching script", "LOADING Redis is loading",
                             "MOVEDX 1 h:1", "moved 1 h:1", "ASKING", "CLUSTERDOWNX", ""}) {
        EXPECT_EQ(parse_redirect(text), redirect{}) << '"' << text << '"';
    }
}

// A redirection read wrongly would send a command to the wrong node; every malformed one is
// `other`, and none is read past its end.
TEST(Redirect, HostileRedirectionsAreOther) {
    const std::string cases[] = {
        "MOVED",
        "MOVED ",
        "MOVED 1",
        "MOVED 1 ",
        "MOVED 1 h",
        "MOVED 1 h:",
        "MOVED 1 h:0",
        "MOVED 1 h:65536",
        "MOVED 1 h:99999999999999999999",
        "MOVED 1 h:-1",
        "MOVED 1 h:+1",
        "MOVED 1 h:1x",
        "MOVED 1 h: 1",
        "MOVED 1 h:1 ",
        "MOVED 1 h:1 extra",
        "MOVED  1 h:1",
        "MOVED 16384 h:1",
        "MOVED 65536 h:1",
        "MOVED -1 h:1",
        "MOVED +1 h:1",
        "MOVED x h:1",
        "MOVED 1x h:1",
        "MOVED 0x10 h:1",
        "MOVED 1 [::1:7000",
        "MOVED 1 ::1]:7000",
        "MOVED 1 [h]x:7000",
        "ASK 1\th:1",
        "ASK 1 h:1\r\n",
        "MOVED 1 h:1\0"s,
        "MOVED \0 h:1"s,
    };
    for (const auto& text : cases) {
        EXPECT_EQ(parse_redirect(text), redirect{}) << '"' << text << '"';
    }
}

TEST(Redirect, EveryPrefixOfARedirectionIsSafe) {
    const std::string full = "MOVED 3999 127.0.0.1:6381";
    for (std::size_t n = 0; n < full.size(); ++n) {
        const auto r = parse_redirect(std::string_view{full}.substr(0, n));
        if (r.kind == redirect_kind::moved) {
            // Cutting the port's digits still leaves a valid, shorter port.
            EXPECT_GE(n, full.size() - 3) << n;
        } else {
            EXPECT_EQ(r, redirect{}) << n;
        }
    }
}

TEST(Redirect, Prints) {
    std::ostringstream os;
    os << parse_redirect("ASK 3 ::1:7") << ", " << redirect_kind::clusterdown;
    EXPECT_EQ(os.str(), "ask 3 ::1:7, clusterdown");
}

}  // namespace
}  // namespace sluice::resp
