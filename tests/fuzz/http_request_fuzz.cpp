// The HTTP/1.1 request parser on the bytes a client sends over one connection: any number of
// pipelined requests.
//
// Checked, for the default limits and for small ones that the fuzzer can reach:
// - the stream fed whole, cut once at a random point, grown in random chunks and (short inputs)
//   byte by byte gives the same requests and ends with the same status: the header section is
//   handed to llhttp in one piece, so where the reads end must not matter;
// - every call sees the unconsumed bytes in a fresh heap block of exactly their size, so ASan
//   catches a read past them and a view that outlived a move of the buffer;
// - a ready request: 0 < consumed <= bytes given, every view lies inside its own bytes, method and
//   field names are tokens, the target is visible ASCII, values carry no CR, LF, NUL or
//   surrounding whitespace, at most max_header_fields fields, version 1.0 or 1.1, Content-Length
//   and chunked never both, a Content-Length body ends exactly where the request does, the header
//   section (and a chunked body) ends with CRLF CRLF, the body and the whole message stay within
//   the limits;
// - an error is 400, 413 or 431 with a reason, and sticky;
// - a ready request written out again plainly (no surrounding whitespace, one chunk, no
//   extensions or trailers) is no longer than it was and parses to the same request;
// - small limits only refuse more: what they accept, the default limits accept the same way;
// - streamed (stream_bodies: the head, then the body piece by piece, as the proxy reads it), the
//   stream gives the same result however it is split, each piece lies inside the bytes given and
//   the pieces add up to the body; and every request both modes accept is the same request.

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "http/request_parser.hpp"
#include "tests/fuzz/check.hpp"
#include "tests/http/request_snapshot.hpp"

namespace {

using sluice::fuzz::rng;
using sluice::fuzz::seed_of;

using sluice::http::body_event;
using sluice::http::body_step;
using sluice::http::parse_result;
using sluice::http::parse_status;
using sluice::http::parser_limits;
using sluice::http::request;
using sluice::http::request_parser;
using sluice::http::snapshot;
using sluice::http::take;

struct outcome {
    std::vector<snapshot> requests;
    parse_status last = parse_status::need_more;
    unsigned http_status = 0;

    bool operator==(const outcome&) const = default;
};

constexpr bool is_tchar(unsigned char c) {
    if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')) return true;
    return std::string_view("!#$%&'*+-.^_`|~").find(static_cast<char>(c)) != std::string_view::npos;
}

bool is_token(std::string_view s) {
    if (s.empty()) return false;
    for (const char c : s) {
        if (!is_tchar(static_cast<unsigned char>(c))) return false;
    }
    return true;
}

bool inside(std::string_view part, std::string_view whole) {
    if (part.empty()) return true;
    return part.data() >= whole.data() && part.data() + part.size() <= whole.data() + whole.size();
}

// Digits only, the one form of Content-Length the parser takes.
std::optional<std::uint64_t> decimal(std::string_view s) {
    if (s.empty()) return std::nullopt;
    std::uint64_t v = 0;
    for (const char c : s) {
        if (c < '0' || c > '9') return std::nullopt;
        if (v > (UINT64_MAX - 9) / 10) return std::nullopt;
        v = v * 10 + static_cast<unsigned>(c - '0');
    }
    return v;
}

void check_request(const request& r, std::string_view buf, std::size_t consumed,
                   const parser_limits& limits) {
    const std::string_view mine = buf.substr(0, consumed);
    SLUICE_FUZZ_CHECK(is_token(r.method) && inside(r.method, mine));
    SLUICE_FUZZ_CHECK(!r.target.empty() && inside(r.target, mine));
    for (const char c : r.target)
        SLUICE_FUZZ_CHECK(c > 0x20 && c < 0x7f);
    SLUICE_FUZZ_CHECK(r.version_major == 1 && r.version_minor <= 1);
    SLUICE_FUZZ_CHECK(r.header_count <= sluice::http::max_header_fields);
    std::size_t content_lengths = 0;
    for (const auto& h : r.fields()) {
        SLUICE_FUZZ_CHECK(is_token(h.name) && inside(h.name, mine));
        SLUICE_FUZZ_CHECK(inside(h.value, mine));
        if (!h.value.empty()) {
            SLUICE_FUZZ_CHECK(h.value.front() != ' ' && h.value.front() != '\t');
            SLUICE_FUZZ_CHECK(h.value.back() != ' ' && h.value.back() != '\t');
        }
        for (const char ch : h.value) {
            const auto c = static_cast<unsigned char>(ch);
            SLUICE_FUZZ_CHECK(c == '\t' || (c >= 0x20 && c != 0x7f));
        }
        if (sluice::http::iequals(h.name, "content-length")) {
            ++content_lengths;
            SLUICE_FUZZ_CHECK(r.content_length == decimal(h.value));
        }
        if (sluice::http::iequals(h.name, "transfer-encoding")) {
            SLUICE_FUZZ_CHECK(r.chunked && sluice::http::iequals(h.value, "chunked"));
        }
    }
    SLUICE_FUZZ_CHECK(content_lengths == (r.content_length ? 1u : 0u));
    SLUICE_FUZZ_CHECK(!(r.chunked && r.content_length));
    SLUICE_FUZZ_CHECK(r.body_size <= limits.max_body_bytes);
    // Whatever ends a message or its header section is CRLF CRLF, never a lone LF a front proxy
    // might read differently.
    if (r.chunked) {
        SLUICE_FUZZ_CHECK(r.body.empty());
        SLUICE_FUZZ_CHECK(r.version_minor == 1);
        SLUICE_FUZZ_CHECK(mine.ends_with("\r\n\r\n"));
    } else {
        SLUICE_FUZZ_CHECK(r.body_size == r.content_length.value_or(0));
        SLUICE_FUZZ_CHECK(r.body.size() == r.body_size);
        // The body is the last part of the request's bytes.
        if (!r.body.empty()) SLUICE_FUZZ_CHECK(r.body.data() + r.body.size() == mine.end());
        SLUICE_FUZZ_CHECK(mine.substr(0, mine.size() - r.body.size()).ends_with("\r\n\r\n"));
    }
}

// Plays the connection: `pending_` holds the unconsumed bytes; each ready request is copied out
// and its bytes dropped.
class feeder {
  public:
    explicit feeder(const parser_limits& limits) : limits_{limits}, parser_{limits} {}

