#include "http/request_writer.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

#include "http/request_parser.hpp"
#include "http/response_parser.hpp"

namespace sluice::http {
namespace {

std::string joined(std::string_view prefix, std::string_view target) {
    std::string out;
    append_target(out, prefix, target);
    return out;
}

TEST(request_writer, prefix_joins_with_one_slash_and_keeps_the_query) {
    EXPECT_EQ(joined("", "/x"), "/x");
    EXPECT_EQ(joined("/", "/x"), "/x");
    EXPECT_EQ(joined("/api", "/x"), "/api/x");
    EXPECT_EQ(joined("/api/", "/x"), "/api/x");
    EXPECT_EQ(joined("/api//", "/x"), "/api/x");
    EXPECT_EQ(joined("api", "/x"), "/api/x");
    EXPECT_EQ(joined("/api", "/"), "/api/");
    EXPECT_EQ(joined("/api", "/x/y?q=1&r=/2"), "/api/x/y?q=1&r=/2");
    EXPECT_EQ(joined("/api/", "/?q=1"), "/api/?q=1");
    EXPECT_EQ(joined("/api", "*"), "*");
    EXPECT_EQ(joined("/api", "http://h/x"), "http://h/x");
}

// Parses `raw` as a client request and writes the head Sluice forwards for it.
struct forwarded {
    std::string head;
    request_parser parser;

    forwarded(const std::string& raw, std::string_view peer, bool trusted,
              std::string_view prefix = "") {
        const parse_result r = parser.parse(raw);
        EXPECT_EQ(r.status, parse_status::ready) << r.reason;
        write_request_head(head, upstream_request_for(parser.current(), prefix, peer, trusted));
    }

    bool has(std::string_view line) const {
        return head.find("\r\n" + std::string(line) + "\r\n") != std::string::npos;
    }
    bool mentions(std::string_view text) const { return head.find(text) != std::string::npos; }
};

TEST(request_writer, request_line_fields_and_forwarding_fields) {
    const forwarded f(
        "GET /items?id=4 HTTP/1.1\r\nHost: api.example.com\r\nAccept: */*\r\nX-Api-Key: k\r\n\r\n",
        "192.0.2.7", false, "/v1");
    EXPECT_EQ(f.head,
              "GET /v1/items?id=4 HTTP/1.1\r\n"
              "Host: api.example.com\r\nAccept: */*\r\nX-Api-Key: k\r\n"
              "X-Forwarded-For: 192.0.2.7\r\n"
              "X-Forwarded-Proto: http\r\n"
              "X-Forwarded-Host: api.example.com\r\n\r\n");
}

TEST(request_writer, an_http_1_0_request_goes_out_as_1_1) {
    const forwarded f("GET / HTTP/1.0\r\n\r\n", "192.0.2.7", false);
    EXPECT_EQ(f.head,
              "GET / HTTP/1.1\r\nX-Forwarded-For: 192.0.2.7\r\nX-Forwarded-Proto: http\r\n\r\n");
}

TEST(request_writer, hop_by_hop_fields_are_removed_including_those_connection_names) {
    const forwarded f(
        "GET / HTTP/1.1\r\nHost: h\r\nConnection: keep-alive, X-Secret ,x-other\r\n"
        "Connection: X-Third\r\nKeep-Alive: timeout=5\r\nProxy-Connection: keep-alive\r\n"
        "Proxy-Authorization: Basic Zm9v\r\nTE: trailers\r\nTrailer: X-T\r\nUpgrade: h2c\r\n"
        "X-Secret: 1\r\nX-Other: 2\r\nX-Third: 3\r\nX-Kept: 4\r\n\r\n",
        "10.0.0.1", false);
    for (std::string_view gone :
         {"Connection", "Keep-Alive", "Proxy-Connection", "Proxy-Authorization", "TE:", "Trailer",
          "Upgrade", "X-Secret", "X-Other", "X-Third"}) {
        EXPECT_FALSE(f.mentions(gone)) << gone << " in\n" << f.head;
    }
    EXPECT_TRUE(f.has("Host: h"));
    EXPECT_TRUE(f.has("X-Kept: 4"));
}

TEST(request_writer, connection_cannot_remove_host) {
    const forwarded f("GET / HTTP/1.1\r\nHost: h\r\nConnection: host\r\n\r\n", "10.0.0.1", false);
    EXPECT_TRUE(f.has("Host: h"));
}

// The head Sluice writes for `fields` from an untrusted peer, and what it must be: every field
// is_hop_by_hop() does not name, in order, then the forwarding fields.
struct head_of_fields {
    std::string written;
    std::string expected;

