#include "core/client_key.hpp"

#include <arpa/inet.h>

#include <algorithm>
#include <cstring>

namespace sluice::core {

namespace {

constexpr std::array<unsigned char, 12> v4_mapped_prefix = {0, 0, 0, 0, 0,    0,
                                                            0, 0, 0, 0, 0xff, 0xff};

bool is_ows(char c) noexcept {
    return c == ' ' || c == '\t';
}

std::string_view trim_ows(std::string_view s) noexcept {
    while (!s.empty() && is_ows(s.front()))
        s.remove_prefix(1);
    while (!s.empty() && is_ows(s.back()))
        s.remove_suffix(1);
    return s;
}

bool all_digits(std::string_view s) noexcept {
    return !s.empty() &&
           std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

// RFC 9110 tchar.
bool is_tchar(char c) noexcept {
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) return true;
    return std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}

// One X-Forwarded-For element: a plain address, "[v6]", "[v6]:port" or "v4:port".
std::optional<ip_address> parse_forwarded_entry(std::string_view entry) noexcept {
    if (!entry.empty() && entry.front() == '[') {
        const auto close = entry.find(']');
        if (close == std::string_view::npos) return std::nullopt;
        const std::string_view after = entry.substr(close + 1);
        if (!after.empty() &&
            !(after.front() == ':' && all_digits(after.substr(1)) && after.size() <= 6)) {
            return std::nullopt;
        }
        const auto address = ip_address::parse(entry.substr(1, close - 1));
        // A bracketed IPv4 address is not a form anybody writes.
        if (!address || entry.substr(1, close - 1).find(':') == std::string_view::npos) {
            return std::nullopt;
        }
        return address;
    }
    if (auto address = ip_address::parse(entry)) return address;
    const auto colon = entry.find(':');
    if (colon == std::string_view::npos || entry.find(':', colon + 1) != std::string_view::npos) {
        return std::nullopt;
    }
    const std::string_view port = entry.substr(colon + 1);
    if (!all_digits(port) || port.size() > 5) return std::nullopt;
    return ip_address::parse(entry.substr(0, colon));
}

// SHA-256 (FIPS 180-4) of a header value too long to be a key as it is. Only ever used on those
// values, so it is written for clarity rather than speed.
class sha256 {
  public:
    void update(std::string_view data) noexcept {
        for (const char c : data) {
            block_[fill_++] = static_cast<unsigned char>(c);
            if (fill_ == 64) {
                compress();
                fill_ = 0;
            }
        }
        length_ += data.size();
    }

    std::array<unsigned char, 32> finish() noexcept {
        const std::uint64_t bits = length_ * 8;
        block_[fill_++] = 0x80;
        if (fill_ > 56) {
            std::fill(block_.begin() + fill_, block_.end(), 0);
            compress();
            fill_ = 0;
        }
        std::fill(block_.begin() + fill_, block_.begin() + 56, 0);
        for (int i = 0; i < 8; ++i)
            block_[56 + i] = static_cast<unsigned char>(bits >> (56 - 8 * i));
        compress();
        std::array<unsigned char, 32> digest{};
        for (int i = 0; i < 8; ++i) {
            for (int j = 0; j < 4; ++j) {
                digest[4 * i + j] = static_cast<unsigned char>(state_[i] >> (24 - 8 * j));
            }
        }
        return digest;
    }

  private:
    static std::uint32_t rotr(std::uint32_t x, int n) noexcept {
        return (x >> n) | (x << (32 - n));
    }

