#include "http/response.hpp"

#include <gtest/gtest.h>

#include <cstdint>
#include <limits>
#include <string>

namespace sluice::http {
namespace {

std::string head_of(const response& r, connection_header c = connection_header::none) {
    std::string out;
    const std::size_t n = r.write_head(out, c);
    EXPECT_EQ(n, out.size());
    return out;
}

TEST(response, minimal_200) {
    response r;
    EXPECT_EQ(head_of(r), "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
}

TEST(response, rate_limited_answer_exact_bytes) {
    response r;
    r.set_status(429);
    r.add_header("Content-Type", "application/json");
    r.add_header("Retry-After", std::int64_t{7});
    r.add_header("X-RateLimit-Limit", std::int64_t{5});
    r.add_header("X-RateLimit-Remaining", std::int64_t{0});
    r.add_header("X-RateLimit-Reset", std::int64_t{10});
    const std::string body =
        R"({"error":"too_many_requests","limit":5,"window_ms":10000,"retry_after_ms":6500})";
    r.set_body(body);
    EXPECT_EQ(head_of(r),
              "HTTP/1.1 429 Too Many Requests\r\n"
              "Content-Type: application/json\r\n"
              "Retry-After: 7\r\n"
              "X-RateLimit-Limit: 5\r\n"
              "X-RateLimit-Remaining: 0\r\n"
              "X-RateLimit-Reset: 10\r\n"
              "Content-Length: 79\r\n"
              "\r\n");
    EXPECT_EQ(body.size(), 79u);
    EXPECT_EQ(r.body(), body);
}

TEST(response, connection_fields) {
    response r;
    r.set_status(400);
    EXPECT_EQ(head_of(r, connection_header::close),
              "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
    r.set_status(200);
    r.set_body("ok");
    EXPECT_EQ(head_of(r, connection_header::keep_alive),
              "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: keep-alive\r\n\r\n");
}

TEST(response, integers_use_their_full_range) {
    response r;
    r.add_header("A", std::numeric_limits<std::int64_t>::min());
    r.add_header("B", std::numeric_limits<std::int64_t>::max());
    r.add_header("C", std::int64_t{0});
    EXPECT_EQ(head_of(r),
              "HTTP/1.1 200 OK\r\n"
              "A: -9223372036854775808\r\n"
              "B: 9223372036854775807\r\n"
              "C: 0\r\n"
              "Content-Length: 0\r\n\r\n");
}

TEST(response, appends_to_what_the_buffer_holds) {
    std::string out = "previous";
    response r;
    r.set_status(503);
    r.set_body("{\"error\":\"limiter_unavailable\"}");
    const std::size_t n = r.write_head(out, connection_header::none);
    const std::string expected = "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 31\r\n\r\n";
    EXPECT_EQ(n, expected.size());
    EXPECT_EQ(out, "previous" + expected);
}

TEST(response, no_content_length_for_1xx_and_204) {
    response r;
    r.set_status(204);
    EXPECT_EQ(head_of(r), "HTTP/1.1 204 No Content\r\n\r\n");
    r.set_status(100);
    EXPECT_EQ(head_of(r), "HTTP/1.1 100 Continue\r\n\r\n");
}

TEST(response, unknown_and_invalid_status_codes) {
    response r;
    r.set_status(299);
    EXPECT_EQ(head_of(r), "HTTP/1.1 299 \r\nContent-Length: 0\r\n\r\n");
    r.set_status(42);
    EXPECT_EQ(head_of(r), "HTTP/1.1 500 Internal Server Error\r\nContent-Length: 0\r\n\r\n");
    r.set_status(1000);
    EXPECT_EQ(head_of(r), "HTTP/1.1 500 Internal Server Error\r\nContent-Length: 0\r\n\r\n");
}

TEST(response, field_capacity_is_bounded) {
    response r;
    for (std::size_t i = 0; i < response::max_fields; ++i) {
        EXPECT_TRUE(r.add_header("X", std::int64_t(i)));
    }
    EXPECT_FALSE(r.add_header("Dropped", "yes"));
    EXPECT_FALSE(r.add_header("Dropped", std::int64_t{1}));
    EXPECT_EQ(r.header_count(), response::max_fields);
    EXPECT_EQ(head_of(r).find("Dropped"), std::string::npos);
    r.clear();
    EXPECT_EQ(r.header_count(), 0u);
    EXPECT_EQ(r.status(), 200u);
    EXPECT_EQ(head_of(r), "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
}

TEST(response, warm_buffer_keeps_its_storage) {
    std::string out;
    out.reserve(1024);
    const char* storage = out.data();
    response r;
    r.add_header("Content-Type", "application/json");
    r.add_header("X-RateLimit-Remaining", std::int64_t{4});
    r.set_body("{\"status\":\"ok\"}");
    for (int i = 0; i < 100; ++i) {
        out.clear();
        r.write_head(out, connection_header::none);
        EXPECT_EQ(out.data(), storage);
    }
}

TEST(reason_phrase, known_and_unknown) {
    EXPECT_EQ(reason_phrase(200), "OK");
    EXPECT_EQ(reason_phrase(413), "Content Too Large");
    EXPECT_EQ(reason_phrase(429), "Too Many Requests");
    EXPECT_EQ(reason_phrase(431), "Request Header Fields Too Large");
    EXPECT_EQ(reason_phrase(503), "Service Unavailable");
    EXPECT_EQ(reason_phrase(599), "");
    EXPECT_EQ(reason_phrase(0), "");
}

}  // namespace
}  // namespace sluice::http
