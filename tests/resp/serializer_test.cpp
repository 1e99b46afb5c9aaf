#include "resp/serializer.hpp"

#include <gtest/gtest.h>

#include <charconv>
#include <cmath>
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "resp/parser.hpp"

namespace sluice::resp {
namespace {

using namespace std::string_literals;

TEST(serializer, command_with_strings) {
    request r;
    r.push("SET", "key", "value");
    EXPECT_EQ(r.payload(), "*3\r\n$3\r\nSET\r\n$3\r\nkey\r\n$5\r\nvalue\r\n");
    EXPECT_EQ(r.commands(), 1u);
    EXPECT_FALSE(r.empty());
}

TEST(serializer, command_without_arguments_and_empty_argument) {
    request r;
    r.push("PING");
    r.push("ECHO", "");
    EXPECT_EQ(r.payload(), "*1\r\n$4\r\nPING\r\n*2\r\n$4\r\nECHO\r\n$0\r\n\r\n");
    EXPECT_EQ(r.commands(), 2u);
}

TEST(serializer, string_types) {
    request r;
    const std::string s = "abc";
    const std::string_view sv = "de";
    r.push("X", s, sv, "f");
    EXPECT_EQ(r.payload(), "*4\r\n$1\r\nX\r\n$3\r\nabc\r\n$2\r\nde\r\n$1\r\nf\r\n");
}

TEST(serializer, binary_data_is_length_prefixed_not_escaped) {
    request r;
    const std::string binary = "a\r\nb\0c\r\n"s;
    ASSERT_EQ(binary.size(), 8u);
    r.push("SET", "k", binary);
    EXPECT_EQ(r.payload(), "*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$8\r\na\r\nb\0c\r\n\r\n"s);
}

TEST(serializer, integers) {
    request r;
    r.push("INCRBY", "k", -5);
    EXPECT_EQ(r.payload(), "*3\r\n$6\r\nINCRBY\r\n$1\r\nk\r\n$2\r\n-5\r\n");

    r.clear();
    r.push("X", std::numeric_limits<std::int64_t>::min(), std::numeric_limits<std::int64_t>::max(),
           std::numeric_limits<std::uint64_t>::max(), 0, std::size_t{42}, short{-1});
    EXPECT_EQ(r.payload(),
              "*7\r\n$1\r\nX\r\n"
              "$20\r\n-9223372036854775808\r\n"
              "$19\r\n9223372036854775807\r\n"
              "$20\r\n18446744073709551615\r\n"
              "$1\r\n0\r\n"
              "$2\r\n42\r\n"
              "$2\r\n-1\r\n");
}

TEST(serializer, doubles) {
    request r;
    r.push("ZADD", "z", 1.5, "m", 0.1, -2.0, 1e300, -0.0, 3.0);
    EXPECT_EQ(r.payload(),
              "*9\r\n$4\r\nZADD\r\n$1\r\nz\r\n$3\r\n1.5\r\n$1\r\nm\r\n$3\r\n0.1\r\n$2\r\n-2\r\n"
              "$6\r\n1e+300\r\n$2\r\n-0\r\n$1\r\n3\r\n");
}

TEST(serializer, doubles_round_trip_exactly) {
    for (double v : {0.1, 1.0 / 3, 5e-324, 1.7976931348623157e308, -123456.789}) {
        request r;
        r.write_arg(v);
        const std::string_view p = r.payload();
        const auto crlf = p.find("\r\n");
        const std::string_view text = p.substr(crlf + 2, p.size() - crlf - 4);
        double back = 0;
        const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), back);
        EXPECT_EQ(ec, std::errc{}) << text;
        EXPECT_EQ(end, text.data() + text.size()) << text;
        EXPECT_EQ(back, v) << text;
    }
}

TEST(serializer, infinities_and_nan) {
    request r;
    r.push("ZADD", std::numeric_limits<double>::infinity(),
           -std::numeric_limits<double>::infinity(), std::numeric_limits<double>::quiet_NaN(),
           -std::numeric_limits<double>::quiet_NaN());
    EXPECT_EQ(r.payload(),
              "*5\r\n$4\r\nZADD\r\n$3\r\ninf\r\n$4\r\n-inf\r\n$3\r\nnan\r\n$3\r\nnan\r\n");
}

