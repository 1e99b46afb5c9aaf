// The hot path promises no allocation per request once warm. The test support counts every
// operator new on the calling thread, so the promise is checked rather than assumed.

#include <gtest/gtest.h>

#include <cstdlib>
#include <new>
#include <string>

#include "http/request_parser.hpp"
#include "http/request_writer.hpp"
#include "http/response.hpp"
#include "http/response_parser.hpp"
#include "tests/support/allocations.hpp"

namespace sluice::http {
namespace {

TEST(allocation, parser_allocates_nothing_per_request) {
    const std::string one =
        "GET /api/items?id=42 HTTP/1.1\r\nHost: example.com\r\nUser-Agent: bench\r\n"
        "Accept: */*\r\nX-Api-Key: k1\r\n\r\n"
        "POST /submit HTTP/1.1\r\nHost: example.com\r\nContent-Length: 5\r\n\r\nhello"
        "POST /upload HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
        "5;a=b\r\nhello\r\n0\r\nX-T: 1\r\n\r\n";
    std::string stream;
    for (int i = 0; i < 300; ++i)
        stream += one;

    request_parser parser;
    const std::size_t before = test::thread_allocations();
    std::string_view rest = stream;
    std::size_t parsed = 0;
    while (!rest.empty()) {
        const parse_result r = parser.parse(rest);
        if (r.status != parse_status::ready) break;
        parsed += parser.current().header("host").empty() ? 0 : 1;
        rest.remove_prefix(r.consumed);
    }
    const std::size_t after = test::thread_allocations();
    EXPECT_EQ(parsed, 900u);
    EXPECT_EQ(after - before, 0u);
}

TEST(allocation, error_path_allocates_nothing) {
    request_parser parser;
    const std::size_t before = test::thread_allocations();
    for (int i = 0; i < 100; ++i) {
        parser.reset();
        const parse_result r = parser.parse("GET / HTTP/1.1\r\nX : y\r\n\r\n");
        if (r.http_status != 400) break;
    }
    EXPECT_EQ(test::thread_allocations() - before, 0u);
}

TEST(allocation, response_head_into_a_warm_buffer_allocates_nothing) {
    std::string out;
    response res;
    const std::string body = R"({"status":"ok"})";
    auto write = [&](int i) {
        out.clear();
        res.clear();
        res.set_status(i % 2 == 0 ? 200 : 429);
        res.add_header("Content-Type", "application/json");
        res.add_header("X-RateLimit-Limit", std::int64_t{5});
        res.add_header("X-RateLimit-Remaining", std::int64_t{i % 5});
        res.add_header("X-RateLimit-Reset", std::int64_t{i});
        res.set_body(body);
        res.write_head(out, connection_header::none);
        out.append(res.body());
    };
    // Warm: the buffer has grown to the largest head it will hold (the 429 one).
    write(0);
    write(1);
    const std::size_t before = test::thread_allocations();
    for (int i = 2; i < 1000; ++i)
        write(i);
    EXPECT_EQ(test::thread_allocations() - before, 0u);
    EXPECT_NE(out.find("X-RateLimit-Reset: 999\r\n"), std::string::npos);
}

TEST(allocation, response_parser_allocates_nothing_per_response) {
    const std::string one =
        "HTTP/1.1 100 Continue\r\n\r\n"
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 5\r\n\r\nhello"
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
        "5;a=b\r\nhello\r\n3\r\nabc\r\n0\r\nX-T: 1\r\n\r\n"
        "HTTP/1.1 304 Not Modified\r\nETag: \"x\"\r\n\r\n";
    std::string stream;
    for (int i = 0; i < 300; ++i)
        stream += one;

    response_parser parser;
    const std::size_t before = test::thread_allocations();
    std::string_view rest = stream;
    std::size_t done = 0;
    std::size_t body = 0;
    for (;;) {
        const response_step s = parser.parse(rest);
        if (s.event == response_event::error || s.event == response_event::need_more) break;
        body += s.body.size();
        rest.remove_prefix(s.consumed);
        if (s.event == response_event::done && (++done, rest.empty())) break;
    }
    const std::size_t after = test::thread_allocations();
    EXPECT_EQ(done, 900u);
    EXPECT_EQ(body, 300u * 13);
    EXPECT_EQ(after - before, 0u);
}

TEST(allocation, forwarded_heads_into_a_warm_buffer_allocate_nothing) {
    request_parser parser;
    const std::string raw =
        "POST /orders?id=1 HTTP/1.1\r\nHost: api.example.com\r\nConnection: keep-alive\r\n"
        "X-Forwarded-For: 1.2.3.4\r\nContent-Type: application/json\r\nContent-Length: 2\r\n"
        "\r\n{}";
    ASSERT_EQ(parser.parse(raw).status, parse_status::ready);
    const upstream_request up = upstream_request_for(parser.current(), "/v1", "10.0.0.1", true);
    const header fields[] = {{"Content-Type", "application/json"}, {"Content-Length", "2"}};
    const header extra[] = {{"X-RateLimit-Limit", "5"}, {"X-RateLimit-Remaining", "4"}};
    relayed_response back;
    back.fields = fields;
    back.extra = extra;
    back.body = body_length::known;
    back.content_length = 2;
    std::string out;
    auto write = [&] {
        out.clear();
        write_request_head(out, up);
        write_chunk(out, "{}");
        write_last_chunk(out);
        write_response_head(out, back);
    };
    write();
    const std::size_t before = test::thread_allocations();
    for (int i = 0; i < 1000; ++i)
        write();
    EXPECT_EQ(test::thread_allocations() - before, 0u);
}

}  // namespace
}  // namespace sluice::http