    explicit head_of_fields(const std::vector<header>& fields) {
        upstream_request u;
        u.method = "GET";
        u.target = "/";
        u.fields = fields;
        u.peer = "10.0.0.1";
        write_request_head(written, u);
        expected = "GET / HTTP/1.1\r\n";
        for (const header& h : fields) {
            if (is_hop_by_hop(h.name, fields)) continue;
            expected += std::string(h.name) + ": " + std::string(h.value) + "\r\n";
        }
        expected +=
            "X-Forwarded-For: 10.0.0.1\r\nX-Forwarded-Proto: http\r\nX-Forwarded-Host: h\r\n\r\n";
    }
};

TEST(request_writer, more_connection_tokens_than_a_head_usually_lists_are_all_dropped) {
    // 40 names over two Connection fields, in other case and with odd whitespace, plus the
    // fixed hop-by-hop names and Host, which it cannot remove.
    std::vector<std::string> names;
    for (int i = 0; i < 40; ++i)
        names.push_back("X-Hop-" + std::to_string(i));
    std::string first = "keep-alive, Host, upgrade";
    std::string second;
    for (int i = 0; i < 40; ++i) {
        std::string& list = i % 2 == 0 ? first : second;
        if (!list.empty()) list += i % 3 == 0 ? " ,\t" : ",";
        list += i % 5 == 0 ? "x-HOP-" + std::to_string(i) : names[static_cast<std::size_t>(i)];
    }
    const std::vector<std::string> kept = {"X-Kept-0", "X-Kept-10", "X-Kept-20", "X-Kept-30"};
    // Views into `names`, `kept` and the lists, which outlive `fields`.
    std::vector<header> fields = {{"Host", "h"}, {"Connection", first}};
    for (int i = 0; i < 40; ++i) {
        fields.push_back({names[static_cast<std::size_t>(i)], "v"});
        if (i == 20) fields.push_back({"Connection", second});
        if (i % 10 == 0) fields.push_back({kept[static_cast<std::size_t>(i / 10)], "k"});
    }
    const head_of_fields h{fields};
    EXPECT_EQ(h.written, h.expected);
    EXPECT_EQ(h.written.find("X-Hop-"), std::string::npos) << h.written;
    EXPECT_NE(h.written.find("\r\nHost: h\r\n"), std::string::npos) << h.written;
    for (int i = 0; i < 40; i += 10)
        EXPECT_NE(h.written.find("X-Kept-" + std::to_string(i) + ": k"), std::string::npos);

    // The response head drops the same fields.
    relayed_response r;
    r.fields = fields;
    std::string out;
    write_response_head(out, r);
    EXPECT_EQ(out.find("X-Hop-"), std::string::npos) << out;
    EXPECT_NE(out.find("X-Kept-30: k"), std::string::npos) << out;
}

TEST(request_writer, a_head_with_a_hundred_fields) {
    std::vector<std::string> names;
    for (int i = 0; i < 97; ++i)
        names.push_back("X-Field-" + std::to_string(i));
    std::vector<header> fields = {{"Host", "h"}, {"Connection", "x-field-3, X-Field-96"}};
    for (const std::string& n : names)
        fields.push_back({n, "value"});
    fields.push_back({"Keep-Alive", "timeout=5"});
    ASSERT_EQ(fields.size(), 100u);
    const head_of_fields h{fields};
    EXPECT_EQ(h.written, h.expected);
    EXPECT_EQ(h.written.find("X-Field-3:"), std::string::npos);
    EXPECT_EQ(h.written.find("X-Field-96:"), std::string::npos);
    EXPECT_NE(h.written.find("\r\nX-Field-95: value\r\n"), std::string::npos);
    // Host, 95 end-to-end fields, the request line and three forwarding fields.
    EXPECT_EQ(std::count(h.written.begin(), h.written.end(), '\n'), 1 + 96 + 3 + 1);
}

TEST(request_writer, spoofed_forwarding_fields_from_an_untrusted_peer_are_dropped) {
    const forwarded f(
        "GET / HTTP/1.1\r\nHost: real.example\r\nX-Forwarded-For: 1.2.3.4\r\n"
        "x-forwarded-for: 5.6.7.8\r\nX-Forwarded-Proto: https\r\nX-Forwarded-Host: evil\r\n"
        "X-Forwarded-Port: 443\r\n\r\n",
        "203.0.113.9", false);
    EXPECT_TRUE(f.has("X-Forwarded-For: 203.0.113.9"));
    EXPECT_TRUE(f.has("X-Forwarded-Proto: http"));
    EXPECT_TRUE(f.has("X-Forwarded-Host: real.example"));
    for (std::string_view gone : {"1.2.3.4", "5.6.7.8", "https", "evil", "Port"}) {
        EXPECT_FALSE(f.mentions(gone)) << gone << " in\n" << f.head;
    }
}

TEST(request_writer, a_trusted_peer_is_appended_and_its_forwarding_fields_kept) {
    const forwarded f(
        "GET / HTTP/1.1\r\nHost: h\r\nX-Forwarded-For: 1.2.3.4, 5.6.7.8\r\n"
        "X-Forwarded-For: 9.9.9.9\r\nX-Forwarded-Proto: https\r\nX-Forwarded-Host: public\r\n"
        "X-Forwarded-Port: 443\r\n\r\n",
        "10.0.0.2", true);
    EXPECT_TRUE(f.has("X-Forwarded-For: 1.2.3.4, 5.6.7.8, 9.9.9.9, 10.0.0.2"));
    EXPECT_TRUE(f.has("X-Forwarded-Proto: https"));
    EXPECT_TRUE(f.has("X-Forwarded-Host: public"));
    EXPECT_TRUE(f.has("X-Forwarded-Port: 443"));
    EXPECT_FALSE(f.mentions("Proto: http\r\n"));
    EXPECT_EQ(f.head.find("X-Forwarded-Host"), f.head.rfind("X-Forwarded-Host"));
    EXPECT_EQ(f.head.find("X-Forwarded-For"), f.head.rfind("X-Forwarded-For"));

    // A field the trusted hop marked as its own is not forwarded, X-Forwarded-For included.
    const forwarded marked(
        "GET / HTTP/1.1\r\nHost: h\r\nConnection: X-Forwarded-For\r\n"
        "X-Forwarded-For: 1.2.3.4\r\n\r\n",
        "10.0.0.2", true);
    EXPECT_TRUE(marked.has("X-Forwarded-For: 10.0.0.2"));

    const forwarded bare("GET / HTTP/1.1\r\nHost: h\r\n\r\n", "2001:db8::1", true);
    EXPECT_TRUE(bare.has("X-Forwarded-For: 2001:db8::1"));
    EXPECT_TRUE(bare.has("X-Forwarded-Proto: http"));
    EXPECT_TRUE(bare.has("X-Forwarded-Host: h"));
}

TEST(request_writer, body_framing_is_redone) {
    const forwarded length("POST /p HTTP/1.1\r\nHost: h\r\ncontent-length: 5\r\n\r\nhello",
                           "10.0.0.1", false);
    EXPECT_TRUE(length.has("Content-Length: 5"));
    EXPECT_FALSE(length.mentions("content-length"));
    EXPECT_FALSE(length.mentions("Transfer-Encoding"));

    const forwarded empty("POST /p HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\n\r\n", "10.0.0.1",
                          false);
    EXPECT_TRUE(empty.has("Content-Length: 0"));

    const forwarded chunked(
        "POST /p HTTP/1.1\r\nHost: h\r\ntransfer-encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
        "10.0.0.1", false);
    EXPECT_TRUE(chunked.has("Transfer-Encoding: chunked"));
    EXPECT_FALSE(chunked.mentions("transfer-encoding"));
    EXPECT_FALSE(chunked.mentions("Content-Length"));

    const forwarded none("GET / HTTP/1.1\r\nHost: h\r\n\r\n", "10.0.0.1", false);
    EXPECT_FALSE(none.mentions("Content-Length"));
    EXPECT_FALSE(none.mentions("Transfer-Encoding"));
}

TEST(request_writer, a_websocket_upgrade_keeps_connection_upgrade_and_upgrade_websocket) {
    const forwarded f(
        "GET /ws HTTP/1.1\r\nHost: h\r\nConnection: keep-alive, Upgrade\r\nUpgrade: websocket\r\n"
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
        "10.0.0.1", false);
    EXPECT_TRUE(f.has("Connection: upgrade"));
    EXPECT_TRUE(f.has("Upgrade: websocket"));
    EXPECT_TRUE(f.has("Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ=="));
    EXPECT_FALSE(f.mentions("keep-alive"));
    EXPECT_EQ(f.head.find("Upgrade: websocket"), f.head.rfind("Upgrade: websocket"));

    // Not an upgrade without Connection naming it, nor for a method other than GET.
    const forwarded half("GET /ws HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\n\r\n", "10.0.0.1",
                         false);
    EXPECT_FALSE(half.mentions("Upgrade"));
    const forwarded post(
        "POST /ws HTTP/1.1\r\nHost: h\r\nConnection: upgrade\r\nUpgrade: websocket\r\n"
        "Content-Length: 0\r\n\r\n",
        "10.0.0.1", false);
    EXPECT_FALSE(post.mentions("Upgrade"));
}

TEST(request_writer, the_written_head_parses_back) {
    const forwarded f(
        "POST /a?b=c HTTP/1.1\r\nHost: h\r\nConnection: close\r\nTransfer-Encoding: chunked\r\n"
        "X-Forwarded-For: 6.6.6.6\r\n\r\n0\r\n\r\n",
        "10.0.0.1", false, "/base/");
    request_parser again;
    const std::string message = f.head + "0\r\n\r\n";
    ASSERT_EQ(again.parse(message).status, parse_status::ready);
    EXPECT_EQ(again.current().target, "/base/a?b=c");
    EXPECT_TRUE(again.current().chunked);
    EXPECT_TRUE(again.current().keep_alive);
    EXPECT_EQ(again.current().header("x-forwarded-for"), "10.0.0.1");
}

TEST(request_writer, chunks) {
    std::string out;
    write_chunk(out, "hello");
    EXPECT_EQ(out, "5\r\nhello\r\n");
    out.clear();
    write_chunk(out, std::string(300, 'x'));
    EXPECT_TRUE(out.starts_with("12c\r\nxxx"));
    EXPECT_TRUE(out.ends_with("x\r\n"));
    EXPECT_EQ(out.size(), 5 + 300 + 2);
    out.clear();
    write_chunk(out, "");
    EXPECT_EQ(out, "");
    write_chunk_header(out, 16);
    out += "0123456789abcdef";
    out += chunk_end;
    write_last_chunk(out);
    EXPECT_EQ(out, "10\r\n0123456789abcdef\r\n0\r\n\r\n");
}

TEST(request_writer, response_head_relays_end_to_end_fields_and_adds_ours) {
    response_parser p;
    const std::string upstream =
        "HTTP/1.1 200 Fine\r\nContent-Type: application/json\r\nConnection: close, X-Hop\r\n"
        "X-Hop: 1\r\nKeep-Alive: timeout=5\r\nTransfer-Encoding: chunked\r\nSet-Cookie: a=1\r\n"
        "Set-Cookie: b=2\r\n\r\n";
    ASSERT_EQ(p.parse(upstream).event, response_event::head);
    const header extra[] = {{"X-RateLimit-Limit", "5"}, {"X-RateLimit-Remaining", "4"}};
    relayed_response r;
    r.status = p.head().status;
    r.reason = p.head().reason;
    r.fields = p.head().fields();
    r.extra = extra;
    r.body = body_length::chunked;
    r.connection = connection_header::none;
    std::string out;
    write_response_head(out, r);
    EXPECT_EQ(out,
              "HTTP/1.1 200 Fine\r\nContent-Type: application/json\r\nSet-Cookie: a=1\r\n"
              "Set-Cookie: b=2\r\nX-RateLimit-Limit: 5\r\nX-RateLimit-Remaining: 4\r\n"
              "Transfer-Encoding: chunked\r\n\r\n");

    out.clear();
    const header fields[] = {{"Content-Length", "10"}, {"ETag", "\"e\""}};
    r = {};
    r.status = 304;
    r.fields = fields;
    r.body = body_length::known;
    r.content_length = 10;
    r.connection = connection_header::close;
    write_response_head(out, r);
    EXPECT_EQ(out,
              "HTTP/1.1 304 Not Modified\r\nETag: \"e\"\r\nContent-Length: 10\r\n"
              "Connection: close\r\n\r\n");
}

TEST(request_writer, our_rate_limit_fields_replace_the_upstreams) {
    const header fields[] = {{"x-ratelimit-remaining", "99"}, {"X-Other", "1"}};
    const header extra[] = {{"X-RateLimit-Remaining", "4"}};
    relayed_response r;
    r.fields = fields;
    r.extra = extra;
    std::string out;
    write_response_head(out, r);
    EXPECT_EQ(out, "HTTP/1.1 200 OK\r\nX-Other: 1\r\nX-RateLimit-Remaining: 4\r\n\r\n");
}

TEST(request_writer, a_websocket_101_keeps_its_upgrade_fields) {
    const header fields[] = {{"Connection", "Upgrade"},
                             {"Upgrade", "websocket"},
                             {"Sec-WebSocket-Accept", "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="}};
    relayed_response r;
    r.status = 101;
    r.reason = "Switching Protocols";
    r.fields = fields;
    r.connection = connection_header::close;
    std::string out;
    write_response_head(out, r);
    EXPECT_EQ(out,
              "HTTP/1.1 101 Switching Protocols\r\n"
              "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"
              "Connection: upgrade\r\nUpgrade: websocket\r\n\r\n");
}

}  // namespace
}  // namespace sluice::http
