// Replays llhttp 9.4.2's own request test corpus (tests/http/llhttp-corpus, unmodified) through
// request_parser and compares each outcome with the log llhttp expects for it.
//
// The rule: framing that llhttp 9.4 rejects is never accepted here. Where this parser is stricter
// than llhttp, the case must be listed in `stricter` below with the reason; any other difference,
// and any listed case that no longer differs, fails the test, so a change of behaviour on either
// side is seen.
//
// The corpus checks framing, not Host, and most of its HTTP/1.1 requests have none: the replay
// runs with require_host off. Cases for llhttp's lenient flags, its finish (EOF) mode or its
// skip-body callback test something a server does not do and are skipped, with the reason counted.

#include <gtest/gtest.h>

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include "http/request_parser.hpp"

namespace sluice::http {
namespace {

struct corpus_case {
    std::string file;  // e.g. "connection.md"
    int line = 0;      // of the raw request block
    std::string name;  // the heading above the case
    std::string meta;  // the JSON of the meta comment, as text
    std::string raw;   // the http block as written
    std::string log;   // the log block
    std::string key() const { return file + ": " + name; }
};

// Cases where this parser is stricter than llhttp 9.4, by "file: heading".
struct known_difference {
    const char* key;
    const char* reason;
};
const known_difference stricter[] = {
    {"method.md: QUERY request",
     "llhttp 8.1, which Sluice builds, predates the QUERY method: an unknown method is 400"},
    {"method.md: CONNECT request", "CONNECT is 400: the gateway does not tunnel"},
    {"method.md: CONNECT request with CAPS", "CONNECT is 400: the gateway does not tunnel"},
    {"method.md: CONNECT with body", "CONNECT is 400: the gateway does not tunnel"},
    {"uri.md: Underscore in hostname", "a CONNECT request: 400, the gateway does not tunnel"},
    {"method.md: SOURCE request with ICE", "only HTTP/1.0 and 1.1: ICE is another protocol"},
    {"method.md: OPTIONS request with RTSP", "only HTTP/1.0 and 1.1: RTSP is another protocol"},
    {"method.md: ANNOUNCE request with RTSP", "only HTTP/1.0 and 1.1: RTSP is another protocol"},
    {"sample.md: No HTTP version",
     "an HTTP/0.9 request line (no version) is 400: only HTTP/1.0 and 1.1"},
    {"content-length.md: Tabs in `Content-Length` (surrounding)",
     "llhttp 8.1 refuses HTAB around a Content-Length value (9.4 trims it); no client sends it"},
    {"transfer-encoding.md: Chunk extensions",
     "llhttp 8.1 refuses a chunk extension with a value followed by another (`5;a=b;c`)"},
    {"transfer-encoding.md: Chunk extensions quoting",
     "llhttp 8.1 refuses some quoted chunk extension values that 9.4 accepts"},
    {"transfer-encoding.md: POST with `chunked` as last transfer-encoding",
     "Transfer-Encoding must be exactly `chunked`: a coding the gateway does not decode "
     "(`deflate, chunked`) is framing it cannot check"},
    {"transfer-encoding.md: POST with `chunked` as last transfer-encoding (multiple headers)",
     "Transfer-Encoding may appear once: a list split over fields is 400 (request smuggling)"},
};

// What llhttp's log says happened: how many messages completed, then how it stopped.
enum class ending {
    open,   // no error: the connection could carry more
    stop,   // llhttp stops reading as HTTP: data after `Connection: close`, or an upgrade
    error,  // malformed input
};

struct expected_outcome {
    int messages = 0;
    ending end = ending::open;
    std::string error;  // llhttp's error line
};

// What a connection using request_parser does with the same bytes.
struct our_outcome {
    int messages = 0;
    ending end = ending::open;  // open: waiting for more; stop: keep_alive false; error: 4xx
    unsigned status = 0;
    std::string reason;
    std::string_view rest;  // bytes not consumed
};

std::string describe(int messages, ending end, std::string_view detail) {
    const char* what = end == ending::open ? "open" : end == ending::stop ? "stop" : "error";
    return std::to_string(messages) + " message(s), then " + what +
           (detail.empty() ? "" : " (" + std::string(detail) + ")");
}

// The input bytes from an http block, by the rules of llhttp's test/md-test.ts: newlines become
// CRLF, a backslash before a newline joins the lines, and \r \n \t \f \xHH \NNN are escapes.
std::string decode_raw(std::string in) {
    if (!in.empty() && in.back() == '\n') in.pop_back();
    std::string joined;
    for (std::size_t i = 0; i < in.size(); ++i) {
        if (in[i] == '\\' && i + 1 < in.size() && in[i + 1] == '\n') {
            ++i;
            continue;
        }
        joined += in[i] == '\n' ? std::string("\r\n") : std::string(1, in[i]);
    }
    // md-test.ts applies each escape as its own pass over the whole string, in this order.
    auto replace_all = [](std::string& s, std::string_view from, char to) {
        std::string out;
        for (std::size_t i = 0; i < s.size();) {
            if (s.compare(i, from.size(), from) == 0) {
                out += to;
                i += from.size();
            } else {
                out += s[i++];
            }
        }
        s = std::move(out);
    };
    replace_all(joined, "\\r", '\r');
    replace_all(joined, "\\n", '\n');
    replace_all(joined, "\\t", '\t');
    replace_all(joined, "\\f", '\f');
    auto is_hex = [](char c) { return std::isxdigit(static_cast<unsigned char>(c)) != 0; };
    std::string out;
    for (std::size_t i = 0; i < joined.size();) {
        if (joined.compare(i, 2, "\\x") == 0 && i + 2 < joined.size() && is_hex(joined[i + 2])) {
            std::size_t j = i + 2;
            while (j < joined.size() && is_hex(joined[j]))
                ++j;
            out += static_cast<char>(std::stoul(joined.substr(i + 2, j - i - 2), nullptr, 16));
            i = j;
        } else {
            out += joined[i++];
        }
    }
    std::string bytes;
    for (std::size_t i = 0; i < out.size();) {
        if (out[i] == '\\' && i + 1 < out.size() && out[i + 1] >= '0' && out[i + 1] <= '7') {
            std::size_t j = i + 1;
            while (j < out.size() && j < i + 4 && out[j] >= '0' && out[j] <= '7')
                ++j;
            bytes += static_cast<char>(std::stoul(out.substr(i + 1, j - i - 1), nullptr, 8));
            i = j;
        } else {
            bytes += out[i++];
        }
    }
    return bytes;
}

std::vector<corpus_case> load_file(const std::filesystem::path& path) {
    std::ifstream in(path);
    std::vector<corpus_case> cases;
    std::string line;
    std::string heading;
    std::string meta;
    corpus_case current;
    bool have_raw = false;
    enum { text, raw_block, log_block } state = text;
    int number = 0;
    while (std::getline(in, line)) {
        ++number;
        if (state != text) {
            if (line == "```") {
                if (state == raw_block) {
                    have_raw = true;
                } else if (have_raw) {
                    cases.push_back(current);
                    have_raw = false;
                }
                state = text;
                continue;
            }
            (state == raw_block ? current.raw : current.log) += line + "\n";
            continue;
        }
        if (line.starts_with("#")) {
            heading = line.substr(line.find_first_not_of("# "));
        } else if (line.starts_with("<!-- meta=")) {
            meta = line;
        } else if (line == "```http") {
            current = {};
            current.file = path.filename().string();
            current.line = number;
            current.name = heading;
            current.meta = meta;
            meta.clear();
            state = raw_block;
        } else if (line == "```log") {
            current.log.clear();
            state = log_block;
        }
    }
    return cases;
}

expected_outcome expected_of(const std::string& log) {
    expected_outcome e;
    std::istringstream lines(log);
    std::string line;
    while (std::getline(lines, line)) {
        if (line.ends_with(" message complete")) ++e.messages;
        const std::size_t at = line.find(" error code=");
        if (at == std::string::npos) continue;
        e.error = line.substr(at + 1);
        // 5: data after `Connection: close`; 22: paused on an upgrade; 23: paused on the HTTP/2
        // preface. llhttp stops reading HTTP there; everything else is malformed input.
        const int code = std::stoi(line.substr(at + 12));
        e.end = code == 5 || code == 22 || code == 23 ? ending::stop : ending::error;
    }
    return e;
}

our_outcome replay(std::string_view bytes) {
    parser_limits limits;
    limits.require_host = false;
    request_parser parser(limits);
    our_outcome o;
    std::string_view pending = bytes;
    for (;;) {
        const parse_result r = parser.parse(pending);
        o.rest = pending;
        if (r.status == parse_status::need_more) return o;
        if (r.status == parse_status::error) {
            o.end = ending::error;
            o.status = r.http_status;
            o.reason = r.reason;
            return o;
        }
        ++o.messages;
        pending.remove_prefix(r.consumed);
        if (!parser.current().keep_alive) {
            // The connection answers and closes: whatever follows is never parsed.
            o.rest = pending;
            o.end = ending::stop;
            return o;
        }
    }
}

// Why a case does not apply to a server's request parser, or empty.
std::string skip_reason(const std::string& meta) {
    if (meta.find("\"request-lenient") != std::string::npos) return "llhttp lenient flag";
    if (meta.find("\"request-finish\"") != std::string::npos) return "llhttp_finish (EOF) mode";
    if (meta.find("\"response") != std::string::npos) return "response mode";
    if (meta.find("\"skipBody\"") != std::string::npos) return "skip-body callback";
    if (meta.find("\"request\"") == std::string::npos) return "not a request case";
    return {};
}

TEST(llhttp_corpus, no_framing_llhttp_rejects_is_accepted) {
    const std::filesystem::path dir =
        std::filesystem::path(SLUICE_SOURCE_DIR) / "tests/http/llhttp-corpus/request";
    std::vector<std::filesystem::path> files;
    for (const auto& entry : std::filesystem::directory_iterator(dir))
        if (entry.path().extension() == ".md") files.push_back(entry.path());
    std::sort(files.begin(), files.end());
    ASSERT_FALSE(files.empty()) << dir;

    std::map<std::string, std::string> allowed;
    for (const auto& d : stricter)
        allowed.emplace(d.key, d.reason);
    std::set<std::string> seen_keys;
    std::map<std::string, int> skipped;
    int total = 0;
    int agree = 0;
    int allowlisted = 0;
    int would_need_host = 0;
    int refused_at_section_end = 0;

    for (const auto& file : files) {
        for (const corpus_case& c : load_file(file)) {
            ++total;
            SCOPED_TRACE(c.file + ":" + std::to_string(c.line) + " " + c.name);
            if (const std::string why = skip_reason(c.meta); !why.empty()) {
                ++skipped[why];
                continue;
            }
            std::string key = c.key();
            for (int n = 2; !seen_keys.insert(key).second; ++n)
                key = c.key() + " #" + std::to_string(n);
            const std::string bytes = decode_raw(c.raw);
            const expected_outcome want = expected_of(c.log);
            our_outcome got = replay(bytes);
            // Many error cases stop before their header section ends, and llhttp refuses as soon
            // as a byte is wrong, while this parser checks a header section once it is complete:
            // ending the section must then get the refusal.
            if (want.end == ending::error && got.end == ending::open &&
                got.messages == want.messages && !got.rest.empty()) {
                const std::string ended = bytes + (bytes.ends_with("\r\n") ? "\r\n" : "\r\n\r\n");
                const our_outcome completed = replay(ended);
                if (completed.end == ending::error && completed.messages == got.messages) {
                    got = completed;
                    ++refused_at_section_end;
                }
            }
            {
                request_parser strict;
                const parse_result r = strict.parse(bytes);
                if (r.status == parse_status::error && r.reason == "missing Host") {
                    ++would_need_host;
                }
            }

            const std::string want_text = describe(want.messages, want.end, want.error);
            const std::string got_text = describe(got.messages, got.end, got.reason);
            // Looser: a message llhttp did not complete was delivered, or reading went on where
            // llhttp stopped or refused.
            const bool looser = got.messages > want.messages ||
                                (got.messages == want.messages && want.end != ending::open &&
                                 got.end == ending::open);
            // The same: the same messages, and we stop reading where llhttp stops or refuses
            // (closing before bytes llhttp refuses never reads them either).
            // With nothing after it but empty lines, a close is as good as waiting for more.
            const bool nothing_after = got.end == ending::stop &&
                                       got.rest.find_first_not_of("\r\n") == std::string_view::npos;
            const bool same = got.messages == want.messages &&
                              (want.end == ending::open ? got.end == ending::open || nothing_after
                                                        : got.end != ending::open);
            const auto allowance = allowed.find(key);
            if (looser) {
                ADD_FAILURE() << "accepted what llhttp does not: llhttp " << want_text << ", we "
                              << got_text;
            } else if (same) {
                ++agree;
                EXPECT_EQ(allowance, allowed.end())
                    << "listed as stricter, but agrees with llhttp: " << got_text;
            } else if (allowance != allowed.end()) {
                ++allowlisted;
            } else {
                ADD_FAILURE() << "stricter than llhttp without a listed reason: llhttp "
                              << want_text << ", we " << got_text;
            }
        }
    }
    for (const auto& d : stricter) {
        EXPECT_TRUE(seen_keys.contains(d.key)) << "no corpus case named " << d.key;
    }

    int skipped_total = 0;
    std::string skipped_text;
    for (const auto& [why, n] : skipped) {
        skipped_total += n;
        skipped_text += "  skipped " + std::to_string(n) + ": " + why + "\n";
    }
    std::printf(
        "llhttp corpus: %d cases: %d agree, %d stricter (allowlisted), %d skipped\n%s"
        "  of those that agree, %d are refused once their header section is ended\n"
        "  with Host required (the default), %d of the applicable cases answer 400 missing Host\n",
        total, agree, allowlisted, skipped_total, skipped_text.c_str(), refused_at_section_end,
        would_need_host);
    EXPECT_EQ(agree + allowlisted + skipped_total, total);
}

TEST(llhttp_corpus, obs_fold_in_chunked_trailers_is_refused) {
    // The corpus has no folded trailer line (llhttp 9.4 accepts one in strict mode); its
    // "Trailing headers" case with one of its trailer lines folded must be 400, while the case as
    // written is accepted.
    const auto cases = load_file(std::filesystem::path(SLUICE_SOURCE_DIR) /
                                 "tests/http/llhttp-corpus/request/transfer-encoding.md");
    const auto it = std::find_if(cases.begin(), cases.end(),
                                 [](const corpus_case& c) { return c.name == "Trailing headers"; });
    ASSERT_NE(it, cases.end());
    const std::string bytes = decode_raw(it->raw);
    const our_outcome as_written = replay(bytes);
    EXPECT_EQ(as_written.messages, 1) << as_written.reason;
    EXPECT_NE(as_written.end, ending::error) << as_written.reason;

    const std::size_t trailer = bytes.find("\r\n0\r\n");
    ASSERT_NE(trailer, std::string::npos);
    const std::size_t first_line_end = bytes.find("\r\n", trailer + 5);
    ASSERT_NE(first_line_end, std::string::npos);
    for (const char* fold : {" folded", "\tfolded"}) {
        std::string folded = bytes;
        folded.insert(first_line_end + 2, std::string(fold) + "\r\n");
        const our_outcome o = replay(folded);
        EXPECT_EQ(o.messages, 0);
        EXPECT_EQ(o.end, ending::error);
        EXPECT_EQ(o.status, 400u);
        EXPECT_EQ(o.reason, "obs-fold (line folding) in trailer section");
    }
}

}  // namespace
}  // namespace sluice::http
