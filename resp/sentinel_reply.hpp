#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <ostream>
#include <string>
#include <string_view>
#include <system_error>

#include "resp/node.hpp"
#include "resp/serializer.hpp"

namespace sluice::resp {

// What Sentinel says about a primary, read without sockets: the reply to
// SENTINEL GET-MASTER-ADDR-BY-NAME and the +switch-master message. Pure: fed the parser's nodes,
// tested with made-up replies, hostile ones included.

// Where a primary is. The host is checked before it is kept: it ends up in a connect call and in
// the log, so a Sentinel (or anything posing as one) cannot put control characters or spaces
// there.
struct primary_address {
    std::string host;
    std::uint16_t port = 0;

    friend bool operator==(const primary_address&, const primary_address&) = default;
};

std::ostream& operator<<(std::ostream& os, const primary_address& a);
// "host:port", "[v6]:port".
std::string to_string(const primary_address& a);

// A host as Sentinel reports one: an IPv4 or IPv6 address or a DNS name (1..253 characters of
// letters, digits, '.', '-', '_', ':' and '%' for a v6 zone).
bool valid_host(std::string_view host) noexcept;
// Digits only, 1..65535.
std::optional<std::uint16_t> parse_port(std::string_view s) noexcept;

// SENTINEL GET-MASTER-ADDR-BY-NAME <name>.
void push_get_master_addr(request& req, std::string_view name);

// Reads the reply to SENTINEL GET-MASTER-ADDR-BY-NAME: an array of two bulk strings, host and
// port; a null when the Sentinel monitors no primary of that name; an error reply otherwise.
// Used as the request's adapter, then asked for the result.
class master_addr_reader {
  public:
    void operator()(const node& n);

    // The address, or why there is none: sentinel_unknown_master, sentinel_error_reply (see
    // error_text()), sentinel_bad_reply (anything else, an incomplete reply included).
    std::optional<primary_address> address() const;
    std::error_code error() const noexcept;
    const std::string& error_text() const noexcept { return error_text_; }

  private:
    enum class seen : std::uint8_t { nothing, array, null, error, bad };
    seen top_ = seen::nothing;
    std::size_t items_ = 0;
    std::string host_;
    std::optional<std::uint16_t> port_;
    std::string error_text_;
};

// +switch-master's payload: "<name> <old-ip> <old-port> <new-ip> <new-port>".
struct switch_master {
    std::string_view name;  // views into the parsed text
    std::string_view old_host;
    std::uint16_t old_port = 0;
    std::string_view new_host;
    std::uint16_t new_port = 0;

    friend bool operator==(const switch_master&, const switch_master&) = default;
};

// Exactly five fields separated by single spaces, valid hosts and ports; anything else is
// nullopt (a message half understood could send every request to the wrong server).
std::optional<switch_master> parse_switch_master(std::string_view payload) noexcept;

inline constexpr std::string_view switch_master_channel = "+switch-master";

// SUBSCRIBE +switch-master, followed in the same write by a PING whose +PONG is the request's
// only reply. With RESP3 the subscription's confirmation and every message are pushes, which
// never match a request, so a SUBSCRIBE alone would wait for a reply that never comes.
void push_subscribe_switch_master(request& req);

// The connection's push handler: reads every push, keeps the last +switch-master for `name`
// whose shape is right, and ignores the rest (subscription confirmations, other primaries'
// switches, malformed messages).
class switch_master_listener {
  public:
    explicit switch_master_listener(std::string name) : name_{std::move(name)} {}

    void operator()(const node& n);

    // The new address of the last switch read since the last take(), and forgets it.
    std::optional<primary_address> take() noexcept;
    bool pending() const noexcept { return pending_.has_value(); }
    std::size_t ignored() const noexcept { return ignored_; }

  private:
    void finish_message();

    std::string name_;
    // The push being read: its element count, the elements seen, and whether it is
    // ["message", "+switch-master", payload] so far.
    std::size_t size_ = 0;
    std::size_t seen_ = 0;
    bool candidate_ = false;
    std::string payload_;
    std::optional<primary_address> pending_;
    std::size_t ignored_ = 0;
};

}  // namespace sluice::resp
