#include "core/client_key.hpp"

#include <gtest/gtest.h>

#include <vector>

namespace sluice::core {
namespace {

ip_address addr(std::string_view text) {
    const auto a = ip_address::parse(text);
    EXPECT_TRUE(a.has_value()) << text;
    return a.value_or(ip_address{});
}

cidr range(std::string_view text) {
    const auto r = cidr::parse(text);
    EXPECT_TRUE(r) << text << " failed with " << int(r.error);
    return r.range;
}

trusted_proxies trust(std::initializer_list<std::string_view> ranges) {
    trusted_proxies t;
    for (const auto r : ranges)
        t.add(range(r));
    return t;
}

// --- ip_address ---------------------------------------------------------------------------

TEST(IpAddress, ParsesAndFormatsCanonically) {
    EXPECT_EQ(addr("192.0.2.1").to_string(), "192.0.2.1");
    EXPECT_EQ(addr("2001:DB8:0:0:0:0:0:1").to_string(), "2001:db8::1");
    EXPECT_EQ(addr("::1").to_string(), "::1");
    EXPECT_EQ(addr("::").to_string(), "::");
    EXPECT_TRUE(addr("192.0.2.1").is_v4());
    EXPECT_FALSE(addr("::1").is_v4());
}

TEST(IpAddress, Ipv4MappedIsTheIpv4Address) {
    EXPECT_EQ(addr("::ffff:192.0.2.1"), addr("192.0.2.1"));
    EXPECT_EQ(addr("::ffff:c000:0201"), addr("192.0.2.1"));
    EXPECT_EQ(addr("::ffff:192.0.2.1").to_string(), "192.0.2.1");
    EXPECT_TRUE(addr("::ffff:192.0.2.1").is_v4());
}

TEST(IpAddress, FromBytesMatchesAsioShapes) {
    EXPECT_EQ(ip_address::from_v4({10, 1, 2, 3}), addr("10.1.2.3"));
    ip_address::bytes_type v6{};
    v6[15] = 1;
    EXPECT_EQ(ip_address::from_v6(v6), addr("::1"));
    v6 = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 10, 1, 2, 3};
    EXPECT_EQ(ip_address::from_v6(v6), ip_address::from_v4({10, 1, 2, 3}));
}

TEST(IpAddress, RejectsJunk) {
    for (const char* text :
         {"", "1.2.3", "1.2.3.4.5", "256.1.1.1", "01.2.3.4", "1.2.3.4 ", " 1.2.3.4", "1.2.3.4:80",
          "[::1]", "::g", "1:2:3:4:5:6:7:8:9", "fe80::1%eth0", "localhost", "unknown", "-",
          "0x7f.0.0.1", "1.2.3.-4"}) {
        EXPECT_FALSE(ip_address::parse(text)) << '"' << text << '"';
    }
    EXPECT_FALSE(ip_address::parse(std::string_view("1.2.3.4\0junk", 12)));
    EXPECT_FALSE(ip_address::parse(std::string(100, '1')));
}

// --- cidr ---------------------------------------------------------------------------------

TEST(Cidr, Ipv4Ranges) {
    const auto ten = range("10.0.0.0/8");
    EXPECT_TRUE(ten.contains(addr("10.0.0.0")));
    EXPECT_TRUE(ten.contains(addr("10.255.255.255")));
    EXPECT_FALSE(ten.contains(addr("11.0.0.0")));
    EXPECT_FALSE(ten.contains(addr("9.255.255.255")));

    const auto odd = range("192.168.4.0/22");
    EXPECT_TRUE(odd.contains(addr("192.168.7.255")));
    EXPECT_TRUE(odd.contains(addr("192.168.4.0")));
    EXPECT_FALSE(odd.contains(addr("192.168.8.0")));
    EXPECT_FALSE(odd.contains(addr("192.168.3.255")));

    EXPECT_TRUE(range("0.0.0.0/0").contains(addr("203.0.113.9")));
    EXPECT_FALSE(range("0.0.0.0/0").contains(addr("::1")));
}

TEST(Cidr, BareAddressIsAHostRoute) {
    const auto one = range("203.0.113.7");
    EXPECT_EQ(one.prefix_length(), 32u);
    EXPECT_TRUE(one.contains(addr("203.0.113.7")));
    EXPECT_FALSE(one.contains(addr("203.0.113.6")));
    const auto loop6 = range("::1");
    EXPECT_EQ(loop6.prefix_length(), 128u);
    EXPECT_TRUE(loop6.contains(addr("::1")));
    EXPECT_FALSE(loop6.contains(addr("::2")));
    EXPECT_EQ(range("::1/128"), loop6);
}

TEST(Cidr, Ipv6Ranges) {
    const auto ula = range("fd00::/8");
    EXPECT_TRUE(ula.contains(addr("fd12:3456::1")));
    EXPECT_TRUE(ula.contains(addr("fdff:ffff:ffff:ffff:ffff:ffff:ffff:ffff")));
    EXPECT_FALSE(ula.contains(addr("fc00::1")));
    EXPECT_FALSE(ula.contains(addr("fe00::")));

    const auto doc = range("2001:db8:abcd:12::/63");
    EXPECT_TRUE(doc.contains(addr("2001:db8:abcd:13:ffff::1")));
    EXPECT_FALSE(doc.contains(addr("2001:db8:abcd:14::")));

    EXPECT_TRUE(range("::/0").contains(addr("2001:db8::1")));
}

TEST(Cidr, Ipv4MappedPeersMatchIpv4Ranges) {
    EXPECT_TRUE(range("10.0.0.0/8").contains(addr("::ffff:10.9.8.7")));
    EXPECT_FALSE(range("10.0.0.0/8").contains(addr("::ffff:11.9.8.7")));
    // A range written in mapped form is the IPv4 range.
    EXPECT_EQ(range("::ffff:10.0.0.0/104"), range("10.0.0.0/8"));
    EXPECT_EQ(range("::ffff:10.0.0.0/104").to_string(), "10.0.0.0/8");
    EXPECT_TRUE(range("::ffff:0:0/96").contains(addr("1.2.3.4")));
}

TEST(Cidr, Ipv6RangesDoNotSpillIntoIpv4) {
    EXPECT_FALSE(range("::/0").contains(addr("1.2.3.4")));
    EXPECT_FALSE(range("::/64").contains(addr("::ffff:1.2.3.4")));
}

TEST(Cidr, ToString) {
    EXPECT_EQ(range("10.0.0.0/8").to_string(), "10.0.0.0/8");
    EXPECT_EQ(range("FD00::/8").to_string(), "fd00::/8");
    EXPECT_EQ(range("1.2.3.4").to_string(), "1.2.3.4/32");
}

TEST(Cidr, Errors) {
    EXPECT_EQ(cidr::parse("").error, cidr_errc::invalid_address);
    EXPECT_EQ(cidr::parse("/8").error, cidr_errc::invalid_address);
    EXPECT_EQ(cidr::parse("10.0.0/8").error, cidr_errc::invalid_address);
    EXPECT_EQ(cidr::parse("example.com/8").error, cidr_errc::invalid_address);
    EXPECT_EQ(cidr::parse("10.0.0.0/").error, cidr_errc::invalid_prefix);
    EXPECT_EQ(cidr::parse("10.0.0.0/33").error, cidr_errc::invalid_prefix);
    EXPECT_EQ(cidr::parse("10.0.0.0/-1").error, cidr_errc::invalid_prefix);
    EXPECT_EQ(cidr::parse("10.0.0.0/+8").error, cidr_errc::invalid_prefix);
    EXPECT_EQ(cidr::parse("10.0.0.0/8/8").error, cidr_errc::invalid_prefix);
    EXPECT_EQ(cidr::parse("10.0.0.0/0008").error, cidr_errc::invalid_prefix);
    EXPECT_EQ(cidr::parse("::/129").error, cidr_errc::invalid_prefix);
    EXPECT_EQ(cidr::parse("::/1x").error, cidr_errc::invalid_prefix);
    EXPECT_EQ(cidr::parse("10.0.0.1/8").error, cidr_errc::host_bits_set);
    EXPECT_EQ(cidr::parse("192.168.5.0/22").error, cidr_errc::host_bits_set);
    EXPECT_EQ(cidr::parse("fd00::1/8").error, cidr_errc::host_bits_set);
    EXPECT_EQ(cidr::parse("::ffff:1.2.3.4/80").error, cidr_errc::host_bits_set);
}

TEST(TrustedProxies, ContainsAnyRange) {
    const auto t = trust({"10.0.0.0/8", "::1", "fd00::/8"});
    EXPECT_TRUE(t.contains(addr("10.3.3.3")));
    EXPECT_TRUE(t.contains(addr("::1")));
    EXPECT_TRUE(t.contains(addr("fd00::5")));
    EXPECT_FALSE(t.contains(addr("127.0.0.1")));
    EXPECT_FALSE(t.contains(addr("2001:db8::1")));
    EXPECT_FALSE(trusted_proxies{}.contains(addr("10.0.0.1")));
    EXPECT_EQ(t.ranges().size(), 3u);
}

// --- key_source ---------------------------------------------------------------------------

TEST(KeySource, Parse) {
    EXPECT_EQ(key_source::parse("ip"), key_source{});
    const auto h = key_source::parse("header:X-Api-Key");
    ASSERT_TRUE(h);
    EXPECT_EQ(h->type, key_source::kind::header);
    EXPECT_EQ(h->header, "x-api-key");
    EXPECT_EQ(h->to_string(), "header:x-api-key");
    EXPECT_EQ(key_source::parse("header:a!#$%&'*+-.^_`|~9")->header, "a!#$%&'*+-.^_`|~9");
    for (const char* text :
         {"", "IP", "ip ", "header", "header:", "header:a b", "header:a:b", "header:x(y)",
          "header:é", "header:\"q\"", "header:a,b", "Header:x", "cookie:x"}) {
        EXPECT_FALSE(key_source::parse(text)) << '"' << text << '"';
    }
}

// --- client_address: X-Forwarded-For ------------------------------------------------------

struct xff_case {
    std::string peer;
    std::vector<std::string_view> xff;
    std::string expected;
};

std::string resolve(const std::string& peer, std::vector<std::string_view> xff,
                    const trusted_proxies& t) {
    return client_address(addr(peer), xff, t).to_string();
}

TEST(ClientAddress, UntrustedPeerIgnoresForwardedFor) {
    const auto t = trust({"10.0.0.0/8"});
    EXPECT_EQ(resolve("203.0.113.5", {"1.1.1.1"}, t), "203.0.113.5");
    EXPECT_EQ(resolve("203.0.113.5", {"10.0.0.9"}, t), "203.0.113.5");
    EXPECT_EQ(resolve("10.0.0.1", {"1.1.1.1"}, trusted_proxies{}), "10.0.0.1");
}

TEST(ClientAddress, TrustedPeerWithoutHeaderIsTheClient) {
    const auto t = trust({"10.0.0.0/8"});
    EXPECT_EQ(resolve("10.0.0.1", {}, t), "10.0.0.1");
    EXPECT_EQ(resolve("10.0.0.1", {""}, t), "10.0.0.1");
    EXPECT_EQ(resolve("10.0.0.1", {" , ,"}, t), "10.0.0.1");
}

TEST(ClientAddress, RightmostUntrustedWins) {
    const auto t = trust({"10.0.0.0/8"});
    // The client forged 6.6.6.6; our proxy 10.0.0.2 appended the real 198.51.100.7.
    EXPECT_EQ(resolve("10.0.0.1", {"6.6.6.6, 198.51.100.7"}, t), "198.51.100.7");
    EXPECT_EQ(resolve("10.0.0.1", {"6.6.6.6, 198.51.100.7, 10.0.0.2"}, t), "198.51.100.7");
    EXPECT_EQ(resolve("10.0.0.1", {"198.51.100.7,10.0.0.3,10.0.0.2"}, t), "198.51.100.7");
}

TEST(ClientAddress, SpacesAndTabsAroundCommas) {
    const auto t = trust({"10.0.0.0/8"});
    EXPECT_EQ(resolve("10.0.0.1", {"  6.6.6.6 ,\t198.51.100.7 \t,  10.0.0.2  "}, t),
              "198.51.100.7");
}

TEST(ClientAddress, SeveralHeaderFieldsAreOneList) {
    const auto t = trust({"10.0.0.0/8"});
    EXPECT_EQ(resolve("10.0.0.1", {"6.6.6.6", "198.51.100.7, 10.0.0.3", "10.0.0.2"}, t),
              "198.51.100.7");
    EXPECT_EQ(resolve("10.0.0.1", {"198.51.100.7", "10.0.0.2"}, t), "198.51.100.7");
    EXPECT_EQ(resolve("10.0.0.1", {"198.51.100.7", ""}, t), "198.51.100.7");
}

TEST(ClientAddress, AllTrustedGivesTheLeftmost) {
    const auto t = trust({"10.0.0.0/8"});
    EXPECT_EQ(resolve("10.0.0.1", {"10.0.0.7, 10.0.0.3, 10.0.0.2"}, t), "10.0.0.7");
    EXPECT_EQ(resolve("10.0.0.1", {"10.0.0.7", "10.0.0.2"}, t), "10.0.0.7");
}

TEST(ClientAddress, GarbageStopsTheWalk) {
    const auto t = trust({"10.0.0.0/8"});
    // Junk right next to the peer: the peer is all we know.
    EXPECT_EQ(resolve("10.0.0.1", {"198.51.100.7, unknown"}, t), "10.0.0.1");
    EXPECT_EQ(resolve("10.0.0.1", {"198.51.100.7", "garbage"}, t), "10.0.0.1");
    // Junk behind trusted hops: the farthest trusted hop, never anything to the left of the junk.
    EXPECT_EQ(resolve("10.0.0.1", {"6.6.6.6, _hidden, 10.0.0.2"}, t), "10.0.0.2");
    EXPECT_EQ(resolve("10.0.0.1", {"6.6.6.6, 1.2.3.4.5, 10.0.0.3, 10.0.0.2"}, t), "10.0.0.3");
    // Junk to the left of the first untrusted address is never reached.
    EXPECT_EQ(resolve("10.0.0.1", {"junk, 198.51.100.7, 10.0.0.2"}, t), "198.51.100.7");
}

TEST(ClientAddress, HostileEntries) {
    const auto t = trust({"10.0.0.0/8"});
    using namespace std::string_view_literals;
    for (const std::string_view junk : std::initializer_list<std::string_view>{
             "1.2.3.4/8", "1.2.3.4:", "1.2.3.4:123456", "1.2.3.4:8a", "[::1", "[::1]x", "[1.2.3.4]",
             "[::1]:", "::1]", "1.2.3.4 5.6.7.8", "\"1.2.3.4\"", "fe80::1%eth0", "1.2.3.4;5.6.7.8",
             "1.2.3.4\0"sv}) {
        const std::vector<std::string_view> xff = {"6.6.6.6", junk};
        EXPECT_EQ(client_address(addr("10.0.0.1"), xff, t).to_string(), "10.0.0.1")
            << '"' << junk << '"';
    }
}

TEST(ClientAddress, PortsAndBracketsAreAccepted) {
    const auto t = trust({"10.0.0.0/8"});
    EXPECT_EQ(resolve("10.0.0.1", {"198.51.100.7:4711"}, t), "198.51.100.7");
    EXPECT_EQ(resolve("10.0.0.1", {"[2001:db8::5]:4711"}, t), "2001:db8::5");
    EXPECT_EQ(resolve("10.0.0.1", {"[2001:db8::5]"}, t), "2001:db8::5");
    EXPECT_EQ(resolve("10.0.0.1", {"2001:db8::5"}, t), "2001:db8::5");
}

TEST(ClientAddress, Ipv6ProxiesAndClients) {
    const auto t = trust({"fd00::/8", "::1"});
    EXPECT_EQ(resolve("::1", {"2001:db8::9, fd00::2"}, t), "2001:db8::9");
    EXPECT_EQ(resolve("fd00::1", {"203.0.113.8"}, t), "203.0.113.8");
    EXPECT_EQ(resolve("2001:db8::1", {"203.0.113.8"}, t), "2001:db8::1");
}

TEST(ClientAddress, Ipv4MappedPeerIsTrustedByIpv4Range) {
    const auto t = trust({"10.0.0.0/8"});
    EXPECT_EQ(resolve("::ffff:10.0.0.1", {"198.51.100.7"}, t), "198.51.100.7");
    // A mapped entry in the header is a trusted proxy too, and shows as IPv4.
    EXPECT_EQ(resolve("10.0.0.1", {"198.51.100.7, ::ffff:10.0.0.2"}, t), "198.51.100.7");
    EXPECT_EQ(resolve("10.0.0.1", {"::ffff:198.51.100.7"}, t), "198.51.100.7");
}

// --- client_identifier ----------------------------------------------------------------------

std::string identify(const client_identifier& id, std::string_view peer,
                     std::vector<std::string_view> xff, std::string_view header = {}) {
    identity_buffer buf;
    buf.fill('#');
    const std::string_view v = id.identify(addr(peer), xff, header, buf);
    EXPECT_TRUE(v.data() == buf.data()) << "identity not in the caller's buffer";
    EXPECT_LE(v.size(), max_identity);
    return std::string(v);
}

TEST(ClientIdentifier, IpKeys) {
    const client_identifier id(key_source{}, trust({"10.0.0.0/8"}));
    EXPECT_EQ(identify(id, "203.0.113.5", {}), "ip:203.0.113.5");
    EXPECT_EQ(identify(id, "::ffff:203.0.113.5", {}), "ip:203.0.113.5");
    EXPECT_EQ(identify(id, "2001:db8::1", {}), "ip:2001:db8::1");
    EXPECT_EQ(identify(id, "10.0.0.1", {"198.51.100.7"}), "ip:198.51.100.7");
    // With ip keys a header value is irrelevant.
    EXPECT_EQ(identify(id, "203.0.113.5", {}, "abc"), "ip:203.0.113.5");
}

TEST(ClientIdentifier, LongestAddressFits) {
    const client_identifier id;
    EXPECT_EQ(identify(id, "ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffe", {}),
              "ip:ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffe");
}

TEST(ClientIdentifier, HeaderKeys) {
    const client_identifier id(*key_source::parse("header:X-Api-Key"), trust({"10.0.0.0/8"}));
    EXPECT_EQ(identify(id, "203.0.113.5", {}, "k1"), "key:k1");
    EXPECT_EQ(identify(id, "203.0.113.5", {}, " \tk1 \t"), "key:k1");
    EXPECT_EQ(identify(id, "203.0.113.5", {}, "a b{c}"), "key:a b{c}");
    // The same key from two addresses is one client.
    EXPECT_EQ(identify(id, "203.0.113.6", {}, "k1"), "key:k1");
}

TEST(ClientIdentifier, MissingOrEmptyHeaderFallsBackToIpThroughForwardedFor) {
    const client_identifier id(*key_source::parse("header:x-api-key"), trust({"10.0.0.0/8"}));
    EXPECT_EQ(identify(id, "203.0.113.5", {}), "ip:203.0.113.5");
    EXPECT_EQ(identify(id, "203.0.113.5", {}, ""), "ip:203.0.113.5");
    EXPECT_EQ(identify(id, "203.0.113.5", {}, "  \t "), "ip:203.0.113.5");
    EXPECT_EQ(identify(id, "10.0.0.1", {"6.6.6.6, 198.51.100.7"}), "ip:198.51.100.7");
}

TEST(ClientIdentifier, ValuesUpToTheLimitAreKeptAsTheyAre) {
    const client_identifier id(*key_source::parse("header:k"), {});
    const std::string value(max_key_value, 'v');
    EXPECT_EQ(identify(id, "1.2.3.4", {}, value), "key:" + value);
}

TEST(ClientIdentifier, LongerValuesAreHashedNotTruncated) {
    const client_identifier id(*key_source::parse("header:k"), {});
    // Expected digests from `sha256sum`.
    EXPECT_EQ(identify(id, "1.2.3.4", {}, std::string(257, 'a')),
              "key-sha256:e8d95cc2b4bc198c54b40bd214df958afb65f5e73d2c2eafe0593cf5c635c1f0");
    EXPECT_EQ(identify(id, "1.2.3.4", {}, std::string(300, 'a')),
              "key-sha256:9835fa6bf4e20a9b9ea812506302e98982721a6cf8d2cae67af57129bf21ae90");
    // Padding edge cases: 55 and 56 bytes past a block boundary, and a whole number of blocks.
    EXPECT_EQ(identify(id, "1.2.3.4", {}, std::string(311, 'a')),
              "key-sha256:405917f9905fa6a436429b115728eab061c624f26f97667e928b3b8ca9b47698");
    EXPECT_EQ(identify(id, "1.2.3.4", {}, std::string(312, 'a')),
              "key-sha256:3f021e8edc7ceb662183bb98110717cd75c8cdb80adabf1a6420a78a98da3f4e");
    EXPECT_EQ(identify(id, "1.2.3.4", {}, std::string(320, 'a')),
              "key-sha256:fee1a848cb6763c3088a0e523541b46ac171af2677b062178a9116c4612b352f");

    // Two long values with the same first max_key_value bytes stay two clients.
    const std::string prefix = std::string(255, 'k') + "x";
    const auto one = identify(id, "1.2.3.4", {}, prefix + "tail-one");
    const auto two = identify(id, "1.2.3.4", {}, prefix + "tail-two");
    EXPECT_EQ(one, "key-sha256:a5a82d84289ad1492a76670885ff177a1fea6f80b52726b7603053287a2ce0de");
    EXPECT_NE(one, two);
    // And no short value can name a hashed identity.
    EXPECT_NE(identify(id, "1.2.3.4", {}, one.substr(4)), one);
}

TEST(ClientIdentifier, HugeValue) {
    const client_identifier id(*key_source::parse("header:k"), {});
    const auto key = identify(id, "1.2.3.4", {}, std::string(8192, 'z'));
    EXPECT_TRUE(key.starts_with("key-sha256:"));
    EXPECT_EQ(key.size(), 11u + 64u);
}

}  // namespace
}  // namespace sluice::core
