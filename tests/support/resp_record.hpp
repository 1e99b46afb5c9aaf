#pragma once

#include <cstddef>
#include <ostream>
#include <string>

#include "resp/node.hpp"

namespace sluice::test {

// An owned copy of a RESP node, for comparing parses: the parser's values point into the read
// buffer only while its callback runs.
struct resp_record {
    resp::type t;
    std::size_t size;
    std::size_t depth;
    std::string value;

    bool operator==(const resp_record&) const = default;
    friend std::ostream& operator<<(std::ostream& os, const resp_record& r) {
        return os << resp::node{r.t, r.size, r.depth, r.value};
    }
};

}  // namespace sluice::test
