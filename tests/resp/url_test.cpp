#include "resp/url.hpp"

#include <gtest/gtest.h>

#include "resp/error.hpp"

namespace sluice::resp {
namespace {

redis_url parse_ok(std::string_view text) {
    redis_url url;
    const std::error_code ec = parse_redis_url(text, url);
    EXPECT_FALSE(ec) << text << ": " << ec.message();
    return url;
}

std::error_code parse_error(std::string_view text) {
    redis_url url{"untouched", 1, "u", "p", 7};
    const std::error_code ec = parse_redis_url(text, url);
    EXPECT_EQ(url, (redis_url{"untouched", 1, "u", "p", 7}))
        << "output modified on error: " << text;
    return ec;
}

TEST(RedisUrl, HostAndPort) {
    EXPECT_EQ(parse_ok("redis://example.com:6380"), (redis_url{"example.com", 6380, "", "", 0}));
    EXPECT_EQ(parse_ok("redis://127.0.0.1:1"), (redis_url{"127.0.0.1", 1, "", "", 0}));
    EXPECT_EQ(parse_ok("redis://127.0.0.1:65535"), (redis_url{"127.0.0.1", 65535, "", "", 0}));
}

TEST(RedisUrl, DefaultPort) {
    EXPECT_EQ(parse_ok("redis://cache.internal"), (redis_url{"cache.internal", 6379, "", "", 0}));
    EXPECT_EQ(parse_ok("redis://localhost/"), (redis_url{"localhost", 6379, "", "", 0}));
}

TEST(RedisUrl, SchemeIsCaseInsensitive) {
    EXPECT_EQ(parse_ok("REDIS://h:1").host, "h");
    EXPECT_EQ(parse_ok("Redis://h:1").port, 1);
}

TEST(RedisUrl, PasswordOnly) {
    EXPECT_EQ(parse_ok("redis://:s3cret@h:6379"), (redis_url{"h", 6379, "", "s3cret", 0}));
}

TEST(RedisUrl, UserPasswordAndDb) {
    EXPECT_EQ(parse_ok("redis://alice:pw@10.1.2.3:7000/3"),
              (redis_url{"10.1.2.3", 7000, "alice", "pw", 3}));
    EXPECT_EQ(parse_ok("redis://alice:@h/15"), (redis_url{"h", 6379, "alice", "", 15}));
    EXPECT_EQ(parse_ok("redis://h:1/0").db, 0);
}

TEST(RedisUrl, Ipv6) {
    EXPECT_EQ(parse_ok("redis://[::1]:6379"), (redis_url{"::1", 6379, "", "", 0}));
    EXPECT_EQ(parse_ok("redis://[2001:db8::7]"), (redis_url{"2001:db8::7", 6379, "", "", 0}));
    EXPECT_EQ(parse_ok("redis://u:p@[fe80::1]:1/2"), (redis_url{"fe80::1", 1, "u", "p", 2}));
}

TEST(RedisUrl, PercentEncodedCredentials) {
    const auto url = parse_ok("redis://us%65r%3Aname:p%40ss%2Fw%3a%25rd@h:1");
    EXPECT_EQ(url.user, "user:name");
    EXPECT_EQ(url.password, "p@ss/w:%rd");
}

TEST(RedisUrl, RawAtAndSlashInPasswordSplitAtLastAt) {
    const auto url = parse_ok("redis://:p@s/s@h:2");
    EXPECT_EQ(url.password, "p@s/s");
    EXPECT_EQ(url.host, "h");
    EXPECT_EQ(url.port, 2);
}

TEST(RedisUrl, ColonInPasswordIsKept) {
    EXPECT_EQ(parse_ok("redis://u:a:b@h").password, "a:b");
}

TEST(RedisUrl, TlsAndOtherSchemesAreUnsupported) {
    EXPECT_EQ(parse_error("rediss://h:6379"), errc::unsupported_scheme);
    EXPECT_EQ(parse_error("REDISS://h"), errc::unsupported_scheme);
    EXPECT_EQ(parse_error("http://h:6379"), errc::unsupported_scheme);
    EXPECT_EQ(parse_error("unix:///tmp/redis.sock"), errc::unsupported_scheme);
    EXPECT_NE(std::error_code(errc::unsupported_scheme).message(), "");
}

TEST(RedisUrl, Malformed) {
    for (const char* text : {
             "",
             "redis",
             "redis:/h:1",
             "://h:1",
             "h:6379",
             "redis://",
             "redis://:6379",
             "redis://h:",
             "redis://h:0",
             "redis://h:65536",
             "redis://h:99999999999999999999",
             "redis://h:-1",
             "redis://h:+1",
             "redis://h:63a9",
             "redis://h: 6379",
             "redis://h:1/-1",
             "redis://h:1/x",
             "redis://h:1/3/",
             "redis://h:1/1.5",
             "redis://h:1/99999999999",
             "redis://h:1?db=2",
             "redis://h:1#frag",
             "redis://h:1:2",
             "redis://::1:6379",
             "redis://[::1",
             "redis://[::1]6379",
             "redis://[]:6379",
             "redis://[1.2.3.4]:6379",
             "redis://[::g]:6379",
             "redis://ho st:1",
             "redis://h%41:1",
             "redis://user@h:1",
             "redis://@h:1",
             "redis://:p%4@h:1",
             "redis://:p%zz@h:1",
             "redis://:p%@h:1",
             "redis://:p w@h:1",
             "redis://:@:1",
         }) {
        EXPECT_EQ(parse_error(text), errc::invalid_url) << '"' << text << '"';
    }
}

TEST(RedisUrl, ErrorsBelongToTheRespCategory) {
    const auto ec = parse_error("redis://h:0");
    EXPECT_EQ(&ec.category(), &resp_category());
    EXPECT_NE(ec.message(), "");
}

TEST(RedisUrl, RedactHidesThePassword) {
    EXPECT_EQ(redact_redis_url("redis://u:secret@h:1/2"), "redis://u:***@h:1/2");
    EXPECT_EQ(redact_redis_url("redis://:secret@h"), "redis://:***@h");
    EXPECT_EQ(redact_redis_url("redis://secret@h"), "redis://***@h");
    EXPECT_EQ(redact_redis_url("rediss://:a@b@h"), "rediss://:***@h");
    EXPECT_EQ(redact_redis_url("redis://h:1"), "redis://h:1");
    EXPECT_EQ(redact_redis_url("nonsense"), "nonsense");
}

}  // namespace
}  // namespace sluice::resp
