// The RESP parser on bytes as a Redis server (or anything pretending to be one) sends them: any
// number of replies back to back.
//
// Checked, for the default limits and for small ones that the fuzzer can reach:
// - the stream parsed whole, grown one byte at a time and grown in random chunks gives the same
//   replies, the same nodes and the same final status and error (resumable at every byte);
// - every call sees its bytes in a heap block of exactly their size, so ASan catches a read past
//   the bytes received so far, and every node's value lies inside them;
// - a completed reply is a well-formed tree (pre-order, depths, element counts, attributes before
//   the value they annotate) and `consumed` covers exactly the bytes up to its end;
// - an error is a protocol error, and sticky: asking again repeats it and reports no node;
// - written out again canonically, a reply is no longer than it was and parses to the same nodes;
// - small limits only refuse more: what they accept, the default limits accept the same way.

#include <charconv>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include "resp/error.hpp"
#include "resp/parser.hpp"
#include "tests/fuzz/check.hpp"

namespace {

using sluice::fuzz::rng;
using sluice::fuzz::seed_of;

using sluice::resp::adapter;
using sluice::resp::node;
using sluice::resp::parser;
using sluice::resp::parser_limits;
using sluice::resp::type;

struct record {
    type t;
    std::size_t size;
    std::size_t depth;
    std::string value;

    bool operator==(const record&) const = default;
};

struct reply {
    std::vector<record> nodes;
    std::size_t consumed;

    bool operator==(const reply&) const = default;
};

// What a connection makes of the stream: the completed replies, then the nodes of the reply that
// was still incomplete (or failed) when the bytes ran out, and how the last call ended.
struct outcome {
    std::vector<reply> replies;
    std::vector<record> pending;
    parser::status last = parser::status::need_more;
    std::error_code ec;

    bool operator==(const outcome&) const = default;
};

// A copy of the bytes in a heap block of exactly their size: a std::string would have its
// terminator and spare capacity after the last byte, where ASan cannot see a read.
class exact_buffer {
  public:
    explicit exact_buffer(std::string_view s)
        : data_{std::make_unique<char[]>(s.size())}, size_{s.size()} {
        if (!s.empty()) std::memcpy(data_.get(), s.data(), s.size());
    }
    std::string_view view() const { return {data_.get(), size_}; }

  private:
    std::unique_ptr<char[]> data_;
    std::size_t size_;
};

struct collector {
    std::vector<record>* out;
    std::string_view buf;

    void operator()(const node& n) const {
        // The value views the caller's bytes, never memory of the parser's own.
        if (!n.value.empty()) {
            SLUICE_FUZZ_CHECK(n.value.data() >= buf.data());
            SLUICE_FUZZ_CHECK(n.value.data() + n.value.size() <= buf.data() + buf.size());
        }
        out->push_back({n.data_type, n.size, n.depth, std::string{n.value}});
    }
};

// Plays the connection: the bytes received so far start at the first byte of the current reply;
// a completed reply is cut off the front.
class stream {
  public:
    explicit stream(const parser_limits& limits) : parser_{limits} {}

    // The stream has grown to `received` bytes of `all`.
    void grow(std::string_view all, std::size_t received) {
        while (out_.last != parser::status::error) {
            const exact_buffer b{all.substr(start_, received - start_)};
            std::vector<record> got;
            const auto r = parser_.parse(b.view(), collector{&got, b.view()});
            out_.pending.insert(out_.pending.end(), got.begin(), got.end());
            out_.last = r.st;
            out_.ec = r.ec;
            if (r.st == parser::status::need_more) {
                SLUICE_FUZZ_CHECK(r.consumed == 0 && !r.ec);
                return;
            }
            if (r.st == parser::status::error) {
                SLUICE_FUZZ_CHECK(r.consumed == 0);
                SLUICE_FUZZ_CHECK(&r.ec.category() == &sluice::resp::resp_category());
                SLUICE_FUZZ_CHECK(is_protocol_error(static_cast<sluice::resp::errc>(r.ec.value())));
                std::vector<record> again;
                const auto r2 = parser_.parse(b.view(), collector{&again, b.view()});
                SLUICE_FUZZ_CHECK(r2.st == parser::status::error && r2.ec == r.ec);
                SLUICE_FUZZ_CHECK(again.empty());
                return;
            }
            SLUICE_FUZZ_CHECK(!r.ec);
            SLUICE_FUZZ_CHECK(r.consumed > 0 && r.consumed <= b.view().size());
            SLUICE_FUZZ_CHECK(parser_.idle());
            out_.replies.push_back({std::move(out_.pending), r.consumed});
            out_.pending.clear();
            start_ += r.consumed;
        }
    }

