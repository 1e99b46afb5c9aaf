#pragma once

#include <array>
#include <cstdint>
#include <string_view>

namespace sluice::resp {

// Redis Cluster splits the key space into 16384 hash slots; a key belongs to exactly one.
inline constexpr std::uint16_t cluster_slots = 16384;

namespace detail {

// The byte-at-a-time table of CRC16-XMODEM (polynomial 0x1021, MSB first), built at compile time
// so there is no table to get wrong by hand and no initialisation at start-up.
constexpr std::array<std::uint16_t, 256> make_crc16_table() noexcept {
    std::array<std::uint16_t, 256> table{};
    for (unsigned i = 0; i < 256; ++i) {
        auto crc = static_cast<std::uint16_t>(i << 8);
        for (int bit = 0; bit < 8; ++bit) {
            crc = static_cast<std::uint16_t>((crc & 0x8000) ? (crc << 1) ^ 0x1021 : crc << 1);
        }
        table[i] = crc;
    }
    return table;
}

inline constexpr std::array<std::uint16_t, 256> crc16_table = make_crc16_table();

}  // namespace detail

// CRC16 exactly as the Redis Cluster specification defines it: XMODEM (poly 0x1021, initial 0,
// no reflection, no final xor). crc16("123456789") == 0x31C3.
constexpr std::uint16_t crc16(std::string_view data) noexcept {
    std::uint16_t crc = 0;
    for (const char c : data) {
        const auto byte = static_cast<unsigned char>(c);
        crc = static_cast<std::uint16_t>((crc << 8) ^
                                         detail::crc16_table[((crc >> 8) ^ byte) & 0xff]);
    }
    return crc;
}

// The part of `key` that is hashed: the text between the first '{' and the first '}' after it,
// when that text is not empty; otherwise the whole key. So "{user1}.a" and "{user1}.b" share a
// slot, while "foo{}{bar}" hashes whole (its first tag is empty) and "foo{{bar}}" hashes "{bar".
constexpr std::string_view hash_tag(std::string_view key) noexcept {
    const auto open = key.find('{');
    if (open == std::string_view::npos) return key;
    const auto close = key.find('}', open + 1);
    if (close == std::string_view::npos || close == open + 1) return key;
    return key.substr(open + 1, close - open - 1);
}

// The hash slot of a key, as CLUSTER KEYSLOT answers it.
constexpr std::uint16_t key_slot(std::string_view key) noexcept {
    return crc16(hash_tag(key)) & (cluster_slots - 1);
}

}  // namespace sluice::resp
