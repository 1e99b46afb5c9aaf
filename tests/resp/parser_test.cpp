#include "resp/parser.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <memory>
#include <ostream>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "resp/error.hpp"
#include "tests/support/resp_record.hpp"

namespace sluice::resp {
namespace {

using namespace std::string_literals;

using rec = test::resp_record;

rec S(std::string v, std::size_t d = 0) {
    return {type::simple_string, 1, d, std::move(v)};
}
rec E(std::string v, std::size_t d = 0) {
    return {type::simple_error, 1, d, std::move(v)};
}
rec I(std::string v, std::size_t d = 0) {
    return {type::integer, 1, d, std::move(v)};
}
rec B(std::string v, std::size_t d = 0) {
    return {type::bulk_string, 1, d, std::move(v)};
}
rec N(std::size_t d = 0) {
    return {type::null, 0, d, ""};
}
rec A(type t, std::size_t n, std::size_t d = 0) {
    return {t, n, d, ""};
}

// The outcome of parsing one reply: status, bytes, error and every node reported on the way.
struct outcome {
    parser::status st = parser::status::need_more;
    std::size_t consumed = 0;
    std::error_code ec;
    std::vector<rec> nodes;

    bool operator==(const outcome&) const = default;
    friend std::ostream& operator<<(std::ostream& os, const outcome& o) {
        os << (o.st == parser::status::done    ? "done"
               : o.st == parser::status::error ? "error"
                                               : "need_more")
           << " consumed=" << o.consumed << " ec=" << o.ec.message() << " nodes:";
        for (const auto& n : o.nodes)
            os << "\n  " << n;
        return os;
    }
};

// The bytes in a heap block of exactly their size, so that AddressSanitizer catches a read one
// byte past the end (a std::string would have its terminator and spare capacity there).
class exact_buffer {
  public:
    explicit exact_buffer(std::string_view s)
        : data_{std::make_unique<char[]>(s.size())}, size_{s.size()} {
        if (!s.empty()) std::memcpy(data_.get(), s.data(), s.size());
    }
    std::string_view view() const { return {data_.get(), size_}; }

