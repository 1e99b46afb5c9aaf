#include "resp/link.hpp"

namespace sluice::resp {

std::string_view to_string(link_state s) noexcept {
    switch (s) {
        case link_state::idle:
            return "idle";
        case link_state::connecting:
            return "connecting";
        case link_state::handshaking:
            return "handshaking";
        case link_state::ready:
            return "ready";
        case link_state::backing_off:
            return "backing_off";
        case link_state::stopped:
            return "stopped";
    }
    return "?";
}

std::ostream& operator<<(std::ostream& os, link_state s) {
    return os << to_string(s);
}

std::string_view to_string(link_event::kind k) noexcept {
    switch (k) {
        case link_event::kind::connected:
            return "connected";
        case link_event::kind::unreachable:
            return "unreachable";
        case link_event::kind::lost:
            return "lost";
        case link_event::kind::restored:
            return "restored";
    }
    return "?";
}

std::ostream& operator<<(std::ostream& os, const link_action& a) {
    os << "{";
    if (a.fail_written) os << " fail_written";
    if (a.fail_staged) os << " fail_staged";
    if (a.connect) os << " connect";
    if (a.wait) os << " wait " << a.wait->count() << "ms";
    if (a.report) {
        os << " report " << to_string(a.report->what);
        if (!a.report->reason.empty()) os << " (" << a.report->reason << ")";
        if (a.report->what == link_event::kind::restored)
            os << " after " << a.report->outage.count() << "ms";
    }
    return os << " }";
}

link_action link_fsm::start(clock::time_point now) {
    if (state_ != link_state::idle) return {};
    state_ = link_state::connecting;
    outage_since_ = now;
    link_action a;
    a.connect = true;
    return a;
}

link_action link_fsm::tcp_connected() {
    if (state_ != link_state::connecting) return {};
    state_ = link_state::handshaking;
    return {};
}

link_action link_fsm::handshake_done(clock::time_point now) {
    if (state_ != link_state::handshaking) return {};
    state_ = link_state::ready;
    backoff_.reset();
    link_action a;
    if (!ever_ready_ && !outage_reported_) {
        a.report = link_event{link_event::kind::connected, {}, {}};
    } else if (outage_reported_) {
        a.report =
            link_event{link_event::kind::restored,
                       {},
                       std::chrono::duration_cast<std::chrono::milliseconds>(now - outage_since_)};
    }
    ever_ready_ = true;
    outage_reported_ = false;
    return a;
}

link_action link_fsm::attempt_failed(clock::time_point, std::string reason) {
    if (state_ != link_state::connecting && state_ != link_state::handshaking) return {};
    state_ = link_state::backing_off;
    // Nothing was written on a link that never became ready; what waited for it fails now, and
    // until the next attempt begins every new request fails at once.
    link_action a;
    a.fail_staged = true;
    a.wait = backoff_.next();
    if (!outage_reported_) {
        // Said once per outage: a first connection that fails is news, each retry of it is not,
        // and after a loss the `lost` line has said it already.
        a.report = link_event{link_event::kind::unreachable, std::move(reason), {}};
        outage_reported_ = true;
    }
    return a;
}

link_action link_fsm::link_lost(clock::time_point now, std::string reason) {
    if (state_ != link_state::ready) return {};
    // Straight back to connecting: requests that were not written yet stay staged for the new
    // link, and new ones wait for it; only those on the wire are lost with the old one.
    state_ = link_state::connecting;
    outage_since_ = now;
    outage_reported_ = true;
    link_action a;
    a.fail_written = true;
    a.connect = true;
    a.report = link_event{link_event::kind::lost, std::move(reason), {}};
    return a;
}

link_action link_fsm::backoff_elapsed() {
    if (state_ != link_state::backing_off) return {};
    state_ = link_state::connecting;
    link_action a;
    a.connect = true;
    return a;
}

link_action link_fsm::retarget(clock::time_point now, std::string reason) {
    switch (state_) {
        case link_state::ready:
            return link_lost(now, std::move(reason));
        case link_state::connecting:
        case link_state::handshaking:
        case link_state::backing_off: {
            // No outage is reported here: the failed attempts (or the loss) before said it, and
            // the next handshake says `restored`.
            state_ = link_state::connecting;
            link_action a;
            a.connect = true;
            return a;
        }
        case link_state::idle:
        case link_state::stopped:
            break;
    }
    return {};
}

link_action link_fsm::stop() {
    if (state_ == link_state::stopped) return {};
    state_ = link_state::stopped;
    link_action a;
    a.fail_written = true;
    a.fail_staged = true;
    return a;
}

}  // namespace sluice::resp
