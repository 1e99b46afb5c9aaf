#pragma once

// RESP text written by hand, so each unit test shows the shape of the reply it feeds.

#include <cstddef>
#include <string>
#include <string_view>

namespace sluice::resp::resp_text {

inline std::string arr(std::size_t n) {
    return "*" + std::to_string(n) + "\r\n";
}
inline std::string map(std::size_t pairs) {
    return "%" + std::to_string(pairs) + "\r\n";
}
inline std::string push(std::size_t n) {
    return ">" + std::to_string(n) + "\r\n";
}
inline std::string bulk(std::string_view s) {
    return "$" + std::to_string(s.size()) + "\r\n" + std::string(s) + "\r\n";
}
inline std::string num(long long v) {
    return ":" + std::to_string(v) + "\r\n";
}
inline const std::string nil = "_\r\n";

}  // namespace sluice::resp::resp_text
