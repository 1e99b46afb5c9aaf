#pragma once

// A request copied out of the parser, for the tests and the fuzz harness that compare parses:
// the parser's views live only as long as its buffer.

#include <cstdint>
#include <optional>
#include <ostream>
#include <string>
#include <utility>
#include <vector>

#include "http/request.hpp"

namespace sluice::http {

struct snapshot {
    std::string method;
    std::string target;
    unsigned major = 0;
    unsigned minor = 0;
    bool keep_alive = false;
    bool chunked = false;
    std::optional<std::uint64_t> content_length;
    std::uint64_t body_size = 0;
    std::string body;
    std::vector<std::pair<std::string, std::string>> headers;
    std::size_t consumed = 0;

    bool operator==(const snapshot&) const = default;
};

inline std::ostream& operator<<(std::ostream& os, const snapshot& s) {
    os << s.method << ' ' << s.target << " HTTP/" << s.major << '.' << s.minor
       << " keep_alive=" << s.keep_alive << " chunked=" << s.chunked
       << " content_length=" << (s.content_length ? std::to_string(*s.content_length) : "-")
       << " body_size=" << s.body_size << " body=" << s.body.size() << "B consumed=" << s.consumed
       << " headers={";
    for (const auto& [n, v] : s.headers)
        os << '[' << n << ": " << v << ']';
    return os << '}';
}

inline snapshot take(const request& r, std::size_t consumed) {
    snapshot s;
    s.method = r.method;
    s.target = r.target;
    s.major = r.version_major;
    s.minor = r.version_minor;
    s.keep_alive = r.keep_alive;
    s.chunked = r.chunked;
    s.content_length = r.content_length;
    s.body_size = r.body_size;
    s.body = r.body;
    for (const header& h : r.fields())
        s.headers.emplace_back(h.name, h.value);
    s.consumed = consumed;
    return s;
}

}  // namespace sluice::http
