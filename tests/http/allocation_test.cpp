// The hot path promises no allocation per request once warm. The test support counts every
// operator new on the calling thread, so the promise is checked rather than assumed.

#include <gtest/gtest.h>

#include <cstdlib>
#include <new>
#include <string>

#include "http/request_parser.hpp"
#include "http/response.hpp"
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

}  // namespace
}  // namespace sluice::http
