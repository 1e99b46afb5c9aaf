#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include "resp/adapter.hpp"
#include "resp/config.hpp"
#include "resp/parser.hpp"
#include "resp/serializer.hpp"

namespace sluice::resp {

class handshake;
class script;

// The requests of one connection and the replies that answer them, with no I/O: the sans-IO
// core of resp::connection. The connection's Asio layer moves bytes between it and the socket and
// resumes the callers it names; the tests drive it with made-up bytes.
//
// A request lives in a slot (made once, recycled: no allocation per request) and passes through
//
//   acquire ──► staged ──(pending_write)──► written ──(its replies)──► completed ──► release
//                 │                            │
//                 └─ deadline: abandoned ──────┴─ its reply is still read, and dropped
//
// in one FIFO: Redis answers in order, so the order of the writes is the order of the replies.
// A request that timed out after it was written stays in the FIFO, abandoned, so the replies that
// follow stay matched; one that timed out before it was written is cut out of the next write, so
// Redis never runs (and never counts) a request whose caller was already answered.
//
// Back-pressure: at most `capacity` slots. A caller that finds none waits in a FIFO of waiters,
// and each slot released goes to the oldest waiter; a new caller never jumps that queue.
//
// Besides callers' requests the FIFO carries the connection's own: the health check's PING and the
// SCRIPT LOAD sent after NOSCRIPT, once per script however many EVALSHAs were refused.
class multiplexer {
  public:
    using clock = std::chrono::steady_clock;
    using slot_id = std::uint32_t;
    static constexpr slot_id no_slot = ~slot_id{0};

    // A caller waiting for a slot. It lives wherever the caller waits; the multiplexer links it.
    struct waiter {
        waiter* next = nullptr;
        slot_id granted = no_slot;  // set when a released slot was handed to it
        bool queued = false;
        void* owner = nullptr;  // the waiting side's own (its timer, say)
    };

    // What next() found.
    struct step {
        enum class kind : std::uint8_t {
            need_more,  // no complete reply left in the read buffer
            completed,  // `slot`'s request has all its replies: resume its caller with `ec`
            error,      // protocol error or a reply nobody asked for: the link must close
        };
        kind what = kind::need_more;
        slot_id slot = no_slot;
        std::error_code ec;
    };

    multiplexer(std::size_t capacity, parser_limits limits, connection_stats& stats);

    // ---- admission and back-pressure
    // A free slot, or no_slot when every slot is taken or callers are already waiting.
    slot_id acquire() noexcept;
    bool can_acquire() const noexcept { return !free_.empty() && waiters_ == nullptr; }
    void enqueue_waiter(waiter& w) noexcept;
    // Takes a waiter that gives up (deadline, stop) out of the queue; no-op when not queued.
    void remove_waiter(waiter& w) noexcept;
    // Frees a slot, or hands it to the oldest waiter (see pop_granted()).
    void release(slot_id s) noexcept;
    // The waiters handed a slot since the last call, oldest first: the caller wakes them.
    waiter* pop_granted() noexcept;
    // Any queued waiter (to fail them all when the link is down or stopped).
    waiter* pop_waiter() noexcept;
    std::size_t in_flight() const noexcept { return capacity_ - free_.size(); }
    std::size_t capacity() const noexcept { return capacity_; }

    // ---- staging and writing
    // Queues `req` (which must stay alive until the slot completes: a NOSCRIPT retry sends it
    // again) to be written with the next write. `scr`: the request is one EVALSHA of `scr`.
    void stage(slot_id s, const request& req, adapter a, clock::time_point deadline,
               const script* scr = nullptr);
    // The health check's PING. False when one is still unanswered (or no room).
    bool stage_ping();
    bool ping_outstanding() const noexcept { return ping_outstanding_; }

    bool has_staged() const noexcept { return written_end_ != tail_; }
    bool write_pending() const noexcept { return write_pos_ < writing_.size() || has_staged(); }
    bool idle() const noexcept { return head_ == tail_; }  // nothing staged or written
    std::size_t staged_count() const noexcept { return tail_ - written_end_; }
    std::size_t written_count() const noexcept { return written_end_ - head_; }

    // The bytes to write next: the rest of a partial write, else everything staged (which counts
    // as written from now on). Valid until wrote() or the next call.
    std::string_view pending_write();
    void wrote(std::size_t n) noexcept;

