#include "core/config.hpp"

#include <gtest/gtest.h>

#include <string>
#include <thread>
#include <vector>

namespace sluice::core {
namespace {

using std::chrono::milliseconds;

parse_result run(std::vector<std::string> args, const char* env = nullptr) {
    std::vector<const char*> argv = {"sluice"};
    for (const auto& a : args)
        argv.push_back(a.c_str());
    return parse_args(static_cast<int>(argv.size()), argv.data(), env);
}

config parse(std::vector<std::string> args, const char* env = nullptr) {
    auto result = run(std::move(args), env);
    if (!std::holds_alternative<config>(result)) {
        ADD_FAILURE() << "help requested";
        return {};
    }
    return std::get<config>(std::move(result));
}

// The exact line printed for a bad command line.
std::string error_of(std::vector<std::string> args, const char* env = nullptr) {
    try {
        run(std::move(args), env);
    } catch (const usage_error& e) {
        return e.what();
    }
    return "(no error)";
}

TEST(Config, Defaults) {
    const config c = parse({});
    EXPECT_EQ(c.listen, (endpoint{"127.0.0.1", 8080}));
    EXPECT_EQ(c.admin, (endpoint{"127.0.0.1", 9090}));
    EXPECT_EQ(c.redis_url_text, "redis://127.0.0.1:6379");
    EXPECT_EQ(c.redis, (resp::redis_url{"127.0.0.1", 6379, "", "", 0}));
    EXPECT_EQ(c.threads, std::max(1u, std::thread::hardware_concurrency()));
    EXPECT_GE(c.threads, 1u);
    EXPECT_EQ(c.limit, 5);
    EXPECT_EQ(c.window, milliseconds(10'000));
    EXPECT_EQ(c.algorithm, algorithm::sliding_log);
    EXPECT_EQ(c.key, key_source{});
    EXPECT_TRUE(c.trusted.empty());
    EXPECT_EQ(c.redis_timeout, milliseconds(100));
    EXPECT_EQ(c.redis_failure, redis_failure::allow);
    EXPECT_EQ(c.key_prefix, "sluice:");
    EXPECT_EQ(c.redis_poll, std::chrono::microseconds(50));
    EXPECT_FALSE(c.forward_auth);
    EXPECT_EQ(c.deny_status, 429u);
    EXPECT_EQ(c.headers, header_mode::both);
    EXPECT_FALSE(c.upstream.has_value());
    EXPECT_EQ(c.upstream_timeout, milliseconds(30'000));
    EXPECT_EQ(c.upstream_connect_timeout, milliseconds(2'000));
    EXPECT_EQ(c.upstream_max_idle, 64u);
    EXPECT_EQ(c.upstream_idle_timeout, milliseconds(30'000));
    EXPECT_EQ(c.max_body, 1024u * 1024u);
    EXPECT_EQ(c.idle_timeout, milliseconds(60'000));
}

TEST(Config, IdleTimeout) {
    EXPECT_EQ(parse({"--idle-timeout", "500ms"}).idle_timeout, milliseconds(500));
    EXPECT_EQ(parse({"--idle-timeout=2m"}).idle_timeout, milliseconds(120'000));
    for (const char* bad : {"0", "x", "-1s", ""}) {
        EXPECT_EQ(error_of({"--idle-timeout", bad}).rfind("sluice: --idle-timeout: ", 0), 0u)
            << bad;
    }
}

TEST(Config, UpstreamFlags) {
    const config c = parse({"--upstream", "http://127.0.0.1:8000", "--upstream-timeout", "300ms",
                            "--upstream-connect-timeout=1s", "--max-body", "64k"});
    ASSERT_TRUE(c.upstream.has_value());
    EXPECT_EQ(*c.upstream, (upstream_url{"127.0.0.1", 8000, ""}));
    EXPECT_EQ(c.upstream_timeout, milliseconds(300));
    EXPECT_EQ(c.upstream_connect_timeout, milliseconds(1000));
    EXPECT_EQ(c.max_body, 64u * 1024u);
    EXPECT_EQ(*parse({"--upstream=http://backend:80/api"}).upstream,
              (upstream_url{"backend", 80, "/api"}));
    // A trailing slash would double the request target's own.
    EXPECT_EQ(parse({"--upstream", "http://h:1/"}).upstream->prefix, "");
    EXPECT_EQ(parse({"--upstream", "http://h:1/a/b//"}).upstream->prefix, "/a/b");
    EXPECT_EQ(parse({"--upstream", "HTTP://[::1]:9000/x"}).upstream,
              (upstream_url{"::1", 9000, "/x"}));
    EXPECT_EQ(parse({"--max-body", "0"}).max_body, 0u);
    EXPECT_EQ(parse({"--max-body", "12345"}).max_body, 12345u);
    EXPECT_EQ(parse({"--max-body", "2m"}).max_body, 2u * 1024u * 1024u);
    EXPECT_EQ(parse({"--max-body", "1024m"}).max_body, max_max_body);
}

TEST(Config, UpstreamPoolFlags) {
    const config c = parse({"--upstream-max-idle", "8", "--upstream-idle-timeout", "300ms"});
    EXPECT_EQ(c.upstream_max_idle, 8u);
    EXPECT_EQ(c.upstream_idle_timeout, milliseconds(300));
    EXPECT_EQ(parse({"--upstream-max-idle=0"}).upstream_max_idle, 0u);
    EXPECT_EQ(parse({"--upstream-max-idle", "65535"}).upstream_max_idle, max_upstream_max_idle);
    EXPECT_EQ(parse({"--upstream-idle-timeout=2m"}).upstream_idle_timeout, milliseconds(120'000));
    // A bare integer is seconds, like every other duration.
    EXPECT_EQ(parse({"--upstream-idle-timeout", "5"}).upstream_idle_timeout, milliseconds(5'000));
    EXPECT_EQ(parse({"--upstream-idle-timeout", "1ms"}).upstream_idle_timeout, milliseconds(1));
}

TEST(Config, BatchAndBlockedCacheFlags) {
    const config d = parse({});
    EXPECT_EQ(d.batch_max, 64u);
    EXPECT_EQ(d.blocked_cache_size, 4096u);
    EXPECT_EQ(parse({"--batch-max", "1"}).batch_max, 1u);
    EXPECT_EQ(parse({"--batch-max=256"}).batch_max, 256u);
    EXPECT_EQ(d.batch_in_flight, 1u);
    EXPECT_EQ(parse({"--batch-in-flight", "0"}).batch_in_flight, 0u);
    EXPECT_EQ(parse({"--batch-in-flight=1024"}).batch_in_flight, 1024u);
    for (const char* bad : {"", "-1", "x", "1025", "2.5"}) {
        EXPECT_EQ(error_of({"--batch-in-flight", bad}),
                  std::string("sluice: --batch-in-flight: expected an integer from 0 to 1024, "
                              "got \"") +
                      bad + "\"")
            << bad;
    }
    EXPECT_EQ(parse({"--blocked-cache-size", "0"}).blocked_cache_size, 0u);
    EXPECT_EQ(parse({"--blocked-cache-size", "1048576"}).blocked_cache_size, 1u << 20);
    for (const char* bad : {"", "0", "-1", "x", "257", "1.5", "99999999999"}) {
        EXPECT_EQ(error_of({"--batch-max", bad}),
                  std::string("sluice: --batch-max: expected an integer from 1 to 256, got \"") +
                      bad + "\"")
            << bad;
    }
    for (const char* bad : {"", "-1", "x", "1048577", "4k"}) {
        EXPECT_EQ(error_of({"--blocked-cache-size", bad}),
                  std::string("sluice: --blocked-cache-size: expected an integer from 0 to "
                              "1048576, got \"") +
                      bad + "\"")
            << bad;
    }
    EXPECT_EQ(error_of({"--batch-max"}), "sluice: --batch-max: missing value");
}

TEST(Config, UpstreamPoolFlagErrors) {
    for (const char* bad : {"", "-1", "x", "1.5", "65536", "99999999999", "4k", " 1"}) {
        EXPECT_EQ(error_of({"--upstream-max-idle", bad}),
                  std::string("sluice: --upstream-max-idle: expected an integer from 0 to 65535, "
                              "got \"") +
                      bad + "\"")
            << bad;
    }
    EXPECT_EQ(error_of({"--upstream-idle-timeout", "0"}),
              "sluice: --upstream-idle-timeout: expected a positive duration (an integer with us, "
              "ms, s, m or h, e.g. 10s), got \"0\"");
    for (const char* bad : {"", "x", "-1s", "10 s", "1d"}) {
        EXPECT_EQ(error_of({"--upstream-idle-timeout", bad}),
                  std::string("sluice: --upstream-idle-timeout: expected a duration (an integer "
                              "with us, ms, s, m or h, e.g. 10s), got \"") +
                      bad + "\"")
            << bad;
    }
    EXPECT_EQ(error_of({"--upstream-idle-timeout", "1500us"}),
              "sluice: --upstream-idle-timeout: expected a whole number of milliseconds (e.g. "
              "250ms), got \"1500us\"");
    EXPECT_EQ(error_of({"--upstream-max-idle"}), "sluice: --upstream-max-idle: missing value");
    EXPECT_EQ(error_of({"--upstream-idle-timeout"}),
              "sluice: --upstream-idle-timeout: missing value");
}

TEST(Config, UpstreamFlagErrors) {
    for (const char* bad : {"127.0.0.1:8000", "http://", "http://host", "http://host:0",
                            "http://host:99999", "http://u@host:1", "ftp:/x", "http:/h:1"}) {
        EXPECT_EQ(error_of({"--upstream", bad}),
                  std::string("sluice: --upstream: expected http://HOST:PORT[/PREFIX], got \"") +
                      bad + "\"")
            << bad;
    }
    EXPECT_EQ(error_of({"--upstream", "https://h:443"}),
              "sluice: --upstream: expected an http:// URL (https:// upstreams are not "
              "supported), got \"https://h:443\"");
    EXPECT_EQ(error_of({"--upstream", "http://h:1/a?b"}),
              "sluice: --upstream: expected a path prefix without query, fragment, spaces or "
              "control characters, got \"http://h:1/a?b\"");
    EXPECT_EQ(error_of({"--upstream-timeout", "0"}).rfind("sluice: --upstream-timeout: ", 0), 0u);
    EXPECT_EQ(error_of({"--upstream-connect-timeout", "x"})
                  .rfind("sluice: --upstream-connect-timeout: ", 0),
              0u);
    for (const char* bad : {"", "k", "1g", "-1", "1.5m", "1 m", "10kb"}) {
        EXPECT_EQ(error_of({"--max-body", bad}),
                  std::string("sluice: --max-body: expected a size: an integer with k (1024), m "
                              "(1024*1024) or nothing (bytes), got \"") +
                      bad + "\"")
            << bad;
    }
    EXPECT_EQ(error_of({"--max-body", "1025m"}),
              "sluice: --max-body: expected a size up to 1024m, got \"1025m\"");
    EXPECT_EQ(error_of({"--upstream"}), "sluice: --upstream: missing value");
}

TEST(Config, GatewayAnswerFlags) {
    const config c = parse({"--forward-auth", "--deny-status", "403", "--headers", "ietf"});
    EXPECT_TRUE(c.forward_auth);
    EXPECT_EQ(c.deny_status, 403u);
    EXPECT_EQ(c.headers, header_mode::ietf);
    EXPECT_EQ(parse({"--deny-status=400"}).deny_status, 400u);
    EXPECT_EQ(parse({"--deny-status", "599"}).deny_status, 599u);
    EXPECT_EQ(parse({"--headers=legacy"}).headers, header_mode::legacy);
    EXPECT_EQ(parse({"--headers", "none"}).headers, header_mode::none);
    EXPECT_EQ(parse({"--headers", "ietf", "--headers", "both"}).headers, header_mode::both);
    // A switch takes no value: what follows it is the next flag.
    const config d = parse({"--forward-auth", "--limit", "3"});
    EXPECT_TRUE(d.forward_auth);
    EXPECT_EQ(d.limit, 3);
}

TEST(Config, GatewayAnswerFlagErrors) {
    for (const char* bad : {"399", "600", "200", "0429", "abc", "", "-403", "4030"}) {
        EXPECT_EQ(error_of({"--deny-status", bad}),
                  std::string("sluice: --deny-status: expected an HTTP status from 400 to 599, "
                              "got \"") +
                      bad + "\"")
            << bad;
    }
    EXPECT_EQ(error_of({"--headers", "draft"}),
              "sluice: --headers: expected both, legacy, ietf or none, got \"draft\"");
    EXPECT_EQ(error_of({"--headers", "IETF"}),
              "sluice: --headers: expected both, legacy, ietf or none, got \"IETF\"");
    EXPECT_EQ(error_of({"--forward-auth=yes"}), "sluice: --forward-auth: takes no value");
    EXPECT_EQ(error_of({"--forward-auth", "yes"}),
              "sluice: unexpected argument \"yes\" (see --help)");
    EXPECT_EQ(error_of({"--deny-status"}), "sluice: --deny-status: missing value");
}

TEST(Config, EveryFlag) {
    const config c = parse({"--listen",        "0.0.0.0:0",
                            "--admin",         "[::1]:9191",
                            "--redis",         "redis://:pw@cache:6380/2",
                            "--threads",       "3",
                            "--limit",         "100",
                            "--window",        "1m",
                            "--algorithm",     "sliding-log",
                            "--key",           "header:X-Api-Key",
                            "--trust-proxy",   "10.0.0.0/8,::1",
                            "--redis-timeout", "250ms",
                            "--redis-failure", "deny",
                            "--key-prefix",    "rl:"});
    EXPECT_EQ(c.listen, (endpoint{"0.0.0.0", 0}));
    EXPECT_EQ(c.admin, (endpoint{"::1", 9191}));
    EXPECT_EQ(c.redis_url_text, "redis://:pw@cache:6380/2");
    EXPECT_EQ(c.redis, (resp::redis_url{"cache", 6380, "", "pw", 2}));
    EXPECT_EQ(c.threads, 3u);
    EXPECT_EQ(c.limit, 100);
    EXPECT_EQ(c.window, milliseconds(60'000));
    EXPECT_EQ(c.algorithm, algorithm::sliding_log);
    EXPECT_EQ(c.key.type, key_source::kind::header);
    EXPECT_EQ(c.key.header, "x-api-key");
    ASSERT_EQ(c.trusted.ranges().size(), 2u);
    EXPECT_EQ(c.trusted.ranges()[0].to_string(), "10.0.0.0/8");
    EXPECT_EQ(c.trusted.ranges()[1].to_string(), "::1/128");
    EXPECT_EQ(c.redis_timeout, milliseconds(250));
    EXPECT_EQ(c.redis_failure, redis_failure::deny);
    EXPECT_EQ(c.key_prefix, "rl:");
}

TEST(Config, EqualsForm) {
    const config c =
        parse({"--listen=127.0.0.1:1", "--limit=7", "--window=500ms", "--key=ip",
               "--redis=redis://h", "--key-prefix=a=b", "--redis-failure=deny", "--threads=2"});
    EXPECT_EQ(c.listen, (endpoint{"127.0.0.1", 1}));
    EXPECT_EQ(c.limit, 7);
    EXPECT_EQ(c.window, milliseconds(500));
    EXPECT_EQ(c.redis.host, "h");
    EXPECT_EQ(c.key_prefix, "a=b");
    EXPECT_EQ(c.redis_failure, redis_failure::deny);
    EXPECT_EQ(c.threads, 2u);
}

TEST(Config, LaterFlagWinsButTrustedRangesAddUp) {
    const config c = parse({"--limit", "1", "--limit", "2", "--trust-proxy", "10.0.0.0/8",
                            "--trust-proxy=192.168.0.0/16 , fd00::/8"});
    EXPECT_EQ(c.limit, 2);
    ASSERT_EQ(c.trusted.ranges().size(), 3u);
    EXPECT_EQ(c.trusted.ranges()[2].to_string(), "fd00::/8");
}

TEST(Config, BareIntegerWindowIsSeconds) {
    EXPECT_EQ(parse({"--window", "30"}).window, milliseconds(30'000));
    EXPECT_EQ(parse({"--window", "2h"}).window, milliseconds(7'200'000));
}

TEST(Config, EmptyKeyPrefixIsAllowed) {
    EXPECT_EQ(parse({"--key-prefix="}).key_prefix, "");
}

TEST(Config, ListenEndpoints) {
    EXPECT_EQ(parse({"--listen", "localhost:80"}).listen, (endpoint{"localhost", 80}));
    EXPECT_EQ(parse({"--listen", "[::]:65535"}).listen, (endpoint{"::", 65535}));
    EXPECT_EQ(parse({"--listen", "[::ffff:127.0.0.1]:8"}).listen.host, "::ffff:127.0.0.1");
}

TEST(Config, EndpointToString) {
    EXPECT_EQ((endpoint{"127.0.0.1", 8080}).to_string(), "127.0.0.1:8080");
    EXPECT_EQ((endpoint{"::1", 0}).to_string(), "[::1]:0");
}

TEST(Config, RedisFromEnvironment) {
    const config c = parse({}, "redis://envhost:7001/4");
    EXPECT_EQ(c.redis, (resp::redis_url{"envhost", 7001, "", "", 4}));
    EXPECT_EQ(c.redis_url_text, "redis://envhost:7001/4");
    // The flag overrides the environment, even a broken one.
    EXPECT_EQ(parse({"--redis", "redis://flag:1"}, "redis://envhost:7001").redis.host, "flag");
    EXPECT_EQ(parse({"--redis", "redis://flag:1"}, "nonsense").redis.host, "flag");
    // An empty variable counts as unset.
    EXPECT_EQ(parse({}, "").redis.host, "127.0.0.1");
}

TEST(Config, BadRedisFromEnvironmentNamesTheVariable) {
    EXPECT_EQ(error_of({}, "redis://:hunter2@h:0"),
              "sluice: $REDIS_URL: expected redis://[[user]:password@]host[:port][/db], got "
              "\"redis://:***@h:0\"");
}

TEST(Config, RedisClusterSeeds) {
    const config d = parse({});
    EXPECT_TRUE(d.redis_cluster.empty());
    EXPECT_EQ(d.redis_cluster_text, "");
    const std::string text = "127.0.0.1:7000,[::1]:7001, redis://u:pw@node-c:7002/0 ,node-d";
    const config c = parse({"--redis-cluster", text});
    EXPECT_EQ(c.redis_cluster_text, text);
    EXPECT_EQ(c.redis_cluster, (std::vector<resp::redis_url>{
                                   {"127.0.0.1", 7000, "", "", 0},
                                   {"::1", 7001, "", "", 0},
                                   {"node-c", 7002, "u", "pw", 0},
                                   {"node-d", 6379, "", "", 0},
                               }));
    EXPECT_EQ(parse({"--redis-cluster=REDIS://h:1"}).redis_cluster,
              (std::vector<resp::redis_url>{{"h", 1, "", "", 0}}));
    EXPECT_EQ(parse({"--redis-cluster", "a:1", "--redis-cluster", "b:2"}).redis_cluster,
              (std::vector<resp::redis_url>{{"b", 2, "", "", 0}}));
    std::string most = "h:1";
    for (std::size_t i = 1; i < max_seeds; ++i)
        most += ",h:" + std::to_string(i + 1);
    EXPECT_EQ(parse({"--redis-cluster", most}).redis_cluster.size(), max_seeds);
}

TEST(Config, BareClusterSeedsTakeTheRedisCredentials) {
    const std::vector<resp::redis_url> expected = {
        {"a", 1, "app", "s3cret", 0}, {"b", 2, "", "", 0}, {"c", 3, "o", "p", 0}};
    const std::string seeds = "a:1,redis://b:2,redis://o:p@c:3";
    // Either order: --redis may come after the seeds.
    EXPECT_EQ(parse({"--redis", "redis://app:s3cret@x:9", "--redis-cluster", seeds}).redis_cluster,
              expected);
    EXPECT_EQ(parse({"--redis-cluster", seeds, "--redis", "redis://app:s3cret@x:9"}).redis_cluster,
              expected);
    EXPECT_EQ(parse({"--redis-cluster", seeds}, "redis://app:s3cret@x:9").redis_cluster, expected);
    const config c = parse({"--redis-cluster", seeds});
    EXPECT_EQ(c.redis_cluster[0], (resp::redis_url{"a", 1, "", "", 0}));
}

TEST(Config, RedisClusterErrors) {
    const std::string list =
        "sluice: --redis-cluster: expected a comma-separated list of HOST[:PORT] or redis:// "
        "URLs, none empty, got ";
    for (const char* bad : {"", " ", "a:1,,b:2", "a:1,", ",a:1", "a:1, ,b:2"}) {
        EXPECT_EQ(error_of({"--redis-cluster", bad}), list + quote(bad)) << bad;
    }
    EXPECT_EQ(error_of({"--redis-cluster", "redis://:pw@a:1,"}), list + "\"redis://:***@a:1,\"");
    const std::string seed =
        "sluice: --redis-cluster: expected HOST[:PORT] (port 1-65535, IPv6 as [::1]:7000) or "
        "redis://[[user]:password@]host[:port], got ";
    for (const char* bad : {"a:0", "a:65536", "a:x", "a:", "a:-1", "a:99999999999", "::1:7000",
                            "[::1]7000", "[::1", "[zz]:1", "a b:1", "a:1/2", "a:1/", "a:1?x",
                            ":7000", "redis://a:0", "redis://a:1?x", "redis://"}) {
        EXPECT_EQ(error_of({"--redis-cluster", std::string("ok:1,") + bad}), seed + quote(bad))
            << bad;
    }
    // Credentials belong in a URL (or in --redis); a password is never echoed.
    EXPECT_EQ(error_of({"--redis-cluster", "u:s3cret@a:1"}), seed + "\"u:***@a:1\"");
    EXPECT_EQ(error_of({"--redis-cluster", "redis://u:s3cret@a:0"}),
              seed + "\"redis://u:***@a:0\"");
    EXPECT_EQ(error_of({"--redis-cluster", "rediss://:s3cret@a:1"}),
              "sluice: --redis-cluster: expected redis:// URLs (TLS, rediss://, is not supported "
              "yet), got \"rediss://:***@a:1\"");
    EXPECT_EQ(error_of({"--redis-cluster", "a:1,redis://:s3cret@b:2/3"}),
              "sluice: --redis-cluster: expected db 0 (Redis Cluster has no other database), got "
              "\"redis://:***@b:2/3\"");
    std::string too_many = "redis://:s3cret@h:1";
    for (std::size_t i = 1; i <= max_seeds; ++i)
        too_many += ",h:" + std::to_string(i + 1);
    const std::string shown = "redis://:***@h:1" + too_many.substr(too_many.find(','));
    EXPECT_EQ(error_of({"--redis-cluster", too_many}),
              "sluice: --redis-cluster: expected at most 64 seeds, got \"" + shown + "\"");
    EXPECT_EQ(error_of({"--redis-cluster", "redis://u:pa,ss@a:1"}),
              "sluice: --redis-cluster: expected a ',' in a password written as %2C, got "
              "\"redis://u:***@a:1\"");
    EXPECT_EQ(parse({"--redis-cluster", "redis://u:pa%2Css@a:1"}).redis_cluster[0].password,
              "pa,ss");
    EXPECT_EQ(error_of({"--redis-cluster"}), "sluice: --redis-cluster: missing value");
    // --redis only lends its credentials here, so its db could not be honoured.
    EXPECT_EQ(error_of({"--redis", "redis://h:1/2", "--redis-cluster", "a:1"}),
              "sluice: --redis-cluster: Redis Cluster has only db 0, but --redis names db 2");
    EXPECT_EQ(error_of({"--redis-cluster", "a:1"}, "redis://h:1/5"),
              "sluice: --redis-cluster: Redis Cluster has only db 0, but $REDIS_URL names db 5");
    EXPECT_EQ(parse({"--redis-cluster", "a:1"}, "redis://h:1/0").redis_cluster.size(), 1u);
}

TEST(Config, RedisSentinel) {
    const config d = parse({});
    EXPECT_TRUE(d.redis_sentinels.empty());
    EXPECT_EQ(d.redis_master, "");
    const std::string text = "s1,s2:5000,[::1],redis://:spw@s3,redis://s4:1";
    const config c = parse({"--redis-sentinel", text, "--redis-master", "my-primary.1", "--redis",
                            "redis://u:pw@ignored:1/3"});
    EXPECT_EQ(c.redis_sentinel_text, text);
    // Bare Sentinel seeds take no credentials: a Sentinel's password is not the primary's.
    EXPECT_EQ(c.redis_sentinels, (std::vector<resp::redis_url>{
                                     {"s1", 26379, "", "", 0},
                                     {"s2", 5000, "", "", 0},
                                     {"::1", 26379, "", "", 0},
                                     {"s3", 26379, "", "spw", 0},
                                     {"s4", 1, "", "", 0},
                                 }));
    EXPECT_EQ(c.redis_master, "my-primary.1");
    EXPECT_EQ(c.redis, (resp::redis_url{"ignored", 1, "u", "pw", 3}));
    EXPECT_TRUE(c.redis_cluster.empty());
    EXPECT_EQ(parse({"--redis-master=m", "--redis-sentinel=redis://[::1]:6379"}).redis_sentinels,
              (std::vector<resp::redis_url>{{"::1", 6379, "", "", 0}}));
}

TEST(Config, RedisSentinelErrors) {
    EXPECT_EQ(error_of({"--redis-sentinel", "s1"}),
              "sluice: --redis-sentinel: needs --redis-master NAME, the name the Sentinels know "
              "the primary by");
    EXPECT_EQ(error_of({"--redis-master", "m"}),
              "sluice: --redis-master: needs --redis-sentinel SEEDS, the Sentinels to ask for it");
    const std::string both =
        "sluice: --redis-sentinel: cannot be combined with --redis-cluster (a cluster's replicas "
        "take over by themselves)";
    EXPECT_EQ(error_of({"--redis-sentinel", "s1", "--redis-master", "m", "--redis-cluster", "a:1"}),
              both);
    EXPECT_EQ(error_of({"--redis-cluster", "a:1", "--redis-sentinel", "s1", "--redis-master", "m"}),
              both);
    // Checked for --check-config too: the line is wrong whatever it asks for.
    EXPECT_EQ(error_of({"--check-config", "r.yaml", "--redis-master", "m"}),
              "sluice: --redis-master: needs --redis-sentinel SEEDS, the Sentinels to ask for it");
    for (const char* bad : {"", "my master", "m\n", "\tm"}) {
        EXPECT_EQ(error_of({"--redis-sentinel", "s1", "--redis-master", bad}),
                  "sluice: --redis-master: expected a master name without blanks or control "
                  "characters, got " +
                      quote(bad))
            << bad;
    }
    EXPECT_EQ(error_of({"--redis-sentinel", "s1,,s2", "--redis-master", "m"}),
              "sluice: --redis-sentinel: expected a comma-separated list of HOST[:PORT] or "
              "redis:// URLs, none empty, got \"s1,,s2\"");
    EXPECT_EQ(error_of({"--redis-sentinel", "s1:65536", "--redis-master", "m"}),
              "sluice: --redis-sentinel: expected HOST[:PORT] (port 1-65535, IPv6 as [::1]:7000) "
              "or redis://[[user]:password@]host[:port], got \"s1:65536\"");
    EXPECT_EQ(error_of({"--redis-sentinel", "redis://:pw@s1/1", "--redis-master", "m"}),
              "sluice: --redis-sentinel: expected no db (a Sentinel has no database; the "
              "primary's is --redis's), got \"redis://:***@s1/1\"");
    EXPECT_EQ(error_of({"--redis-master"}), "sluice: --redis-master: missing value");
}

TEST(Config, RedactSeeds) {
    EXPECT_EQ(redact_seeds("redis://u:a@h:1,b:2,redis://:x,y@c"),
              "redis://u:***@h:1,b:2,redis://:***@c");
    EXPECT_EQ(redact_seeds("redis://:p@a:1,redis://:q@b:2"), "redis://:***@a:1,redis://:***@b:2");
    // A raw ',' in a password: none of it is shown, whichever element it seems to end.
    EXPECT_EQ(redact_seeds("redis://u:pa,ss@h:1,b:2"), "redis://u:***@h:1,b:2");
    EXPECT_EQ(redact_seeds("redis://:a,b,c@h,redis://:d,e@i"), "redis://:***@h,redis://:***@i");
    EXPECT_EQ(redact_seeds("redis://h:1,b:2,redis://:d@i"), "redis://h:1,b:2,redis://:***@i");
    EXPECT_EQ(redact_seeds("a:1,[::1]:2"), "a:1,[::1]:2");
    EXPECT_EQ(redact_seeds(",a,,b,"), ",a,,b,");
    EXPECT_EQ(redact_seeds(""), "");
}

TEST(Config, Help) {
    EXPECT_TRUE(std::holds_alternative<help_requested>(run({"--help"})));
    EXPECT_TRUE(std::holds_alternative<help_requested>(run({"-h"})));
    EXPECT_TRUE(std::holds_alternative<help_requested>(run({"--limit", "3", "--help"})));
    // --help wins over a bad flag anywhere on the line.
    EXPECT_TRUE(std::holds_alternative<help_requested>(run({"--limit", "abc", "--help"})));
    EXPECT_TRUE(std::holds_alternative<help_requested>(run({"--help", "--bogus"})));
}

TEST(Config, HelpTextListsEveryFlagWithItsDefault) {
    const std::string help = help_text();
    for (const char* flag : {"--listen HOST:PORT",
                             "--admin HOST:PORT",
                             "--redis URL",
                             "--redis-cluster SEEDS",
                             "--redis-sentinel SEEDS",
                             "--redis-master NAME",
                             "--threads N",
                             "--limit N",
                             "--window DURATION",
                             "--algorithm NAME",
                             "--key SOURCE",
                             "--trust-proxy CIDR",
                             "--redis-timeout DURATION",
                             "--redis-failure allow|deny",
                             "--key-prefix STR",
                             "--redis-poll DURATION",
                             "--forward-auth",
                             "--deny-status CODE",
                             "--headers both|legacy|ietf|none",
                             "--upstream URL",
                             "--upstream-timeout DURATION",
                             "--upstream-connect-timeout DURATION",
                             "--upstream-max-idle N",
                             "--upstream-idle-timeout DURATION",
                             "--max-body SIZE",
                             "--idle-timeout DURATION",
                             "--burst N",
                             "--config FILE",
                             "--check-config FILE",
                             "--batch-max N",
                             "--blocked-cache-size N",
                             "--help"}) {
        EXPECT_NE(help.find(flag), std::string::npos) << flag;
    }
    for (const char* def : {"default 127.0.0.1:8080", "default 127.0.0.1:9090", "$REDIS_URL",
                            "redis://127.0.0.1:6379", "default: cores", "default 5)", "default 10s",
                            "default sliding-log", "default ip", "default none", "default 100ms",
                            "default allow", "default sluice:", "default off", "default 429",
                            "default both", "default 30s", "default 2s", "default 1m"}) {
        EXPECT_NE(help.find(def), std::string::npos) << def;
    }
    EXPECT_NE(help.find("(default 64)"), std::string::npos);
}

TEST(Config, ContractErrorMessage) {
    EXPECT_EQ(error_of({"--limit", "abc"}),
              "sluice: --limit: expected a positive integer, got \"abc\"");
    EXPECT_EQ(error_of({"--limit=abc"}),
              "sluice: --limit: expected a positive integer, got \"abc\"");
}

TEST(Config, LimitErrors) {
    EXPECT_EQ(error_of({"--limit", "0"}),
              "sluice: --limit: expected a positive integer, got \"0\"");
    EXPECT_EQ(error_of({"--limit", "-3"}),
              "sluice: --limit: expected a positive integer, got \"-3\"");
    EXPECT_EQ(error_of({"--limit", "+3"}),
              "sluice: --limit: expected a positive integer, got \"+3\"");
    EXPECT_EQ(error_of({"--limit", "1.5"}),
              "sluice: --limit: expected a positive integer, got \"1.5\"");
    EXPECT_EQ(error_of({"--limit", ""}), "sluice: --limit: expected a positive integer, got \"\"");
    EXPECT_EQ(error_of({"--limit", "1000000001"}),
              "sluice: --limit: expected a positive integer up to 1000000000, got \"1000000001\"");
    EXPECT_EQ(error_of({"--limit", "99999999999999999999999"}),
              "sluice: --limit: expected a positive integer, got \"99999999999999999999999\"");
    EXPECT_EQ(parse({"--limit", "1000000000"}).limit, 1'000'000'000);
}

TEST(Config, DurationErrors) {
    EXPECT_EQ(
        error_of({"--window", "abc"}),
        "sluice: --window: expected a duration (an integer with us, ms, s, m or h, e.g. 10s), "
        "got \"abc\"");
    EXPECT_EQ(error_of({"--window", "0s"}),
              "sluice: --window: expected a positive duration (an integer with us, ms, s, m or "
              "h, e.g. 10s), got \"0s\"");
    EXPECT_EQ(
        error_of({"--window", "-1s"}),
        "sluice: --window: expected a duration (an integer with us, ms, s, m or h, e.g. 10s), "
        "got \"-1s\"");
    EXPECT_EQ(error_of({"--redis-timeout", "99999999999h"}),
              "sluice: --redis-timeout: expected a duration of at most 292 years, got "
              "\"99999999999h\"");
    EXPECT_EQ(error_of({"--redis-timeout", "0"}),
              "sluice: --redis-timeout: expected a positive duration (an integer with us, ms, s, "
              "m or h, e.g. 10s), got \"0\"");
}

TEST(Config, WindowsAndTimeoutsAreWholeMilliseconds) {
    EXPECT_EQ(parse({"--window", "2000us"}).window, milliseconds(2));
    EXPECT_EQ(error_of({"--window", "1500us"}),
              "sluice: --window: expected a whole number of milliseconds (e.g. 250ms), got "
              "\"1500us\"");
    EXPECT_EQ(error_of({"--redis-timeout", "1us"}),
              "sluice: --redis-timeout: expected a whole number of milliseconds (e.g. 250ms), got "
              "\"1us\"");
}

TEST(Config, RedisPoll) {
    using std::chrono::microseconds;
    EXPECT_EQ(parse({"--redis-poll", "0"}).redis_poll, microseconds(0));
    EXPECT_EQ(parse({"--redis-poll", "200us"}).redis_poll, microseconds(200));
    EXPECT_EQ(parse({"--redis-poll=1ms"}).redis_poll, microseconds(1000));
    EXPECT_EQ(parse({"--redis-poll", "10ms"}).redis_poll, microseconds(10'000));
    EXPECT_EQ(error_of({"--redis-poll", "10001us"}),
              "sluice: --redis-poll: expected a duration from 0 to 10ms, got \"10001us\"");
    EXPECT_EQ(error_of({"--redis-poll", "1s"}),
              "sluice: --redis-poll: expected a duration from 0 to 10ms, got \"1s\"");
    EXPECT_EQ(error_of({"--redis-poll", "fast"}),
              "sluice: --redis-poll: expected a duration (an integer with us, ms, s, m or h, e.g. "
              "10s), got \"fast\"");
    EXPECT_EQ(error_of({"--redis-poll", "-5us"}),
              "sluice: --redis-poll: expected a duration (an integer with us, ms, s, m or h, e.g. "
              "10s), got \"-5us\"");
}

TEST(Config, EndpointErrors) {
    const std::string expected =
        "sluice: --listen: expected HOST:PORT (port 0-65535), e.g. 127.0.0.1:8080 or "
        "[::1]:8080, got ";
    for (const char* bad :
         {"8080", ":8080", "127.0.0.1:", "127.0.0.1:65536", "127.0.0.1:-1", "127.0.0.1:http",
          "::1:8080", "[::1]", "[::1]8080", "[1.2.3.4]:80", "[zz::]:80", "300.1.1.1:80", "1.2.3:80",
          "a b:80", "127.0.0.1:123456", "127.0.0.1: 80", ""}) {
        EXPECT_EQ(error_of({"--listen", bad}), expected + "\"" + bad + "\"") << bad;
    }
    EXPECT_EQ(error_of({"--admin", "x"}),
              "sluice: --admin: expected HOST:PORT (port 0-65535), e.g. 127.0.0.1:8080 or "
              "[::1]:8080, got \"x\"");
}

TEST(Config, RedisErrorsHideThePassword) {
    EXPECT_EQ(error_of({"--redis", "rediss://:s3cret@h:6380"}),
              "sluice: --redis: expected a redis:// URL (TLS, rediss://, is not supported yet), "
              "got \"rediss://:***@h:6380\"");
    EXPECT_EQ(error_of({"--redis", "redis://u:s3cret@h:0"}),
              "sluice: --redis: expected redis://[[user]:password@]host[:port][/db], got "
              "\"redis://u:***@h:0\"");
    EXPECT_EQ(error_of({"--redis", "localhost:6379"}),
              "sluice: --redis: expected redis://[[user]:password@]host[:port][/db], got "
              "\"localhost:6379\"");
}

TEST(Config, ThreadErrors) {
    for (const char* bad : {"0", "-1", "abc", "1025", "99999999999", ""}) {
        EXPECT_EQ(error_of({"--threads", bad}),
                  std::string("sluice: --threads: expected an integer from 1 to 1024, got \"") +
                      bad + "\"");
    }
    EXPECT_EQ(parse({"--threads", "1024"}).threads, 1024u);
}

TEST(Config, OtherValueErrors) {
    EXPECT_EQ(error_of({"--algorithm", "leaky-bucket"}),
              "sluice: --algorithm: expected one of: sliding-log, fixed-window, sliding-window, "
              "token-bucket, none, got \"leaky-bucket\"");
    EXPECT_EQ(error_of({"--algorithm", "Sliding-Log"}),
              "sluice: --algorithm: expected one of: sliding-log, fixed-window, sliding-window, "
              "token-bucket, none, got \"Sliding-Log\"");
    EXPECT_EQ(parse({"--algorithm", "none"}).algorithm, algorithm::none);
    EXPECT_EQ(to_string(algorithm::none), "none");
    EXPECT_EQ(error_of({"--key", "header:a b"}),
              "sluice: --key: expected ip or header:NAME (NAME an HTTP header name), got "
              "\"header:a b\"");
    EXPECT_EQ(error_of({"--key", "cookie"}),
              "sluice: --key: expected ip or header:NAME (NAME an HTTP header name), got "
              "\"cookie\"");
    EXPECT_EQ(error_of({"--redis-failure", "maybe"}),
              "sluice: --redis-failure: expected allow or deny, got \"maybe\"");
    EXPECT_EQ(error_of({"--key-prefix", "a{b"}),
              "sluice: --key-prefix: expected a prefix without '{', '}' or control characters, "
              "got \"a{b\"");
    EXPECT_EQ(error_of({"--key-prefix", "a\nb"}),
              "sluice: --key-prefix: expected a prefix without '{', '}' or control characters, "
              "got \"a\\x0ab\"");
}

TEST(Config, TrustProxyErrors) {
    EXPECT_EQ(error_of({"--trust-proxy", "10.0.0.0/8,nope"}),
              "sluice: --trust-proxy: expected CIDR[,CIDR...] such as 10.0.0.0/8 or ::1, got "
              "\"nope\"");
    EXPECT_EQ(error_of({"--trust-proxy", "10.0.0.0/33"}),
              "sluice: --trust-proxy: expected a prefix length of 0-32 (IPv4) or 0-128 (IPv6), "
              "got \"10.0.0.0/33\"");
    EXPECT_EQ(error_of({"--trust-proxy", "10.0.0.1/8"}),
              "sluice: --trust-proxy: expected a range whose address has no bits set past the "
              "prefix, got \"10.0.0.1/8\"");
    EXPECT_EQ(error_of({"--trust-proxy", "10.0.0.0/8,"}),
              "sluice: --trust-proxy: expected CIDR[,CIDR...] such as 10.0.0.0/8 or ::1, got "
              "\"\"");
    EXPECT_EQ(error_of({"--trust-proxy", ""}),
              "sluice: --trust-proxy: expected CIDR[,CIDR...] such as 10.0.0.0/8 or ::1, got "
              "\"\"");
}

TEST(Config, UnknownFlagsAndArguments) {
    EXPECT_EQ(error_of({"--bogus"}), "sluice: unknown flag \"--bogus\" (see --help)");
    EXPECT_EQ(error_of({"--bogus=1"}), "sluice: unknown flag \"--bogus\" (see --help)");
    EXPECT_EQ(error_of({"--Limit", "3"}), "sluice: unknown flag \"--Limit\" (see --help)");
    EXPECT_EQ(error_of({"-l", "3"}), "sluice: unexpected argument \"-l\" (see --help)");
    EXPECT_EQ(error_of({"extra"}), "sluice: unexpected argument \"extra\" (see --help)");
    EXPECT_EQ(error_of({"--"}), "sluice: unexpected argument \"--\" (see --help)");
    EXPECT_EQ(error_of({"--help=yes"}), "sluice: --help: takes no value");
}

TEST(Config, MissingValue) {
    EXPECT_EQ(error_of({"--limit"}), "sluice: --limit: missing value");
    EXPECT_EQ(error_of({"--limit", "3", "--window"}), "sluice: --window: missing value");
}

TEST(Config, FirstErrorIsReported) {
    EXPECT_EQ(error_of({"--limit", "x", "--threads", "y"}),
              "sluice: --limit: expected a positive integer, got \"x\"");
}

TEST(Config, ErrorsAreOneLine) {
    EXPECT_EQ(error_of({"--limit", "1\n2"}),
              "sluice: --limit: expected a positive integer, got \"1\\x0a2\"");
    EXPECT_EQ(error_of({"--limit", "\"q\""}),
              "sluice: --limit: expected a positive integer, got \"\\\"q\\\"\"");
}

TEST(Config, EveryAlgorithm) {
    for (const auto a : {algorithm::sliding_log, algorithm::fixed_window, algorithm::sliding_window,
                         algorithm::token_bucket, algorithm::none}) {
        EXPECT_EQ(parse({"--algorithm", std::string(to_string(a))}).algorithm, a);
        EXPECT_EQ(parse_algorithm(to_string(a)), a);
    }
    EXPECT_EQ(to_string(algorithm::fixed_window), "fixed-window");
    EXPECT_EQ(to_string(algorithm::sliding_window), "sliding-window");
    EXPECT_EQ(to_string(algorithm::token_bucket), "token-bucket");
    EXPECT_EQ(parse_algorithm("token_bucket"), std::nullopt);
    EXPECT_EQ(parse_algorithm(""), std::nullopt);
}

TEST(Config, Burst) {
    EXPECT_EQ(parse({}).burst, std::nullopt);
    EXPECT_EQ(parse({"--algorithm", "token-bucket", "--burst", "20"}).burst, 20);
    // Order does not matter: the check waits for the whole line.
    EXPECT_EQ(parse({"--burst=1000000000", "--algorithm=token-bucket"}).burst, 1'000'000'000);
    EXPECT_EQ(error_of({"--burst", "20"}),
              "sluice: --burst: only --algorithm token-bucket has a burst (the algorithm is "
              "sliding-log)");
    EXPECT_EQ(error_of({"--algorithm", "fixed-window", "--burst", "20"}),
              "sluice: --burst: only --algorithm token-bucket has a burst (the algorithm is "
              "fixed-window)");
    EXPECT_EQ(error_of({"--algorithm", "token-bucket", "--burst", "0"}),
              "sluice: --burst: expected a positive integer, got \"0\"");
    EXPECT_EQ(error_of({"--algorithm", "token-bucket", "--burst", "1000000001"}),
              "sluice: --burst: expected a positive integer up to 1000000000, got \"1000000001\"");
}

TEST(Config, ConfigFileReplacesTheRuleFlags) {
    EXPECT_EQ(parse({}).rules_file, "");
    EXPECT_EQ(parse({"--config", "/etc/sluice.yaml"}).rules_file, "/etc/sluice.yaml");
    EXPECT_EQ(parse({"--config=rules.yaml", "--threads", "2"}).rules_file, "rules.yaml");
    for (const char* flag : {"--limit", "--window", "--algorithm", "--key", "--burst"}) {
        const std::string value = std::string(flag) == "--window"      ? "1s"
                                  : std::string(flag) == "--algorithm" ? "none"
                                  : std::string(flag) == "--key"       ? "ip"
                                                                       : "3";
        const std::string name = std::string(flag).substr(2);
        const std::string expected =
            "sluice: --config: the rules file replaces --limit, --window, --algorithm, --key and "
            "--burst; set " +
            name + " in the file instead of " + flag;
        EXPECT_EQ(error_of({"--config", "r.yaml", flag, value}), expected) << flag;
        EXPECT_EQ(error_of({flag, value, "--config", "r.yaml"}), expected) << flag;
    }
    EXPECT_EQ(error_of({"--config", ""}),
              "sluice: --config: expected the path of a rules file, got \"\"");
    EXPECT_EQ(error_of({"--config"}), "sluice: --config: missing value");
}

TEST(Config, CheckConfig) {
    const auto check = run({"--check-config", "rules.yaml"});
    ASSERT_TRUE(std::holds_alternative<check_config_requested>(check));
    EXPECT_EQ(std::get<check_config_requested>(check).file, "rules.yaml");
    EXPECT_EQ(std::get<check_config_requested>(run({"--check-config=a.yaml"})).file, "a.yaml");
    // Other flags are still checked; --help still wins.
    EXPECT_EQ(error_of({"--check-config", "a.yaml", "--limit", "x"}),
              "sluice: --limit: expected a positive integer, got \"x\"");
    EXPECT_TRUE(std::holds_alternative<help_requested>(run({"--check-config", "a", "--help"})));
    EXPECT_EQ(error_of({"--check-config"}), "sluice: --check-config: missing value");
}

TEST(Config, AlgorithmNames) {
    EXPECT_EQ(to_string(algorithm::sliding_log), "sliding-log");
    EXPECT_EQ(to_string(redis_failure::allow), "allow");
    EXPECT_EQ(to_string(redis_failure::deny), "deny");
}

}  // namespace
}  // namespace sluice::core