  private:
    std::unique_ptr<char[]> data_;
    std::size_t size_;
};

struct collector {
    std::vector<rec>* out;
    void operator()(const node& n) const {
        out->push_back({n.data_type, n.size, n.depth, std::string{n.value}});
    }
};

outcome parse_whole(std::string_view bytes, parser_limits limits = {}) {
    parser p{limits};
    outcome o;
    exact_buffer b{bytes};
    auto r = p.parse(b.view(), collector{&o.nodes});
    o.st = r.st;
    o.consumed = r.consumed;
    o.ec = r.ec;
    return o;
}

// Feeds `bytes` growing one byte at a time, each prefix in a fresh allocation (the caller's buffer
// may move between calls), until the parser stops asking for more.
outcome parse_byte_by_byte(std::string_view bytes, parser_limits limits = {}) {
    parser p{limits};
    outcome o;
    collector c{&o.nodes};
    for (std::size_t n = 0; n <= bytes.size(); ++n) {
        exact_buffer b{bytes.substr(0, n)};
        auto r = p.parse(b.view(), c);
        o.st = r.st;
        o.consumed = r.consumed;
        o.ec = r.ec;
        if (r.st != parser::status::need_more) break;
    }
    return o;
}

// Feeds the first `split` bytes, then the whole buffer.
outcome parse_split(std::string_view bytes, std::size_t split) {
    parser p;
    outcome o;
    collector c{&o.nodes};
    {
        exact_buffer b{bytes.substr(0, split)};
        auto r = p.parse(b.view(), c);
        EXPECT_EQ(r.st, parser::status::need_more) << "split at " << split;
        EXPECT_FALSE(p.idle() && !o.nodes.empty());
    }
    exact_buffer b{bytes};
    auto r = p.parse(b.view(), c);
    o.st = r.st;
    o.consumed = r.consumed;
    o.ec = r.ec;
    return o;
}

outcome done(std::size_t consumed, std::vector<rec> nodes) {
    return {parser::status::done, consumed, {}, std::move(nodes)};
}

std::error_code code(errc e) {
    return make_error_code(e);
}

// ---------------------------------------------------------------------------------------------
// Every type, parsed whole.

TEST(parser, simple_string) {
    EXPECT_EQ(parse_whole("+OK\r\n"), done(5, {S("OK")}));
    EXPECT_EQ(parse_whole("+\r\n"), done(3, {S("")}));
}

TEST(parser, simple_error) {
    EXPECT_EQ(parse_whole("-ERR unknown command\r\n"), done(22, {E("ERR unknown command")}));
}

TEST(parser, integer) {
    EXPECT_EQ(parse_whole(":0\r\n"), done(4, {I("0")}));
    EXPECT_EQ(parse_whole(":-42\r\n"), done(6, {I("-42")}));
    EXPECT_EQ(parse_whole(":+7\r\n"), done(5, {I("+7")}));
    EXPECT_EQ(parse_whole(":9223372036854775807\r\n"), done(22, {I("9223372036854775807")}));
    EXPECT_EQ(parse_whole(":-9223372036854775808\r\n"), done(23, {I("-9223372036854775808")}));
}

TEST(parser, bulk_string) {
    EXPECT_EQ(parse_whole("$5\r\nhello\r\n"), done(11, {B("hello")}));
    EXPECT_EQ(parse_whole("$0\r\n\r\n"), done(6, {B("")}));
    // The payload is binary: CR, LF and NUL inside it are data.
    EXPECT_EQ(parse_whole("$6\r\n\r\n\0\r\n\n\r\n"s), done(12, {B("\r\n\0\r\n\n"s)}));
}

TEST(parser, resp2_nulls) {
    EXPECT_EQ(parse_whole("$-1\r\n"), done(5, {N()}));
    EXPECT_EQ(parse_whole("*-1\r\n"), done(5, {N()}));
    EXPECT_EQ(parse_whole("*2\r\n$-1\r\n*-1\r\n"), done(14, {A(type::array, 2), N(1), N(1)}));
}

TEST(parser, resp3_null) {
    EXPECT_EQ(parse_whole("_\r\n"), done(3, {N()}));
}

TEST(parser, boolean) {
    EXPECT_EQ(parse_whole("#t\r\n"), done(4, {{type::boolean, 1, 0, "t"}}));
    EXPECT_EQ(parse_whole("#f\r\n"), done(4, {{type::boolean, 1, 0, "f"}}));
}

TEST(parser, double_values) {
    for (std::string v : {"3.141", "-1.5", "0", "10", "1e10", "1.5e-10", "-2.5E+300", "inf", "-inf",
                          "nan", "+inf", ".5", "1."}) {
        std::string wire = "," + v + "\r\n";
        EXPECT_EQ(parse_whole(wire), done(wire.size(), {{type::double_type, 1, 0, v}})) << v;
    }
}

TEST(parser, big_number) {
    EXPECT_EQ(parse_whole("(3492890328409238509324850943850943825024385\r\n"),
              done(46, {{type::big_number, 1, 0, "3492890328409238509324850943850943825024385"}}));
    EXPECT_EQ(parse_whole("(-12\r\n"), done(6, {{type::big_number, 1, 0, "-12"}}));
}

TEST(parser, bulk_error) {
    EXPECT_EQ(parse_whole("!21\r\nSYNTAX invalid syntax\r\n"),
              done(28, {{type::bulk_error, 1, 0, "SYNTAX invalid syntax"}}));
}

TEST(parser, verbatim_string_keeps_its_format_prefix) {
    EXPECT_EQ(parse_whole("=15\r\ntxt:Some string\r\n"),
              done(22, {{type::verbatim_string, 1, 0, "txt:Some string"}}));
    EXPECT_EQ(parse_whole("=4\r\nmkd:\r\n"), done(10, {{type::verbatim_string, 1, 0, "mkd:"}}));
}

TEST(parser, array_reports_pre_order_with_depths) {
    EXPECT_EQ(parse_whole("*3\r\n:1\r\n*2\r\n+a\r\n$1\r\nb\r\n:3\r\n"),
              done(27, {A(type::array, 3), I("1", 1), A(type::array, 2, 1), S("a", 2), B("b", 2),
                        I("3", 1)}));
    EXPECT_EQ(parse_whole("*0\r\n"), done(4, {A(type::array, 0)}));
    EXPECT_EQ(parse_whole("*2\r\n*0\r\n*0\r\n"),
              done(12, {A(type::array, 2), A(type::array, 0, 1), A(type::array, 0, 1)}));
}

TEST(parser, map_counts_pairs) {
    EXPECT_EQ(parse_whole("%2\r\n+a\r\n:1\r\n+b\r\n%1\r\n+c\r\n_\r\n"),
              done(27, {A(type::map, 2), S("a", 1), I("1", 1), S("b", 1), A(type::map, 1, 1),
                        S("c", 2), N(2)}));
    EXPECT_EQ(parse_whole("%0\r\n"), done(4, {A(type::map, 0)}));
}

TEST(parser, set) {
    EXPECT_EQ(parse_whole("~2\r\n+a\r\n+b\r\n"), done(12, {A(type::set, 2), S("a", 1), S("b", 1)}));
}

TEST(parser, push) {
    EXPECT_EQ(parse_whole(">3\r\n$7\r\nmessage\r\n$3\r\nch1\r\n$2\r\nhi\r\n"),
              done(34, {A(type::push, 3), B("message", 1), B("ch1", 1), B("hi", 1)}));
}

TEST(parser, top_level_attribute_and_its_value_are_one_reply) {
    // As Redis sends it for DEBUG PROTOCOL attrib.
    std::string wire =
        "|1\r\n$14\r\nkey-popularity\r\n*2\r\n$7\r\nkey:123\r\n:90\r\n"
        "$39\r\nSome real reply following the attribute\r\n";
    EXPECT_EQ(parse_whole(wire),
              done(wire.size(),
                   {A(type::attribute, 1), B("key-popularity", 1), A(type::array, 2, 1),
                    B("key:123", 2), I("90", 2), B("Some real reply following the attribute")}));
}

TEST(parser, nested_attribute_does_not_count_as_an_element) {
    // The array has two elements; the attribute before the first annotates it.
    std::string wire = "*2\r\n|1\r\n+ttl\r\n:3600\r\n+a\r\n+b\r\n";
    EXPECT_EQ(parse_whole(wire),
              done(wire.size(), {A(type::array, 2), A(type::attribute, 1, 1), S("ttl", 2),
                                 I("3600", 2), S("a", 1), S("b", 1)}));
    // Attributes in a row, an empty one, and one annotating an aggregate.
    wire = "|0\r\n|1\r\n+k\r\n+v\r\n*1\r\n|1\r\n+x\r\n+y\r\n*1\r\n:5\r\n";
    EXPECT_EQ(parse_whole(wire),
              done(wire.size(), {A(type::attribute, 0), A(type::attribute, 1), S("k", 1), S("v", 1),
                                 A(type::array, 1), A(type::attribute, 1, 1), S("x", 2), S("y", 2),
                                 A(type::array, 1, 1), I("5", 2)}));
}

TEST(parser, attribute_at_the_end_of_a_stream_waits_for_its_value) {
    parser p;
    std::vector<rec> nodes;
    auto r = p.parse("|1\r\n+k\r\n+v\r\n", collector{&nodes});
    EXPECT_EQ(r.st, parser::status::need_more);
    EXPECT_EQ(nodes.size(), 3u);
    EXPECT_FALSE(p.idle());
}

TEST(parser, replies_back_to_back_in_one_buffer) {
    const std::string wire =
        "+OK\r\n:1\r\n*2\r\n$1\r\na\r\n_\r\n$-1\r\n%1\r\n+k\r\n+v\r\n-ERR x\r\n";
    const std::vector<std::vector<rec>> expected = {
        {S("OK")},
        {I("1")},
        {A(type::array, 2), B("a", 1), N(1)},
        {N()},
        {A(type::map, 1), S("k", 1), S("v", 1)},
        {E("ERR x")},
    };
    parser p;
    std::string_view rest = wire;
    for (const auto& want : expected) {
        std::vector<rec> got;
        auto r = p.parse(rest, collector{&got});
        ASSERT_EQ(r.st, parser::status::done);
        EXPECT_EQ(got, want);
        EXPECT_TRUE(p.idle());
        rest.remove_prefix(r.consumed);
    }
    EXPECT_TRUE(rest.empty());
    auto r = p.parse(rest, collector{nullptr});
    EXPECT_EQ(r.st, parser::status::need_more);
}

TEST(parser, empty_adapter_discards_nodes) {
    parser p;
    auto r = p.parse("*2\r\n:1\r\n:2\r\n", adapter{});
    EXPECT_EQ(r.st, parser::status::done);
    EXPECT_EQ(r.consumed, 12u);
}

TEST(parser, nodes_are_reported_as_soon_as_complete) {
    parser p;
    std::vector<rec> got;
    collector c{&got};
    const std::string wire = "*2\r\n$5\r\nhello\r\n:7\r\n";
    EXPECT_EQ(p.parse(std::string_view{wire}.substr(0, 4), c).st, parser::status::need_more);
    EXPECT_EQ(got, (std::vector<rec>{A(type::array, 2)}));
    // An incomplete bulk is not reported.
    EXPECT_EQ(p.parse(std::string_view{wire}.substr(0, 12), c).st, parser::status::need_more);
    EXPECT_EQ(got.size(), 1u);
    EXPECT_EQ(p.parse(std::string_view{wire}.substr(0, 15), c).st, parser::status::need_more);
    EXPECT_EQ(got, (std::vector<rec>{A(type::array, 2), B("hello", 1)}));
    auto r = p.parse(wire, c);
    EXPECT_EQ(r.st, parser::status::done);
    EXPECT_EQ(r.consumed, wire.size());
    EXPECT_EQ(got, (std::vector<rec>{A(type::array, 2), B("hello", 1), I("7", 1)}));
}

TEST(parser, reset_forgets_a_partial_reply) {
    parser p;
    std::vector<rec> got;
    EXPECT_EQ(p.parse("*3\r\n:1\r\n", collector{&got}).st, parser::status::need_more);
    EXPECT_FALSE(p.idle());
    p.reset();
    EXPECT_TRUE(p.idle());
    got.clear();
    auto r = p.parse("+PONG\r\n", collector{&got});
    EXPECT_EQ(r.st, parser::status::done);
    EXPECT_EQ(got, std::vector<rec>{S("PONG")});
}

TEST(parser, one_mebibyte_bulk_in_chunks) {
    const std::string payload(1 << 20, 'x');
    const std::string wire = "$" + std::to_string(payload.size()) + "\r\n" + payload + "\r\n";
    parser p;
    std::vector<rec> got;
    collector c{&got};
    parser::result r{};
    for (std::size_t n = 4096; n < wire.size(); n += 4096) {
        r = p.parse(std::string_view{wire}.substr(0, n), c);
        ASSERT_EQ(r.st, parser::status::need_more);
    }
    r = p.parse(wire, c);
    ASSERT_EQ(r.st, parser::status::done);
    EXPECT_EQ(r.consumed, wire.size());
    ASSERT_EQ(got.size(), 1u);
    EXPECT_EQ(got[0].value.size(), payload.size());
}

// ---------------------------------------------------------------------------------------------
// Resumption: every split point gives the same nodes as the whole reply.

std::vector<std::string> corpus() {
    std::vector<std::string> c = {
        "+OK\r\n",
        "-WRONGTYPE Operation against a key holding the wrong kind of value\r\n",
        ":0\r\n",
        ":-9223372036854775808\r\n",
        "$0\r\n\r\n",
        "$12\r\nhello\r\nworld\r\n",
        "$-1\r\n",
        "*-1\r\n",
        "*0\r\n",
        "_\r\n",
        "#t\r\n",
        ",-1.5e-300\r\n",
        ",inf\r\n",
        "(1234567999999999999999999999999999999\r\n",
        "!21\r\nSYNTAX invalid syntax\r\n",
        "=29\r\ntxt:This is a verbatim\nstring\r\n",
        "*4\r\n:1\r\n:4\r\n:9999\r\n:0\r\n",
        "*3\r\n:1\r\n*2\r\n+a\r\n$1\r\nb\r\n%1\r\n+k\r\n*1\r\n~2\r\n:1\r\n#f\r\n",
        "%3\r\n:0\r\n#f\r\n:1\r\n#t\r\n:2\r\n#f\r\n",
        "~3\r\n:0\r\n:1\r\n:2\r\n",
        "|1\r\n$14\r\nkey-popularity\r\n*2\r\n$7\r\nkey:123\r\n:90\r\n"
        "$39\r\nSome real reply following the attribute\r\n",
        "*2\r\n|1\r\n+ttl\r\n:3600\r\n+a\r\n|0\r\n*1\r\n_\r\n",
        ">3\r\n$7\r\nmessage\r\n$3\r\nch1\r\n$5\r\nhello\r\n",
        "*3\r\n$0\r\n\r\n$-1\r\n*0\r\n",
        "*1\r\n*1\r\n*1\r\n*1\r\n*1\r\n*1\r\n*1\r\n*1\r\n*1\r\n*1\r\n:1\r\n",
    };
    std::string big(20000, '\0');
    for (std::size_t i = 0; i < big.size(); ++i)
        big[i] = static_cast<char>("ab\r\n\0z"[i % 6]);
    c.push_back("*2\r\n$" + std::to_string(big.size()) + "\r\n" + big + "\r\n:1\r\n");
    return c;
}

TEST(parser, every_split_point_gives_the_same_nodes) {
    for (const auto& wire : corpus()) {
        const outcome whole = parse_whole(wire);
        ASSERT_EQ(whole.st, parser::status::done) << wire;
        ASSERT_EQ(whole.consumed, wire.size()) << wire;
        ASSERT_FALSE(whole.nodes.empty());
        for (std::size_t split = 1; split < wire.size(); ++split) {
            ASSERT_EQ(parse_split(wire, split), whole) << "split at " << split << " of " << wire;
        }
    }
}

TEST(parser, byte_by_byte_growth_gives_the_same_nodes) {
    for (const auto& wire : corpus()) {
        const outcome whole = parse_whole(wire);
        EXPECT_EQ(parse_byte_by_byte(wire), whole) << wire;
    }
}

TEST(parser, split_points_across_back_to_back_replies) {
    // Completed replies are cut off the front, as a connection does; the rest stays pending.
    std::string wire;
    for (const auto& r : corpus())
        wire += r;
    const auto all = corpus();
    for (std::size_t step : {1u, 2u, 3u, 7u, 64u, 1000u}) {
        parser p;
        std::size_t start = 0, received = 0, replies = 0;
        std::vector<rec> got;
        while (received < wire.size()) {
            received = std::min(wire.size(), received + step);
            for (;;) {
                exact_buffer b{std::string_view{wire}.substr(start, received - start)};
                auto r = p.parse(b.view(), collector{&got});
                ASSERT_NE(r.st, parser::status::error);
                if (r.st == parser::status::need_more) break;
                EXPECT_EQ(r.consumed, all[replies].size());
                EXPECT_EQ(got, parse_whole(all[replies]).nodes) << all[replies];
                got.clear();
                start += r.consumed;
                ++replies;
            }
        }
        EXPECT_EQ(start, wire.size());
        EXPECT_EQ(replies, all.size());
    }
}

// ---------------------------------------------------------------------------------------------
// Hostile input.

struct hostile_case {
    std::string wire;
    errc expected;
};

TEST(parser, hostile_inputs_give_the_right_error) {
    const std::vector<hostile_case> cases = {
        {"?abc\r\n", errc::invalid_type_byte},
        {"\r\n", errc::invalid_type_byte},
        {"\0"s, errc::invalid_type_byte},
        {"OK\r\n", errc::invalid_type_byte},
        {"*2\r\n:1\r\n@\r\n", errc::invalid_type_byte},
        {"$-2\r\n", errc::invalid_length},
        {"$-0\r\n", errc::invalid_length},
        {"$-1x\r\n", errc::invalid_length},
        {"*-5\r\n", errc::invalid_length},
        {"%-1\r\n", errc::invalid_length},
        {"~-1\r\n", errc::invalid_length},
        {"!-1\r\n", errc::invalid_length},
        {"=-1\r\n", errc::invalid_length},
        {"$abc\r\n", errc::invalid_length},
        {"$\r\n", errc::invalid_length},
        {"$12a\r\n", errc::invalid_length},
        {"$ 1\r\n", errc::invalid_length},
        {"$+1\r\na\r\n", errc::invalid_length},
        {"*1 \r\n", errc::invalid_length},
        {"$99999999999\r\n", errc::invalid_length},
        {"$536870913\r\n", errc::invalid_length},  // one over proto-max-bulk-len
        {"*99999999999999999999999\r\n", errc::invalid_length},
        {"%999999999999\r\n", errc::invalid_length},
        {":12a\r\n", errc::invalid_integer},
        {":\r\n", errc::invalid_integer},
        {":-\r\n", errc::invalid_integer},
        {": 1\r\n", errc::invalid_integer},
        {":1.5\r\n", errc::invalid_integer},
        {":9223372036854775808\r\n", errc::invalid_integer},
        {":-9223372036854775809\r\n", errc::invalid_integer},
        {":99999999999999999999\r\n", errc::invalid_integer},
        {"(12x\r\n", errc::invalid_integer},
        {"(\r\n", errc::invalid_integer},
        {"(-\r\n", errc::invalid_integer},
        {",abc\r\n", errc::invalid_double},
        {",1.2.3\r\n", errc::invalid_double},
        {",\r\n", errc::invalid_double},
        {",1e\r\n", errc::invalid_double},
        {",.\r\n", errc::invalid_double},
        {",-\r\n", errc::invalid_double},
        {",1e5x\r\n", errc::invalid_double},
        {",infinity\r\n", errc::invalid_double},
        {"#x\r\n", errc::invalid_boolean},
        {"#\r\n", errc::invalid_boolean},
        {"#tt\r\n", errc::invalid_boolean},
        {"#T\r\n", errc::invalid_boolean},
        {"=3\r\ntxt\r\n", errc::invalid_verbatim},
        {"=5\r\ntxt;x\r\n", errc::invalid_verbatim},
        {"=0\r\n\r\n", errc::invalid_verbatim},
        {"+OK\rX", errc::missing_crlf},
        {"+OK\r\r\n", errc::missing_crlf},
        {"-ERR\r+\n", errc::missing_crlf},
        {":1\rx", errc::missing_crlf},
        {"$3\rX", errc::missing_crlf},
        {"$3\r\nabcXY", errc::missing_crlf},
        {"$3\r\nabc\rX", errc::missing_crlf},
        {"$3\r\nabcd\r\n", errc::missing_crlf},
        {"*1\r\n$1\r\nab\r\n", errc::missing_crlf},
        {"_x\r\n", errc::missing_crlf},
        {"*1\rx", errc::missing_crlf},
    };
    for (const auto& c : cases) {
        const outcome whole = parse_whole(c.wire);
        EXPECT_EQ(whole.st, parser::status::error) << c.wire;
        EXPECT_EQ(whole.ec, code(c.expected)) << c.wire << " -> " << whole.ec.message();
        EXPECT_EQ(whole.ec.category().name(), std::string{"resp"});
        // Fed one byte at a time, the same error, found no later than the byte that proves it.
        EXPECT_EQ(parse_byte_by_byte(c.wire), whole) << c.wire;
    }
}

TEST(parser, nodes_before_an_error_are_still_reported) {
    const outcome o = parse_whole("*3\r\n:1\r\n+a\r\n?\r\n");
    EXPECT_EQ(o.st, parser::status::error);
    EXPECT_EQ(o.ec, code(errc::invalid_type_byte));
    EXPECT_EQ(o.nodes, (std::vector<rec>{A(type::array, 3), I("1", 1), S("a", 1)}));
}

TEST(parser, error_is_sticky_and_reports_nothing_twice) {
    parser p;
    std::vector<rec> got;
    const std::string wire = "*2\r\n:1\r\n#maybe\r\n";
    auto r1 = p.parse(wire, collector{&got});
    auto r2 = p.parse(wire, collector{&got});
    EXPECT_EQ(r1.st, parser::status::error);
    EXPECT_EQ(r2.st, parser::status::error);
    EXPECT_EQ(r2.ec, code(errc::invalid_boolean));
    EXPECT_EQ(got.size(), 2u);
}

TEST(parser, absurd_length_fails_before_its_crlf_arrives) {
    // No CRLF yet: the digits alone prove the length absurd, so the parser must not wait.
    for (std::string wire : {"$99999999999", "*99999999999", "%9999999999", "$-2"}) {
        parser p;
        auto r = p.parse(wire, adapter{});
        EXPECT_EQ(r.st, parser::status::error) << wire;
        EXPECT_EQ(r.ec, code(errc::invalid_length)) << wire;
    }
    // A length that is still plausible waits.
    parser p;
    EXPECT_EQ(p.parse("$99999", adapter{}).st, parser::status::need_more);
}

TEST(parser, lengths_at_the_configured_limits) {
    parser_limits l;
    l.max_bulk = 10;
    l.max_aggregate = 3;
    EXPECT_EQ(parse_whole("$10\r\n0123456789\r\n", l).st, parser::status::done);
    EXPECT_EQ(parse_whole("$11\r\n01234567890\r\n", l).ec, code(errc::invalid_length));
    EXPECT_EQ(parse_whole("=11\r\ntxt:4567890\r\n", l).ec, code(errc::invalid_length));
    EXPECT_EQ(parse_whole("*3\r\n:1\r\n:2\r\n:3\r\n", l).st, parser::status::done);
    EXPECT_EQ(parse_whole("*4\r\n", l).ec, code(errc::invalid_length));
    EXPECT_EQ(parse_whole("%4\r\n", l).ec, code(errc::invalid_length));
}

std::string nested(std::size_t levels, std::string_view header = "*1\r\n") {
    std::string s;
    for (std::size_t i = 0; i < levels; ++i)
        s += header;
    return s + ":1\r\n";
}

TEST(parser, nesting_up_to_max_depth_is_accepted) {
    // max_depth 16 = the top-level aggregate plus 16 levels below it.
    const outcome o = parse_whole(nested(17));
    EXPECT_EQ(o.st, parser::status::done);
    ASSERT_EQ(o.nodes.size(), 18u);
    EXPECT_EQ(o.nodes.back(), I("1", 17));
}

TEST(parser, deep_nesting_fails) {
    EXPECT_EQ(parse_whole(nested(18)).ec, code(errc::nesting_too_deep));
    EXPECT_EQ(parse_whole(nested(18, "%1\r\n")).ec, code(errc::nesting_too_deep));
    EXPECT_EQ(parse_whole(nested(18, "|1\r\n")).ec, code(errc::nesting_too_deep));
    EXPECT_EQ(parse_whole(nested(100000)).ec, code(errc::nesting_too_deep));
    EXPECT_EQ(parse_byte_by_byte(nested(1000)).ec, code(errc::nesting_too_deep));
    parser_limits l;
    l.max_depth = 2;
    EXPECT_EQ(parse_whole(nested(3), l).st, parser::status::done);
    EXPECT_EQ(parse_whole(nested(4), l).ec, code(errc::nesting_too_deep));
}

TEST(parser, max_depth_beyond_the_fixed_stack_is_lowered) {
    parser_limits l;
    l.max_depth = 1'000'000;
    EXPECT_EQ(parse_whole(nested(parser::max_frames), l).st, parser::status::done);
    EXPECT_EQ(parse_whole(nested(parser::max_frames + 1), l).ec, code(errc::nesting_too_deep));
}

TEST(parser, one_mebibyte_line_without_crlf_is_too_long) {
    const std::string wire = "+" + std::string(1 << 20, 'a');
    const outcome o = parse_whole(wire);
    EXPECT_EQ(o.st, parser::status::error);
    EXPECT_EQ(o.ec, code(errc::line_too_long));
    // Arriving in pieces, it fails as soon as the limit is passed, not when the peer stops.
    parser p;
    std::size_t fed = 0;
    parser::result r{};
    for (fed = 4096; fed <= wire.size(); fed += 4096) {
        r = p.parse(std::string_view{wire}.substr(0, fed), adapter{});
        if (r.st != parser::status::need_more) break;
    }
    EXPECT_EQ(r.ec, code(errc::line_too_long));
    EXPECT_LE(fed, parser_limits{}.max_line + 4096);
}

TEST(parser, line_length_limit_is_exact) {
    parser_limits l;
    l.max_line = 8;
    EXPECT_EQ(parse_whole("+12345678\r\n", l).st, parser::status::done);
    EXPECT_EQ(parse_whole("+12345678", l).st, parser::status::need_more);
    EXPECT_EQ(parse_whole("+12345678\r", l).st, parser::status::need_more);
    EXPECT_EQ(parse_whole("+123456789", l).ec, code(errc::line_too_long));
    EXPECT_EQ(parse_whole("+123456789\r\n", l).ec, code(errc::line_too_long));
    EXPECT_EQ(parse_whole("-123456789", l).ec, code(errc::line_too_long));
    EXPECT_EQ(parse_whole("(123456789", l).ec, code(errc::line_too_long));
    EXPECT_EQ(parse_byte_by_byte("+123456789\r\n", l).ec, code(errc::line_too_long));
}

// Mutated and truncated replies: whatever the parser decides, it decides the same whole and
// byte by byte, and never reads outside the buffer (run under ASan to see the latter).
TEST(parser, mutated_corpus_is_judged_the_same_whole_and_incrementally) {
    std::mt19937 rng{20240611};
    const auto all = corpus();
    const std::string alphabet = "\r\n\0-+:$*%~|>_#,(!=0123456789tfx.e"s;
    int errors = 0, dones = 0;
    for (int i = 0; i < 4000; ++i) {
        std::string wire = all[rng() % (all.size() - 1)];  // the big one would be slow here
        if (rng() % 3 == 0) wire += all[rng() % (all.size() - 1)];
        const int mutations = 1 + static_cast<int>(rng() % 3);
        for (int m = 0; m < mutations; ++m) {
            const std::size_t at = rng() % wire.size();
            switch (rng() % 3) {
                case 0:
                    wire[at] = alphabet[rng() % alphabet.size()];
                    break;
                case 1:
                    wire.insert(at, 1, alphabet[rng() % alphabet.size()]);
                    break;
                default:
                    if (wire.size() > 1) wire.erase(at, 1);
            }
        }
        const outcome whole = parse_whole(wire);
        ASSERT_EQ(parse_byte_by_byte(wire), whole)
            << i << ": " << node{type::bulk_string, 1, 0, wire};
        if (whole.st == parser::status::done) {
            ++dones;
            EXPECT_LE(whole.consumed, wire.size());
        }
        if (whole.st == parser::status::error) {
            ++errors;
            EXPECT_TRUE(is_protocol_error(static_cast<errc>(whole.ec.value())));
        }
    }
    // Both outcomes were exercised, or the test proves little.
    EXPECT_GT(errors, 100);
    EXPECT_GT(dones, 100);
}

TEST(parser, random_bytes_never_crash) {
    std::mt19937 rng{7};
    for (int i = 0; i < 2000; ++i) {
        std::string wire(1 + rng() % 64, '\0');
        for (auto& c : wire)
            c = static_cast<char>(rng());
        wire[0] = "+-:$*%~|>_#,(!="[rng() % 15];
        EXPECT_EQ(parse_byte_by_byte(wire), parse_whole(wire));
    }
}

// ---------------------------------------------------------------------------------------------
// Printing, so failures read well.

TEST(node, prints_readably) {
    EXPECT_EQ(to_string(type::double_type), "double");
    EXPECT_EQ(to_string(type::verbatim_string), "verbatim_string");
    std::ostringstream os;
    os << node{type::bulk_string, 1, 2, "a\r\n\x01"} << " | " << node{type::map, 3, 0, {}} << " | "
       << node{type::null, 0, 1, {}};
    EXPECT_EQ(os.str(), "bulk_string \"a\\r\\n\\x01\" @2 | map[3] @0 | null @1");
    std::ostringstream big;
    big << node{type::simple_string, 1, 0, std::string(1000, 'z')};
    EXPECT_NE(big.str().find("...(1000 bytes)"), std::string::npos);
    EXPECT_LT(big.str().size(), 100u);
}

TEST(error, category_names_every_code) {
    EXPECT_STREQ(resp_category().name(), "resp");
    for (int e = static_cast<int>(errc::invalid_type_byte);
         e <= static_cast<int>(errc::unsupported_scheme); ++e) {
        const std::string msg = make_error_code(static_cast<errc>(e)).message();
        EXPECT_FALSE(msg.empty());
        EXPECT_EQ(msg.find("resp error"), std::string::npos) << e;
    }
    EXPECT_TRUE(is_protocol_error(errc::missing_crlf));
    EXPECT_FALSE(is_protocol_error(errc::timeout));
    std::error_code ec = errc::line_too_long;
    EXPECT_EQ(ec, code(errc::line_too_long));
}

}  // namespace
}  // namespace sluice::resp
