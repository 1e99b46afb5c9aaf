#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string_view>
#include <system_error>

#include "resp/adapter.hpp"
#include "resp/node.hpp"

namespace sluice::resp {

struct parser_limits {
    std::size_t max_depth = 16;                       // nested aggregates below the top level
    std::size_t max_bulk = 512 * 1024 * 1024;         // Redis's own proto-max-bulk-len
    std::size_t max_aggregate = 1024 * 1024 * 1024;   // elements declared by one aggregate header
    std::size_t max_line = 64 * 1024;                 // bytes searched for CRLF in a simple line
};

// An incremental, resumable RESP2/RESP3 parser with no I/O and no allocation.
//
// parse() is given the bytes of the current reply from its first byte on. When the reply is not
// complete it returns `need_more` and remembers how far it got; the caller appends bytes and
// calls again with the grown buffer (the same prefix; it may live at another address). Nodes are
// reported exactly once each, in pre-order, as soon as they are complete. When a whole top-level
// reply has been parsed it returns `done` with the bytes it spans, and the parser is ready for the
// next reply. An attribute (`|`) and the value it annotates form one reply.
class parser {
public:
    enum class status : std::uint8_t { need_more, done, error };

    struct result {
        status st;
        std::size_t consumed;  // with `done`: bytes of the reply; otherwise 0
        std::error_code ec;    // with `error`: a resp::errc protocol error
    };

    explicit parser(parser_limits limits = {}) noexcept : limits_{limits} {}

    result parse(std::string_view buf, adapter on_node);

    // Forget a partial reply (after a connection is reset).
    void reset() noexcept;

    bool idle() const noexcept;  // no partial reply is pending

private:
    // Position within the current reply and a fixed stack of remaining element counts: no heap.
    parser_limits limits_;
    std::size_t pos_ = 0;
};

}  // namespace sluice::resp