    void feed(std::string_view bytes) {
        pending_.append(bytes);
        while (out_.last != parse_status::error) {
            // A fresh block of exactly the pending bytes for every call.
            const auto block = std::make_unique<char[]>(pending_.size());
            if (!pending_.empty()) std::memcpy(block.get(), pending_.data(), pending_.size());
            const std::string_view buf{block.get(), pending_.size()};
            const parse_result r = parser_.parse(buf);
            out_.last = r.status;
            if (r.status == parse_status::need_more) {
                SLUICE_FUZZ_CHECK(r.consumed == 0 && r.http_status == 0);
                SLUICE_FUZZ_CHECK(buf.size() < parser_.max_message_bytes());
                return;
            }
            if (r.status == parse_status::error) {
                SLUICE_FUZZ_CHECK(r.http_status == 400 || r.http_status == 413 ||
                                  r.http_status == 431);
                SLUICE_FUZZ_CHECK(!r.reason.empty());
                out_.http_status = r.http_status;
                const parse_result again = parser_.parse(buf);
                SLUICE_FUZZ_CHECK(again.status == parse_status::error);
                SLUICE_FUZZ_CHECK(again.http_status == r.http_status);
                return;
            }
            SLUICE_FUZZ_CHECK(r.consumed > 0 && r.consumed <= buf.size());
            SLUICE_FUZZ_CHECK(r.consumed <= parser_.max_message_bytes());
            SLUICE_FUZZ_CHECK(!parser_.expects_continue());
            check_request(parser_.current(), buf, r.consumed, limits_);
            out_.requests.push_back(take(parser_.current(), r.consumed));
            pending_.erase(0, r.consumed);
        }
    }

    const outcome& result() const { return out_; }

  private:
    parser_limits limits_;
    request_parser parser_;
    std::string pending_;
    outcome out_;
};

// Plays the connection of a proxy: the head, then parse_body() on what follows it, piece by piece,
// on a fresh exact-size block per call. A request is recorded once its body is done, with the
// decoded body (a chunked one as its size, as the held mode reports it).
class stream_feeder {
  public:
    explicit stream_feeder(parser_limits limits)
        : limits_{with_streaming(limits)}, parser_{limits_} {}

    void feed(std::string_view bytes) {
        pending_.append(bytes);
        while (out_.last != parse_status::error) {
            const auto block = std::make_unique<char[]>(pending_.size());
            if (!pending_.empty()) std::memcpy(block.get(), pending_.data(), pending_.size());
            const std::string_view buf{block.get(), pending_.size()};
            if (!in_body_) {
                const parse_result r = parser_.parse(buf);
                out_.last = r.status;
                if (r.status == parse_status::need_more) return;
                if (r.status == parse_status::error) {
                    out_.http_status = r.http_status;
                    return;
                }
                SLUICE_FUZZ_CHECK(r.consumed > 0 && r.consumed <= buf.size());
                current_ = take(parser_.current(), r.consumed);
                pending_.erase(0, r.consumed);
                if (r.status == parse_status::ready) {
                    out_.requests.push_back(current_);
                    continue;
                }
                SLUICE_FUZZ_CHECK(parser_.current().body_pending);
                in_body_ = true;
                decoded_.clear();
                continue;
            }
            const body_step step = parser_.parse_body(buf);
            SLUICE_FUZZ_CHECK(step.consumed <= buf.size());
            current_.consumed += step.consumed;
            switch (step.event) {
                case body_event::data:
                    SLUICE_FUZZ_CHECK(!step.data.empty() && inside(step.data, buf));
                    SLUICE_FUZZ_CHECK(step.data.data() + step.data.size() <=
                                      buf.data() + step.consumed);
                    decoded_.append(step.data);
                    SLUICE_FUZZ_CHECK(decoded_.size() <= limits_.max_body_bytes);
                    break;
                case body_event::need_more:
                    pending_.erase(0, step.consumed);
                    out_.last = parse_status::need_more;
                    return;
                case body_event::error:
                    SLUICE_FUZZ_CHECK(step.http_status == 400 || step.http_status == 413);
                    SLUICE_FUZZ_CHECK(parser_.parse_body(buf).event == body_event::error);
                    out_.last = parse_status::error;
                    out_.http_status = step.http_status;
                    return;
                case body_event::done:
                    if (current_.chunked) {
                        current_.body_size = decoded_.size();
                    } else {
                        SLUICE_FUZZ_CHECK(decoded_.size() == current_.content_length.value_or(0));
                        current_.body = decoded_;
                        current_.body_size = decoded_.size();
                    }
                    out_.requests.push_back(current_);
                    in_body_ = false;
                    break;
            }
            pending_.erase(0, step.consumed);
        }
    }

