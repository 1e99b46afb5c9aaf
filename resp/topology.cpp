#include "resp/topology.hpp"

#include <charconv>
#include <unordered_map>

#include "resp/error.hpp"

namespace sluice::resp {

std::string_view to_string(node_health h) noexcept {
    switch (h) {
        case node_health::unknown:
            return "unknown";
        case node_health::online:
            return "online";
        case node_health::failed:
            return "failed";
        case node_health::loading:
            return "loading";
    }
    return "invalid_health";
}

std::ostream& operator<<(std::ostream& os, node_health h) {
    return os << to_string(h);
}

std::ostream& operator<<(std::ostream& os, const cluster_node& n) {
    return os << (n.role == node_role::primary ? "primary " : "replica ") << n.host << ':' << n.port
              << " (" << (n.id.empty() ? "no id" : n.id) << ", " << n.health << ')';
}

const cluster_node* slot_map::node_for_slot(std::uint16_t slot) const noexcept {
    const std::uint16_t i = primary_index(slot);
    return i == uncovered ? nullptr : &nodes_[i];
}

const cluster_shard* slot_map::shard_for_slot(std::uint16_t slot) const noexcept {
    const std::uint16_t i = primary_index(slot);
    return i == uncovered ? nullptr : &shards_[shard_of_node_[i]];
}

namespace {

bool is_text(const node& n) noexcept {
    return n.data_type == type::bulk_string || n.data_type == type::simple_string;
}

// A key/value list: a RESP3 map, or the flat array RESP2 sends instead (so of even length).
bool is_key_value(const node& n) noexcept {
    return n.data_type == type::map || (n.data_type == type::array && n.size % 2 == 0);
}

// An integer sent as an integer (Redis 7.0) or as a bulk string of digits (Redis 7.2 sends slot
// numbers that way). Only plain decimal digits: no sign, no spaces.
bool parse_uint(const node& n, std::uint32_t max, std::uint32_t& out) noexcept {
    if (n.data_type != type::integer && !is_text(n)) return false;
    const std::string_view s = n.value;
    if (s.empty() || s.size() > 10 || s.front() < '0' || s.front() > '9') return false;
    std::uint64_t v = 0;
    const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (ec != std::errc{} || end != s.data() + s.size() || v > max) return false;
    out = static_cast<std::uint32_t>(v);
    return true;
}

std::string quoted(const node& n) {
    std::string out = std::string(to_string(n.data_type));
    if (!is_aggregate(n.data_type) && n.data_type != type::null) {
        out += " \"";
        out.append(n.value.substr(0, 64));
        out += '"';
    }
    return out;
}

}  // namespace

void topology_builder::fail(std::error_code ec, std::string detail) {
    if (ec_) return;
    ec_ = ec;
    detail_ = std::move(detail);
}

// An attribute annotates the value after it and is no part of the topology: it and its children
// are passed over (the parser reports it at the depth of that value, its children deeper).
bool topology_builder::skip_attribute(const node& n) noexcept {
    if (in_attribute_) {
        if (n.depth > attribute_depth_) return true;
        in_attribute_ = false;
    }
    if (n.data_type == type::attribute) {
        in_attribute_ = true;
        attribute_depth_ = n.depth;
        return true;
    }
    return false;
}

// Counts elements against their aggregates' declared sizes, so finish() can tell a whole reply
// from one cut short (a timeout or a lost connection midway) and a hand-made stream that skips
// levels is refused rather than misread.
bool topology_builder::track(const node& n) {
    if (n.depth == 0) {
        if (root_seen_) {
            fail(errc::topology_bad_shape, "a second reply after the first");
            return false;
        }
        root_seen_ = true;
    } else {
        if (!root_seen_ || n.depth > open_ || remaining_[n.depth - 1] == 0) {
            fail(errc::topology_bad_shape, "element outside its aggregate");
            return false;
        }
        for (std::size_t d = n.depth; d < open_; ++d) {
            if (remaining_[d] != 0) {
                fail(errc::topology_bad_shape, "aggregate left unfinished");
                return false;
            }
        }
        --remaining_[n.depth - 1];
    }
    open_ = n.depth;
    if (is_aggregate(n.data_type)) {
        if (n.depth + 1 >= remaining_.size()) {
            fail(errc::topology_bad_shape, "nested too deep");
            return false;
        }
        const bool pairs = n.data_type == type::map || n.data_type == type::attribute;
        remaining_[n.depth] = pairs ? std::uint64_t{n.size} * 2 : n.size;
        open_ = n.depth + 1;
    }
    return true;
}

bool topology_builder::complete() const noexcept {
    if (!root_seen_) return false;
    for (std::size_t d = 0; d < open_; ++d) {
        if (remaining_[d] != 0) return false;
    }
    return true;
}

void topology_builder::operator()(const node& n) {
    if (ec_ || skip_attribute(n) || !track(n)) return;
    if (n.depth == 0) {
        on_root(n);
    } else if (source_ == topology_source::cluster_shards) {
        on_shards_node(n);
    } else {
        on_slots_node(n);
    }
}

void topology_builder::on_root(const node& n) {
    if (is_error(n.data_type)) {
        fail(errc::topology_error_reply, std::string(n.value));
    } else if (n.data_type != type::array) {
        fail(errc::topology_not_array, "the reply is " + quoted(n));
    }
}

// CLUSTER SHARDS, depth by depth:
//   0 array of shards
//   1   shard: map (or flat array) of "slots" and "nodes"
//   2     key, value: "slots" -> array of start/end numbers, "nodes" -> array of nodes
//   3       a slot number, or a node: map (or flat array) of fields
//   4         key, value: "id", "port", "tls-port", "ip", "endpoint", "role", "health", ...
// Keys this builder does not know are passed over with their values, so a newer server's
// additions do no harm.
void topology_builder::on_shards_node(const node& n) {
    switch (n.depth) {
        case 1:
            if (!is_key_value(n)) {
                fail(errc::topology_bad_shape, "shard " + std::to_string(shards_.size()) + " is " +
                                                   quoted(n) + ", not a map");
                return;
            }
            shards_.emplace_back();
            shard_child_ = 0;
            section_ = field::other;
            return;
        case 2: {
            const bool is_key = shard_child_++ % 2 == 0;
            if (is_key) {
                if (!is_text(n)) {
                    fail(errc::topology_bad_shape, "shard key is " + quoted(n));
                    return;
                }
                shard_key_ = n.value == "slots"   ? field::slots
                             : n.value == "nodes" ? field::nodes
                                                  : field::other;
                return;
            }
            section_ = shard_key_;
            if (section_ != field::other && n.data_type != type::array) {
                fail(errc::topology_bad_shape,
                     std::string(section_ == field::slots ? "\"slots\"" : "\"nodes\"") + " is " +
                         quoted(n) + ", not an array");
            }
            return;
        }
        case 3:
            if (section_ == field::slots) {
                std::uint32_t slot = 0;
                if (!parse_uint(n, cluster_slots - 1, slot)) {
                    fail(errc::topology_bad_slot, "slot " + quoted(n));
                    return;
                }
                // More numbers than slots can only come from overlapping ranges: refused here,
                // before a hostile reply grows the list without bound.
                if (shards_.back().slots.size() >= 2 * std::size_t{cluster_slots}) {
                    fail(errc::topology_slot_conflict, "more slot ranges than slots");
                    return;
                }
                shards_.back().slots.push_back(static_cast<std::uint16_t>(slot));
            } else if (section_ == field::nodes) {
                if (!is_key_value(n)) {
                    fail(errc::topology_bad_shape, "node is " + quoted(n) + ", not a map");
                    return;
                }
                shards_.back().nodes.emplace_back();
                node_child_ = 0;
            }
            return;
        case 4: {
            if (section_ != field::nodes) return;
            const bool is_key = node_child_++ % 2 == 0;
            if (is_key) {
                if (!is_text(n)) {
                    fail(errc::topology_bad_shape, "node key is " + quoted(n));
                    return;
                }
                const std::string_view k = n.value;
                node_key_ = k == "id"         ? field::id
                            : k == "port"     ? field::port
                            : k == "tls-port" ? field::tls_port
                            : k == "ip"       ? field::ip
                            : k == "endpoint" ? field::endpoint
                            : k == "role"     ? field::role
                            : k == "health"   ? field::health
                                              : field::other;
                return;
            }
            set_node_field(shards_.back().nodes.back(), node_key_, n);
            return;
        }
        default:
            return;  // inside a value passed over
    }
}

void topology_builder::set_node_field(raw_node& rn, field f, const node& n) {
    if (f == field::other) return;
    if (f == field::port || f == field::tls_port) {
        std::uint32_t port = 0;
        if (!parse_uint(n, 65535, port) || port == 0) {
            fail(errc::topology_bad_port, "port " + quoted(n));
            return;
        }
        (f == field::port ? rn.node.port : rn.node.tls_port) = static_cast<std::uint16_t>(port);
        return;
    }
    if (!is_text(n) && n.data_type != type::null) {
        fail(errc::topology_bad_shape, "node field is " + quoted(n) + ", not a string");
        return;
    }
    const std::string_view v = n.value;
    switch (f) {
        case field::id:
            rn.node.id.assign(v);
            break;
        case field::ip:
            // The endpoint is preferred; the IP is the fallback when it is unknown ("?").
            if (rn.node.host.empty()) rn.node.host.assign(v);
            break;
        case field::endpoint:
            if (!v.empty() && v != "?") rn.node.host.assign(v);
            break;
        case field::role:
            // "master" until Redis 7; Valkey says "primary".
            rn.primary_role_seen = v == "master" || v == "primary";
            break;
        case field::health:
            rn.node.health = v == "online"                  ? node_health::online
                             : v == "fail" || v == "failed" ? node_health::failed
                             : v == "loading"               ? node_health::loading
                                                            : node_health::unknown;
            break;
        default:
            break;
    }
}

// CLUSTER SLOTS, depth by depth:
//   0 array of ranges
//   1   range: array of start, end, primary, replica...
//   2     start, end (numbers), then each node: array of host, port, id, metadata...
//   3       host (null when unknown), port, id, then a map of metadata passed over
void topology_builder::on_slots_node(const node& n) {
    switch (n.depth) {
        case 1:
            if (n.data_type != type::array) {
                fail(errc::topology_bad_shape, "slot range " + std::to_string(shards_.size()) +
                                                   " is " + quoted(n) + ", not an array");
                return;
            }
            shards_.emplace_back();
            shard_child_ = 0;
            return;
        case 2: {
            const std::size_t i = shard_child_++;
            if (i < 2) {
                std::uint32_t slot = 0;
                if (!parse_uint(n, cluster_slots - 1, slot)) {
                    fail(errc::topology_bad_slot, "slot " + quoted(n));
                    return;
                }
                shards_.back().slots.push_back(static_cast<std::uint16_t>(slot));
                return;
            }
            if (n.data_type != type::array) {
                fail(errc::topology_bad_shape, "node is " + quoted(n) + ", not an array");
                return;
            }
            raw_node& rn = shards_.back().nodes.emplace_back();
            // The first node of a range is its primary, the others its replicas.
            rn.primary_role_seen = i == 2;
            rn.node.role = i == 2 ? node_role::primary : node_role::replica;
            node_child_ = 0;
            return;
        }
        case 3: {
            const std::size_t i = node_child_++;
            raw_node& rn = shards_.back().nodes.back();
            if (i == 0) {
                if (!is_text(n) && n.data_type != type::null) {
                    fail(errc::topology_bad_shape, "node host is " + quoted(n));
                    return;
                }
                if (n.value != "?") rn.node.host.assign(n.value);
            } else if (i == 1) {
                set_node_field(rn, field::port, n);
            } else if (i == 2) {
                set_node_field(rn, field::id, n);
            }
            return;
        }
        default:
            return;  // node metadata (hostname, ip) passed over
    }
}

std::shared_ptr<const slot_map> topology_builder::finish() {
    if (!ec_) {
        if (!root_seen_ || !complete()) {
            fail(errc::topology_incomplete,
                 root_seen_ ? "the reply ended early" : "no reply was delivered");
        } else if (shards_.empty()) {
            fail(errc::topology_empty, "no shard and no slot range");
        }
    }
    if (ec_) return nullptr;
    auto map =
        source_ == topology_source::cluster_shards ? build_from_shards() : build_from_slots();
    return ec_ ? nullptr : map;
}

// Marks the slots of `pairs` (start, end, ...) as served by node `primary`.
bool topology_builder::assign(slot_map& map, const std::vector<std::uint16_t>& pairs,
                              std::uint16_t primary, std::size_t shard_index) {
    if (pairs.size() % 2 != 0) {
        fail(errc::topology_bad_slot,
             "shard " + std::to_string(shard_index) + ": an odd count of slot numbers");
        return false;
    }
    for (std::size_t i = 0; i < pairs.size(); i += 2) {
        const std::uint16_t start = pairs[i];
        const std::uint16_t end = pairs[i + 1];
        if (start > end) {
            fail(errc::topology_bad_slot, "slot range " + std::to_string(start) + "-" +
                                              std::to_string(end) + " starts after its end");
            return false;
        }
        for (std::uint32_t s = start; s <= end; ++s) {
            if (map.primary_[s] != slot_map::uncovered) {
                fail(errc::topology_slot_conflict,
                     "slot " + std::to_string(s) + " is claimed twice");
                return false;
            }
            map.primary_[s] = primary;
        }
        map.shards_[map.shard_of_node_[primary]].slots += std::size_t{end} - start + 1;
        map.uncovered_count_ -= std::size_t{end} - start + 1;
    }
    return true;
}

namespace {

// Node indexes are 16 bits, with 0xffff meaning "uncovered"; a real cluster has at most a few
// hundred nodes (Redis recommends no more than 1000).
constexpr std::size_t max_nodes = slot_map::uncovered;

}  // namespace

std::shared_ptr<const slot_map> topology_builder::build_from_shards() {
    auto map = std::shared_ptr<slot_map>(new slot_map());
    for (std::size_t si = 0; si < shards_.size(); ++si) {
        raw_shard& rs = shards_[si];
        // The primary is the node whose role says so. Redis 7.2 groups nodes by shard id, so a
        // primary that failed over stays listed, still "master" and "fail", beside the replica
        // that took over: the healthy one wins.
        raw_node* primary = nullptr;
        for (auto& rn : rs.nodes) {
            if (!rn.primary_role_seen) continue;
            if (primary == nullptr || (primary->node.health == node_health::failed &&
                                       rn.node.health != node_health::failed)) {
                primary = &rn;
            }
        }
        if (primary == nullptr) {
            // Replicas of a primary that is gone, serving nothing: nothing to route to.
            if (rs.slots.empty()) continue;
            fail(errc::topology_no_primary, "shard " + std::to_string(si) + " has no primary");
            return nullptr;
        }
        const std::size_t shard_index = map->shards_.size();
        map->shards_.emplace_back();
        auto add = [&](raw_node& rn, node_role role) -> bool {
            if (rn.node.port == 0) {
                fail(errc::topology_bad_port,
                     "shard " + std::to_string(si) + ": node without a plain-text port");
                return false;
            }
            if (map->nodes_.size() >= max_nodes) {
                fail(errc::topology_bad_shape, "more nodes than a cluster can have");
                return false;
            }
            rn.node.role = role;
            map->nodes_.push_back(std::move(rn.node));
            map->shard_of_node_.push_back(static_cast<std::uint16_t>(shard_index));
            return true;
        };
        if (!add(*primary, node_role::primary)) return nullptr;
        map->shards_[shard_index].primary = static_cast<std::uint16_t>(map->nodes_.size() - 1);
        for (auto& rn : rs.nodes) {
            // Another node still marked primary in the same shard is the failed one: it serves
            // nothing until it rejoins as a replica.
            if (&rn == primary || rn.primary_role_seen) continue;
            if (!add(rn, node_role::replica)) return nullptr;
            map->shards_[shard_index].replicas.push_back(
                static_cast<std::uint16_t>(map->nodes_.size() - 1));
        }
        if (!assign(*map, rs.slots, map->shards_[shard_index].primary, si)) return nullptr;
    }
    return map;
}

std::shared_ptr<const slot_map> topology_builder::build_from_slots() {
    auto map = std::shared_ptr<slot_map>(new slot_map());
    // CLUSTER SLOTS repeats a shard's nodes for each of its ranges: nodes are recognised by id
    // (or address, when a server gives no id) so each appears once.
    std::unordered_map<std::string, std::uint16_t> index_of;
    auto identity = [](const cluster_node& n) {
        return n.id.empty() ? n.host + ':' + std::to_string(n.port) : n.id;
    };
    auto intern = [&](raw_node& rn, std::size_t range, bool& added) -> std::uint16_t {
        added = false;
        if (rn.node.port == 0) {
            fail(errc::topology_bad_port,
                 "slot range " + std::to_string(range) + ": node without a port");
            return slot_map::uncovered;
        }
        const std::string key = identity(rn.node);
        if (auto it = index_of.find(key); it != index_of.end()) return it->second;
        if (map->nodes_.size() >= max_nodes) {
            fail(errc::topology_bad_shape, "more nodes than a cluster can have");
            return slot_map::uncovered;
        }
        const auto i = static_cast<std::uint16_t>(map->nodes_.size());
        map->nodes_.push_back(std::move(rn.node));
        map->shard_of_node_.push_back(slot_map::uncovered);
        index_of.emplace(key, i);
        added = true;
        return i;
    };
    for (std::size_t ri = 0; ri < shards_.size(); ++ri) {
        raw_shard& range = shards_[ri];
        if (range.slots.size() != 2) {
            fail(errc::topology_bad_slot,
                 "slot range " + std::to_string(ri) + " lacks its start or end");
            return nullptr;
        }
        if (range.nodes.empty()) {
            fail(errc::topology_no_primary, "slot range " + std::to_string(ri) + " has no primary");
            return nullptr;
        }
        bool added = false;
        const std::uint16_t primary = intern(range.nodes.front(), ri, added);
        if (ec_) return nullptr;
        std::uint16_t shard_index = map->shard_of_node_[primary];
        if (shard_index == slot_map::uncovered) {
            shard_index = static_cast<std::uint16_t>(map->shards_.size());
            map->shards_.emplace_back().primary = primary;
            map->shard_of_node_[primary] = shard_index;
        } else if (map->shards_[shard_index].primary != primary) {
            // Listed as a replica of another range before: the reply contradicts itself.
            fail(errc::topology_bad_shape, "a node is both a primary and a replica");
            return nullptr;
        }
        for (std::size_t j = 1; j < range.nodes.size(); ++j) {
            const std::uint16_t r = intern(range.nodes[j], ri, added);
            if (ec_) return nullptr;
            if (added) {
                map->shard_of_node_[r] = shard_index;
                map->shards_[shard_index].replicas.push_back(r);
            } else if (map->shard_of_node_[r] != shard_index || r == primary) {
                fail(errc::topology_bad_shape, "a node replicates two shards");
                return nullptr;
            }
        }
        if (!assign(*map, range.slots, primary, ri)) return nullptr;
    }
    return map;
}

}  // namespace sluice::resp
