#include "http/header_rules.hpp"

#include <gtest/gtest.h>

#include <string>
#include <string_view>

namespace sluice::http::rules {
namespace {

// find_trailer_end as a parser calls it: the section whole, or growing one byte per read until it
// is complete or refused. The error it ends with, or "" for a complete section.
std::string search(std::string_view section, std::size_t max_bytes, bool whole) {
    std::size_t scanned = 0;
    for (std::size_t n = whole ? section.size() : 1; n <= section.size(); ++n) {
        const trailer_search found = find_trailer_end(section.substr(0, n), scanned, max_bytes);
        if (!found.error.empty()) return std::string(found.error);
        if (found.end != 0) return "";
    }
    return "incomplete";
}

// A wrong line ending and another fault in one section: whole and in pieces, the same reason.
TEST(header_rules, a_trailer_fault_is_named_the_same_whatever_the_split) {
    const struct {
        std::string_view section;
        std::string_view reason;
    } cases[] = {
        {"X-\nr@ u=\r\n\r\n", "bare LF in trailer section"},  // found by response_parser_fuzz
        {"X-\rY: 1\r\n\r\n", "CR not followed by LF"},
        {"X: a\n\r\n\r\n", "bare LF in trailer section"},
        {"X: a\r\n\r\n", ""},
    };
    for (const auto& c : cases) {
        EXPECT_EQ(search(c.section, 1024, true), c.reason) << c.section;
        EXPECT_EQ(search(c.section, 1024, false), c.reason) << c.section;
    }
    // Within the limit a bad line ending is named before the size.
    const std::string long_lf = "X: a\n" + std::string(100, 'b');
    EXPECT_EQ(search(long_lf, 64, true), "bare LF in trailer section");
    EXPECT_EQ(search(long_lf, 64, false), "bare LF in trailer section");
    const std::string long_ok = "X: " + std::string(100, 'b') + "\r\n\r\n";
    EXPECT_EQ(search(long_ok, 64, true), "trailer section too large");
    EXPECT_EQ(search(long_ok, 64, false), "trailer section too large");
}

}  // namespace
}  // namespace sluice::http::rules