    const outcome& result() const { return out_; }

  private:
    parser parser_;
    std::size_t start_ = 0;
    outcome out_;
};

outcome parse_whole(std::string_view all, const parser_limits& limits) {
    stream s{limits};
    s.grow(all, all.size());
    return s.result();
}

outcome parse_byte_by_byte(std::string_view all, const parser_limits& limits) {
    stream s{limits};
    for (std::size_t n = 0; n <= all.size(); ++n)
        s.grow(all, n);
    return s.result();
}

outcome parse_in_chunks(std::string_view all, const parser_limits& limits, rng& r) {
    stream s{limits};
    std::size_t n = 0;
    while (n < all.size()) {
        // Mostly short chunks, where the cuts land inside headers and CRLFs; now and then a long
        // one.
        const std::uint64_t x = r.next();
        const std::size_t step = (x & 7) == 0 ? 1 + (x >> 8) % 512 : 1 + (x >> 8) % 8;
        n = std::min(all.size(), n + step);
        s.grow(all, n);
    }
    s.grow(all, all.size());
    return s.result();
}

// Checks that `nodes` from `i` on hold one value at `depth`, and moves `i` past it.
void check_value(const std::vector<record>& nodes, std::size_t& i, std::size_t depth) {
    SLUICE_FUZZ_CHECK(i < nodes.size());
    const record& n = nodes[i++];
    SLUICE_FUZZ_CHECK(n.depth == depth);
    if (sluice::resp::is_aggregate(n.t)) {
        SLUICE_FUZZ_CHECK(n.value.empty());
        const bool pairs = n.t == type::map || n.t == type::attribute;
        const std::size_t children = pairs ? 2 * n.size : n.size;
        for (std::size_t c = 0; c < children; ++c)
            check_value(nodes, i, depth + 1);
        // An attribute annotates the value that follows it, at its own depth. A loop rather
        // than recursion: attributes in a row are limited by nothing but the input's length.
        if (n.t == type::attribute) {
            while (i < nodes.size() && nodes[i].t == type::attribute && nodes[i].depth == depth) {
                const std::size_t pairs_of_next = 2 * nodes[i++].size;
                for (std::size_t c = 0; c < pairs_of_next; ++c)
                    check_value(nodes, i, depth + 1);
            }
            check_value(nodes, i, depth);
        }
        return;
    }
    SLUICE_FUZZ_CHECK(n.size == (n.t == type::null ? 0u : 1u));
    switch (n.t) {
        case type::null:
            SLUICE_FUZZ_CHECK(n.value.empty());
            break;
        case type::boolean:
            SLUICE_FUZZ_CHECK(n.value == "t" || n.value == "f");
            break;
        case type::integer:
        case type::big_number: {
            const std::size_t sign = !n.value.empty() && (n.value[0] == '-' || n.value[0] == '+');
            SLUICE_FUZZ_CHECK(n.value.size() > sign);
            SLUICE_FUZZ_CHECK(n.value.find_first_not_of("0123456789", sign) == std::string::npos);
            if (n.t == type::integer) {
                // Within int64, as from_chars judges it (which takes no '+').
                const char* first = n.value.data() + (n.value[0] == '+' ? 1 : 0);
                const char* last = n.value.data() + n.value.size();
                std::int64_t v = 0;
                const auto [end, ec] = std::from_chars(first, last, v);
                SLUICE_FUZZ_CHECK(ec == std::errc{} && end == last);
            }
            break;
        }
        case type::simple_string:
        case type::simple_error:
        case type::double_type:
            // A line ends at its first CR.
            SLUICE_FUZZ_CHECK(n.value.find('\r') == std::string::npos);
            break;
        case type::verbatim_string:
            SLUICE_FUZZ_CHECK(n.value.size() >= 4 && n.value[3] == ':');
            break;
        default:
            break;
    }
}

void check_tree(const std::vector<record>& nodes) {
    std::size_t i = 0;
    check_value(nodes, i, 0);
    SLUICE_FUZZ_CHECK(i == nodes.size());
}

char type_byte(type t) {
    switch (t) {
        case type::simple_string:
            return '+';
        case type::simple_error:
            return '-';
        case type::integer:
            return ':';
        case type::bulk_string:
            return '$';
        case type::array:
            return '*';
        case type::null:
            return '_';
        case type::boolean:
            return '#';
        case type::double_type:
            return ',';
        case type::big_number:
            return '(';
        case type::bulk_error:
            return '!';
        case type::verbatim_string:
            return '=';
        case type::map:
            return '%';
        case type::set:
            return '~';
        case type::attribute:
            return '|';
        case type::push:
            return '>';
    }
    return '?';
}

// The reply as a server would write it: no leading zeros in lengths, RESP3 null for every null.
std::string canonical(const std::vector<record>& nodes) {
    std::string out;
    for (const record& n : nodes) {
        out += type_byte(n.t);
        switch (n.t) {
            case type::bulk_string:
            case type::bulk_error:
            case type::verbatim_string:
                out += std::to_string(n.value.size()) + "\r\n" + n.value;
                break;
            case type::array:
            case type::map:
            case type::set:
            case type::attribute:
            case type::push:
                out += std::to_string(n.size);
                break;
            default:
                out += n.value;
        }
        out += "\r\n";
    }
    return out;
}

void check(const outcome& o, const parser_limits& limits) {
    for (const reply& r : o.replies) {
        check_tree(r.nodes);
        const std::string again = canonical(r.nodes);
        SLUICE_FUZZ_CHECK(again.size() <= r.consumed);
        const outcome reparsed = parse_whole(again, limits);
        SLUICE_FUZZ_CHECK(reparsed.replies.size() == 1);
        SLUICE_FUZZ_CHECK(reparsed.replies[0].nodes == r.nodes);
        SLUICE_FUZZ_CHECK(reparsed.replies[0].consumed == again.size());
        SLUICE_FUZZ_CHECK(reparsed.pending.empty());
        for (const record& n : r.nodes)
            SLUICE_FUZZ_CHECK(n.depth <= limits.max_depth + 1);
    }
}

outcome run(std::string_view all, const parser_limits& limits) {
    const outcome whole = parse_whole(all, limits);
    check(whole, limits);
    rng r{seed_of(all)};
    SLUICE_FUZZ_CHECK(parse_in_chunks(all, limits, r) == whole);
    // Byte by byte costs a copy of the pending bytes per byte: only for short inputs.
    if (all.size() <= 1024) SLUICE_FUZZ_CHECK(parse_byte_by_byte(all, limits) == whole);
    return whole;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view all{reinterpret_cast<const char*>(data), size};

    const outcome wide = run(all, parser_limits{});

    parser_limits small;
    small.max_depth = 3;
    small.max_bulk = 16;
    small.max_aggregate = 5;
    small.max_line = 12;
    const outcome narrow = run(all, small);

    SLUICE_FUZZ_CHECK(narrow.replies.size() <= wide.replies.size());
    for (std::size_t i = 0; i < narrow.replies.size(); ++i)
        SLUICE_FUZZ_CHECK(narrow.replies[i] == wide.replies[i]);
    return 0;
}
