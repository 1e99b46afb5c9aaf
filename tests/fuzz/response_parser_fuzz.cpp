// The upstream response parser (a pull parser) on the bytes an upstream sends over one connection:
// any number of responses, interim ones included, possibly ended by the upstream closing.
//
// The first input byte chooses the exchange: bit 0 a HEAD request (no body whatever the head
// says), bit 1 whether the upstream closes after the last byte (eof()), bit 2 small limits the
// fuzzer can reach. The second seeds the split points. The rest is the stream.
//
// Checked:
// - never a crash, a read outside the bytes given (each call sees them in a fresh heap block of
//   exactly their size) or a step loop that makes no progress;
// - every step consumes at most the bytes given; a head step consumes its header section, and the
//   head's views lie inside it; a body piece is non-empty and lies inside the consumed bytes;
// - the stream fed whole, in random pieces and (short inputs) byte by byte gives the same events
//   (head, body, done, error with its reason; consecutive body pieces merged) and the same body
//   bytes;
// - an error is sticky: parse() and eof() repeat it;
// - a done step after a Content-Length head comes once exactly that many body bytes arrived; a
//   head without a body (HEAD, 1xx, 204, 304, 101) is followed by no body piece.

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "http/response_parser.hpp"
#include "tests/fuzz/check.hpp"

namespace {

using sluice::fuzz::rng;

using sluice::http::body_framing;
using sluice::http::response_event;
using sluice::http::response_head;
using sluice::http::response_parser;
using sluice::http::response_parser_limits;
using sluice::http::response_step;

struct options {
    bool head_request = false;
    bool eof = false;
    response_parser_limits limits;
};

bool inside(std::string_view part, std::string_view whole) {
    if (part.empty()) return true;
    return part.data() >= whole.data() && part.data() + part.size() <= whole.data() + whole.size();
}

std::string describe(const response_head& h) {
    std::string s = "H" + std::to_string(h.status) + " " + std::string(h.reason) + " " +
                    std::to_string(h.version_major) + "." + std::to_string(h.version_minor) +
                    " ka=" + std::to_string(h.keep_alive) +
                    " f=" + std::to_string(static_cast<int>(h.framing)) +
                    " cl=" + std::to_string(h.has_content_length) + ":" +
                    std::to_string(h.content_length);
    for (const auto& f : h.fields()) {
        s += '\n';
        s += f.name;
        s += ':';
        s += f.value;
    }
    return s;
}

// What a caller saw: one entry per head, body run, done and error; the body bytes in order.
struct outcome {
    std::vector<std::string> events;
    std::string body;

    bool operator==(const outcome&) const = default;
};

// Plays the gateway's upstream connection: `pending_` holds the bytes not consumed yet.
class feeder {
  public:
    explicit feeder(const options& o) : opts_{o}, parser_{o.limits} { expect(); }

    void feed(std::string_view bytes) {
        if (stopped_) return;
        pending_.append(bytes);
        int idle_steps = 0;
        while (!stopped_) {
            const auto block = std::make_unique<char[]>(pending_.size());
            if (!pending_.empty()) std::memcpy(block.get(), pending_.data(), pending_.size());
            const std::string_view buf{block.get(), pending_.size()};
            const response_step s = parser_.parse(buf);
            SLUICE_FUZZ_CHECK(s.consumed <= buf.size());
            const bool more = take(s, buf);
            pending_.erase(0, s.consumed);
            if (!more) return;
            // A step that consumes nothing is a head-less done or an interim head's successor;
            // a few in a row without a byte taken would be a loop.
            idle_steps = s.consumed == 0 ? idle_steps + 1 : 0;
            SLUICE_FUZZ_CHECK(idle_steps <= 2);
        }
    }

    void eof() {
        if (stopped_) return;
        const response_step s = parser_.eof();
        SLUICE_FUZZ_CHECK(s.consumed == 0);
        SLUICE_FUZZ_CHECK(s.event == response_event::done || s.event == response_event::error);
        take(s, {});
        stopped_ = true;
    }

    const outcome& result() const { return out_; }

  private:
    void expect() { parser_.expect_response_to(opts_.head_request ? "HEAD" : "GET"); }