    void compress() noexcept {
        static constexpr std::uint32_t k[64] = {
            0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4,
            0xab1c5ed5, 0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe,
            0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f,
            0x4a7484aa, 0x5cb0a9dc, 0x76f988da, 0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7,
            0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc,
            0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85, 0xa2bfe8a1, 0xa81a664b,
            0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070, 0x19a4c116,
            0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
            0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7,
            0xc67178f2};
        std::uint32_t w[64];
        for (int i = 0; i < 16; ++i) {
            w[i] = std::uint32_t(block_[4 * i]) << 24 | std::uint32_t(block_[4 * i + 1]) << 16 |
                   std::uint32_t(block_[4 * i + 2]) << 8 | std::uint32_t(block_[4 * i + 3]);
        }
        for (int i = 16; i < 64; ++i) {
            const std::uint32_t s0 = rotr(w[i - 15], 7) ^ rotr(w[i - 15], 18) ^ (w[i - 15] >> 3);
            const std::uint32_t s1 = rotr(w[i - 2], 17) ^ rotr(w[i - 2], 19) ^ (w[i - 2] >> 10);
            w[i] = w[i - 16] + s0 + w[i - 7] + s1;
        }
        std::uint32_t a = state_[0], b = state_[1], c = state_[2], d = state_[3];
        std::uint32_t e = state_[4], f = state_[5], g = state_[6], h = state_[7];
        for (int i = 0; i < 64; ++i) {
            const std::uint32_t s1 = rotr(e, 6) ^ rotr(e, 11) ^ rotr(e, 25);
            const std::uint32_t ch = (e & f) ^ (~e & g);
            const std::uint32_t t1 = h + s1 + ch + k[i] + w[i];
            const std::uint32_t s0 = rotr(a, 2) ^ rotr(a, 13) ^ rotr(a, 22);
            const std::uint32_t maj = (a & b) ^ (a & c) ^ (b & c);
            const std::uint32_t t2 = s0 + maj;
            h = g;
            g = f;
            f = e;
            e = d + t1;
            d = c;
            c = b;
            b = a;
            a = t1 + t2;
        }
        state_[0] += a;
        state_[1] += b;
        state_[2] += c;
        state_[3] += d;
        state_[4] += e;
        state_[5] += f;
        state_[6] += g;
        state_[7] += h;
    }

