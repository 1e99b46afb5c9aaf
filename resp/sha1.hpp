#pragma once

#include <array>
#include <string>
#include <string_view>

namespace sluice::resp {

// SHA-1 of `data` as 40 lowercase hex digits: the name Redis gives a script in its cache
// (EVALSHA). Not for security; Redis chose the hash, we only have to agree with it.
std::string sha1_hex(std::string_view data);

}  // namespace sluice::resp
