// The rate-limit fields (--headers), --deny-status and --forward-auth end to end: the real binary,
// a real redis-server, raw HTTP from the test, and a real nginx auth_request in front.

#include <gtest/gtest.h>

#include <regex>
#include <string>
#include <vector>

#include "tests/support/http_client.hpp"
#include "tests/support/nginx_server.hpp"
#include "tests/support/redis_server.hpp"
#include "tests/support/sluice_gateway.hpp"

namespace sluice::test {
namespace {

using namespace std::chrono_literals;

sluice_gateway start(const redis_server& redis, std::vector<std::string> flags) {
    flags.insert(flags.begin(), {"--threads", "1"});
    sluice_gateway gw{redis.url(), {.flags = std::move(flags)}};
    EXPECT_TRUE(gw.wait_ready());
    return gw;
}

// `n` requests one after the other, each on its own connection.
std::vector<http_response> sequence(unsigned short port, int n, const std::string& headers = {}) {
    std::vector<http_response> out;
    for (int i = 0; i < n; ++i) {
        auto r = http_get(port, "/api/items", headers);
        out.push_back(r ? *r : http_response{});
    }
    return out;
}

const std::regex rejected_body(
    R"(\{"error":"too_many_requests","limit":5,"window_ms":10000,"retry_after_ms":(\d+)\})");

// The fields every mode decides on, and whether this answer has them.
void expect_fields(const http_response& r, bool legacy, bool ietf, int remaining) {
    const bool rejected = r.status != 200;
    const std::string left = std::to_string(remaining);
    EXPECT_EQ(r.headers.count("x-ratelimit-limit"), legacy ? 1u : 0u);
    EXPECT_EQ(r.headers.count("x-ratelimit-remaining"), legacy ? 1u : 0u);
    EXPECT_EQ(r.headers.count("x-ratelimit-reset"), legacy ? 1u : 0u);
    EXPECT_EQ(r.headers.count("ratelimit-policy"), ietf ? 1u : 0u);
    EXPECT_EQ(r.headers.count("ratelimit"), ietf ? 1u : 0u);
    // HTTP's own field, not a rate-limit one: every mode sends it on a rejection.
    EXPECT_EQ(r.headers.count("retry-after"), rejected ? 1u : 0u);
    if (legacy) {
        EXPECT_EQ(r.header("x-ratelimit-limit"), "5");
        EXPECT_EQ(r.header("x-ratelimit-remaining"), left);
        EXPECT_EQ(r.header("x-ratelimit-reset"), "10");
    }
    if (ietf) {
        EXPECT_EQ(r.header("ratelimit-policy"), R"("default";q=5;w=10)");
        EXPECT_EQ(r.header("ratelimit"), R"("default";r=)" + left + ";t=10");
    }
    if (rejected) {
        EXPECT_EQ(r.header("retry-after"), "10");
    }
}

TEST(RateLimitHeaders, EachModeSendsExactlyItsFieldsOnAllowedAndRejected) {
    redis_server redis;
    struct mode {
        const char* name;
        bool legacy;
        bool ietf;
    };
    for (const mode m : {mode{"both", true, true}, mode{"legacy", true, false},
                         mode{"ietf", false, true}, mode{"none", false, false}}) {
        SCOPED_TRACE(m.name);
        auto gw = start(redis, {"--headers", m.name, "--key-prefix", std::string(m.name) + ":"});
        const auto rs = sequence(gw.port, 6);
        for (int i = 0; i < 5; ++i) {
            ASSERT_EQ(rs[i].status, 200);
            EXPECT_EQ(rs[i].body, R"({"status":"ok"})");
            expect_fields(rs[i], m.legacy, m.ietf, 4 - i);
        }
        ASSERT_EQ(rs[5].status, 429);
        EXPECT_TRUE(std::regex_match(rs[5].body, rejected_body)) << rs[5].body;
        expect_fields(rs[5], m.legacy, m.ietf, 0);
    }
}

TEST(RateLimitHeaders, DefaultIsBoth) {
    redis_server redis;
    auto gw = start(redis, {});
    const auto rs = sequence(gw.port, 6);
    expect_fields(rs[0], true, true, 4);
    expect_fields(rs[5], true, true, 0);
}

TEST(DenyStatus, EveryRejectionGetsItWithThe429sFieldsAndBody) {
    redis_server redis;
    auto gw = start(redis, {"--deny-status", "403"});
    const auto rs = sequence(gw.port, 6);
    for (int i = 0; i < 5; ++i)
        ASSERT_EQ(rs[i].status, 200);
    ASSERT_EQ(rs[5].status, 403);
    EXPECT_EQ(rs[5].header("content-type"), "application/json");
    EXPECT_TRUE(std::regex_match(rs[5].body, rejected_body)) << rs[5].body;
    expect_fields(rs[5], true, true, 0);
    EXPECT_EQ(gw.metric(R"(sluice_requests_total{decision="rejected"})"), 1);
}

TEST(ForwardAuth, AllowedIsAnEmpty200WithTheFieldsAndTheSixthIsDenied) {
    redis_server redis;
    auto gw = start(redis, {"--forward-auth"});
    const auto rs = sequence(gw.port, 6, "X-Original-URI: /orders\r\nX-Original-Method: POST\r\n");
    for (int i = 0; i < 5; ++i) {
        ASSERT_EQ(rs[i].status, 200);
        EXPECT_EQ(rs[i].body, "");
        EXPECT_EQ(rs[i].header("content-length"), "0");
        EXPECT_EQ(rs[i].headers.count("content-type"), 0u);
        expect_fields(rs[i], true, true, 4 - i);
    }
    ASSERT_EQ(rs[5].status, 429);
    EXPECT_EQ(rs[5].header("content-type"), "application/json");
    EXPECT_TRUE(std::regex_match(rs[5].body, rejected_body)) << rs[5].body;
    expect_fields(rs[5], true, true, 0);
    EXPECT_EQ(gw.metric(R"(sluice_forward_auth_requests_total{uri_from="x-original-uri"})"), 6);
}

TEST(ForwardAuth, DenyStatusAndWhereTheUriCameFrom) {
    redis_server redis;
    auto gw = start(redis, {"--forward-auth", "--deny-status", "403", "--limit", "2"});
    EXPECT_EQ(http_get(gw.port, "/", "X-Forwarded-Uri: /a\r\nX-Original-URI: /b\r\n")->status, 200);
    EXPECT_EQ(http_get(gw.port, "/check")->status, 200);
    const auto denied = http_get(gw.port, "/", "X-Forwarded-Method: GET\r\n");
    ASSERT_TRUE(denied);
    EXPECT_EQ(denied->status, 403);
    EXPECT_NE(denied->header("retry-after"), "");
    EXPECT_EQ(denied->header("ratelimit"), R"("default";r=0;t=)" + denied->header("retry-after"));
    EXPECT_EQ(gw.metric(R"(sluice_forward_auth_requests_total{uri_from="x-forwarded-uri"})"), 1);
    EXPECT_EQ(gw.metric(R"(sluice_forward_auth_requests_total{uri_from="x-original-uri"})"), 0);
    EXPECT_EQ(gw.metric(R"(sluice_forward_auth_requests_total{uri_from="request"})"), 2);
}

TEST(ForwardAuth, RedisUnavailableFollowsRedisFailure) {
    const std::string nowhere = "redis://127.0.0.1:" + std::to_string(free_port());
    {
        sluice_gateway gw{
            nowhere, {.flags = {"--threads", "1", "--forward-auth", "--redis-failure", "deny"}}};
        const auto r = http_get(gw.port, "/");
        ASSERT_TRUE(r);
        EXPECT_EQ(r->status, 503);
        EXPECT_EQ(r->body, R"({"error":"limiter_unavailable"})");
    }
    sluice_gateway gw{nowhere, {.flags = {"--threads", "1", "--forward-auth"}}};
    const auto r = http_get(gw.port, "/");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 200);
    EXPECT_EQ(r->body, "");
    EXPECT_EQ(r->header("content-length"), "0");
}

TEST(ForwardAuth, ClientIsKeyedFromXForwardedForOnlyFromATrustedPeer) {
    redis_server redis;
    {
        // The test connects from 127.0.0.1, which these ranges do not contain: every call is
        // the peer's, whatever X-Forwarded-For says.
        auto gw = start(redis, {"--forward-auth", "--limit", "1", "--key-prefix",
                                "untrusted:", "--trust-proxy", "10.0.0.0/8"});
        EXPECT_EQ(http_get(gw.port, "/", "X-Forwarded-For: 203.0.113.1\r\n")->status, 200);
        EXPECT_EQ(http_get(gw.port, "/", "X-Forwarded-For: 203.0.113.2\r\n")->status, 429);
        EXPECT_EQ(redis.cli({"EXISTS", "untrusted:{ip:127.0.0.1}:log"}), "1");
    }
    auto gw = start(redis, {"--forward-auth", "--limit", "1", "--key-prefix",
                            "trusted:", "--trust-proxy", "127.0.0.1/32"});
    EXPECT_EQ(http_get(gw.port, "/", "X-Forwarded-For: 203.0.113.1\r\n")->status, 200);
    EXPECT_EQ(http_get(gw.port, "/", "X-Forwarded-For: 203.0.113.2\r\n")->status, 200);
    EXPECT_EQ(http_get(gw.port, "/", "X-Forwarded-For: 203.0.113.1\r\n")->status, 429);
    EXPECT_EQ(redis.cli({"EXISTS", "trusted:{ip:203.0.113.1}:log"}), "1");
    EXPECT_EQ(redis.cli({"EXISTS", "trusted:{ip:127.0.0.1}:log"}), "0");
}

// The server block of README's nginx example, as tested here; @SLUICE@ is sluice's port.
const std::string nginx_site = R"(
    server {
        listen 127.0.0.1:@PORT@;

        location / {
            auth_request /_sluice;
            auth_request_set $ratelimit $upstream_http_ratelimit;
            auth_request_set $ratelimit_policy $upstream_http_ratelimit_policy;
            auth_request_set $retry_after $upstream_http_retry_after;
            add_header RateLimit $ratelimit always;
            add_header RateLimit-Policy $ratelimit_policy always;
            # sluice runs with --deny-status 403: auth_request turns any other refusal into 500.
            error_page 403 = @ratelimited;

            root @DIR@/www;
        }

        location = /_sluice {
            internal;
            proxy_pass http://127.0.0.1:@SLUICE@/;
            proxy_pass_request_body off;
            proxy_set_header Content-Length "";
            proxy_set_header X-Original-URI $request_uri;
            proxy_set_header X-Original-Method $request_method;
            proxy_set_header X-Forwarded-Host $host;
            proxy_set_header X-Forwarded-For $remote_addr;
        }

        location @ratelimited {
            add_header Retry-After $retry_after always;
            add_header RateLimit $ratelimit always;
            add_header RateLimit-Policy $ratelimit_policy always;
            default_type application/json;
            return 429 '{"error":"too_many_requests"}\n';
        }
    }
)";

