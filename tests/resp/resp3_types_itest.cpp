// The parser against the bytes a real Redis sends, over a plain blocking socket: no Asio and no
// client library between the server and the parser, so a failure here is the parser's.

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <memory>
#include <ostream>
#include <stdexcept>
#include <string>
#include <vector>

#include "resp/parser.hpp"
#include "resp/serializer.hpp"
#include "tests/support/redis_server.hpp"
#include "tests/support/resp_record.hpp"

namespace sluice::resp {
namespace {

using rec = test::resp_record;

// A blocking TCP connection that reads into one growing buffer and cuts complete replies off its
// front, the way a real connection drives the parser.
class raw_client {
  public:
    explicit raw_client(unsigned short port) {
        fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
        if (fd_ < 0) throw std::runtime_error("socket: " + std::string{std::strerror(errno)});
        timeval tv{5, 0};  // a reply that never comes fails the test instead of hanging it
        ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
        sockaddr_in addr{};
        addr.sin_family = AF_INET;
        addr.sin_port = htons(port);
        addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        if (::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
            const std::string err = std::strerror(errno);
            ::close(fd_);
            throw std::runtime_error("connect: " + err);
        }
    }
    ~raw_client() { ::close(fd_); }
    raw_client(const raw_client&) = delete;
    raw_client& operator=(const raw_client&) = delete;

    void send(const request& req) {
        std::string_view rest = req.payload();
        while (!rest.empty()) {
            const ssize_t n = ::send(fd_, rest.data(), rest.size(), MSG_NOSIGNAL);
            ASSERT_GT(n, 0) << std::strerror(errno);
            rest.remove_prefix(static_cast<std::size_t>(n));
        }
    }

    void command(const std::vector<std::string>& args) {
        request req;
        req.push_range(args.front(), std::vector<std::string>(args.begin() + 1, args.end()));
        send(req);
    }

    // Reads until one whole reply is parsed and returns its nodes. Reads are small on purpose so
    // that replies also arrive split across reads.
    std::vector<rec> reply() {
        std::vector<rec> nodes;
        auto on_node = [&](const node& n) {
            nodes.push_back({n.data_type, n.size, n.depth, std::string{n.value}});
        };
        for (;;) {
            auto r = parser_.parse(buf_, on_node);
            if (r.st == parser::status::done) {
                buf_.erase(0, r.consumed);
                return nodes;
            }
            if (r.st == parser::status::error) {
                ADD_FAILURE() << "parse error: " << r.ec.message();
                return nodes;
            }
            char chunk[7];
            const ssize_t n = ::recv(fd_, chunk, sizeof chunk, 0);
            if (n <= 0) {
                ADD_FAILURE() << "recv: " << (n == 0 ? "closed" : std::strerror(errno));
                return nodes;
            }
            buf_.append(chunk, static_cast<std::size_t>(n));
        }
    }

    bool idle() const { return parser_.idle() && buf_.empty(); }

  private:
    int fd_ = -1;
    parser parser_;
    std::string buf_;
};

rec B(std::string v, std::size_t d = 0) {
    return {type::bulk_string, 1, d, std::move(v)};
}
rec I(std::string v, std::size_t d = 0) {
    return {type::integer, 1, d, std::move(v)};
}
rec Bool(std::string v, std::size_t d = 0) {
    return {type::boolean, 1, d, std::move(v)};
}
rec A(type t, std::size_t n, std::size_t d = 0) {
    return {t, n, d, ""};
}

class resp3_types : public ::testing::Test {
  protected:
    static void SetUpTestSuite() { server_ = new test::redis_server(); }
    static void TearDownTestSuite() {
        delete server_;
        server_ = nullptr;
    }

    // A connection switched to RESP3; the HELLO reply (a map) is checked on the way.
    static std::unique_ptr<raw_client> resp3() {
        auto c = std::make_unique<raw_client>(server_->port());
        c->command({"HELLO", "3"});
        const auto hello = c->reply();
        EXPECT_FALSE(hello.empty());
        if (!hello.empty()) {
            EXPECT_EQ(hello[0].t, type::map);
            bool saw_proto = false;
            for (std::size_t i = 1; i + 1 < hello.size(); ++i) {
                if (hello[i].depth == 1 && hello[i].value == "proto") {
                    saw_proto = true;
                    EXPECT_EQ(hello[i + 1], I("3", 1));
                }
            }
            EXPECT_TRUE(saw_proto);
        }
        return c;
    }

    static std::vector<rec> debug_protocol(raw_client& c, const std::string& t) {
        c.command({"DEBUG", "PROTOCOL", t});
        return c.reply();
    }

