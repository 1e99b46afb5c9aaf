#include "resp/sentinel_reply.hpp"

#include <charconv>

#include "resp/error.hpp"

namespace sluice::resp {

std::ostream& operator<<(std::ostream& os, const primary_address& a) {
    return os << to_string(a);
}

std::string to_string(const primary_address& a) {
    const bool v6 = a.host.find(':') != std::string::npos;
    return (v6 ? "[" + a.host + "]" : a.host) + ":" + std::to_string(a.port);
}

bool valid_host(std::string_view host) noexcept {
    if (host.empty() || host.size() > 253) return false;
    for (const char c : host) {
        const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                        (c >= '0' && c <= '9') || c == '.' || c == '-' || c == '_' || c == ':' ||
                        c == '%';
        if (!ok) return false;
    }
    return true;
}

std::optional<std::uint16_t> parse_port(std::string_view s) noexcept {
    if (s.empty() || s.size() > 5) return std::nullopt;
    for (const char c : s) {
        if (c < '0' || c > '9') return std::nullopt;
    }
    unsigned value = 0;
    const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), value);
    if (ec != std::errc{} || end != s.data() + s.size() || value == 0 || value > 65535)
        return std::nullopt;
    return static_cast<std::uint16_t>(value);
}

void push_get_master_addr(request& req, std::string_view name) {
    req.push("SENTINEL", "GET-MASTER-ADDR-BY-NAME", name);
}

// ---------------------------------------------------------------------------------------------
// master_addr_reader

void master_addr_reader::operator()(const node& n) {
    if (n.depth == 0) {
        if (top_ != seen::nothing) {
            top_ = seen::bad;  // one reply only: a second one means the adapter was misused
            return;
        }
        if (n.data_type == type::null) {
            top_ = seen::null;
        } else if (is_error(n.data_type)) {
            top_ = seen::error;
            // Kept for the log, so cut to a sane length and to printable characters.
            for (const char c : n.value.substr(0, 200))
                error_text_ += (c >= 0x20 && c < 0x7f) ? c : '?';
        } else if (n.data_type == type::array && n.size == 2) {
            top_ = seen::array;
        } else {
            top_ = seen::bad;
        }
        return;
    }
    if (top_ != seen::array) return;
    if (n.depth != 1 || (n.data_type != type::bulk_string && n.data_type != type::simple_string)) {
        top_ = seen::bad;
        return;
    }
    if (items_ == 0) {
        if (valid_host(n.value))
            host_.assign(n.value);
        else
            top_ = seen::bad;
    } else {
        port_ = parse_port(n.value);
        if (!port_) top_ = seen::bad;
    }
    ++items_;
}

std::error_code master_addr_reader::error() const noexcept {
    switch (top_) {
        case seen::array:
            return items_ == 2 && port_ ? std::error_code{} : errc::sentinel_bad_reply;
        case seen::null:
            return errc::sentinel_unknown_master;
        case seen::error:
            return errc::sentinel_error_reply;
        case seen::nothing:
        case seen::bad:
            break;
    }
    return errc::sentinel_bad_reply;
}

std::optional<primary_address> master_addr_reader::address() const {
    if (error()) return std::nullopt;
    return primary_address{host_, *port_};
}

// ---------------------------------------------------------------------------------------------
// +switch-master

std::optional<switch_master> parse_switch_master(std::string_view payload) noexcept {
    std::string_view field[5];
    std::size_t n = 0;
    std::size_t start = 0;
    for (;;) {
        const std::size_t space = payload.find(' ', start);
        const std::string_view f = payload.substr(start, space - start);
        if (f.empty() || n == 5) return std::nullopt;  // a double space, or a sixth field
        field[n++] = f;
        if (space == std::string_view::npos) break;
        start = space + 1;
    }
    if (n != 5) return std::nullopt;
    const auto old_port = parse_port(field[2]);
    const auto new_port = parse_port(field[4]);
    if (!old_port || !new_port || !valid_host(field[1]) || !valid_host(field[3]))
        return std::nullopt;
    for (const char c : field[0]) {
        if (c < 0x21 || c > 0x7e) return std::nullopt;
    }
    return switch_master{field[0], field[1], *old_port, field[3], *new_port};
}

void push_subscribe_switch_master(request& req) {
    req.write_array_header(2);
    req.write_bulk("SUBSCRIBE");
    req.write_bulk(switch_master_channel);
    // Not counted: the confirmation is a push. The PING's reply is the one this request awaits.
    req.push("PING");
}

void switch_master_listener::operator()(const node& n) {
    if (n.depth == 0) {
        size_ = n.data_type == type::push ? n.size : 0;
        seen_ = 0;
        candidate_ = size_ == 3;
        payload_.clear();
        if (size_ == 0) ++ignored_;
        return;
    }
    if (size_ == 0) return;
    if (n.depth != 1) {
        // Nested data in a push: not the message we know.
        candidate_ = false;
        return;
    }
    const bool text = n.data_type == type::bulk_string || n.data_type == type::simple_string;
    switch (seen_) {
        case 0:
            candidate_ = candidate_ && text && n.value == "message";
            break;
        case 1:
            candidate_ = candidate_ && text && n.value == switch_master_channel;
            break;
        case 2:
            candidate_ = candidate_ && text;
            if (candidate_) payload_.assign(n.value);
            break;
        default:
            break;
    }
    if (++seen_ == size_) finish_message();
}

void switch_master_listener::finish_message() {
    const bool ours = candidate_;
    size_ = 0;
    candidate_ = false;
    if (!ours) {
        ++ignored_;
        return;
    }
    const auto m = parse_switch_master(payload_);
    if (!m || m->name != name_) {
        ++ignored_;
        return;
    }
    pending_ = primary_address{std::string(m->new_host), m->new_port};
}

std::optional<primary_address> switch_master_listener::take() noexcept {
    auto p = std::move(pending_);
    pending_.reset();
    return p;
}

}  // namespace sluice::resp