    // False when the caller has to read more, or stops.
    bool take(const response_step& s, std::string_view buf) {
        switch (s.event) {
            case response_event::need_more:
                SLUICE_FUZZ_CHECK(s.body.empty());
                return false;
            case response_event::head: {
                SLUICE_FUZZ_CHECK(s.consumed > 0);
                const response_head& h = parser_.head();
                const std::string_view section = buf.substr(0, s.consumed);
                SLUICE_FUZZ_CHECK(section.ends_with("\r\n\r\n"));
                SLUICE_FUZZ_CHECK(inside(h.reason, section));
                SLUICE_FUZZ_CHECK(h.header_count <= opts_.limits.max_fields);
                for (const auto& f : h.fields())
                    SLUICE_FUZZ_CHECK(inside(f.name, section) && inside(f.value, section));
                SLUICE_FUZZ_CHECK(h.status >= 100 && h.status <= 599);
                if (opts_.head_request && !h.interim() && h.status != 101) {
                    SLUICE_FUZZ_CHECK(h.framing == body_framing::none);
                }
                if (h.framing == body_framing::content_length) {
                    SLUICE_FUZZ_CHECK(h.has_content_length);
                }
                framing_ = h.framing;
                content_length_ = h.content_length;
                body_bytes_ = 0;
                in_message_ = !h.interim();
                out_.events.push_back(describe(h));
                if (h.framing == body_framing::switched) {
                    // The bytes after the head belong to another protocol; the parser only says
                    // that this response is done.
                    const std::string_view rest = buf.substr(s.consumed);
                    const response_step d = parser_.parse(rest);
                    SLUICE_FUZZ_CHECK(d.event == response_event::done && d.consumed == 0);
                    out_.events.push_back("D");
                    stopped_ = true;
                    return false;
                }
                return true;
            }
            case response_event::body:
                SLUICE_FUZZ_CHECK(in_message_);
                SLUICE_FUZZ_CHECK(!s.body.empty());
                SLUICE_FUZZ_CHECK(inside(s.body, buf.substr(0, s.consumed)));
                SLUICE_FUZZ_CHECK(framing_ == body_framing::content_length ||
                                  framing_ == body_framing::chunked ||
                                  framing_ == body_framing::until_close);
                body_bytes_ += s.body.size();
                if (framing_ == body_framing::content_length) {
                    SLUICE_FUZZ_CHECK(body_bytes_ <= content_length_);
                }
                if (out_.events.empty() || out_.events.back() != "B") out_.events.push_back("B");
                out_.body += s.body;
                return true;
            case response_event::done:
                SLUICE_FUZZ_CHECK(in_message_);
                SLUICE_FUZZ_CHECK(parser_.message_complete());
                if (framing_ == body_framing::content_length) {
                    SLUICE_FUZZ_CHECK(body_bytes_ == content_length_);
                }
                if (framing_ == body_framing::none) SLUICE_FUZZ_CHECK(body_bytes_ == 0);
                in_message_ = false;
                out_.events.push_back("D");
                expect();
                return true;
            case response_event::error: {
                SLUICE_FUZZ_CHECK(!s.reason.empty());
                SLUICE_FUZZ_CHECK(s.consumed == 0);
                const response_step again = parser_.parse(buf);
                SLUICE_FUZZ_CHECK(again.event == response_event::error && again.consumed == 0);
                SLUICE_FUZZ_CHECK(parser_.eof().event == response_event::error);
                out_.events.push_back("E" + std::string(s.reason));
                stopped_ = true;
                return false;
            }
        }
        SLUICE_FUZZ_CHECK(false);
        return false;
    }

    options opts_;
    response_parser parser_;
    std::string pending_;
    outcome out_;
    bool stopped_ = false;
    bool in_message_ = false;
    body_framing framing_ = body_framing::none;
    std::uint64_t content_length_ = 0;
    std::uint64_t body_bytes_ = 0;
};

outcome run_whole(std::string_view all, const options& o) {
    feeder f{o};
    f.feed(all);
    if (o.eof) f.eof();
    return f.result();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size < 2) return 0;
    options o;
    o.head_request = (data[0] & 1) != 0;
    o.eof = (data[0] & 2) != 0;
    if ((data[0] & 4) != 0) {
        o.limits.max_header_bytes = 96;
        o.limits.max_fields = 4;
    }
    const std::string_view all{reinterpret_cast<const char*>(data) + 2, size - 2};

    const outcome whole = run_whole(all, o);

    rng r{(static_cast<std::uint64_t>(data[1]) + 1) * 0x9E3779B97F4A7C15ULL};
    {
        feeder f{o};
        std::size_t n = 0;
        while (n < all.size()) {
            const std::uint64_t x = r.next();
            const std::size_t step = (x & 3) == 0 ? 1 + (x >> 8) % 512 : 1 + (x >> 8) % 16;
            const std::size_t next = std::min(all.size(), n + step);
            f.feed(all.substr(n, next - n));
            n = next;
        }
        if (o.eof) f.eof();
        SLUICE_FUZZ_CHECK(f.result() == whole);
    }
    if (all.size() <= 1024) {
        feeder f{o};
        for (std::size_t i = 0; i < all.size(); ++i)
            f.feed(all.substr(i, 1));
        if (o.eof) f.eof();
        SLUICE_FUZZ_CHECK(f.result() == whole);
    }
    return 0;
}
