#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace sluice::core {

// An IPv4 or IPv6 address as 16 bytes in network order. IPv4 is kept IPv4-mapped
// (::ffff:a.b.c.d), so the peer of a dual-stack socket and the same peer on an IPv4 socket are
// one address, with one text and one rate-limit key.
class ip_address {
  public:
    using bytes_type = std::array<unsigned char, 16>;

    // Longest text: INET6_ADDRSTRLEN without its NUL.
    static constexpr std::size_t max_text = 45;

    constexpr ip_address() noexcept = default;  // "::"

    // The shapes asio::ip::address_v4/v6::to_bytes() return.
    static ip_address from_v4(const std::array<unsigned char, 4>& bytes) noexcept;
    static ip_address from_v6(const bytes_type& bytes) noexcept;

    // Plain address text as inet_pton reads it: "192.0.2.1", "2001:db8::1", "::ffff:192.0.2.1".
    // No brackets, ports or zone ids.
    static std::optional<ip_address> parse(std::string_view text) noexcept;

    bool is_v4() const noexcept;  // IPv4 or IPv4-mapped IPv6
    const bytes_type& bytes() const noexcept { return bytes_; }

    // Canonical text (inet_ntop; IPv4-mapped shown as plain IPv4) written into `out`, which
    // needs max_text bytes. Returns the length written.
    std::size_t format(std::span<char, max_text> out) const noexcept;
    std::string to_string() const;

    friend bool operator==(const ip_address&, const ip_address&) = default;

  private:
    bytes_type bytes_{};
};

enum class cidr_errc : std::uint8_t {
    ok = 0,
    invalid_address,  // not an IPv4 or IPv6 address
    invalid_prefix,   // not 0-32 (IPv4) or 0-128 (IPv6)
    // "10.0.0.1/8": refused rather than widened to 10.0.0.0/8, because trusting a whole range
    // when one proxy was meant would let everybody in it forge X-Forwarded-For.
    host_bits_set,
};

struct cidr_result;

// A range of addresses: "10.0.0.0/8", "fd00::/8", "::1/128"; a bare address is a host route
// (/32 or /128).
//
// IPv4 ranges also contain the IPv4-mapped form of their addresses. An IPv6 range contains IPv4
// addresses only when written in mapped form with a prefix of 96 or more
// ("::ffff:10.0.0.0/104" is 10.0.0.0/8); "::/0" is every IPv6 address but no IPv4 one.
class cidr {
  public:
    static cidr_result parse(std::string_view text) noexcept;

    bool contains(const ip_address& address) const noexcept;

    bool is_v4() const noexcept { return v4_; }
    unsigned prefix_length() const noexcept { return v4_ ? bits_ - 96u : bits_; }  // as written
    const ip_address& network() const noexcept { return network_; }
    std::string to_string() const;  // "10.0.0.0/8"

    friend bool operator==(const cidr&, const cidr&) = default;

  private:
    ip_address network_;     // host bits zero
    std::uint8_t bits_ = 0;  // prefix over the 128-bit (mapped) form
    bool v4_ = false;
};

struct cidr_result {
    cidr range;
    cidr_errc error = cidr_errc::ok;

    explicit operator bool() const noexcept { return error == cidr_errc::ok; }
};

// The ranges of --trust-proxy. A handful of ranges is the norm, so a linear scan beats anything
// cleverer.
class trusted_proxies {
  public:
    trusted_proxies() = default;
    explicit trusted_proxies(std::vector<cidr> ranges) : ranges_(std::move(ranges)) {}

    void add(const cidr& range) { ranges_.push_back(range); }
    bool contains(const ip_address& address) const noexcept;
    bool empty() const noexcept { return ranges_.empty(); }
    std::span<const cidr> ranges() const noexcept { return ranges_; }

  private:
    std::vector<cidr> ranges_;
};

// What identifies a client (--key): its address, or the value of one request header.
struct key_source {
    enum class kind : std::uint8_t { ip, header };

    kind type = kind::ip;
    std::string header;  // with kind::header: the field name in lower case, e.g. "x-api-key"

    // "ip" or "header:NAME" with NAME an HTTP token (RFC 9110 field name).
    static std::optional<key_source> parse(std::string_view text);
    std::string to_string() const;

    friend bool operator==(const key_source&, const key_source&) = default;
};

// Header values longer than this are not used as they are: the identity becomes
// "key-sha256:<hex digest of the whole value>" instead. Hashing, not truncating, so two long keys
// that share a prefix stay two clients; a cryptographic hash, not a fast one, because it is
// unkeyed (every process sharing the Redis must agree on it) and must not be steerable into
// another client's key.
inline constexpr std::size_t max_key_value = 256;

// Room for the longest identity, "key:" followed by max_key_value bytes.
inline constexpr std::size_t max_identity = 4 + max_key_value;
using identity_buffer = std::array<char, max_identity>;

// The address of the client behind `peer`.
//
// X-Forwarded-For is consulted only when `peer` is trusted. Its entries are then read from the
// right (the hop nearest to us; several header fields count as one list in order): each
// address that is trusted is a proxy that reports who connected to it, so the walk continues;
// the first address that is not trusted is the client. If every entry is trusted the leftmost
// one is the client.
//
// An entry that is not an address ("unknown", an obfuscated Forwarded identifier, junk) stops
// the walk, and the client is the last address read before it (the peer if it is the rightmost
// entry): the hop nearest to the client that we can still name. Never skipping past it matters:
// entries to the left of an untrusted point are written by the client, and a junk entry must not
// let it pick its key. Empty list elements ("a,,b") are ignored as RFC 9110 asks. Entries may be
// "[v6]", "[v6]:port" or "v4:port", as some proxies write them.
//
// A caller that keeps only some of the header fields must keep the last ones: those are the
// ones our own proxies wrote.
ip_address client_address(const ip_address& peer, std::span<const std::string_view> forwarded_for,
                          const trusted_proxies& trusted) noexcept;

// Turns a request into its client identity, the text between the braces of its Redis key:
// "ip:<address>" (canonical text, IPv4-mapped shown as IPv4) or, with header keys,
// "key:<value>" (value without surrounding spaces and tabs; "key-sha256:<hex>" when longer than
// max_key_value). A request whose key header is missing or empty is keyed by ip.
//
// No allocation: the identity is written into a buffer the caller owns.
class client_identifier {
  public:
    client_identifier() = default;
    client_identifier(key_source source, trusted_proxies trusted)
        : source_(std::move(source)), trusted_(std::move(trusted)) {}

    const key_source& source() const noexcept { return source_; }
    const trusted_proxies& trusted() const noexcept { return trusted_; }

    // `header_value`: the value of the source's header (the first such field), empty when absent;
    // ignored with ip keys. The result views `out`.
    std::string_view identify(const ip_address& peer,
                              std::span<const std::string_view> forwarded_for,
                              std::string_view header_value, identity_buffer& out) const noexcept;

  private:
    key_source source_;
    trusted_proxies trusted_;
};

}  // namespace sluice::core