    std::array<std::uint32_t, 8> state_ = {0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
                                           0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19};
    std::array<unsigned char, 64> block_{};
    std::size_t fill_ = 0;
    std::uint64_t length_ = 0;
};

std::size_t append(identity_buffer& out, std::size_t at, std::string_view text) noexcept {
    const std::size_t n = std::min(text.size(), out.size() - at);
    std::memcpy(out.data() + at, text.data(), n);
    return at + n;
}

}  // namespace

ip_address ip_address::from_v4(const std::array<unsigned char, 4>& bytes) noexcept {
    ip_address a;
    std::copy(v4_mapped_prefix.begin(), v4_mapped_prefix.end(), a.bytes_.begin());
    std::copy(bytes.begin(), bytes.end(), a.bytes_.begin() + 12);
    return a;
}

ip_address ip_address::from_v6(const bytes_type& bytes) noexcept {
    ip_address a;
    a.bytes_ = bytes;
    return a;
}

std::optional<ip_address> ip_address::parse(std::string_view text) noexcept {
    // inet_pton wants a NUL-terminated string; an embedded NUL would silently cut it short.
    char buf[max_text + 1];
    if (text.empty() || text.size() > max_text || text.find('\0') != std::string_view::npos) {
        return std::nullopt;
    }
    std::memcpy(buf, text.data(), text.size());
    buf[text.size()] = '\0';
    if (text.find(':') == std::string_view::npos) {
        std::array<unsigned char, 4> v4{};
        if (inet_pton(AF_INET, buf, v4.data()) != 1) return std::nullopt;
        return from_v4(v4);
    }
    bytes_type v6{};
    if (inet_pton(AF_INET6, buf, v6.data()) != 1) return std::nullopt;
    return from_v6(v6);
}

bool ip_address::is_v4() const noexcept {
    return std::equal(v4_mapped_prefix.begin(), v4_mapped_prefix.end(), bytes_.begin());
}

std::size_t ip_address::format(std::span<char, max_text> out) const noexcept {
    char buf[max_text + 1];
    const char* text = is_v4() ? inet_ntop(AF_INET, bytes_.data() + 12, buf, sizeof buf)
                               : inet_ntop(AF_INET6, bytes_.data(), buf, sizeof buf);
    if (text == nullptr) return 0;  // cannot happen with a buffer of INET6_ADDRSTRLEN
    const std::size_t n = std::strlen(buf);
    std::memcpy(out.data(), buf, n);
    return n;
}

std::string ip_address::to_string() const {
    std::array<char, max_text> buf;
    return std::string(buf.data(), format(buf));
}

cidr_result cidr::parse(std::string_view text) noexcept {
    const auto slash = text.find('/');
    const auto address = ip_address::parse(text.substr(0, slash));
    if (!address) return {{}, cidr_errc::invalid_address};
    // Written as IPv4 text: the prefix counts from bit 96 of the mapped form.
    const bool written_v4 = text.substr(0, slash).find(':') == std::string_view::npos;
    const unsigned max_prefix = written_v4 ? 32 : 128;

    unsigned prefix = max_prefix;
    if (slash != std::string_view::npos) {
        const std::string_view digits = text.substr(slash + 1);
        if (!all_digits(digits) || digits.size() > 3) return {{}, cidr_errc::invalid_prefix};
        prefix = 0;
        for (const char c : digits)
            prefix = prefix * 10 + unsigned(c - '0');
        if (prefix > max_prefix) return {{}, cidr_errc::invalid_prefix};
    }

    cidr range;
    range.bits_ = static_cast<std::uint8_t>(written_v4 ? prefix + 96 : prefix);
    range.v4_ = address->is_v4() && range.bits_ >= 96;

    const auto& bytes = address->bytes();
    for (unsigned i = 0; i < 16; ++i) {
        const unsigned first_bit = i * 8;
        unsigned char mask = 0;
        if (range.bits_ >= first_bit + 8) {
            mask = 0xff;
        } else if (range.bits_ > first_bit) {
            mask = static_cast<unsigned char>(0xff << (8 - (range.bits_ - first_bit)));
        }
        if ((bytes[i] & ~mask) != 0) return {{}, cidr_errc::host_bits_set};
    }
    range.network_ = *address;
    return {range, cidr_errc::ok};
}

bool cidr::contains(const ip_address& address) const noexcept {
    if (address.is_v4() != v4_) return false;
    const auto& a = address.bytes();
    const auto& n = network_.bytes();
    const unsigned whole = bits_ / 8;
    if (!std::equal(n.begin(), n.begin() + whole, a.begin())) return false;
    const unsigned rest = bits_ % 8;
    if (rest == 0) return true;
    const auto mask = static_cast<unsigned char>(0xff << (8 - rest));
    return (a[whole] & mask) == n[whole];
}

std::string cidr::to_string() const {
    return network_.to_string() + "/" + std::to_string(prefix_length());
}

bool trusted_proxies::contains(const ip_address& address) const noexcept {
    return std::any_of(ranges_.begin(), ranges_.end(),
                       [&](const cidr& range) { return range.contains(address); });
}

std::optional<key_source> key_source::parse(std::string_view text) {
    if (text == "ip") return key_source{};
    constexpr std::string_view header_prefix = "header:";
    if (!text.starts_with(header_prefix)) return std::nullopt;
    const std::string_view name = text.substr(header_prefix.size());
    if (name.empty() || !std::all_of(name.begin(), name.end(), is_tchar)) return std::nullopt;
    key_source source;
    source.type = kind::header;
    source.header.reserve(name.size());
    for (const char c : name) {
        source.header.push_back(c >= 'A' && c <= 'Z' ? char(c - 'A' + 'a') : c);
    }
    return source;
}

std::string key_source::to_string() const {
    return type == kind::ip ? std::string("ip") : "header:" + header;
}

ip_address client_address(const ip_address& peer, std::span<const std::string_view> forwarded_for,
                          const trusted_proxies& trusted) noexcept {
    if (!trusted.contains(peer)) return peer;
    ip_address client = peer;
    for (auto field = forwarded_for.rbegin(); field != forwarded_for.rend(); ++field) {
        std::string_view list = *field;
        while (true) {
            const auto comma = list.rfind(',');
            const std::string_view entry =
                trim_ows(comma == std::string_view::npos ? list : list.substr(comma + 1));
            if (!entry.empty()) {
                const auto address = parse_forwarded_entry(entry);
                if (!address) return client;
                client = *address;
                if (!trusted.contains(client)) return client;
            }
            if (comma == std::string_view::npos) break;
            list = list.substr(0, comma);
        }
    }
    return client;
}

std::string_view client_identifier::identify(const ip_address& peer,
                                             std::span<const std::string_view> forwarded_for,
                                             std::string_view header_value,
                                             identity_buffer& out) const noexcept {
    if (source_.type == key_source::kind::header) {
        const std::string_view value = trim_ows(header_value);
        if (!value.empty() && value.size() <= max_key_value) {
            const std::size_t n = append(out, append(out, 0, "key:"), value);
            return {out.data(), n};
        }
        if (!value.empty()) {
            sha256 hash;
            hash.update(value);
            const auto digest = hash.finish();
            std::size_t n = append(out, 0, "key-sha256:");
            constexpr std::string_view hex = "0123456789abcdef";
            for (const unsigned char byte : digest) {
                out[n++] = hex[byte >> 4];
                out[n++] = hex[byte & 0xf];
            }
            return {out.data(), n};
        }
    }
    const ip_address client = client_address(peer, forwarded_for, trusted_);
    std::size_t n = append(out, 0, "ip:");
    n += client.format(std::span<char, ip_address::max_text>(out.data() + n, ip_address::max_text));
    return {out.data(), n};
}

}  // namespace sluice::core