    // ---- reading
    // Where the next read goes (never empty: the buffer grows when one reply fills it).
    std::span<char> read_space();
    void commit_read(std::size_t n) noexcept { in_end_ += n; }
    bool buffered() const noexcept { return in_start_ != in_end_; }

    // Parses the next complete reply, hands its nodes to its request's adapter, and says what
    // happened. Replies of the connection's own requests and of abandoned ones are consumed
    // without a step; call again until need_more.
    step next();

    // The handshake's replies come before any request's: fed to `h` until it is done. Returns
    // need_more, done (h.done()), or error with `ec`.
    parser::status next_handshake(handshake& h, std::error_code& ec);

    // ---- expiry and failure: the slots named in `out` are still taken; the caller resumes each
    // and releases it.
    // Requests whose deadline is at or before `now` become abandoned: resume with errc::timeout.
    void expire(clock::time_point now, std::vector<slot_id>& out);
    // The link closed: requests written on it are lost (`out`: resume with errc::disconnected);
    // staged ones stay for the next link. The read buffer and parser start over.
    void link_down(std::vector<slot_id>& out);
    // No link will come in time: staged requests fail too (`out`: errc::not_connected).
    void fail_staged(std::vector<slot_id>& out);
    // A link attempt failed before any request was written on it: forget its partial replies.
    void reset_read() noexcept { reset_reply_state(); }

    void set_push_handler(adapter a) noexcept { push_handler_ = a; }

  private:
    enum class entry_kind : std::uint8_t { caller, ping, load };
    struct entry {
        slot_id slot = no_slot;  // caller
        entry_kind kind = entry_kind::caller;
        bool dropped = false;         // internal, cut out of the next write
        const script* scr = nullptr;  // load
    };
    struct slot {
        const request* req = nullptr;
        const script* scr = nullptr;
        adapter a;
        clock::time_point deadline{};
        std::size_t replies_left = 0;
        std::size_t out_begin = 0;  // staged: where its bytes are in out_
        std::size_t out_size = 0;
        bool taken = false;
        bool abandoned = false;
        bool noscript = false;     // its EVALSHA was refused with NOSCRIPT
        bool retried = false;      // sent again after NOSCRIPT
        bool load_failed = false;  // refused again after the reload
    };

    entry& at(std::size_t i) noexcept { return ring_[i & (ring_.size() - 1)]; }
    bool ring_full() const noexcept { return tail_ - head_ == ring_.size(); }
    void push_staged(entry e, std::string_view bytes);
    void compact_staged();
    void on_node(const node& n);
    step on_reply_done();
    void retry_script(slot_id s);
    void reset_reply_state() noexcept;

    std::size_t capacity_;
    connection_stats& stats_;
    std::vector<slot> slots_;
    std::vector<slot_id> free_;
    waiter* waiters_ = nullptr;  // FIFO: head
    waiter* waiters_tail_ = nullptr;
    waiter* granted_ = nullptr;  // FIFO of waiters handed a slot, not yet woken
    waiter* granted_tail_ = nullptr;

    // The FIFO as a ring, monotonically increasing indices: [head_, written_end_) written,
    // [written_end_, tail_) staged.
    std::vector<entry> ring_;
    std::size_t head_ = 0;
    std::size_t written_end_ = 0;
    std::size_t tail_ = 0;
    std::size_t dropped_staged_ = 0;  // staged entries to cut out of the next write

    std::string out_;      // bytes of the staged entries, in FIFO order
    std::string writing_;  // bytes taken for writing
    std::size_t write_pos_ = 0;

    std::vector<char> in_;  // [in_start_, in_end_) read, not yet parsed into a whole reply
    std::size_t in_start_ = 0;
    std::size_t in_end_ = 0;
    parser parser_;

    // Per-reply dispatch state.
    bool reply_is_push_ = false;
    bool reply_swallowed_ = false;  // a NOSCRIPT the caller does not see
    bool skipping_attribute_ = false;
    std::size_t attribute_depth_ = 0;
    bool ping_outstanding_ = false;
    std::vector<const script*> loading_;  // SCRIPT LOADs in the FIFO, not answered yet
    adapter push_handler_;
};

}  // namespace sluice::resp
