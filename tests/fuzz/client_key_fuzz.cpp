// Client identification: ip_address::parse, cidr::parse, client_address over X-Forwarded-For and
// client_identifier::identify.
//
// The input is text, one item per line, so that seeds read like the unit tests:
//   line 1     the peer address (unparsable: "::")
//   line 2     trusted ranges (--trust-proxy), separated by spaces
//   lines 3-   X-Forwarded-For field values, in order; the last one is also the key header's value
//
// Checked:
// - every address that parses formats to canonical text that parses back to it (and formats the
//   same again), with no ':' exactly when it is IPv4 or IPv4-mapped; so does every 16-byte
//   address, taken from the first bytes of the input;
// - every range that parses formats to text that parses back to it, contains its own network,
//   has a prefix within its family's width, and contains an address exactly when the address is
//   of its family and agrees on the first prefix bits (checked bit by bit on probe addresses);
// - client_address is the peer when the peer is not trusted, and always the peer or one of the
//   listed addresses; it equals a reference walk written from the contract in client_key.hpp;
// - identify() writes "ip:<client>" or "key:<trimmed value>" or "key-sha256:<64 hex digits>"
//   into the caller's buffer, within max_identity.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/client_key.hpp"
#include "tests/fuzz/check.hpp"

namespace {

using sluice::core::cidr;
using sluice::core::client_identifier;
using sluice::core::identity_buffer;
using sluice::core::ip_address;
using sluice::core::key_source;
using sluice::core::trusted_proxies;

std::vector<std::string_view> split(std::string_view s, char sep) {
    std::vector<std::string_view> parts;
    for (;;) {
        const auto at = s.find(sep);
        parts.push_back(s.substr(0, at));
        if (at == std::string_view::npos) return parts;
        s.remove_prefix(at + 1);
    }
}

std::string_view trim(std::string_view s) {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t'))
        s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t'))
        s.remove_suffix(1);
    return s;
}

void check_address(const ip_address& a) {
    const std::string text = a.to_string();
    SLUICE_FUZZ_CHECK(!text.empty() && text.size() <= ip_address::max_text);
    SLUICE_FUZZ_CHECK((text.find(':') == std::string::npos) == a.is_v4());
    const auto back = ip_address::parse(text);
    SLUICE_FUZZ_CHECK(back && *back == a);
    SLUICE_FUZZ_CHECK(back->to_string() == text);
}

// ip_address::parse, with the round trip checked on every address it accepts.
std::optional<ip_address> parse_address(std::string_view text) {
    const auto a = ip_address::parse(text);
    if (a) {
        SLUICE_FUZZ_CHECK(a->is_v4() || text.find(':') != std::string_view::npos);
        check_address(*a);
    }
    return a;
}

bool bit(const ip_address& a, unsigned i) {
    return (a.bytes()[i / 8] >> (7 - i % 8)) & 1;
}

ip_address flip(const ip_address& a, unsigned i) {
    auto bytes = a.bytes();
    bytes[i / 8] ^= static_cast<unsigned char>(0x80 >> (i % 8));
    return ip_address::from_v6(bytes);
}

unsigned bits_of(const cidr& r) {
    return r.is_v4() ? r.prefix_length() + 96 : r.prefix_length();
}

bool reference_contains(const cidr& r, const ip_address& a) {
    if (a.is_v4() != r.is_v4()) return false;
    for (unsigned i = 0; i < bits_of(r); ++i) {
        if (bit(a, i) != bit(r.network(), i)) return false;
    }
    return true;
}

void check_contains(const cidr& r, const ip_address& a) {
    SLUICE_FUZZ_CHECK(r.contains(a) == reference_contains(r, a));
}

std::optional<cidr> parse_range(std::string_view text) {
    const auto parsed = cidr::parse(text);
    if (!parsed) return std::nullopt;
    const cidr& r = parsed.range;
    SLUICE_FUZZ_CHECK(r.prefix_length() <= (r.is_v4() ? 32u : 128u));
    SLUICE_FUZZ_CHECK(r.network().is_v4() == r.is_v4());
    check_address(r.network());
    const auto back = cidr::parse(r.to_string());
    SLUICE_FUZZ_CHECK(back && back.range == r);
    SLUICE_FUZZ_CHECK(r.contains(r.network()));
    // The last bit of the prefix and the first bit after it, both sides of the boundary.
    const unsigned bits = bits_of(r);
    if (bits > 0) check_contains(r, flip(r.network(), bits - 1));
    if (bits < 128) check_contains(r, flip(r.network(), bits));
    check_contains(r, flip(r.network(), 127));
    return r;
}

bool is_port(std::string_view s) {
    return !s.empty() && s.size() <= 5 && s.find_first_not_of("0123456789") == s.npos;
}

// One X-Forwarded-For element as client_key.hpp describes it: an address, "[v6]", "[v6]:port" or
// "v4:port".
std::optional<ip_address> reference_entry(std::string_view e) {
    if (!e.empty() && e.front() == '[') {
        const auto close = e.find(']');
        if (close == std::string_view::npos) return std::nullopt;
        const std::string_view inner = e.substr(1, close - 1);
        const std::string_view rest = e.substr(close + 1);
        if (!rest.empty() && !(rest.front() == ':' && is_port(rest.substr(1)))) {
            return std::nullopt;
        }
        if (inner.find(':') == std::string_view::npos) return std::nullopt;
        return parse_address(inner);
    }
    if (auto a = parse_address(e)) return a;
    const auto colon = e.rfind(':');
    if (colon == std::string_view::npos) return std::nullopt;
    const std::string_view host = e.substr(0, colon);
    if (host.find(':') != std::string_view::npos || !is_port(e.substr(colon + 1))) {
        return std::nullopt;
    }
    return parse_address(host);
}

ip_address reference_client(const ip_address& peer, const std::vector<std::string_view>& fields,
                            const trusted_proxies& trusted) {
    if (!trusted.contains(peer)) return peer;
    std::vector<std::string_view> entries;
    for (const auto field : fields) {
        for (const auto part : split(field, ',')) {
            const auto e = trim(part);
            if (!e.empty()) entries.push_back(e);
        }
    }
    ip_address client = peer;
    for (auto it = entries.rbegin(); it != entries.rend(); ++it) {
        const auto a = reference_entry(*it);
        if (!a) return client;
        client = *a;
        if (!trusted.contains(client)) return client;
    }
    return client;
}

bool is_hex(std::string_view s) {
    return s.find_first_not_of("0123456789abcdef") == std::string_view::npos;
}

void check_identity(const client_identifier& id, const ip_address& peer,
                    const std::vector<std::string_view>& fields, std::string_view header_value,
                    const ip_address& client) {
    identity_buffer buf;
    buf.fill('#');
    const std::string_view got = id.identify(peer, fields, header_value, buf);
    SLUICE_FUZZ_CHECK(got.data() == buf.data() && got.size() <= buf.size());
    const std::string_view value = trim(header_value);
    if (id.source().type == key_source::kind::ip || value.empty()) {
        SLUICE_FUZZ_CHECK(got == "ip:" + client.to_string());
    } else if (value.size() <= sluice::core::max_key_value) {
        SLUICE_FUZZ_CHECK(got == "key:" + std::string(value));
    } else {
        constexpr std::string_view prefix = "key-sha256:";
        SLUICE_FUZZ_CHECK(got.size() == prefix.size() + 64 && got.starts_with(prefix));
        SLUICE_FUZZ_CHECK(is_hex(got.substr(prefix.size())));
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view text{reinterpret_cast<const char*>(data), size};

    if (size >= 16) {
        ip_address::bytes_type raw;
        for (std::size_t i = 0; i < raw.size(); ++i)
            raw[i] = data[i];
        check_address(ip_address::from_v6(raw));
        check_address(ip_address::from_v4({data[0], data[1], data[2], data[3]}));
    }

    const auto lines = split(text, '\n');
    const ip_address peer = parse_address(lines[0]).value_or(ip_address{});

    trusted_proxies trusted;
    std::vector<cidr> ranges;
    if (lines.size() > 1) {
        for (const auto token : split(lines[1], ' ')) {
            if (const auto r = parse_range(token)) {
                trusted.add(*r);
                ranges.push_back(*r);
            }
        }
    }
    const std::vector<std::string_view> fields =
        lines.size() > 2 ? std::vector<std::string_view>(lines.begin() + 2, lines.end())
                         : std::vector<std::string_view>{};

    const ip_address client = sluice::core::client_address(peer, fields, trusted);
    if (!trusted.contains(peer)) SLUICE_FUZZ_CHECK(client == peer);
    SLUICE_FUZZ_CHECK(client == reference_client(peer, fields, trusted));
    bool listed = client == peer;
    for (const auto field : fields) {
        for (const auto part : split(field, ',')) {
            const auto a = reference_entry(trim(part));
            listed = listed || (a && *a == client);
        }
    }
    SLUICE_FUZZ_CHECK(listed);

    for (const cidr& r : ranges) {
        check_contains(r, peer);
        check_contains(r, client);
    }

    const std::string_view header_value = fields.empty() ? std::string_view{} : fields.back();
    check_identity(client_identifier{key_source{}, trusted}, peer, fields, header_value, client);
    check_identity(client_identifier{*key_source::parse("header:x-api-key"), trusted}, peer, fields,
                   header_value, client);
    return 0;
}