    const outcome& result() const { return out_; }

  private:
    static parser_limits with_streaming(parser_limits l) {
        l.stream_bodies = true;
        return l;
    }

    parser_limits limits_;
    request_parser parser_;
    std::string pending_;
    outcome out_;
    bool in_body_ = false;
    snapshot current_;
    std::string decoded_;
};

outcome parse_whole(std::string_view all, const parser_limits& limits) {
    feeder f{limits};
    f.feed(all);
    return f.result();
}

// The request as a plain client would send it.
std::string plain(const snapshot& s) {
    std::string out = s.method + " " + s.target + " HTTP/" + std::to_string(s.major) + "." +
                      std::to_string(s.minor) + "\r\n";
    for (const auto& [name, value] : s.headers)
        out += name + ":" + value + "\r\n";
    out += "\r\n";
    if (s.chunked) {
        if (s.body_size != 0) {
            char size[32];
            std::snprintf(size, sizeof size, "%llx", static_cast<unsigned long long>(s.body_size));
            out += std::string(size) + "\r\n" + std::string(s.body_size, 'x') + "\r\n";
        }
        out += "0\r\n\r\n";
    } else {
        out += s.body;
    }
    return out;
}

outcome run(std::string_view all, const parser_limits& limits) {
    const outcome whole = parse_whole(all, limits);

    for (const snapshot& s : whole.requests) {
        const std::string again = plain(s);
        SLUICE_FUZZ_CHECK(again.size() <= s.consumed);
        const outcome reparsed = parse_whole(again, limits);
        SLUICE_FUZZ_CHECK(reparsed.requests.size() == 1);
        snapshot want = s;
        want.consumed = again.size();
        if (s.chunked) want.body.clear();
        SLUICE_FUZZ_CHECK(reparsed.requests[0] == want);
    }

    rng r{seed_of(all)};
    {
        const std::size_t at = all.empty() ? 0 : r.next() % (all.size() + 1);
        feeder f{limits};
        f.feed(all.substr(0, at));
        f.feed(all.substr(at));
        SLUICE_FUZZ_CHECK(f.result() == whole);
    }
    {
        feeder f{limits};
        std::size_t n = 0;
        while (n < all.size()) {
            const std::uint64_t x = r.next();
            const std::size_t step = (x & 3) == 0 ? 1 + (x >> 8) % 256 : 1 + (x >> 8) % 8;
            const std::size_t next = std::min(all.size(), n + step);
            f.feed(all.substr(n, next - n));
            n = next;
        }
        SLUICE_FUZZ_CHECK(f.result() == whole);
    }
    if (all.size() <= 1024) {
        feeder f{limits};
        for (std::size_t i = 0; i < all.size(); ++i)
            f.feed(all.substr(i, 1));
        SLUICE_FUZZ_CHECK(f.result() == whole);
    }

    stream_feeder streamed{limits};
    streamed.feed(all);
    {
        stream_feeder f{limits};
        std::size_t n = 0;
        while (n < all.size()) {
            const std::uint64_t x = r.next();
            const std::size_t step = (x & 3) == 0 ? 1 + (x >> 8) % 256 : 1 + (x >> 8) % 8;
            const std::size_t next = std::min(all.size(), n + step);
            f.feed(all.substr(n, next - n));
            n = next;
        }
        SLUICE_FUZZ_CHECK(f.result() == streamed.result());
    }
    // Held whole, a message is also bounded by its framing (max_framing_bytes), which streaming
    // does not hold; the requests both accept must be the same.
    const auto& a = streamed.result().requests;
    for (std::size_t i = 0; i < std::min(a.size(), whole.requests.size()); ++i)
        SLUICE_FUZZ_CHECK(a[i] == whole.requests[i]);
    return whole;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view all{reinterpret_cast<const char*>(data), size};

    const outcome wide = run(all, parser_limits{});

    parser_limits small;
    small.max_header_bytes = 160;
    small.max_body_bytes = 24;
    small.max_framing_bytes = 48;
    const outcome narrow = run(all, small);

    SLUICE_FUZZ_CHECK(narrow.requests.size() <= wide.requests.size());
    for (std::size_t i = 0; i < narrow.requests.size(); ++i)
        SLUICE_FUZZ_CHECK(narrow.requests[i] == wide.requests[i]);
    return 0;
}