    static test::redis_server* server_;
};

test::redis_server* resp3_types::server_ = nullptr;

TEST_F(resp3_types, scalars) {
    auto c = resp3();
    EXPECT_EQ(debug_protocol(*c, "string"), std::vector<rec>{B("Hello World")});
    EXPECT_EQ(debug_protocol(*c, "integer"), std::vector<rec>{I("12345")});
    EXPECT_EQ(debug_protocol(*c, "double"), (std::vector<rec>{{type::double_type, 1, 0, "3.141"}}));
    EXPECT_EQ(
        debug_protocol(*c, "bignum"),
        (std::vector<rec>{{type::big_number, 1, 0, "1234567999999999999999999999999999999"}}));
    EXPECT_EQ(debug_protocol(*c, "null"), (std::vector<rec>{{type::null, 0, 0, ""}}));
    EXPECT_EQ(debug_protocol(*c, "true"), std::vector<rec>{Bool("t")});
    EXPECT_EQ(debug_protocol(*c, "false"), std::vector<rec>{Bool("f")});
    EXPECT_EQ(debug_protocol(*c, "verbatim"),
              (std::vector<rec>{{type::verbatim_string, 1, 0, "txt:This is a verbatim\nstring"}}));
    EXPECT_TRUE(c->idle());
}

TEST_F(resp3_types, aggregates) {
    auto c = resp3();
    EXPECT_EQ(debug_protocol(*c, "array"),
              (std::vector<rec>{A(type::array, 3), I("0", 1), I("1", 1), I("2", 1)}));
    EXPECT_EQ(debug_protocol(*c, "set"),
              (std::vector<rec>{A(type::set, 3), I("0", 1), I("1", 1), I("2", 1)}));
    EXPECT_EQ(debug_protocol(*c, "map"),
              (std::vector<rec>{A(type::map, 3), I("0", 1), Bool("f", 1), I("1", 1), Bool("t", 1),
                                I("2", 1), Bool("f", 1)}));
    EXPECT_TRUE(c->idle());
}

TEST_F(resp3_types, attribute_and_its_value_are_one_reply) {
    auto c = resp3();
    EXPECT_EQ(debug_protocol(*c, "attrib"),
              (std::vector<rec>{A(type::attribute, 1), B("key-popularity", 1), A(type::array, 2, 1),
                                B("key:123", 2), I("90", 2),
                                B("Some real reply following the attribute")}));
    EXPECT_TRUE(c->idle());
}

TEST_F(resp3_types, push_then_the_real_reply) {
    auto c = resp3();
    // Redis answers with an out-of-band push and then the command's own reply: two replies.
    EXPECT_EQ(debug_protocol(*c, "push"),
              (std::vector<rec>{A(type::push, 2), B("server-cpu-usage", 1), I("42", 1)}));
    EXPECT_EQ(c->reply(), std::vector<rec>{B("Some real reply following the push reply")});
    EXPECT_TRUE(c->idle());
}

TEST_F(resp3_types, errors) {
    auto c = resp3();
    c->command({"NOSUCHCOMMAND"});
    const auto r = c->reply();
    ASSERT_EQ(r.size(), 1u);
    EXPECT_EQ(r[0].t, type::simple_error);
    EXPECT_EQ(r[0].value.rfind("ERR unknown command", 0), 0u) << r[0].value;
}

TEST_F(resp3_types, pipelined_replies_in_one_read) {
    auto c = resp3();
    request req;
    for (const char* t : {"string", "map", "attrib", "integer"})
        req.push("DEBUG", "PROTOCOL", t);
    c->send(req);
    EXPECT_EQ(c->reply(), std::vector<rec>{B("Hello World")});
    EXPECT_EQ(c->reply().size(), 7u);
    EXPECT_EQ(c->reply().back(), B("Some real reply following the attribute"));
    EXPECT_EQ(c->reply(), std::vector<rec>{I("12345")});
    EXPECT_TRUE(c->idle());
}

TEST_F(resp3_types, large_bulk_round_trip) {
    auto c = resp3();
    const std::string value(300000, 'v');
    request req;
    req.push("SET", "big", value);
    req.push("GET", "big");
    c->send(req);
    EXPECT_EQ(c->reply(), (std::vector<rec>{{type::simple_string, 1, 0, "OK"}}));
    const auto got = c->reply();
    ASSERT_EQ(got.size(), 1u);
    EXPECT_EQ(got[0].t, type::bulk_string);
    EXPECT_EQ(got[0].value, value);
}

TEST_F(resp3_types, resp2_nulls) {
    raw_client c{server_->port()};  // no HELLO: RESP2
    c.command({"GET", "sluice-test-missing"});
    EXPECT_EQ(c.reply(), (std::vector<rec>{{type::null, 0, 0, ""}}));
    c.command({"BLPOP", "sluice-test-missing-list", "0.01"});
    EXPECT_EQ(c.reply(), (std::vector<rec>{{type::null, 0, 0, ""}}));
    // And in RESP2 a map-like reply is a flat array.
    c.command({"CONFIG", "GET", "maxmemory-policy"});
    const auto cfg = c.reply();
    ASSERT_EQ(cfg.size(), 3u);
    EXPECT_EQ(cfg[0], A(type::array, 2));
    EXPECT_EQ(cfg[1], B("maxmemory-policy", 1));
    EXPECT_TRUE(c.idle());
}

TEST_F(resp3_types, resp3_null_for_missing_key) {
    auto c = resp3();
    c->command({"GET", "sluice-test-missing"});
    EXPECT_EQ(c->reply(), (std::vector<rec>{{type::null, 0, 0, ""}}));
}

}  // namespace
}  // namespace sluice::resp
