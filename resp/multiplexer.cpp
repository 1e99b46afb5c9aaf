#include "resp/multiplexer.hpp"

#include <algorithm>
#include <bit>
#include <cstring>

#include "resp/error.hpp"
#include "resp/handshake.hpp"
#include "resp/script.hpp"

namespace sluice::resp {

namespace {

constexpr std::size_t initial_buffer = 16 * 1024;
// Read at least this much per read: a smaller window would split large replies into many reads;
// the buffer grows (doubling) only when one reply does not fit.
constexpr std::size_t min_read_window = 4 * 1024;
// Room in the FIFO for the connection's own requests besides the callers' (one PING, one SCRIPT
// LOAD per script being reloaded, internal entries dropped but not yet cut out).
constexpr std::size_t internal_entries = 64;

}  // namespace

multiplexer::multiplexer(std::size_t capacity, parser_limits limits, connection_stats& stats)
    : capacity_{std::max<std::size_t>(capacity, 1)},
      stats_{stats},
      slots_(capacity_),
      ring_(std::bit_ceil(capacity_ + internal_entries)),
      parser_{limits} {
    free_.reserve(capacity_);
    // Popped from the back: slot 0 first, which keeps tests readable.
    for (std::size_t i = capacity_; i-- > 0;)
        free_.push_back(static_cast<slot_id>(i));
    out_.reserve(initial_buffer);
    writing_.reserve(initial_buffer);
    in_.resize(initial_buffer);
}

// ---------------------------------------------------------------------------------------------
// Admission and back-pressure

multiplexer::slot_id multiplexer::acquire() noexcept {
    if (free_.empty() || waiters_ != nullptr) return no_slot;
    slot_id s = free_.back();
    free_.pop_back();
    slots_[s].taken = true;
    return s;
}

void multiplexer::enqueue_waiter(waiter& w) noexcept {
    w.next = nullptr;
    w.granted = no_slot;
    w.queued = true;
    if (waiters_tail_ != nullptr)
        waiters_tail_->next = &w;
    else
        waiters_ = &w;
    waiters_tail_ = &w;
}

void multiplexer::remove_waiter(waiter& w) noexcept {
    if (!w.queued) return;
    waiter* prev = nullptr;
    for (waiter* p = waiters_; p != nullptr; prev = p, p = p->next) {
        if (p != &w) continue;
        (prev != nullptr ? prev->next : waiters_) = p->next;
        if (waiters_tail_ == p) waiters_tail_ = prev;
        break;
    }
    w.queued = false;
    w.next = nullptr;
}

void multiplexer::release(slot_id s) noexcept {
    slot& sl = slots_[s];
    sl = slot{};
    if (waiters_ == nullptr) {
        free_.push_back(s);
        return;
    }
    // Handed over as it is, still taken: the oldest waiter owns it, whoever asks next.
    waiter* w = waiters_;
    waiters_ = w->next;
    if (waiters_ == nullptr) waiters_tail_ = nullptr;
    w->queued = false;
    w->next = nullptr;
    w->granted = s;
    sl.taken = true;
    if (granted_tail_ != nullptr)
        granted_tail_->next = w;
    else
        granted_ = w;
    granted_tail_ = w;
}

multiplexer::waiter* multiplexer::pop_granted() noexcept {
    waiter* w = granted_;
    if (w == nullptr) return nullptr;
    granted_ = w->next;
    if (granted_ == nullptr) granted_tail_ = nullptr;
    w->next = nullptr;
    return w;
}

multiplexer::waiter* multiplexer::pop_waiter() noexcept {
    waiter* w = waiters_;
    if (w != nullptr) remove_waiter(*w);
    return w;
}

// ---------------------------------------------------------------------------------------------
// Staging and writing

void multiplexer::push_staged(entry e, std::string_view bytes) {
    if (e.kind == entry_kind::caller) {
        slot& sl = slots_[e.slot];
        sl.out_begin = out_.size();
        sl.out_size = bytes.size();
    }
    at(tail_) = e;
    ++tail_;
    out_.append(bytes);
}

void multiplexer::stage(slot_id s, const request& req, adapter a, clock::time_point deadline,
                        const script* scr) {
    slot& sl = slots_[s];
    sl.req = &req;
    sl.scr = scr;
    sl.a = a;
    sl.deadline = deadline;
    sl.replies_left = req.commands();
    sl.abandoned = sl.noscript = sl.retried = sl.load_failed = false;
    // The ring holds every slot plus the internal entries: a caller's entry always fits.
    push_staged(entry{s, entry_kind::caller, false, nullptr}, req.payload());
}

bool multiplexer::stage_ping() {
    if (ping_outstanding_ || ring_full()) return false;
    static constexpr std::string_view ping = "*1\r\n$4\r\nPING\r\n";
    push_staged(entry{no_slot, entry_kind::ping, false, nullptr}, ping);
    ping_outstanding_ = true;
    stats_.health_checks.add();
    return true;
}

// Cuts the entries dropped while staged (timed out before they were written, or internal ones of
// a lost link) out of the FIFO and out of the bytes to write.
void multiplexer::compact_staged() {
    std::string& kept = writing_;  // empty here: reused as the scratch buffer, then swapped
    kept.clear();
    std::size_t to = written_end_;
    for (std::size_t i = written_end_; i != tail_; ++i) {
        entry e = at(i);
        if (e.kind == entry_kind::caller) {
            slot& sl = slots_[e.slot];
            if (sl.abandoned) {
                release(e.slot);
                continue;
            }
            std::size_t begin = kept.size();
            kept.append(out_, sl.out_begin, sl.out_size);
            sl.out_begin = begin;
        } else {
            if (e.dropped) continue;
            // Internal entries are fixed strings; find theirs by re-serializing.
            request r;
            if (e.kind == entry_kind::ping)
                r.push("PING");
            else
                e.scr->push_load(r);
            kept.append(r.payload());
        }
        at(to++) = e;
    }
    tail_ = to;
    dropped_staged_ = 0;
    out_.swap(kept);
    kept.clear();
}

std::string_view multiplexer::pending_write() {
    if (write_pos_ < writing_.size()) return std::string_view{writing_}.substr(write_pos_);
    writing_.clear();
    write_pos_ = 0;
    if (dropped_staged_ != 0) compact_staged();
    if (!has_staged()) return {};
    // Swapping keeps both buffers' capacity: no allocation once warm.
    out_.swap(writing_);
    written_end_ = tail_;
    return writing_;
}

void multiplexer::wrote(std::size_t n) noexcept {
    write_pos_ += n;
    if (write_pos_ >= writing_.size()) {
        writing_.clear();
        write_pos_ = 0;
    }
}

// ---------------------------------------------------------------------------------------------
// Reading

std::span<char> multiplexer::read_space() {
    if (in_start_ == in_end_) {
        in_start_ = in_end_ = 0;
    } else if (in_.size() - in_end_ < min_read_window) {
        // Keep the partial reply, drop what was parsed; grow only if the reply alone fills the
        // buffer. The parser's position is relative to the reply's first byte.
        std::size_t pending = in_end_ - in_start_;
        std::memmove(in_.data(), in_.data() + in_start_, pending);
        in_start_ = 0;
        in_end_ = pending;
        if (in_.size() - in_end_ < min_read_window) in_.resize(in_.size() * 2);
    }
    return {in_.data() + in_end_, in_.size() - in_end_};
}

parser::status multiplexer::next_handshake(handshake& h, std::error_code& ec) {
    auto on = [&h](const node& n) { h.on_node(n); };
    while (!h.done()) {
        auto r = parser_.parse({in_.data() + in_start_, in_end_ - in_start_}, on);
        if (r.st == parser::status::error) {
            ec = r.ec;
            return r.st;
        }
        if (r.st == parser::status::need_more) return r.st;
        in_start_ += r.consumed;
        h.reply_done();
    }
    return parser::status::done;
}

multiplexer::step multiplexer::next() {
    auto on = [this](const node& n) { on_node(n); };
    for (;;) {
        auto r = parser_.parse({in_.data() + in_start_, in_end_ - in_start_}, on);
        if (r.st == parser::status::need_more) return {};
        if (r.st == parser::status::error) return {step::kind::error, no_slot, r.ec};
        in_start_ += r.consumed;
        step s = on_reply_done();
        if (s.what != step::kind::need_more) return s;
    }
}

void multiplexer::on_node(const node& n) {
    // Attributes carry metadata about the value that follows; no caller asked for them.
    if (skipping_attribute_) {
        if (n.depth > attribute_depth_) return;
        skipping_attribute_ = false;
    }
    if (n.data_type == type::attribute) {
        skipping_attribute_ = true;
        attribute_depth_ = n.depth;
        return;
    }
    if (n.depth == 0) reply_is_push_ = n.data_type == type::push;
    if (reply_is_push_) {
        if (push_handler_) push_handler_(n);
        return;
    }
    if (head_ == written_end_) return;  // on_reply_done() reports the stray reply
    const entry& e = at(head_);
    if (e.kind != entry_kind::caller) return;
    slot& sl = slots_[e.slot];
    if (n.depth == 0) {
        reply_swallowed_ = false;
        if (sl.scr != nullptr && is_error(n.data_type) && n.value.starts_with("NOSCRIPT")) {
            // The server has forgotten the script: on_reply_done() sends it again, once; refused
            // again after the reload, the script cannot be loaded.
            reply_swallowed_ = true;
            (sl.retried ? sl.load_failed : sl.noscript) = true;
        }
    }
    if (!reply_swallowed_ && !sl.abandoned) sl.a(n);
}

multiplexer::step multiplexer::on_reply_done() {
    skipping_attribute_ = false;
    if (reply_is_push_) {
        reply_is_push_ = false;
        return {};
    }
    if (head_ == written_end_) {
        // A reply nobody asked for: the stream is out of step and nothing after it can be trusted.
        return {step::kind::error, no_slot, errc::unexpected_reply};
    }
    const entry e = at(head_);
    if (e.kind == entry_kind::ping) {
        ++head_;
        ping_outstanding_ = false;
        return {};
    }
    if (e.kind == entry_kind::load) {
        ++head_;
        // Failed or not, the EVALSHAs sent after it find out by themselves.
        std::erase(loading_, e.scr);
        return {};
    }
    stats_.replies.add();
    slot& sl = slots_[e.slot];
    reply_swallowed_ = false;
    if (--sl.replies_left != 0) return {};
    ++head_;
    if (sl.abandoned) {
        release(e.slot);
        return {};
    }
    if (sl.noscript && !sl.retried) {
        retry_script(e.slot);
        return {};
    }
    return {step::kind::completed, e.slot,
            sl.load_failed ? std::error_code{errc::script_load_failed} : std::error_code{}};
}

// NOSCRIPT (the script cache was flushed, or the server restarted or failed over): the same
// EVALSHA again, within the caller's original deadline, behind one SCRIPT LOAD of the script. The
// EVALSHAs already on the wire are refused too, one after the other; they all follow the first
// one's SCRIPT LOAD, so the server compiles the script once, not once per request in flight.
void multiplexer::retry_script(slot_id s) {
    slot& sl = slots_[s];
    stats_.noscript_retries.add();
    sl.retried = true;
    sl.replies_left = 1;
    if (std::find(loading_.begin(), loading_.end(), sl.scr) == loading_.end() && !ring_full()) {
        request load;
        sl.scr->push_load(load);
        push_staged(entry{no_slot, entry_kind::load, false, sl.scr}, load.payload());
        loading_.push_back(sl.scr);
        stats_.script_loads.add();
    }
    push_staged(entry{s, entry_kind::caller, false, nullptr}, sl.req->payload());
}

// ---------------------------------------------------------------------------------------------
// Expiry and failure

void multiplexer::expire(clock::time_point now, std::vector<slot_id>& out) {
    for (std::size_t i = head_; i != tail_; ++i) {
        const entry& e = at(i);
        if (e.kind != entry_kind::caller) continue;
        slot& sl = slots_[e.slot];
        if (sl.abandoned || sl.deadline > now) continue;
        sl.abandoned = true;
        sl.a = adapter{};
        if (i >= written_end_) ++dropped_staged_;
        stats_.timeouts.add();
        out.push_back(e.slot);
    }
}

void multiplexer::reset_reply_state() noexcept {
    parser_.reset();
    in_start_ = in_end_ = 0;
    skipping_attribute_ = reply_is_push_ = reply_swallowed_ = false;
}

void multiplexer::link_down(std::vector<slot_id>& out) {
    for (; head_ != written_end_; ++head_) {
        const entry& e = at(head_);
        if (e.kind != entry_kind::caller) continue;
        if (slots_[e.slot].abandoned)
            release(e.slot);
        else
            out.push_back(e.slot);
    }
    writing_.clear();
    write_pos_ = 0;
    // The new link's handshake loads every script and its health check starts afresh: the
    // internal requests staged for this one are cut out.
    for (std::size_t i = written_end_; i != tail_; ++i) {
        entry& e = at(i);
        if (e.kind != entry_kind::caller && !e.dropped) {
            e.dropped = true;
            ++dropped_staged_;
        }
    }
    ping_outstanding_ = false;
    loading_.clear();
    reset_reply_state();
}

void multiplexer::fail_staged(std::vector<slot_id>& out) {
    for (std::size_t i = written_end_; i != tail_; ++i) {
        const entry& e = at(i);
        if (e.kind != entry_kind::caller) continue;
        if (slots_[e.slot].abandoned)
            release(e.slot);
        else
            out.push_back(e.slot);
    }
    tail_ = written_end_;
    out_.clear();
    dropped_staged_ = 0;
}

}  // namespace sluice::resp