TEST(ForwardAuth, BehindARealNginxAuthRequest) {
    redis_server redis;
    auto gw = start(redis, {"--forward-auth", "--deny-status", "403", "--trust-proxy",
                            "127.0.0.1/32", "--key-prefix", "nginx:"});
    std::string site = nginx_site;
    site.replace(site.find("@SLUICE@"), 8, std::to_string(gw.port));
    nginx_server nginx{site, {{"www/hello.txt", "hello from the upstream\n"}}};

    for (int i = 0; i < 5; ++i) {
        const auto r = http_get(nginx.port(), "/hello.txt");
        ASSERT_TRUE(r) << nginx.error_log();
        ASSERT_EQ(r->status, 200) << nginx.error_log();
        EXPECT_EQ(r->body, "hello from the upstream\n");
        EXPECT_EQ(r->header("ratelimit"), R"("default";r=)" + std::to_string(4 - i) + ";t=10");
        EXPECT_EQ(r->header("ratelimit-policy"), R"("default";q=5;w=10)");
    }
    const auto r = http_get(nginx.port(), "/hello.txt");
    ASSERT_TRUE(r) << nginx.error_log();
    ASSERT_EQ(r->status, 429) << nginx.error_log();
    EXPECT_EQ(r->header("retry-after"), "10");
    EXPECT_EQ(r->header("ratelimit"), R"("default";r=0;t=10)");
    EXPECT_EQ(r->header("ratelimit-policy"), R"("default";q=5;w=10)");
    EXPECT_EQ(r->body, "{\"error\":\"too_many_requests\"}\n");

    // nginx told sluice who the client was and what it asked for.
    EXPECT_EQ(redis.cli({"EXISTS", "nginx:{ip:127.0.0.1}:log"}), "1");
    EXPECT_EQ(gw.metric(R"(sluice_forward_auth_requests_total{uri_from="x-original-uri"})"), 6);
    EXPECT_EQ(gw.metric(R"(sluice_requests_total{decision="allowed"})"), 5);
    EXPECT_EQ(gw.metric(R"(sluice_requests_total{decision="rejected"})"), 1);
}

}  // namespace
}  // namespace sluice::test
