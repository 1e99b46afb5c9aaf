#include "bench/load/response_parser.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <random>
#include <string>
#include <string_view>

#include "tests/support/allocations.hpp"

namespace sluice::load {
namespace {

using state = response_parser::state;

constexpr std::string_view ok_response =
    "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 15\r\n"
    "X-RateLimit-Remaining: 4\r\n\r\n{\"status\":\"ok\"}";

constexpr std::string_view rejected_response =
    "HTTP/1.1 429 Too Many Requests\r\nContent-Length: 79\r\nRetry-After: 10\r\n\r\n"
    "{\"error\":\"too_many_requests\",\"limit\":5,\"window_ms\":10000,\"retry_after_ms\":9999}";

response_parser::feed_result feed(response_parser& p, std::string_view s) {
    return p.feed(s.data(), s.size());
}

TEST(ResponseParser, OneResponse) {
    response_parser p;
    auto r = feed(p, ok_response);
    EXPECT_EQ(r.state, state::complete);
    EXPECT_EQ(r.consumed, ok_response.size());
    EXPECT_EQ(p.status(), 200);
    EXPECT_TRUE(p.keep_alive());
    EXPECT_EQ(p.current(), state::complete);
}

TEST(ResponseParser, ByteByByte) {
    response_parser p;
    for (std::size_t i = 0; i + 1 < rejected_response.size(); ++i) {
        auto r = feed(p, rejected_response.substr(i, 1));
        ASSERT_EQ(r.state, state::incomplete) << "at byte " << i;
        ASSERT_EQ(r.consumed, 1u);
    }
    auto r = feed(p, rejected_response.substr(rejected_response.size() - 1));
    EXPECT_EQ(r.state, state::complete);
    EXPECT_EQ(p.status(), 429);
    EXPECT_TRUE(p.keep_alive());
}

TEST(ResponseParser, StopsAtTheEndOfEachResponse) {
    std::string two = std::string(ok_response) + std::string(rejected_response);
    response_parser p;
    auto r = feed(p, two);
    ASSERT_EQ(r.state, state::complete);
    EXPECT_EQ(r.consumed, ok_response.size());
    EXPECT_EQ(p.status(), 200);

    // Nothing more is taken until the caller asks for the next response.
    auto again = p.feed(two.data() + r.consumed, two.size() - r.consumed);
    EXPECT_EQ(again.state, state::complete);
    EXPECT_EQ(again.consumed, 0u);

    p.next();
    EXPECT_EQ(p.current(), state::incomplete);
    r = p.feed(two.data() + ok_response.size(), two.size() - ok_response.size());
    ASSERT_EQ(r.state, state::complete);
    EXPECT_EQ(r.consumed, rejected_response.size());
    EXPECT_EQ(p.status(), 429);
}

TEST(ResponseParser, ManyResponsesOnOneConnection) {
    response_parser p;
    for (int i = 0; i < 1000; ++i) {
        std::string_view resp = i % 3 ? ok_response : rejected_response;
        auto r = feed(p, resp);
        ASSERT_EQ(r.state, state::complete) << i;
        ASSERT_EQ(p.status(), i % 3 ? 200 : 429);
        p.next();
    }
}

TEST(ResponseParser, ConnectionClose) {
    response_parser p;
    auto r = feed(p, "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nhi");
    EXPECT_EQ(r.state, state::complete);
    EXPECT_FALSE(p.keep_alive());
}

TEST(ResponseParser, Http10ClosesUnlessAskedToKeepAlive) {
    response_parser p;
    EXPECT_EQ(feed(p, "HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n").state, state::complete);
    EXPECT_FALSE(p.keep_alive());
    p.reset();
    EXPECT_EQ(
        feed(p, "HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 0\r\n\r\n").state,
        state::complete);
    EXPECT_TRUE(p.keep_alive());
}

TEST(ResponseParser, ChunkedBody) {
    constexpr std::string_view chunked =
        "HTTP/1.1 503 Service Unavailable\r\nTransfer-Encoding: chunked\r\n\r\n"
        "5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n";
    response_parser p;
    auto r = feed(p, chunked);
    EXPECT_EQ(r.state, state::complete);
    EXPECT_EQ(r.consumed, chunked.size());
    EXPECT_EQ(p.status(), 503);
    EXPECT_TRUE(p.keep_alive());
}

TEST(ResponseParser, BodyUntilTheEndOfTheConnection) {
    response_parser p;
    auto r = feed(p, "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nsome body");
    EXPECT_EQ(r.state, state::incomplete);
    EXPECT_EQ(feed(p, " and more").state, state::incomplete);
    EXPECT_EQ(p.finish(), state::complete);
    EXPECT_EQ(p.status(), 200);
    EXPECT_FALSE(p.keep_alive());
}

// The header that marks an answer the limiter decided: whatever its case, however the name is
// split between reads.
TEST(ResponseParser, SeesXRateLimitRemaining) {
    response_parser p;
    feed(p, ok_response);
    EXPECT_TRUE(p.has_ratelimit_remaining());
    p.next();
    EXPECT_FALSE(p.has_ratelimit_remaining());

    // A fail-open answer: a 200 with the other headers but not this one.
    feed(p,
         "HTTP/1.1 200 OK\r\nX-RateLimit-Limit: 5\r\nX-RateLimit-Reset: 3\r\n"
         "Content-Length: 0\r\n\r\n");
    EXPECT_EQ(p.current(), state::complete);
    EXPECT_FALSE(p.has_ratelimit_remaining());

    for (std::string_view name :
         {"x-ratelimit-remaining", "X-RATELIMIT-REMAINING", "x-RateLimit-rEMAINING"}) {
        p.next();
        std::string response =
            "HTTP/1.1 200 OK\r\n" + std::string(name) + ": 0\r\nContent-Length: 0\r\n\r\n";
        ASSERT_EQ(feed(p, response).state, state::complete) << name;
        EXPECT_TRUE(p.has_ratelimit_remaining()) << name;
    }
    for (std::string_view name :
         {"X-RateLimit-Remainin", "X-RateLimit-Remaining2", "XX-RateLimit-Remaining",
          "X-RateLimit-Remaining-Other", "RateLimit-Remaining", "X-RateLimit-Remainimg"}) {
        p.next();
        std::string response =
            "HTTP/1.1 200 OK\r\n" + std::string(name) + ": 0\r\nContent-Length: 0\r\n\r\n";
        ASSERT_EQ(feed(p, response).state, state::complete) << name;
        EXPECT_FALSE(p.has_ratelimit_remaining()) << name;
    }
}

TEST(ResponseParser, SeesXRateLimitRemainingByteByByte) {
    response_parser p;
    for (std::size_t i = 0; i < ok_response.size(); ++i)
        feed(p, ok_response.substr(i, 1));
    EXPECT_EQ(p.current(), state::complete);
    EXPECT_TRUE(p.has_ratelimit_remaining());
    // A value that looks like the name is not the name.
    p.next();
    constexpr std::string_view in_value =
        "HTTP/1.1 200 OK\r\nX-Note: X-RateLimit-Remaining\r\nContent-Length: 0\r\n\r\n";
    for (std::size_t i = 0; i < in_value.size(); ++i)
        feed(p, in_value.substr(i, 1));
    EXPECT_EQ(p.current(), state::complete);
    EXPECT_FALSE(p.has_ratelimit_remaining());
}

TEST(ResponseParser, ATrailerIsNotTheLimitersAnswer) {
    response_parser p;
    auto r = feed(p,
                  "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                  "2\r\nhi\r\n0\r\nX-RateLimit-Remaining: 3\r\n\r\n");
    EXPECT_EQ(r.state, state::complete);
    EXPECT_FALSE(p.has_ratelimit_remaining());
}

TEST(ResponseParser, TheHeaderIsSeenWithoutAllocating) {
    response_parser p;
    std::string two = std::string(ok_response) + std::string(ok_response);
    std::size_t before = sluice::test::thread_allocations();
    for (int i = 0; i < 1000; ++i) {
        for (std::size_t at = 0; at < two.size(); at += 7)
            p.feed(two.data() + at, std::min<std::size_t>(7, two.size() - at));
        p.reset();
    }
    EXPECT_EQ(sluice::test::thread_allocations(), before);
}

// An interim response is complete on its own; the caller reads on for the final one.
TEST(ResponseParser, InterimResponseComesFirst) {
    constexpr std::string_view early = "HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n";
    std::string both = std::string(early) + std::string(ok_response);
    response_parser p;
    auto r = feed(p, both);
    ASSERT_EQ(r.state, state::complete);
    EXPECT_EQ(p.status(), 103);
    EXPECT_EQ(r.consumed, early.size());
    p.next();
    r = p.feed(both.data() + early.size(), both.size() - early.size());
    ASSERT_EQ(r.state, state::complete);
    EXPECT_EQ(p.status(), 200);
    EXPECT_TRUE(p.has_ratelimit_remaining());
}

TEST(ResponseParser, NoBodyStatuses) {
    response_parser p;
    EXPECT_EQ(feed(p, "HTTP/1.1 204 No Content\r\n\r\n").state, state::complete);
    EXPECT_EQ(p.status(), 204);
    p.next();
    EXPECT_EQ(feed(p, "HTTP/1.1 304 Not Modified\r\n\r\n").state, state::complete);
    EXPECT_EQ(p.status(), 304);
}

TEST(ResponseParser, UpgradeEndsHttp) {
    response_parser p;
    auto r = feed(p,
                  "HTTP/1.1 101 Switching Protocols\r\nUpgrade: x\r\nConnection: upgrade\r\n\r\n"
                  "binary stuff");
    EXPECT_EQ(r.state, state::complete);
    EXPECT_EQ(p.status(), 101);
    EXPECT_FALSE(p.keep_alive());
    EXPECT_LT(r.consumed, 80u);
}

TEST(ResponseParser, GarbageFails) {
    const std::string_view bad_inputs[] = {
        "HELLO WORLD\r\n\r\n",
        "GET / HTTP/1.1\r\n\r\n",
        "HTTP/1.1 2000 OK\r\n\r\n",
        "HTTP/1.1 abc OK\r\n\r\n",
        "HTTP/9.9 200 OK\r\n\r\n",
        std::string_view("\x00\x01\x02\x03", 4),
        "HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",
        "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
        "HTTP/1.1 200 OK\r\nBad Header\r\n\r\n"};
    for (std::string_view bad : bad_inputs) {
        response_parser p;
        auto r = feed(p, bad);
        EXPECT_EQ(r.state, state::failed) << bad;
        EXPECT_NE(std::string_view(p.error()), "") << bad;
        // Once failed, it stays failed and takes nothing.
        EXPECT_EQ(feed(p, ok_response).state, state::failed);
        EXPECT_EQ(feed(p, ok_response).consumed, 0u);
        // A new connection starts clean.
        p.reset();
        EXPECT_EQ(feed(p, ok_response).state, state::complete) << bad;
    }
}

TEST(ResponseParser, HugeHeaderSectionFails) {
    response_parser p;
    ASSERT_EQ(feed(p, "HTTP/1.1 200 OK\r\n").state, state::incomplete);
    std::string line = "X-Filler: " + std::string(1000, 'a') + "\r\n";
    state s = state::incomplete;
    for (int i = 0; i < 100 && s == state::incomplete; ++i)
        s = feed(p, line).state;
    EXPECT_EQ(s, state::failed);
    EXPECT_EQ(std::string_view(p.error()), "response header section too large");
}

TEST(ResponseParser, EndOfConnectionMidResponseFails) {
    response_parser p;
    EXPECT_EQ(feed(p, "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc").state, state::incomplete);
    EXPECT_EQ(p.finish(), state::failed);

    p.reset();
    EXPECT_EQ(feed(p, "HTTP/1.1 200 O").state, state::incomplete);
    EXPECT_EQ(p.finish(), state::failed);
}

TEST(ResponseParser, EndOfConnectionBeforeAnythingFails) {
    response_parser p;
    EXPECT_EQ(p.finish(), state::failed);
    EXPECT_EQ(std::string_view(p.error()), "connection closed before a response");
}

TEST(ResponseParser, EmptyFeedChangesNothing) {
    response_parser p;
    auto r = p.feed("", 0);
    EXPECT_EQ(r.state, state::incomplete);
    EXPECT_EQ(r.consumed, 0u);
    EXPECT_EQ(feed(p, ok_response).state, state::complete);
}

// Random bytes, and valid responses with random bytes flipped, fed in random pieces: the parser
// must only ever say incomplete, complete or failed, and never take more than it was given.
TEST(ResponseParser, HostileBytesNeverBreakIt) {
    std::mt19937 rng(1234);
    for (int round = 0; round < 3000; ++round) {
        std::string input;
        if (round % 2 == 0) {
            input.resize(rng() % 300);
            for (char& c : input)
                c = static_cast<char>(rng());
        } else {
            input = round % 4 == 1 ? ok_response : rejected_response;
            for (int flips = 1 + static_cast<int>(rng() % 4); flips > 0; --flips) {
                input[rng() % input.size()] = static_cast<char>(rng());
            }
        }
        response_parser p;
        std::size_t pos = 0;
        while (pos < input.size()) {
            std::size_t piece = 1 + rng() % 40;
            piece = std::min(piece, input.size() - pos);
            auto r = p.feed(input.data() + pos, piece);
            ASSERT_LE(r.consumed, piece);
            if (r.state == state::complete) {
                ASSERT_GE(p.status(), 100);
                ASSERT_LE(p.status(), 999);
                p.next();
            } else if (r.state == state::failed) {
                break;
            }
            pos += r.consumed;
            if (r.consumed == 0 && r.state != state::complete) break;
        }
        state end = p.finish();
        ASSERT_TRUE(end == state::complete || end == state::failed);
    }
}

}  // namespace
}  // namespace sluice::load
