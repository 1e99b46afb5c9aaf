#include "resp/cluster_slot.hpp"

#include <gtest/gtest.h>

#include <string>

namespace sluice::resp {
namespace {

using namespace std::string_literals;

TEST(ClusterSlot, Crc16SpecificationValue) {
    // The Redis Cluster specification: "the output of CRC16 for the 9-byte string "123456789"
    // is 0x31C3".
    EXPECT_EQ(crc16("123456789"), 0x31C3);
    EXPECT_EQ(crc16(""), 0);
}

TEST(ClusterSlot, Crc16IsUsableAtCompileTime) {
    constexpr auto slot = key_slot("123456789");
    static_assert(slot == (0x31C3 & 16383));
    EXPECT_EQ(slot, 12739);
}

TEST(ClusterSlot, HashTag) {
    EXPECT_EQ(hash_tag("plain"), "plain");
    EXPECT_EQ(hash_tag("{user1000}.following"), "user1000");
    EXPECT_EQ(hash_tag("foo{bar}{zap}"), "bar");      // the first tag only
    EXPECT_EQ(hash_tag("foo{{bar}}zap"), "{bar");     // up to the first '}' after the first '{'
    EXPECT_EQ(hash_tag("foo{}{bar}"), "foo{}{bar}");  // an empty first tag: the whole key
    EXPECT_EQ(hash_tag("{}"), "{}");
    EXPECT_EQ(hash_tag("{"), "{");
    EXPECT_EQ(hash_tag("}{"), "}{");
    EXPECT_EQ(hash_tag("a{b"), "a{b");
    EXPECT_EQ(hash_tag(""), "");
}

// Every expected value below was answered by a real Redis 7.0.15
// (`redis-server --cluster-enabled yes`, then `redis-cli CLUSTER KEYSLOT <key>`; the binary keys
// through `printf ... | redis-cli -x CLUSTER KEYSLOT`).
TEST(ClusterSlot, AgreesWithRedisClusterKeyslot) {
    struct known {
        std::string key;
        std::uint16_t slot;
    };
    const known cases[] = {
        {"123456789", 12739},
        {"foo", 12182},
        {"bar", 5061},
        {"", 0},
        {"{user1000}.following", 3443},
        {"{user1000}.followers", 3443},
        {"foo{}{bar}", 8363},
        {"foo{{bar}}zap", 4015},
        {"foo{bar}{zap}", 5061},
        {"{}", 15257},
        {"{", 4092},
        {"}", 12090},
        {"a{b", 13340},
        {"{a}{b}", 15495},
        {"x{}y", 16116},
        {"hello world", 15332},
        {"user:42", 15880},
        {"key:1234567890", 5624},
        // The gateway's own key shapes: the client between braces is the hash tag.
        {"sluice:{ip:127.0.0.1}:sliding-log", 5384},
        {"sluice:{ip:::1}", 118},
        // Bytes above 0x7f and NUL are hashed as unsigned bytes.
        {"\xff\x80", 4727},
        {"\xff\x00\x80"s, 7915},
        {"a{\xff\x00}b"s, 1023},
    };
    for (const auto& c : cases) {
        EXPECT_EQ(key_slot(c.key), c.slot) << "key \"" << c.key << "\"";
    }
}

TEST(ClusterSlot, SlotIsAlwaysInRange) {
    std::string key;
    for (int i = 0; i < 5000; ++i) {
        key += static_cast<char>(i * 31 + 7);
        EXPECT_LT(key_slot(key), cluster_slots);
    }
}

}  // namespace
}  // namespace sluice::resp
