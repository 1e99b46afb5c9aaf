// Request-smuggling probes sent raw through `sluice --upstream`, a scripted upstream recording
// every request it receives. Each probe hides a second request (`GET /smuggled`) where another
// HTTP implementation on the path could read one: after a body framed one way when it could be
// framed another, behind a line ending or a field another parser reads differently.
//
// A probe is either refused, with nothing sent to the upstream (no connection even), or accepted,
// and then the upstream gets exactly one request framed by Sluice itself: `Content-Length`
// written by Sluice, no `Transfer-Encoding` from the client, the hidden request as body bytes.
// Bodies are streamed, so a chunked body whose fault comes after a valid chunk is refused once
// that chunk went upstream: then the upstream gets no whole request and that connection is
// closed. Valid chunked request bodies are not probed here; only chunked framing that must be
// refused.

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cstdio>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "tests/support/http_client.hpp"
#include "tests/support/redis_server.hpp"
#include "tests/support/scripted_upstream.hpp"
#include "tests/support/sluice_gateway.hpp"

namespace sluice::test {
namespace {

using namespace std::chrono_literals;
using namespace std::string_literals;

// The request a probe tries to get past Sluice's reading of the stream.
const std::string smuggled = "GET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n";

std::string hex(std::size_t n) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%zx", n);
    return buf;
}

std::string content_length(std::size_t n) {
    return "Content-Length: " + std::to_string(n) + "\r\n";
}

// `POST / HTTP/1.1`, Host, then `fields` (each line with its own line ending), the blank line
// and `body`.
std::string post(const std::string& fields, const std::string& body) {
    return "POST / HTTP/1.1\r\nHost: x\r\n" + fields + "\r\n" + body;
}

// A chunked body that ends at once, the hidden request after it: what a hop reading chunked
// framing takes as the next request when another hop took it all as a Content-Length body.
const std::string ended_then_smuggled = "0\r\n\r\n" + smuggled;

struct probe {
    std::string name;
    std::string bytes;
    // Refused: the status Sluice answers before closing the connection. 0: accepted.
    unsigned refused = 400;
    // Accepted: the body the upstream must receive, framed by Content-Length.
    std::string body;
    // Refused only once part of a body was streamed upstream (see refused_mid_body).
    bool mid_body = false;
};

std::ostream& operator<<(std::ostream& os, const probe& p) {
    return os << p.name;
}

probe refused(std::string name, std::string bytes, unsigned status = 400) {
    return {std::move(name), std::move(bytes), status, {}};
}

// A fault after a valid chunk: request bodies are streamed, so the head and that chunk (re-framed
// by Sluice) went upstream before the fault arrived. The upstream must still never get a whole
// request, and the connection that carried the part must be closed, never reused: a request on it
// afterwards would be read as the rest of the body.
probe refused_mid_body(std::string name, std::string bytes) {
    probe p = refused(std::move(name), std::move(bytes));
    p.mid_body = true;
    return p;
}

// Accepted probes carry `Connection: close`, so the exchange ends with the response; nothing is
// sent after the message as Sluice frames it.
probe accepted(std::string name, const std::string& cl_field, std::string body) {
    return {std::move(name), post(cl_field + "Connection: close\r\n", body), 0, body};
}

std::vector<probe> probes() {
    const std::string cl40 = content_length(ended_then_smuggled.size());
    const std::string cl_s = content_length(smuggled.size());
    // TE.CL: a hop reading Content-Length stops after the size line; the rest is the request.
    const std::string chunked_smuggled = hex(smuggled.size()) + "\r\n" + smuggled + "\r\n0\r\n\r\n";
    std::vector<probe> p = {
        // Content-Length and Transfer-Encoding together, in either order and any case.
        refused("cl_te", post(cl40 + "Transfer-Encoding: chunked\r\n", ended_then_smuggled)),
        refused("te_cl",
                post("Transfer-Encoding: chunked\r\nContent-Length: 4\r\n", chunked_smuggled)),
        refused("cl_te_other_case",
                post("content-length: 40\r\ntransfer-encoding: CHUNKED\r\n", ended_then_smuggled)),

        // TE.TE: a Transfer-Encoding one hop recognises as chunked and another does not, next to
        // a Content-Length; any Transfer-Encoding field with Content-Length is refused.
        refused("te_xchunked_with_cl",
                post(cl40 + "Transfer-Encoding: xchunked\r\n", ended_then_smuggled)),
        refused("te_tab_before_value_with_cl",
                post(cl40 + "Transfer-Encoding:\tchunked\r\n", ended_then_smuggled)),
        refused("te_vertical_tab_before_value_with_cl", post(cl40 + "Transfer-Encoding:\x0b"
                                                                    "chunked\r\n",
                                                             ended_then_smuggled)),
        refused("te_form_feed_after_value_with_cl",
                post(cl40 + "Transfer-Encoding: chunked\x0c\r\n", ended_then_smuggled)),
        refused("te_chunked_identity_with_cl",
                post(cl40 + "Transfer-Encoding: chunked, identity\r\n", ended_then_smuggled)),
        refused("te_identity_chunked_with_cl",
                post(cl40 + "Transfer-Encoding: identity, chunked\r\n", ended_then_smuggled)),
        refused("te_quoted_with_cl",
                post(cl40 + "Transfer-Encoding: \"chunked\"\r\n", ended_then_smuggled)),
        refused("te_twice_with_cl",
                post(cl40 + "Transfer-Encoding: chunked\r\nTransfer-Encoding: x\r\n",
                     ended_then_smuggled)),
        refused("te_space_before_colon_with_cl",
                post(cl40 + "Transfer-Encoding : chunked\r\n", ended_then_smuggled)),
        refused("te_obs_fold_with_cl",
                post(cl40 + "Transfer-Encoding:\r\n chunked\r\n", ended_then_smuggled)),
        refused("te_empty_with_cl", post(cl40 + "Transfer-Encoding:\r\n", ended_then_smuggled)),

        // The same Transfer-Encoding tricks alone: only exactly `chunked`, once, is framing.
        refused("te_xchunked", post("Transfer-Encoding: xchunked\r\n", chunked_smuggled)),
        refused("te_chunked_identity",
                post("Transfer-Encoding: chunked, identity\r\n", chunked_smuggled)),
        refused("te_identity_chunked",
                post("Transfer-Encoding: identity, chunked\r\n", chunked_smuggled)),
        refused("te_twice", post("Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n",
                                 chunked_smuggled)),
        refused("te_space_before_colon", post("Transfer-Encoding : chunked\r\n", chunked_smuggled)),
        refused("te_obs_fold", post("Transfer-Encoding:\r\n chunked\r\n", chunked_smuggled)),
        refused(
            "te_in_http_1_0",
            "POST / HTTP/1.0\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n" + chunked_smuggled),

        // Content-Length forms that two parsers could read as two lengths.
        refused("cl_twice_equal", post(cl_s + cl_s, smuggled)),
        refused("cl_twice_different", post("Content-Length: 0\r\n" + cl_s, smuggled)),
        refused("cl_twice_different_other_case", post(cl_s + "content-length: 0\r\n", smuggled)),
        refused("cl_list", post("Content-Length: 0, 35\r\n", smuggled)),
        refused("cl_equal_list", post("Content-Length: 35, 35\r\n", smuggled)),
        refused("cl_plus_sign", post("Content-Length: +35\r\n", smuggled)),
        refused("cl_negative", post("Content-Length: -1\r\n", smuggled)),
        refused("cl_hex", post("Content-Length: 0x23\r\n", smuggled)),
        refused("cl_space_inside", post("Content-Length: 3 5\r\n", smuggled)),
        refused("cl_space_before_colon", post("Content-Length : 35\r\n", smuggled)),
        refused("cl_vertical_tab_after_value", post("Content-Length: 35\x0b\r\n", smuggled)),
        refused("cl_empty", post("Content-Length:\r\n", smuggled)),
        refused("cl_beyond_64_bits", post("Content-Length: 18446744073709551616\r\n", smuggled)),
        // RFC 9110 allows a tab there (OWS), but llhttp 8.1 refuses any byte but SP after the
        // digits: stricter than needed, and safe.
        refused("cl_trailing_tab", post("Content-Length: 35\t\r\n", smuggled)),

        // Line tricks that hide a field from one parser and show it to another.
        refused("obs_fold_in_a_normal_field",
                post("X-A: a\r\n Transfer-Encoding: chunked\r\n" + cl40, ended_then_smuggled)),
        refused("obs_fold_with_tab", post("X-A: a\r\n\tb\r\n" + cl_s, smuggled)),
        refused("bare_lf_line_endings",
                "POST / HTTP/1.1\nHost: x\nContent-Length: 35\n\n" + smuggled),
        refused("bare_lf_hides_a_field",
                post("X-A: a\nTransfer-Encoding: chunked\r\n" + cl40, ended_then_smuggled)),
        refused("bare_lf_ends_the_header_section",
                "POST / HTTP/1.1\r\nHost: x\r\n" + cl_s + "\n" + smuggled),
        refused("bare_lf_after_request_line",
                "POST / HTTP/1.1\nHost: x\r\n" + cl_s + "\r\n" + smuggled),
        refused("bare_cr_in_a_value",
                post("X-A: a\rTransfer-Encoding: chunked\r\n" + cl40, ended_then_smuggled)),
        refused("bare_cr_ends_a_line", post("X-A: a\r" + cl_s, smuggled)),
        refused("nul_in_a_value", post("X-A: a\0b\r\n"s + cl_s, smuggled)),
        refused("nul_in_a_name", post("X-\0A: b\r\n"s + cl_s, smuggled)),
        refused("nul_after_te_value",
                post(cl40 + "Transfer-Encoding: chunked\0\r\n"s, ended_then_smuggled)),

        // Chunk framing that is not exactly `HEXDIG... [ext] CRLF data CRLF`.
        refused("chunk_size_beyond_64_bits",
                post("Transfer-Encoding: chunked\r\n",
                     "1ffffffffffffffff\r\nx\r\n0\r\n\r\n" + smuggled)),
        refused(
            "chunk_size_64_bits_over_max_body",
            post("Transfer-Encoding: chunked\r\n", "ffffffffffffffff\r\nx\r\n0\r\n\r\n" + smuggled),
            413),
        refused("chunk_size_negative",
                post("Transfer-Encoding: chunked\r\n", "-5\r\nhello\r\n0\r\n\r\n" + smuggled)),
        refused("chunk_size_0x_prefix",
                post("Transfer-Encoding: chunked\r\n", "0x5\r\nhello\r\n0\r\n\r\n" + smuggled)),
        refused("chunk_size_empty",
                post("Transfer-Encoding: chunked\r\n", "\r\nhello\r\n0\r\n\r\n" + smuggled)),
        refused("chunk_size_line_bare_lf",
                post("Transfer-Encoding: chunked\r\n", "5\nhello\r\n0\r\n\r\n" + smuggled)),
        refused_mid_body(
            "chunk_data_longer_than_its_size",
            post("Transfer-Encoding: chunked\r\n", "3\r\nhello\r\n0\r\n\r\n" + smuggled)),
        refused_mid_body("chunk_data_bare_lf", post("Transfer-Encoding: chunked\r\n",
                                                    "5\r\nhello\n0\r\n\r\n" + smuggled)),
        refused_mid_body("chunk_size_negative_after_a_chunk",
                         post("Transfer-Encoding: chunked\r\n",
                              "5\r\nhello\r\n-5\r\nhello\r\n0\r\n\r\n" + smuggled)),
        refused_mid_body("chunk_extension_bare_lf_after_a_chunk",
                         post("Transfer-Encoding: chunked\r\n",
                              "5\r\nhello\r\n5;a\nhello\r\n0\r\n\r\n" + smuggled)),
        refused("chunk_extension_bare_lf",
                post("Transfer-Encoding: chunked\r\n", "5;a\nhello\r\n0\r\n\r\n" + smuggled)),
        refused("chunk_extension_bare_cr",
                post("Transfer-Encoding: chunked\r\n", "5;a\rb\r\nhello\r\n0\r\n\r\n" + smuggled)),
        refused(
            "chunk_extension_hides_a_chunk",
            post("Transfer-Encoding: chunked\r\n",
                 "2;\n" + hex(smuggled.size() + 5) + "\r\nxx\r\n" + smuggled + "\r\n0\r\n\r\n")),
        refused("last_chunk_bare_lf", post("Transfer-Encoding: chunked\r\n", "0\n\n" + smuggled)),
        refused("trailer_bare_lf",
                post("Transfer-Encoding: chunked\r\n", "0\r\nX-T: 1\n\r\n" + smuggled)),
        refused("trailer_obs_fold",
                post("Transfer-Encoding: chunked\r\n", "0\r\nX-T: 1\r\n 2\r\n\r\n" + smuggled)),

        // Accepted, and forwarded as one request whose body holds the request-looking bytes.
        accepted("cl_body_is_a_request", cl_s, smuggled),
        accepted("cl_body_is_chunked_framing", cl40, ended_then_smuggled),
        accepted("cl_trailing_space", "Content-Length: 35 \r\n", smuggled),
        accepted("cl_without_space", "Content-Length:35\r\n", smuggled),
        accepted("cl_leading_zeros", "Content-Length: 0035\r\n", smuggled),
    };
    return p;
}

std::string lower(std::string s) {
    std::transform(s.begin(), s.end(), s.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    return s;
}

std::size_t count(std::string_view haystack, std::string_view needle) {
    std::size_t n = 0;
    for (auto at = haystack.find(needle); at != std::string_view::npos;
         at = haystack.find(needle, at + 1))
        ++n;
    return n;
}

// Printable, for failure messages: CR, LF, NUL and other control bytes as escapes.
std::string escaped(std::string_view s) {
    std::string out;
    for (const char ch : s) {
        const auto c = static_cast<unsigned char>(ch);
        if (c == '\r') {
            out += "\\r";
        } else if (c == '\n') {
            out += "\\n";
        } else if (c < 0x20 || c == 0x7f) {
            char buf[8];
            std::snprintf(buf, sizeof buf, "\\x%02x", c);
            out += buf;
        } else {
            out += ch;
        }
    }
    return out;
}

class Smuggling : public testing::TestWithParam<probe> {};

TEST_P(Smuggling, ProbeIsRefusedOrForwardedAsOneRequest) {
    const probe& p = GetParam();
    redis_server redis;
    scripted_upstream up;
    sluice_gateway gw{redis.url(),
                      {.flags = {"--threads", "1", "--limit", "1000", "--upstream",
                                 "http://127.0.0.1:" + std::to_string(up.port())}}};
    ASSERT_TRUE(gw.wait_ready());

    const auto t0 = std::chrono::steady_clock::now();
    const std::string answer = exchange(gw.port, p.bytes);
    const auto elapsed = std::chrono::steady_clock::now() - t0;
    // Anything Sluice still sent on after the answer would have arrived by now.
    std::this_thread::sleep_for(50ms);
    const std::vector<std::string> got = up.requests();
    SCOPED_TRACE("probe: " + escaped(p.bytes) + "\nanswer: " + escaped(answer));

    // Never a request for /smuggled: no recorded head mentions it (an accepted probe carries it
    // as body bytes, after the head).
    for (const std::string& raw : got)
        EXPECT_EQ(raw.substr(0, raw.find("\r\n\r\n")).find("/smuggled"), std::string::npos)
            << escaped(raw);
    // One answer, and Sluice closed the connection (refused, or after Connection: close).
    EXPECT_EQ(count(answer, "HTTP/1."), 1u);
    EXPECT_LT(elapsed, 4s);

    if (p.refused != 0) {
        EXPECT_EQ(answer.rfind("HTTP/1.1 " + std::to_string(p.refused) + " ", 0), 0u);
        EXPECT_EQ(got.size(), 0u);
        if (!p.mid_body) {
            EXPECT_EQ(up.connection_count(), 0u) << "no byte of a refused request goes upstream";
            return;
        }
        // The next request goes on a new upstream connection and arrives intact.
        EXPECT_LE(up.connection_count(), 1u);
        const std::size_t before = up.connection_count();
        const std::string next =
            exchange(gw.port, "GET /after HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
        EXPECT_EQ(next.rfind("HTTP/1.1 200 ", 0), 0u) << escaped(next);
        const std::vector<std::string> after = up.requests();
        ASSERT_EQ(after.size(), 1u);
        EXPECT_EQ(after[0].rfind("GET /after HTTP/1.1\r\n", 0), 0u) << escaped(after[0]);
        EXPECT_EQ(up.connection_count(), before + 1) << "the part's connection was reused";
        return;
    }

    EXPECT_EQ(answer.rfind("HTTP/1.1 200 ", 0), 0u);
    ASSERT_EQ(got.size(), 1u);
    const std::string& raw = got[0];
    const auto end = raw.find("\r\n\r\n");
    ASSERT_NE(end, std::string::npos) << escaped(raw);
    const std::string head = lower(raw.substr(0, end + 2));
    EXPECT_EQ(head.rfind("post / http/1.1\r\n", 0), 0u) << escaped(raw);
    // Sluice's own framing: one Content-Length, as Sluice writes it, and no Transfer-Encoding.
    EXPECT_EQ(count(head, "\r\ncontent-length:"), 1u) << escaped(raw);
    EXPECT_NE(head.find("\r\ncontent-length: " + std::to_string(p.body.size()) + "\r\n"),
              std::string::npos)
        << escaped(raw);
    EXPECT_EQ(head.find("transfer-encoding"), std::string::npos) << escaped(raw);
    EXPECT_EQ(head.find("smuggled"), std::string::npos) << escaped(raw);
    EXPECT_EQ(raw.substr(end + 4), p.body);
}

INSTANTIATE_TEST_SUITE_P(Probes, Smuggling, testing::ValuesIn(probes()),
                         [](const testing::TestParamInfo<probe>& info) { return info.param.name; });

}  // namespace
}  // namespace sluice::test
