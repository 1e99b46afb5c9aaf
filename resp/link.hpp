#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <ostream>
#include <string>
#include <string_view>

#include "resp/backoff.hpp"

namespace sluice::resp {

// The life of a connection to one server, as named states. Pure: the connection's I/O layer feeds
// it what happened and performs the actions it returns; the tests feed it made-up events.
//
//   idle ──start──► connecting ──tcp──► handshaking ──done──► ready
//                     ▲   │                  │                  │
//                     │   └──────failed──────┴──► backing_off   │ lost
//                     │                              │          │
//                     └─────────backoff elapsed──────┘          │
//                     └─────────────(at once)───────────────────┘
//   any ──stop──► stopped
//
// The rule that matters for a rate limiter (CONTRACT.md, "Start, stop, log"): a request that
// arrives while the link is being set up (idle, connecting, handshaking) waits for it within its
// own deadline; only a link known to be down (backing off after a refused, reset or timed-out
// attempt) fails a request at once. A link lost after it worked is retried at once, without
// backing off, so the requests of a brief blip (a killed client connection, a restarted proxy)
// wait for the new link instead of failing.
enum class link_state : std::uint8_t { idle, connecting, handshaking, ready, backing_off, stopped };

std::string_view to_string(link_state s) noexcept;
std::ostream& operator<<(std::ostream& os, link_state s);

// What a request that arrives in a state gets.
enum class admission : std::uint8_t {
    send,       // ready: staged for the next write
    wait,       // being set up: staged, written once the link is ready, unless its deadline passes
    fail_fast,  // known to be down: errc::not_connected at once
    stopped,    // errc::stopped
};

constexpr admission admit(link_state s) noexcept {
    switch (s) {
        case link_state::ready:
            return admission::send;
        case link_state::idle:
        case link_state::connecting:
        case link_state::handshaking:
            return admission::wait;
        case link_state::backing_off:
            return admission::fail_fast;
        case link_state::stopped:
            break;
    }
    return admission::stopped;
}

// What an operator is told (one line each, never per request).
struct link_event {
    enum class kind : std::uint8_t {
        connected,    // the first link is up
        unreachable,  // the first attempt failed, before any link was ever up
        lost,         // a working link went down (or, after `unreachable`, never reported again)
        restored,     // a link is up again after `lost` or `unreachable`
    };
    kind what;
    std::string reason;                  // lost, unreachable: why
    std::chrono::milliseconds outage{};  // restored: since the link was lost (or first tried)

    friend bool operator==(const link_event&, const link_event&) = default;
};

std::string_view to_string(link_event::kind k) noexcept;

// What the I/O layer must do after a transition.
struct link_action {
    bool fail_written = false;  // requests already on the wire: errc::disconnected
    bool fail_staged = false;   // requests waiting for the link: errc::not_connected
    bool connect = false;       // begin a connection attempt now
    std::optional<std::chrono::milliseconds> wait;  // back off this long, then backoff_elapsed()
    std::optional<link_event> report;

    friend bool operator==(const link_action&, const link_action&) = default;
};
std::ostream& operator<<(std::ostream& os, const link_action& a);

class link_fsm {
  public:
    using clock = std::chrono::steady_clock;

    explicit link_fsm(backoff policy) noexcept : backoff_{policy} {}

    link_state state() const noexcept { return state_; }
    bool ever_ready() const noexcept { return ever_ready_; }

    // Each returns what to do. An event that does not belong to the current state (a late
    // completion after stop(), say) changes nothing and returns no action.
    link_action start(clock::time_point now);
    link_action tcp_connected();
    link_action handshake_done(clock::time_point now);
    link_action attempt_failed(clock::time_point now, std::string reason);
    link_action link_lost(clock::time_point now, std::string reason);
    link_action backoff_elapsed();
    // The server moved (a failover found through Sentinel): whatever the link was doing with the
    // old address ends, and an attempt at the new one begins at once. A working link is lost like
    // any other (what was written fails, the rest waits); an attempt under way or a backoff is
    // cut short, and requests wait for the new link instead of failing fast.
    link_action retarget(clock::time_point now, std::string reason);
    link_action stop();

  private:
    link_state state_ = link_state::idle;
    backoff backoff_;
    bool ever_ready_ = false;
    bool outage_reported_ = false;  // `lost` or `unreachable` said, `restored` not yet
    clock::time_point outage_since_{};
};

}  // namespace sluice::resp
