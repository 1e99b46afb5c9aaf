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
    std::size_t max_depth = 16;                      // nested aggregates below the top level
    std::size_t max_bulk = 512 * 1024 * 1024;        // Redis's own proto-max-bulk-len
    std::size_t max_aggregate = 1024 * 1024 * 1024;  // elements declared by one aggregate header
    std::size_t max_line = 64 * 1024;                // bytes searched for CRLF in a simple line
};

// An incremental, resumable RESP2/RESP3 parser with no I/O and no allocation.
//
// parse() is given the bytes of the current reply from its first byte on. When the reply is not
// complete it returns `need_more` and remembers how far it got; the caller appends bytes and
// calls again with the grown buffer (the same prefix; it may live at another address). Nodes are
// reported exactly once each, in pre-order, as soon as they are complete. When a whole top-level
// reply has been parsed it returns `done` with the bytes it spans, and the parser is ready for the
// next reply. An attribute (`|`) and the value it annotates form one reply.
//
// An attribute is reported at the depth of the value it annotates (its children one deeper) and
// does not count toward the element count of an enclosing aggregate. On `error` the parser stays
// put: calling again reports the same error and no node twice; reset() starts over.
class parser {
  public:
    enum class status : std::uint8_t { need_more, done, error };

    struct result {
        status st;
        std::size_t consumed;  // with `done`: bytes of the reply; otherwise 0
        std::error_code ec;    // with `error`: a resp::errc protocol error
    };

    // The stack is fixed at max_frames, so a larger limits.max_depth is lowered to fit it.
    explicit parser(parser_limits limits = {}) noexcept : limits_{limits} {
        if (limits_.max_depth > max_frames - 1) limits_.max_depth = max_frames - 1;
    }

    result parse(std::string_view buf, adapter on_node);

    // Forget a partial reply (after a connection is reset).
    void reset() noexcept;

    bool idle() const noexcept;  // no partial reply is pending

    // Deepest nesting the fixed stack can hold (the top-level aggregate included).
    static constexpr std::size_t max_frames = 64;

  private:
    // Position within the current reply and a fixed stack of remaining element counts: no heap.
    // After an error the state is kept, so calling again reports the same error, not old nodes.
    parser_limits limits_;
    std::size_t pos_ = 0;    // offset of the next unparsed element within the current reply
    std::size_t scan_ = 0;   // a simple line at pos_ has no CR before this offset (0: not scanned)
    std::size_t depth_ = 0;  // open aggregates = depth of the element at pos_
    // Bit d: the aggregate open at depth d is an attribute, which does not count as an element
    // of its parent and does not end the reply.
    std::uint64_t attributes_ = 0;
    // Children still to come in the aggregate open at each depth (map/attribute: 2 per pair).
    std::array<std::uint64_t, max_frames> remaining_{};
};

}  // namespace sluice::resp
