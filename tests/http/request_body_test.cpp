// request_parser with stream_bodies: the head first, then the body piece by piece, as a proxy
// forwards it. Fed the way the server feeds it: a window of unconsumed bytes that grows by
// `split` bytes per read, so every split point of the framing is crossed.

#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

#include "http/request_parser.hpp"

namespace sluice::http {
namespace {

parser_limits streaming(std::uint64_t max_body = 1024 * 1024) {
    parser_limits l;
    l.stream_bodies = true;
    l.max_body_bytes = max_body;
    return l;
}

// What one request looked like through the streaming API.
struct streamed {
    parse_status head = parse_status::need_more;
    std::string method;
    std::string target;
    bool chunked = false;
    bool expects_continue = false;
    std::string body;
    std::size_t pieces = 0;
    body_event last = body_event::need_more;
    unsigned http_status = 0;
    std::string rest;  // bytes left after the request: the next one's
};

streamed stream_one(request_parser& p, const std::string& wire, std::size_t split) {
    streamed out;
    std::size_t begin = 0;  // first unconsumed byte
    std::size_t end = std::min(split, wire.size());
    for (;;) {
        const parse_result r = p.parse({wire.data() + begin, end - begin});
        if (r.status == parse_status::need_more && end < wire.size()) {
            end = std::min(end + split, wire.size());
            continue;
        }
        out.head = r.status;
        out.http_status = r.http_status;
        if (r.status == parse_status::ready || r.status == parse_status::head) {
            out.method = std::string(p.current().method);
            out.target = std::string(p.current().target);
            out.chunked = p.current().chunked;
            out.expects_continue = p.current().expects_continue;
            out.body = std::string(p.current().body);
        }
        if (r.status != parse_status::head) {
            out.rest = wire.substr(begin + r.consumed);
            return out;
        }
        begin += r.consumed;
        break;
    }
    for (;;) {
        const body_step s = p.parse_body({wire.data() + begin, end - begin});
        out.last = s.event;
        out.http_status = s.http_status;
        if (s.event == body_event::data) {
            EXPECT_GE(s.data.data(), wire.data() + begin);
            EXPECT_LE(s.data.data() + s.data.size(), wire.data() + begin + s.consumed);
            out.body.append(s.data);
            ++out.pieces;
        }
        begin += s.consumed;
        if (s.event == body_event::error || s.event == body_event::done) break;
        if (s.event == body_event::need_more) {
            if (end == wire.size()) break;
            end = std::min(end + split, wire.size());
        }
    }
    out.rest = wire.substr(begin);
    return out;
}

constexpr const char* next_request = "GET /next HTTP/1.1\r\nHost: x\r\n\r\n";

TEST(RequestBody, ContentLengthBodyComesInPiecesAtEverySplit) {
    const std::string body(3000, 'b');
    const std::string wire =
        "POST /up HTTP/1.1\r\nHost: x\r\nContent-Length: 3000\r\n\r\n" + body + next_request;
    for (std::size_t split : {1u, 7u, 100u, 4096u, 100000u}) {
        request_parser p{streaming()};
        const streamed s = stream_one(p, wire, split);
        ASSERT_EQ(s.head, parse_status::head) << split;
        EXPECT_EQ(s.method, "POST");
        EXPECT_EQ(s.target, "/up");
        EXPECT_EQ(s.last, body_event::done) << split;
        EXPECT_EQ(s.body, body) << split;
        EXPECT_EQ(s.rest, next_request) << split;
        // The pipelined request after the body is the next parse()'s.
        const parse_result next = p.parse(s.rest);
        EXPECT_EQ(next.status, parse_status::ready);
        EXPECT_EQ(p.current().target, "/next");
    }
}

TEST(RequestBody, ChunkedBodyIsDechunkedWithExtensionsAndTrailers) {
    const std::string wire =
        "POST /c HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
        "5;ext=1\r\nhello\r\n1\r\n \r\nA\r\n0123456789\r\n0\r\nX-Sum: 1\r\n\r\n" +
        std::string(next_request);
    for (std::size_t split = 1; split < wire.size(); split += 3) {
        request_parser p{streaming()};
        const streamed s = stream_one(p, wire, split);
        ASSERT_EQ(s.head, parse_status::head) << split;
        EXPECT_TRUE(s.chunked);
        EXPECT_EQ(s.last, body_event::done) << split;
        EXPECT_EQ(s.body, "hello 0123456789") << split;
        EXPECT_EQ(s.rest, next_request) << split;
    }
}

TEST(RequestBody, RequestsWithoutABodyAreReadyAsBefore) {
    for (const std::string wire : {"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
                                   "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n"}) {
        request_parser p{streaming()};
        const streamed s = stream_one(p, wire + next_request, 4096);
        EXPECT_EQ(s.head, parse_status::ready) << wire;
        EXPECT_EQ(s.rest, next_request);
    }
}

TEST(RequestBody, ChunkSizesBeyondMaxBodyAre413BeforeTheirData) {
    request_parser p{streaming(10)};
    const std::string wire =
        "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n8\r\n12345678\r\n8\r\n";
    const streamed s = stream_one(p, wire, 4096);
    EXPECT_EQ(s.body, "12345678");
    EXPECT_EQ(s.last, body_event::error);
    EXPECT_EQ(s.http_status, 413u);
}

TEST(RequestBody, ContentLengthBeyondMaxBodyIs413AtTheHead) {
    request_parser p{streaming(10)};
    const streamed s =
        stream_one(p, "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 11\r\n\r\n", 4096);
    EXPECT_EQ(s.head, parse_status::error);
    EXPECT_EQ(s.http_status, 413u);
}

TEST(RequestBody, MalformedFramingAndTrailersAre400) {
    const std::string head = "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n";
    for (const std::string bad : {
             "zz\r\nhello\r\n0\r\n\r\n",      // not a chunk size
             "5\r\nhelloXX0\r\n\r\n",         // data longer than its size
             "5\nhello\r\n0\r\n\r\n",         // bare LF after the size
             "0\r\nX: 1\r\n folded\r\n\r\n",  // obs-fold in a trailer
             "0\r\nX: 1\n\r\n",               // bare LF in a trailer
             "0\r\nBad Name: 1\r\n\r\n",      // not a token
         }) {
        for (std::size_t split : {1u, 4096u}) {
            request_parser p{streaming()};
            const streamed s = stream_one(p, head + bad, split);
            EXPECT_EQ(s.last, body_event::error) << bad << " split " << split;
            EXPECT_EQ(s.http_status, 400u) << bad;
            // Sticky: the connection closes, nothing after is read as a request.
            EXPECT_EQ(p.parse_body("0\r\n\r\n").event, body_event::error);
            EXPECT_EQ(p.parse(next_request).status, parse_status::error);
        }
    }
}

TEST(RequestBody, AnUnfinishedTrailerSectionIsBounded) {
    parser_limits l = streaming();
    l.max_header_bytes = 256;
    request_parser p{l};
    std::string wire = "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n";
    for (int i = 0; i < 40; ++i)
        wire += "X-Trailer: 0123456789\r\n";
    const streamed s = stream_one(p, wire, 64);
    EXPECT_EQ(s.last, body_event::error);
}

TEST(RequestBody, ExpectContinueIsReported) {
    request_parser p{streaming()};
    const streamed s = stream_one(
        p, "PUT / HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\n", 4096);
    EXPECT_EQ(s.head, parse_status::head);
    EXPECT_TRUE(s.expects_continue);
    EXPECT_EQ(s.last, body_event::need_more);
}

TEST(RequestBody, RebindRebuildsTheViewsOverAMovedHead) {
    request_parser p{streaming()};
    std::string a = "POST /moved HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\nabc";
    const parse_result r = p.parse(a);
    ASSERT_EQ(r.status, parse_status::head);
    std::string b = a;
    a.assign(a.size(), 'z');
    p.rebind(b);
    EXPECT_EQ(p.current().target, "/moved");
    EXPECT_EQ(p.current().header("host"), "h");
    EXPECT_TRUE(p.current().body_pending);
    const body_step s = p.parse_body(std::string_view(b).substr(r.consumed));
    EXPECT_EQ(s.event, body_event::data);
    EXPECT_EQ(s.data, "abc");
}

}  // namespace
}  // namespace sluice::http
