#include "resp/redirect.hpp"

#include <charconv>

#include "resp/cluster_slot.hpp"

namespace sluice::resp {

std::string_view to_string(redirect_kind k) noexcept {
    switch (k) {
        case redirect_kind::moved:
            return "moved";
        case redirect_kind::ask:
            return "ask";
        case redirect_kind::tryagain:
            return "tryagain";
        case redirect_kind::clusterdown:
            return "clusterdown";
        case redirect_kind::other:
            return "other";
    }
    return "invalid_redirect_kind";
}

std::ostream& operator<<(std::ostream& os, redirect_kind k) {
    return os << to_string(k);
}

std::ostream& operator<<(std::ostream& os, const redirect& r) {
    os << r.kind;
    if (r.kind == redirect_kind::moved || r.kind == redirect_kind::ask) {
        os << ' ' << r.slot << ' ' << r.host << ':' << r.port;
    }
    return os;
}

namespace {

// A decimal number of at most `max` with nothing else: from_chars alone would accept a prefix
// ("12abc") or a sign.
template <class T>
bool parse_number(std::string_view s, T max, T& out) noexcept {
    if (s.empty() || s.size() > 5 || s.front() < '0' || s.front() > '9') return false;
    unsigned value = 0;
    const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), value);
    if (ec != std::errc{} || end != s.data() + s.size() || value > max) return false;
    out = static_cast<T>(value);
    return true;
}

// The first word, the whole text when it has no space.
std::string_view first_word(std::string_view text) noexcept {
    return text.substr(0, text.find(' '));
}

// "<slot> <host>:<port>" exactly: one space between the two, nothing after.
bool parse_target(std::string_view rest, redirect& r) noexcept {
    const auto space = rest.find(' ');
    if (space == std::string_view::npos) return false;
    const std::string_view slot = rest.substr(0, space);
    const std::string_view endpoint = rest.substr(space + 1);
    if (!parse_number<std::uint16_t>(slot, cluster_slots - 1, r.slot)) return false;
    if (endpoint.find(' ') != std::string_view::npos) return false;
    const auto colon = endpoint.rfind(':');
    if (colon == std::string_view::npos) return false;
    std::string_view host = endpoint.substr(0, colon);
    if (!parse_number<std::uint16_t>(endpoint.substr(colon + 1), 65535, r.port) || r.port == 0) {
        return false;
    }
    if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
        host = host.substr(1, host.size() - 2);
    } else if (host.find_first_of("[]") != std::string_view::npos) {
        return false;
    }
    r.host = host;
    return true;
}

}  // namespace

redirect parse_redirect(std::string_view text) noexcept {
    const std::string_view word = first_word(text);
    redirect r;
    if (word == "MOVED" || word == "ASK") {
        if (word.size() == text.size() || !parse_target(text.substr(word.size() + 1), r)) {
            return {};
        }
        r.kind = word == "MOVED" ? redirect_kind::moved : redirect_kind::ask;
        return r;
    }
    if (word == "TRYAGAIN") r.kind = redirect_kind::tryagain;
    if (word == "CLUSTERDOWN") r.kind = redirect_kind::clusterdown;
    return r;
}

}  // namespace sluice::resp
