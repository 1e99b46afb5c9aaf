#include "resp/node.hpp"

#include <cstdio>

namespace sluice::resp {

std::string_view to_string(type t) noexcept {
    switch (t) {
        case type::simple_string:
            return "simple_string";
        case type::simple_error:
            return "simple_error";
        case type::integer:
            return "integer";
        case type::bulk_string:
            return "bulk_string";
        case type::array:
            return "array";
        case type::null:
            return "null";
        case type::boolean:
            return "boolean";
        case type::double_type:
            return "double";
        case type::big_number:
            return "big_number";
        case type::bulk_error:
            return "bulk_error";
        case type::verbatim_string:
            return "verbatim_string";
        case type::map:
            return "map";
        case type::set:
            return "set";
        case type::attribute:
            return "attribute";
        case type::push:
            return "push";
    }
    return "invalid_type";
}

std::ostream& operator<<(std::ostream& os, type t) {
    return os << to_string(t);
}

namespace {

// Values come straight off the wire and may be binary or huge: a failing test should still print
// one readable line, so control bytes are escaped and long values cut.
void write_escaped(std::ostream& os, std::string_view s) {
    constexpr std::size_t shown = 64;
    os << '"';
    for (std::size_t i = 0; i < s.size() && i < shown; ++i) {
        const auto c = static_cast<unsigned char>(s[i]);
        switch (c) {
            case '\r':
                os << "\\r";
                break;
            case '\n':
                os << "\\n";
                break;
            case '\t':
                os << "\\t";
                break;
            case '"':
                os << "\\\"";
                break;
            case '\\':
                os << "\\\\";
                break;
            default:
                if (c < 0x20 || c >= 0x7f) {
                    char hex[5];
                    std::snprintf(hex, sizeof hex, "\\x%02x", c);
                    os << hex;
                } else {
                    os << static_cast<char>(c);
                }
        }
    }
    os << '"';
    if (s.size() > shown) os << "...(" << s.size() << " bytes)";
}

}  // namespace

std::ostream& operator<<(std::ostream& os, const node& n) {
    os << n.data_type;
    if (is_aggregate(n.data_type)) {
        os << '[' << n.size << ']';
    } else if (n.data_type != type::null) {
        os << ' ';
        write_escaped(os, n.value);
    }
    return os << " @" << n.depth;
}

}  // namespace sluice::resp
