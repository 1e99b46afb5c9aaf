// HTTP hot path: every gateway request is one parsed request and one written response head.

#include <benchmark/benchmark.h>

#include <cstdint>
#include <string>
#include <vector>

#include "http/request_parser.hpp"
#include "http/request_writer.hpp"
#include "http/response.hpp"
#include "http/response_parser.hpp"

namespace {

using sluice::http::connection_header;
using sluice::http::parse_result;
using sluice::http::parse_status;
using sluice::http::request_parser;
using sluice::http::response;

// About 300 bytes with 8 header fields: what a typical API client sends.
const std::string typical_get =
    "GET /api/v1/orders?id=42 HTTP/1.1\r\n"
    "Host: api.example.com\r\n"
    "User-Agent: curl/8.1.2\r\n"
    "Accept: application/json\r\n"
    "Accept-Encoding: gzip, deflate, br\r\n"
    "Accept-Language: en-US,en;q=0.9\r\n"
    "Connection: keep-alive\r\n"
    "X-Api-Key: k-8f14e45fceea167a5a36dedd4bea2543\r\n"
    "X-Request-Id: 3f2b9c1e-7d4a-4e8b-9f6a-2c1d0e5b7a99\r\n"
    "\r\n";

void parse_one(benchmark::State& state, const std::string& bytes) {
    request_parser parser;
    for (auto _ : state) {
        const parse_result r = parser.parse(bytes);
        if (r.status != parse_status::ready) {
            state.SkipWithError("request did not parse");
            break;
        }
        benchmark::DoNotOptimize(parser.current().header_count);
    }
    state.SetItemsProcessed(state.iterations());
    state.SetBytesProcessed(state.iterations() * static_cast<std::int64_t>(bytes.size()));
    state.SetLabel(std::to_string(bytes.size()) + " B");
}

void BM_parse_typical_get(benchmark::State& state) {
    parse_one(state, typical_get);
}
BENCHMARK(BM_parse_typical_get);

void BM_parse_post_with_body(benchmark::State& state) {
    parse_one(state,
              "POST /api/v1/orders HTTP/1.1\r\nHost: api.example.com\r\n"
              "Content-Type: application/json\r\nContent-Length: 64\r\n\r\n" +
                  std::string(64, 'j'));
}
BENCHMARK(BM_parse_post_with_body);

void BM_parse_chunked(benchmark::State& state) {
    parse_one(state,
              "POST /api/v1/upload HTTP/1.1\r\nHost: api.example.com\r\n"
              "Transfer-Encoding: chunked\r\n\r\n"
              "20\r\n" +
                  std::string(32, 'c') + "\r\n20\r\n" + std::string(32, 'c') + "\r\n0\r\n\r\n");
}
BENCHMARK(BM_parse_chunked);

// 16 pipelined requests in one buffer, as a read would deliver them.
void BM_parse_pipelined_16(benchmark::State& state) {
    std::string bytes;
    for (int i = 0; i < 16; ++i)
        bytes += typical_get;
    request_parser parser;
    for (auto _ : state) {
        std::string_view rest = bytes;
        while (!rest.empty()) {
            const parse_result r = parser.parse(rest);
            if (r.status != parse_status::ready) {
                state.SkipWithError("request did not parse");
                return;
            }
            benchmark::DoNotOptimize(parser.current().target.data());
            rest.remove_prefix(r.consumed);
        }
    }
    state.SetItemsProcessed(state.iterations() * 16);
    state.SetBytesProcessed(state.iterations() * static_cast<std::int64_t>(bytes.size()));
}
BENCHMARK(BM_parse_pipelined_16);

void BM_header_lookup(benchmark::State& state) {
    request_parser parser;
    if (parser.parse(typical_get).status != parse_status::ready) {
        state.SkipWithError("request did not parse");
        return;
    }
    for (auto _ : state) {
        benchmark::DoNotOptimize(parser.current().header("x-request-id").size());
    }
    state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_header_lookup);

// The gateway's 200 answer: JSON body and the three X-RateLimit fields, into a warm buffer.
void BM_write_response_head(benchmark::State& state) {
    const std::string body = R"({"status":"ok"})";
    std::string out;
    response res;
    std::int64_t n = 0;
    for (auto _ : state) {
        out.clear();
        res.clear();
        res.add_header("Content-Type", "application/json");
        res.add_header("X-RateLimit-Limit", std::int64_t{100});
        res.add_header("X-RateLimit-Remaining", n % 100);
        res.add_header("X-RateLimit-Reset", std::int64_t{7});
        res.set_body(body);
        res.write_head(out, connection_header::none);
        benchmark::DoNotOptimize(out.data());
        ++n;
    }
    state.SetItemsProcessed(state.iterations());
    state.SetLabel(std::to_string(out.size()) + " B head");
}
BENCHMARK(BM_write_response_head);

// An upstream's answer to an API call: about 400 bytes of head with 10 fields and a small JSON
// body, parsed head, body and end, as the proxy path will.
const std::string typical_upstream_response =
    "HTTP/1.1 200 OK\r\n"
    "Date: Tue, 01 Dec 2026 12:00:00 GMT\r\n"
    "Server: nginx/1.25.3\r\n"
    "Content-Type: application/json; charset=utf-8\r\n"
    "Content-Length: 64\r\n"
    "Connection: keep-alive\r\n"
    "Cache-Control: no-store\r\n"
    "Vary: Accept-Encoding\r\n"
    "X-Request-Id: 3f2b9c1e-7d4a-4e8b-9f6a-2c1d0e5b7a99\r\n"
    "Strict-Transport-Security: max-age=31536000\r\n"
    "ETag: \"5d8c72a5edda8d6a\"\r\n"
    "\r\n" +
    std::string(64, 'j');

void parse_upstream(benchmark::State& state, const std::string& bytes) {
    sluice::http::response_parser parser;
    for (auto _ : state) {
        parser.expect_response_to("GET");
        std::string_view rest = bytes;
        std::size_t body = 0;
        for (;;) {
            const sluice::http::response_step s = parser.parse(rest);
            if (s.event == sluice::http::response_event::error ||
                s.event == sluice::http::response_event::need_more) {
                state.SkipWithError("response did not parse");
                return;
            }
            body += s.body.size();
            rest.remove_prefix(s.consumed);
            if (s.event == sluice::http::response_event::done) break;
        }
        benchmark::DoNotOptimize(body);
    }
    state.SetItemsProcessed(state.iterations());
    state.SetBytesProcessed(state.iterations() * static_cast<std::int64_t>(bytes.size()));
    state.SetLabel(std::to_string(bytes.size()) + " B");
}

void BM_parse_upstream_response(benchmark::State& state) {
    parse_upstream(state, typical_upstream_response);
}
BENCHMARK(BM_parse_upstream_response);

void BM_parse_upstream_chunked(benchmark::State& state) {
    parse_upstream(state,
                   "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                   "Transfer-Encoding: chunked\r\n\r\n20\r\n" +
                       std::string(32, 'c') + "\r\n20\r\n" + std::string(32, 'c') +
                       "\r\n0\r\n\r\n");
}
BENCHMARK(BM_parse_upstream_chunked);

// The head Sluice sends upstream for typical_get from a trusted front proxy, into a warm buffer.
void BM_write_forwarded_request_head(benchmark::State& state) {
    const std::string with_xff =
        "GET /api/v1/orders?id=42 HTTP/1.1\r\n"
        "X-Forwarded-For: 198.51.100.4\r\n" +
        typical_get.substr(typical_get.find("\r\n") + 2);
    request_parser parser;
    if (parser.parse(with_xff).status != parse_status::ready) {
        state.SkipWithError("request did not parse");
        return;
    }
    const sluice::http::upstream_request up =
        sluice::http::upstream_request_for(parser.current(), "/backend", "10.0.0.7", true);
    std::string out;
    for (auto _ : state) {
        out.clear();
        sluice::http::write_request_head(out, up);
        benchmark::DoNotOptimize(out.data());
    }
    state.SetItemsProcessed(state.iterations());
    state.SetLabel(std::to_string(out.size()) + " B head");
}
BENCHMARK(BM_write_forwarded_request_head);

// A head with 60 fields (a browser behind a CDN: cookies, tracing, client hints), one of them a
// Connection field naming two more: what a per-head hop-by-hop list costs against a per-field
// scan of the Connection fields.
std::vector<sluice::http::header> sixty_fields() {
    static const std::vector<std::string> names = [] {
        std::vector<std::string> n;
        for (int i = 0; i < 57; ++i)
            n.push_back("X-Field-" + std::to_string(i));
        return n;
    }();
    std::vector<sluice::http::header> fields = {{"Host", "api.example.com"},
                                                {"Connection", "keep-alive, x-field-7"}};
    for (const std::string& name : names)
        fields.push_back({name, "value-of-a-typical-length"});
    fields.push_back({"Keep-Alive", "timeout=5"});
    return fields;
}

void BM_write_forwarded_request_head_60_fields(benchmark::State& state) {
    const std::vector<sluice::http::header> fields = sixty_fields();
    sluice::http::upstream_request up;
    up.method = "GET";
    up.target = "/api/v1/orders?id=42";
    up.fields = fields;
    up.prefix = "/backend";
    up.peer = "10.0.0.7";
    std::string out;
    for (auto _ : state) {
        out.clear();
        sluice::http::write_request_head(out, up);
        benchmark::DoNotOptimize(out.data());
    }
    state.SetItemsProcessed(state.iterations());
    state.SetLabel(std::to_string(fields.size()) + " fields, " + std::to_string(out.size()) +
                   " B head");
}
BENCHMARK(BM_write_forwarded_request_head_60_fields);

void BM_write_relayed_response_head_60_fields(benchmark::State& state) {
    const std::vector<sluice::http::header> fields = sixty_fields();
    const std::vector<sluice::http::header> extra = {
        {"X-RateLimit-Limit", "100"}, {"X-RateLimit-Remaining", "42"}, {"X-RateLimit-Reset", "7"}};
    sluice::http::relayed_response res;
    res.fields = fields;
    res.extra = extra;
    res.body = sluice::http::body_length::known;
    res.content_length = 512;
    std::string out;
    for (auto _ : state) {
        out.clear();
        sluice::http::write_response_head(out, res);
        benchmark::DoNotOptimize(out.data());
    }
    state.SetItemsProcessed(state.iterations());
    state.SetLabel(std::to_string(fields.size()) + " fields, " + std::to_string(out.size()) +
                   " B head");
}
BENCHMARK(BM_write_relayed_response_head_60_fields);

}  // namespace
