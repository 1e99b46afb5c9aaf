#include "bench/load/options.hpp"

#include <gtest/gtest.h>

#include <initializer_list>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace sluice::load {
namespace {

options parse(std::initializer_list<std::string_view> args) {
    std::vector<std::string_view> v(args);
    return parse_options(v);
}

// The message main() prints after "sluice-load: ", or "" when the arguments were accepted.
std::string error_of(std::span<const std::string_view> args) {
    try {
        parse_options(args);
    } catch (const usage_error& e) {
        return e.what();
    }
    return "";
}
std::string error_of(std::initializer_list<std::string_view> args) {
    std::vector<std::string_view> v(args);
    return error_of(std::span<const std::string_view>(v));
}

TEST(Options, Defaults) {
    options o = parse({"http://127.0.0.1:8080/"});
    EXPECT_FALSE(o.help);
    EXPECT_EQ(o.urls, std::vector<std::string>{"http://127.0.0.1:8080/"});
    ASSERT_EQ(o.targets.size(), 1u);
    EXPECT_EQ(o.targets[0].host, "127.0.0.1");
    EXPECT_EQ(o.targets[0].port, 8080);
    EXPECT_EQ(o.targets[0].path, "/");
    EXPECT_EQ(o.targets[0].authority, "127.0.0.1:8080");
    EXPECT_EQ(o.connections, 16u);
    EXPECT_FALSE(o.requests.has_value());
    EXPECT_EQ(o.duration, std::chrono::seconds(10));
    EXPECT_EQ(o.rate, 0);
    EXPECT_EQ(o.keys, 0u);
    EXPECT_TRUE(o.key_header.empty());
    EXPECT_FALSE(o.json);
    EXPECT_FALSE(o.expect.has_value());
    EXPECT_EQ(o.threads, 1u);
    EXPECT_EQ(o.timeout, std::chrono::seconds(5));
    EXPECT_FALSE(o.verify.has_value());
}

TEST(Options, TheSeedCheck) {
    options o = parse({"http://127.0.0.1:8080/", "-c", "6", "-n", "6", "--expect", "200:5,429:1"});
    EXPECT_EQ(o.connections, 6u);
    ASSERT_TRUE(o.requests.has_value());
    EXPECT_EQ(*o.requests, 6u);
    ASSERT_TRUE(o.expect.has_value());
    std::vector<std::pair<int, std::uint64_t>> want{{200, 5}, {429, 1}};
    EXPECT_EQ(o.expect->counts, want);
}

TEST(Options, EveryFlag) {
    options o = parse({"--json", "-c", "32", "-d", "1500ms", "--rate", "250.5", "--keys", "1000",
                       "--key-header", "X-Api-Key", "--threads", "2", "--timeout", "2s",
                       "http://localhost:9/api/v1?x=1"});
    EXPECT_TRUE(o.json);
    EXPECT_EQ(o.connections, 32u);
    EXPECT_EQ(o.duration, std::chrono::milliseconds(1500));
    EXPECT_DOUBLE_EQ(o.rate, 250.5);
    EXPECT_EQ(o.keys, 1000u);
    EXPECT_EQ(o.key_header, "X-Api-Key");
    EXPECT_EQ(o.threads, 2u);
    EXPECT_EQ(o.timeout, std::chrono::seconds(2));
    EXPECT_EQ(o.targets[0].host, "localhost");
    EXPECT_EQ(o.targets[0].port, 9);
    EXPECT_EQ(o.targets[0].path, "/api/v1?x=1");
}

TEST(Options, LongFlagsTakeEqualsValues) {
    options o = parse({"http://h:1/", "--connections=3", "--requests=9", "--rate=10"});
    EXPECT_EQ(o.connections, 3u);
    EXPECT_EQ(*o.requests, 9u);
    EXPECT_EQ(o.rate, 10);
}

TEST(Options, Durations) {
    EXPECT_EQ(parse({"http://h:1/", "-d", "7"}).duration, std::chrono::seconds(7));
    EXPECT_EQ(parse({"http://h:1/", "-d", "250ms"}).duration, std::chrono::milliseconds(250));
    EXPECT_EQ(parse({"http://h:1/", "-d", "3s"}).duration, std::chrono::seconds(3));
    EXPECT_EQ(parse({"http://h:1/", "-d", "2m"}).duration, std::chrono::minutes(2));
    EXPECT_EQ(parse({"http://h:1/", "-d", "1h"}).duration, std::chrono::hours(1));
    EXPECT_EQ(parse({"http://h:1/", "--timeout", "100ms"}).timeout, std::chrono::milliseconds(100));
}

TEST(Options, BadDurations) {
    const std::string want = "expected a positive duration such as 500ms, 10s, 2m or 1h";
    EXPECT_EQ(error_of({"http://h:1/", "-d", "0"}), "-d: " + want + ", got \"0\"");
    EXPECT_EQ(error_of({"http://h:1/", "-d", "10x"}), "-d: " + want + ", got \"10x\"");
    EXPECT_EQ(error_of({"http://h:1/", "-d", "s"}), "-d: " + want + ", got \"s\"");
    EXPECT_EQ(error_of({"http://h:1/", "-d", "-5s"}), "-d: " + want + ", got \"-5s\"");
    EXPECT_EQ(error_of({"http://h:1/", "-d", "1.5s"}), "-d: " + want + ", got \"1.5s\"");
    EXPECT_EQ(error_of({"http://h:1/", "-d", ""}), "-d: " + want + ", got \"\"");
    EXPECT_EQ(error_of({"http://h:1/", "--timeout", "99999999999999999999h"}),
              "--timeout: " + want + ", got \"99999999999999999999h\"");
    // Overflow of the millisecond count itself, not only of the digits.
    EXPECT_NE(error_of({"http://h:1/", "-d", "9000000000000000h"}), "");
}

TEST(Options, HelpWinsOverEverything) {
    EXPECT_TRUE(parse({"--help"}).help);
    EXPECT_TRUE(parse({"http://h:1/", "--help"}).help);
    // Flags are read left to right: an error before --help is still an error.
    EXPECT_EQ(error_of({"-c", "x", "--help"}), "-c: expected a positive integer, got \"x\"");
}

TEST(Options, PositiveIntegers) {
    EXPECT_EQ(error_of({"http://h:1/", "-c", "x"}), "-c: expected a positive integer, got \"x\"");
    EXPECT_EQ(error_of({"http://h:1/", "-c", "0"}), "-c: expected a positive integer, got \"0\"");
    EXPECT_EQ(error_of({"http://h:1/", "-c", "-1"}), "-c: expected a positive integer, got \"-1\"");
    EXPECT_EQ(error_of({"http://h:1/", "-c", "+3"}), "-c: expected a positive integer, got \"+3\"");
    EXPECT_EQ(error_of({"http://h:1/", "-c", " 3"}), "-c: expected a positive integer, got \" 3\"");
    EXPECT_EQ(error_of({"http://h:1/", "-c", "3 "}), "-c: expected a positive integer, got \"3 \"");
    EXPECT_EQ(error_of({"http://h:1/", "-c", "100001"}),
              "-c: expected a positive integer up to 100000, got \"100001\"");
    EXPECT_EQ(error_of({"http://h:1/", "-n", "99999999999999999999999"}),
              "-n: expected a positive integer, got \"99999999999999999999999\"");
    EXPECT_EQ(error_of({"http://h:1/", "--threads", "0"}),
              "--threads: expected a positive integer, got \"0\"");
    EXPECT_EQ(error_of({"http://h:1/", "--keys", "many", "--key-header", "X"}),
              "--keys: expected a positive integer, got \"many\"");
}

TEST(Options, Rate) {
    const std::string want = "expected a positive number of requests per second";
    EXPECT_EQ(error_of({"http://h:1/", "--rate", "0"}), "--rate: " + want + ", got \"0\"");
    EXPECT_EQ(error_of({"http://h:1/", "--rate", "-2"}), "--rate: " + want + ", got \"-2\"");
    EXPECT_EQ(error_of({"http://h:1/", "--rate", "nan"}), "--rate: " + want + ", got \"nan\"");
    EXPECT_EQ(error_of({"http://h:1/", "--rate", "inf"}), "--rate: " + want + ", got \"inf\"");
    EXPECT_EQ(error_of({"http://h:1/", "--rate", "10rps"}), "--rate: " + want + ", got \"10rps\"");
    EXPECT_DOUBLE_EQ(parse({"http://h:1/", "--rate", "0.5"}).rate, 0.5);
}

TEST(Options, MissingValues) {
    EXPECT_EQ(error_of({"http://h:1/", "-c"}), "-c: missing value");
    EXPECT_EQ(error_of({"http://h:1/", "--expect"}), "--expect: missing value");
    EXPECT_EQ(error_of({"http://h:1/", "--json=yes"}), "--json: takes no value");
}

TEST(Options, UnknownAndExtraArguments) {
    EXPECT_EQ(error_of({"http://h:1/", "--frobnicate"}),
              "unknown flag \"--frobnicate\" (see --help)");
    EXPECT_EQ(error_of({"http://h:1/", "-x", "1"}), "unknown flag \"-x\" (see --help)");
    EXPECT_EQ(error_of({"http://h:1/", "h:2/"}),
              "URL: expected http://host:port/path, got \"h:2/\"");
    EXPECT_EQ(error_of({}), "missing URL (see --help)");
    EXPECT_EQ(error_of({"-c", "2"}), "missing URL (see --help)");
}

TEST(Options, ExclusiveAndPairedFlags) {
    EXPECT_EQ(error_of({"http://h:1/", "-n", "5", "-d", "1s"}), "-n and -d exclude each other");
    EXPECT_EQ(error_of({"http://h:1/", "--keys", "5"}), "--keys needs --key-header");
    EXPECT_EQ(error_of({"http://h:1/", "--key-header", "X-Key"}), "--key-header needs --keys");
    EXPECT_EQ(error_of({"http://h:1/", "--keys", "5", "--key-header", "X Key"}),
              "--key-header: expected a header name, got \"X Key\"");
    EXPECT_EQ(error_of({"http://h:1/", "--keys", "5", "--key-header", "X:"}),
              "--key-header: expected a header name, got \"X:\"");
    EXPECT_EQ(error_of({"http://h:1/", "--keys", "5", "--key-header", ""}),
              "--key-header: expected a header name, got \"\"");
}

TEST(Options, KeySeq) {
    EXPECT_FALSE(parse({"http://h:1/", "--keys", "5", "--key-header", "K"}).key_seq);
    options o = parse({"http://h:1/", "--keys", "5", "--key-header", "K", "--key-seq"});
    EXPECT_TRUE(o.key_seq);
    EXPECT_EQ(o.keys, 5u);
    EXPECT_EQ(error_of({"http://h:1/", "--key-seq"}), "--key-seq needs --keys");
    EXPECT_EQ(error_of({"http://h:1/", "--keys", "5", "--key-header", "K", "--key-seq=1"}),
              "--key-seq: takes no value");
}

TEST(Options, Percentiles) {
    EXPECT_EQ(parse({"http://h:1/"}).percentiles, "");
    EXPECT_EQ(parse({"http://h:1/", "--percentiles", "/tmp/curve.txt"}).percentiles,
              "/tmp/curve.txt");
    EXPECT_EQ(parse({"http://h:1/", "--percentiles=out"}).percentiles, "out");
    EXPECT_EQ(error_of({"http://h:1/", "--percentiles"}), "--percentiles: missing value");
    EXPECT_EQ(error_of({"http://h:1/", "--percentiles="}),
              "--percentiles: expected a file name, got \"\"");
}

TEST(Options, SeveralUrls) {
    options o = parse({"http://127.0.0.1:1/a", "-c", "4", "http://127.0.0.1:2/b"});
    EXPECT_EQ(o.urls, (std::vector<std::string>{"http://127.0.0.1:1/a", "http://127.0.0.1:2/b"}));
    ASSERT_EQ(o.targets.size(), 2u);
    EXPECT_EQ(o.targets[0].port, 1);
    EXPECT_EQ(o.targets[0].path, "/a");
    EXPECT_EQ(o.targets[1].port, 2);
    EXPECT_EQ(o.targets[1].path, "/b");
    // Every one of them must be http://.
    EXPECT_EQ(error_of({"http://h:1/", "https://h:2/"}),
              "URL: https is not supported, use http:// (got \"https://h:2/\")");
    EXPECT_EQ(error_of({"http://h:1/", "ftp://h:2/"}),
              "URL: expected http://host:port/path, got \"ftp://h:2/\"");
}

TEST(Options, VerifyLimit) {
    options o = parse({"http://h:1/", "--verify-limit", "5/10s"});
    ASSERT_TRUE(o.verify.has_value());
    EXPECT_EQ(o.verify->limit, 5u);
    EXPECT_EQ(o.verify->window, std::chrono::seconds(10));
    EXPECT_EQ(o.verify->tolerance, std::chrono::milliseconds(2));

    o = parse({"http://h:1/", "--verify-limit=100/1m", "--verify-tolerance", "500us"});
    EXPECT_EQ(o.verify->limit, 100u);
    EXPECT_EQ(o.verify->window, std::chrono::minutes(1));
    EXPECT_EQ(o.verify->tolerance, std::chrono::microseconds(500));

    // A bare number is seconds; a zero tolerance is allowed.
    o = parse({"http://h:1/", "--verify-limit", "3/2", "--verify-tolerance=0"});
    EXPECT_EQ(o.verify->window, std::chrono::seconds(2));
    EXPECT_EQ(o.verify->tolerance, std::chrono::nanoseconds(0));
    o = parse({"http://h:1/", "--verify-limit", "1/2500us", "--verify-tolerance", "1ms"});
    EXPECT_EQ(o.verify->window, std::chrono::microseconds(2500));
    EXPECT_EQ(o.verify->limit, 1u);
}

TEST(Options, BadVerifyLimit) {
    const std::string want =
        "--verify-limit: expected N/DURATION such as 5/10s (DURATION an integer with us, ms, s, m "
        "or h), got ";
    for (std::string_view bad : {"", "5", "5/", "/10s", "0/10s", "5/0s", "-5/10s", "5/-1s", "5/10x",
                                 "5/1.5s", "x/10s", "5/10s/", "5 /10s", "5/10 s"}) {
        EXPECT_EQ(error_of({"http://h:1/", "--verify-limit", bad}),
                  want + "\"" + std::string(bad) + "\"")
            << bad;
    }
    EXPECT_EQ(error_of({"http://h:1/", "--verify-limit"}), "--verify-limit: missing value");
    EXPECT_EQ(error_of({"http://h:1/", "--verify-limit", "5/10s", "--verify-tolerance", "10"}),
              "--verify-limit: the window 10s must be longer than the tolerance 10s (see "
              "--verify-tolerance)");
    EXPECT_EQ(error_of({"http://h:1/", "--verify-limit", "5/2ms"}),
              "--verify-limit: the window 2ms must be longer than the tolerance 2ms (see "
              "--verify-tolerance)");
    EXPECT_EQ(error_of({"http://h:1/", "--verify-limit", "5/10s", "--verify-tolerance", "2x"}),
              "--verify-tolerance: expected a duration such as 2ms or 500us, got \"2x\"");
    EXPECT_EQ(error_of({"http://h:1/", "--verify-limit", "5/10s", "--verify-tolerance", "-1ms"}),
              "--verify-tolerance: expected a duration such as 2ms or 500us, got \"-1ms\"");
    EXPECT_EQ(error_of({"http://h:1/", "--verify-tolerance", "1ms"}),
              "--verify-tolerance needs --verify-limit");
}

TEST(Options, ConnectionsAndThreadsNeverExceedTheWork) {
    options o = parse({"http://h:1/", "-c", "16", "-n", "4", "--threads", "8"});
    EXPECT_EQ(o.connections, 4u);
    EXPECT_EQ(o.threads, 4u);
    o = parse({"http://h:1/", "-c", "2", "--threads", "8"});
    EXPECT_EQ(o.threads, 2u);
}

TEST(Url, Forms) {
    target t = parse_url("http://example.com");
    EXPECT_EQ(t.host, "example.com");
    EXPECT_EQ(t.port, 80);
    EXPECT_EQ(t.path, "/");
    EXPECT_EQ(t.authority, "example.com:80");

    t = parse_url("http://[::1]:8080/x");
    EXPECT_EQ(t.host, "::1");
    EXPECT_EQ(t.port, 8080);
    EXPECT_EQ(t.path, "/x");
    EXPECT_EQ(t.authority, "[::1]:8080");

    t = parse_url("http://h:1?q=2");
    EXPECT_EQ(t.path, "/?q=2");

    t = parse_url("http://h:1/a#frag");
    EXPECT_EQ(t.path, "/a");
}

TEST(Url, Rejected) {
    EXPECT_EQ(error_of({"https://h:443/"}),
              "URL: https is not supported, use http:// (got \"https://h:443/\")");
    for (std::string_view bad :
         {"ftp://h/", "h:80/", "http://", "http:///x", "http://h:/", "http://h:0/",
          "http://h:65536/", "http://h:port/", "http://user@h:1/", "http://[::1/", "http://[]:1/",
          "http://[::1]x/", "http://h:1/a b", "http://h:1/\r\nX: y"}) {
        EXPECT_EQ(error_of({bad}),
                  "URL: expected http://host:port/path, got \"" + std::string(bad) + "\"")
            << bad;
    }
}

TEST(ExpectFlag, Parsing) {
    expectation e = parse_expectation("429:1,200:5");
    std::vector<std::pair<int, std::uint64_t>> want{{200, 5}, {429, 1}};
    EXPECT_EQ(e.counts, want);  // sorted by code

    e = parse_expectation("503:0");
    ASSERT_EQ(e.counts.size(), 1u);
    EXPECT_EQ(e.counts[0], (std::pair<int, std::uint64_t>{503, 0}));
}

TEST(ExpectFlag, Rejected) {
    const std::string want = "--expect: expected CODE:COUNT[,CODE:COUNT...], got ";
    for (std::string_view bad : {"", "200", "200:", ":5", "200:5,", ",200:5", "200:x", "99:1",
                                 "1000:1", "200:-1", "200:5;429:1", "200:5,,429:1", "abc:1"}) {
        EXPECT_EQ(error_of({"http://h:1/", "--expect", bad}), want + "\"" + std::string(bad) + "\"")
            << bad;
    }
    EXPECT_EQ(error_of({"http://h:1/", "--expect", "200:1,200:2"}),
              "--expect: status 200 given twice in \"200:1,200:2\"");
}

TEST(KeyMix, HotKeys) {
    options o = parse({"http://h:1/", "--keys", "10000", "--key-header", "X-Api-Key", "--hot-keys",
                       "4", "--hot-share", "0.5"});
    EXPECT_EQ(o.keys, 10000u);
    EXPECT_EQ(o.hot_keys, 4u);
    EXPECT_DOUBLE_EQ(o.hot_share, 0.5);
    EXPECT_EQ(parse({"http://h:1/"}).hot_keys, 0u);
}

TEST(KeyMix, Rejected) {
    const std::vector<std::string_view> keyed = {"http://h:1/", "--keys", "10", "--key-header",
                                                 "K"};
    auto with = [&](std::initializer_list<std::string_view> more) {
        std::vector<std::string_view> args = keyed;
        args.insert(args.end(), more);
        return error_of(std::span<const std::string_view>(args));
    };
    EXPECT_EQ(with({"--hot-keys", "4"}), "--hot-keys needs --hot-share");
    EXPECT_EQ(with({"--hot-share", "0.5"}), "--hot-share needs --hot-keys");
    EXPECT_EQ(error_of({"http://h:1/", "--hot-keys", "4", "--hot-share", "0.5"}),
              "--hot-keys needs --keys");
    for (std::string_view bad : {"0", "1.5", "-0.1", "x", "", "nan"}) {
        EXPECT_EQ(with({"--hot-keys", "4", "--hot-share", bad}),
                  "--hot-share: expected a share of the requests in (0, 1], such as 0.5, got \"" +
                      std::string(bad) + "\"")
            << bad;
    }
    EXPECT_EQ(with({"--hot-keys", "0", "--hot-share", "0.5"}),
              "--hot-keys: expected a positive integer, got \"0\"");
    EXPECT_EQ(with({"--key-seq", "--hot-keys", "4", "--hot-share", "0.5"}),
              "--key-seq and --hot-keys exclude each other");
}

TEST(Usage, MentionsEveryFlag) {
    std::string_view u = usage();
    for (std::string_view flag :
         {"-c ", "-n ", "-d ", "--rate", "--keys", "--key-header", "--key-seq", "--json",
          "--percentiles", "--expect", "--verify-limit", "--verify-tolerance", "--threads",
          "--timeout", "--help", "URL [URL...]", "--hot-keys", "--hot-share"}) {
        EXPECT_NE(u.find(flag), std::string_view::npos) << flag;
    }
}

}  // namespace
}  // namespace sluice::load
