#pragma once

#include <cstddef>
#include <cstdint>
#include <ostream>
#include <string_view>

namespace sluice::resp {

// Every RESP2 and RESP3 type. RESP2's null bulk string ($-1) and null array (*-1) both parse as
// `null`, so adapters need not care which protocol the connection speaks.
enum class type : std::uint8_t {
    simple_string,    // +
    simple_error,     // -
    integer,          // :
    bulk_string,      // $
    array,            // *
    null,             // _  ($-1, *-1 in RESP2)
    boolean,          // #
    double_type,      // ,
    big_number,       // (
    bulk_error,       // !
    verbatim_string,  // =
    map,              // %
    set,              // ~
    attribute,        // |
    push,             // >
};

std::string_view to_string(type t) noexcept;
std::ostream& operator<<(std::ostream& os, type t);

constexpr bool is_aggregate(type t) noexcept {
    return t == type::array || t == type::map || t == type::set || t == type::attribute ||
           t == type::push;
}

constexpr bool is_error(type t) noexcept {
    return t == type::simple_error || t == type::bulk_error;
}

// One element of a reply, reported by the parser in pre-order (an aggregate before its children).
//
// `value` points into the caller's read buffer and is valid only while the callback runs: the
// parser never copies or allocates a scalar, and an adapter that keeps a value copies it.
struct node {
    type data_type = type::null;
    // Aggregates: the element count from the wire (pairs for map and attribute, whose children
    // number 2 * size). Scalars: 1. Null: 0.
    std::size_t size = 0;
    // 0 for the top-level value; children of an aggregate at depth d are at d + 1.
    std::size_t depth = 0;
    // Scalar payload without type byte or CRLF: the string, the integer's digits, "t"/"f",
    // a double's text ("inf", "-inf", "nan" included), a verbatim string with its "txt:" prefix.
    std::string_view value;
};

std::ostream& operator<<(std::ostream& os, const node& n);

}  // namespace sluice::resp