TEST(serializer, push_range) {
    request r;
    const std::vector<std::string> keys = {"a", "bb", "ccc"};
    r.push_range("DEL", keys);
    EXPECT_EQ(r.payload(), "*4\r\n$3\r\nDEL\r\n$1\r\na\r\n$2\r\nbb\r\n$3\r\nccc\r\n");
    r.push_range("DEL", std::vector<std::string>{});
    EXPECT_EQ(r.payload().substr(r.payload().size() - 13), "*1\r\n$3\r\nDEL\r\n");
    EXPECT_EQ(r.commands(), 2u);
}

TEST(serializer, low_level_writer) {
    request r;
    r.write_array_header(3);
    r.write_bulk("EVALSHA");
    r.write_bulk("abc");
    r.write_arg(0);
    EXPECT_EQ(r.commands(), 0u);
    r.end_command();
    EXPECT_EQ(r.commands(), 1u);
    EXPECT_EQ(r.payload(), "*3\r\n$7\r\nEVALSHA\r\n$3\r\nabc\r\n$1\r\n0\r\n");
}

TEST(serializer, large_counts_and_lengths) {
    request r;
    r.write_array_header(1234567890123);
    EXPECT_EQ(r.payload(), "*1234567890123\r\n");
    r.clear();
    const std::string big(100000, 'q');
    r.write_bulk(big);
    EXPECT_EQ(r.payload().substr(0, 10), "$100000\r\nq");
    EXPECT_EQ(r.payload().size(), 9 + big.size() + 2);
}

TEST(serializer, clear_keeps_capacity_for_reuse) {
    request r;
    r.push("EVALSHA", "0123456789abcdef0123456789abcdef01234567", 1, "sluice:{ip:1.2.3.4}", 5,
           10000, 1700000000000);
    const std::string first{r.payload()};
    r.clear();
    EXPECT_TRUE(r.empty());
    EXPECT_EQ(r.payload(), "");
    r.push("EVALSHA", "0123456789abcdef0123456789abcdef01234567", 1, "sluice:{ip:1.2.3.4}", 5,
           10000, 1700000000000);
    EXPECT_EQ(r.payload(), first);
    const char* data = r.payload().data();
    r.clear();
    r.push("EVALSHA", "0123456789abcdef0123456789abcdef01234567", 1, "sluice:{ip:1.2.3.4}", 5,
           10000, 1700000000000);
    EXPECT_EQ(r.payload().data(), data) << "the buffer was reallocated";
}

// What the serializer writes, the parser reads back as arrays of bulk strings.
TEST(serializer, round_trip_through_the_parser) {
    request r;
    const std::string binary = "\r\n\0$*\r\n"s;
    r.push("SET", "k", binary);
    r.push("INCRBY", "n", std::numeric_limits<std::int64_t>::min());
    r.push("ZADD", "z", 2.5, "m");
    r.push("PING");
    r.push("ECHO", "");
    const std::vector<std::vector<std::string>> expected = {
        {"SET", "k", binary},
        {"INCRBY", "n", "-9223372036854775808"},
        {"ZADD", "z", "2.5", "m"},
        {"PING"},
        {"ECHO", ""},
    };

    parser p;
    std::string_view rest = r.payload();
    for (const auto& want : expected) {
        std::vector<node> nodes;
        std::vector<std::string> values;
        auto on_node = [&](const node& n) {
            nodes.push_back(n);
            if (n.depth == 1) values.emplace_back(n.value);
        };
        auto res = p.parse(rest, on_node);
        ASSERT_EQ(res.st, parser::status::done);
        ASSERT_FALSE(nodes.empty());
        EXPECT_EQ(nodes[0].data_type, type::array);
        EXPECT_EQ(nodes[0].size, want.size());
        for (std::size_t i = 1; i < nodes.size(); ++i) {
            EXPECT_EQ(nodes[i].data_type, type::bulk_string);
        }
        EXPECT_EQ(values, want);
        rest.remove_prefix(res.consumed);
    }
    EXPECT_TRUE(rest.empty());
}

}  // namespace
}  // namespace sluice::resp
