#include "tests/support/redis_cluster.hpp"

#include <signal.h>
#include <stdlib.h>

#include <algorithm>
#include <filesystem>
#include <set>
#include <sstream>
#include <stdexcept>
#include <thread>

#include "resp/cluster_slot.hpp"
#include "tests/support/redis_server.hpp"

namespace sluice::test {

namespace {

using namespace std::chrono_literals;

constexpr auto poll_interval = 50ms;

std::vector<std::string> split(const std::string& s, char sep) {
    std::vector<std::string> out;
    std::string item;
    std::istringstream in(s);
    while (std::getline(in, item, sep)) {
        if (!item.empty() && item.back() == '\r') item.pop_back();
        if (!item.empty()) out.push_back(item);
    }
    return out;
}

// free_port() may hand out a port again once it is released; a cluster needs two per node.
unsigned short unused_port(std::set<unsigned short>& taken) {
    for (;;) {
        const unsigned short p = free_port();
        if (taken.insert(p).second) return p;
    }
}

}  // namespace

redis_cluster::redis_cluster(redis_cluster_options options) : options_{options} {
    if (options_.primaries < 3) {
        throw std::invalid_argument("redis-cli --cluster create needs at least 3 primaries");
    }
    std::string templ = (std::filesystem::temp_directory_path() / "sluice-cluster-XXXXXX").string();
    if (::mkdtemp(templ.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
    root_ = templ;
    std::set<unsigned short> taken;
    nodes_.resize(options_.primaries * (1 + options_.replicas));
    try {
        for (auto& n : nodes_) {
            n.port = unused_port(taken);
            // The bus port is given explicitly: the default, port + 10000, may be taken or past
            // 65535 for a port the kernel picked.
            n.bus_port = unused_port(taken);
            n.dir = root_ + "/node-" + std::to_string(n.port);
            std::filesystem::create_directory(n.dir);
            start_node(n);
        }
        create();
        wait_until_stable();
    } catch (...) {
        for (auto& n : nodes_)
            if (n.proc.pid() > 0) n.proc.stop(SIGKILL);
        std::filesystem::remove_all(root_);
        throw;
    }
}

redis_cluster::~redis_cluster() {
    for (auto& n : nodes_) {
        if (n.proc.pid() > 0) n.proc.stop(SIGKILL);
    }
    std::error_code ec;
    std::filesystem::remove_all(root_, ec);
}

void redis_cluster::start_node(node& n) {
    const std::vector<std::string> args = {"--port",
                                           std::to_string(n.port),
                                           "--bind",
                                           "127.0.0.1",
                                           "--cluster-enabled",
                                           "yes",
                                           "--cluster-config-file",
                                           n.dir + "/nodes.conf",
                                           "--cluster-port",
                                           std::to_string(n.bus_port),
                                           "--cluster-node-timeout",
                                           std::to_string(options_.node_timeout.count()),
                                           "--dir",
                                           n.dir,
                                           "--save",
                                           "",
                                           "--appendonly",
                                           "no",
                                           "--daemonize",
                                           "no",
                                           "--loglevel",
                                           "notice",
                                           "--logfile",
                                           n.dir + "/redis.log",
                                           "--enable-debug-command",
                                           "yes"};
    n.proc = process("/usr/bin/redis-server", args, /*capture_stdout=*/false);
    const auto deadline = std::chrono::steady_clock::now() + 10s;
    const std::size_t index = static_cast<std::size_t>(&n - nodes_.data());
    while (cli(index, {"PING"}) != "PONG") {
        if (!n.proc.running() || std::chrono::steady_clock::now() > deadline) {
            throw std::runtime_error("redis-server did not start on port " +
                                     std::to_string(n.port) + " (see " + n.dir + "/redis.log)");
        }
        std::this_thread::sleep_for(20ms);
    }
    n.id = cli(index, {"CLUSTER", "MYID"});
}

void redis_cluster::create() {
    std::vector<std::string> args = {"--cluster", "create"};
    for (const auto& n : nodes_)
        args.push_back("127.0.0.1:" + std::to_string(n.port));
    args.insert(args.end(),
                {"--cluster-replicas", std::to_string(options_.replicas), "--cluster-yes"});
    process p("/usr/bin/redis-cli", args, /*capture_stdout=*/true);
    std::string output;
    const auto deadline = std::chrono::steady_clock::now() + 60s;
    for (;;) {
        bool ok = false;
        const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
            deadline - std::chrono::steady_clock::now());
        if (left.count() <= 0) break;
        output += p.read_line(left, &ok) + "\n";
        if (!ok) break;
    }
    const int status = p.wait(5s);
    if (status != 0 || output.find("[OK] All 16384 slots covered") == std::string::npos) {
        throw std::runtime_error("redis-cli --cluster create failed (" + std::to_string(status) +
                                 "):\n" + output);
    }
}

std::vector<unsigned short> redis_cluster::ports() const {
    std::vector<unsigned short> out;
    for (const auto& n : nodes_)
        out.push_back(n.port);
    return out;
}

std::string redis_cluster::seeds() const {
    std::string out;
    for (const auto& n : nodes_) {
        if (!out.empty()) out += ',';
        out += "127.0.0.1:" + std::to_string(n.port);
    }
    return out;
}

std::size_t redis_cluster::node_by_id(const std::string& id) const {
    for (std::size_t i = 0; i < nodes_.size(); ++i)
        if (nodes_[i].id == id) return i;
    throw std::runtime_error("no node with id " + id);
}

std::string redis_cluster::log_path(std::size_t node) const {
    return nodes_.at(node).dir + "/redis.log";
}

bool redis_cluster::alive(std::size_t node) const {
    return nodes_.at(node).proc.running();
}

void redis_cluster::kill(std::size_t node) {
    nodes_.at(node).proc.stop(SIGKILL);
}

std::size_t redis_cluster::first_alive() const {
    for (std::size_t i = 0; i < nodes_.size(); ++i)
        if (alive(i)) return i;
    throw std::runtime_error("no cluster node is alive");
}

std::string redis_cluster::cli(std::size_t node, const std::vector<std::string>& args) const {
    return redis_cli(port(node), args);
}

reply redis_cluster::call(std::size_t node, const std::vector<std::string>& args) const {
    redis_sync conn(port(node));
    return conn.call(args);
}

void redis_cluster::expect_ok(std::size_t node, const std::vector<std::string>& args) const {
    const reply r = call(node, args);
    if (r.is_error() || r.text != "OK") {
        std::string cmd;
        for (const auto& a : args)
            cmd += a + " ";
        throw std::runtime_error("node " + std::to_string(node) + ": " + cmd + "-> " + r.text);
    }
}

bool redis_cluster::state_ok(std::size_t node) const {
    try {
        return call(node, {"CLUSTER", "INFO"}).text.find("cluster_state:ok") != std::string::npos;
    } catch (const std::exception&) {
        return false;
    }
}

// A replica is ready to take over only once its first sync is done: INFO says its link is up.
bool redis_cluster::replication_ok(std::size_t node) const {
    try {
        const std::string info = call(node, {"INFO", "replication"}).text;
        return info.find("role:master") != std::string::npos ||
               info.find("master_link_status:up") != std::string::npos;
    } catch (const std::exception&) {
        return false;
    }
}

// CLUSTER NODES lines: <id> <ip:port@bus[,hostname]> <flags> <primary id or -> <ping> <pong>
// <epoch> <link> <slot or range>... ; slots in brackets are migrations in progress, not
// ownership.
redis_cluster::view redis_cluster::view_of(std::size_t node) const {
    const reply r = call(node, {"CLUSTER", "NODES"});
    if (r.is_error()) throw std::runtime_error("CLUSTER NODES: " + r.text);
    view v;
    v.owner.assign(resp::cluster_slots, "");
    std::vector<std::string> roles;
    for (const auto& line : split(r.text, '\n')) {
        const auto f = split(line, ' ');
        if (f.size() < 8) continue;
        const std::string& id = f[0];
        const std::string& flags = f[2];
        if (flags.find("fail") != std::string::npos || flags.find("noaddr") != std::string::npos ||
            flags.find("handshake") != std::string::npos) {
            continue;
        }
        const bool primary = flags.find("master") != std::string::npos;
        roles.push_back(id + (primary ? " primary -" : " replica " + f[3]));
        if (!primary) continue;
        for (std::size_t i = 8; i < f.size(); ++i) {
            if (f[i].front() == '[') continue;
            const auto dash = f[i].find('-');
            const unsigned long start = std::stoul(f[i].substr(0, dash));
            const unsigned long end =
                dash == std::string::npos ? start : std::stoul(f[i].substr(dash + 1));
            for (unsigned long s = start; s <= end && s < resp::cluster_slots; ++s)
                v.owner[s] = id;
        }
    }
    std::sort(roles.begin(), roles.end());
    for (const auto& r2 : roles)
        v.roles += r2 + "\n";
    return v;
}

void redis_cluster::wait_until_stable(std::chrono::milliseconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    std::string why;
    while (std::chrono::steady_clock::now() < deadline) {
        try {
            bool stable = true;
            std::vector<std::size_t> live;
            for (std::size_t i = 0; i < nodes_.size(); ++i)
                if (alive(i)) live.push_back(i);
            if (live.empty()) throw std::runtime_error("no cluster node is alive");
            const view first = view_of(live.front());
            if (std::count(first.owner.begin(), first.owner.end(), "") != 0) {
                stable = false;
                why = "slots not covered";
            }
            for (std::size_t i : live) {
                if (!state_ok(i)) {
                    stable = false;
                    why = "node " + std::to_string(i) + " is not cluster_state:ok";
                    break;
                }
                if (!replication_ok(i)) {
                    stable = false;
                    why = "replica " + std::to_string(i) + " has not synced with its primary";
                    break;
                }
                const view v = view_of(i);
                if (v.owner != first.owner || v.roles != first.roles) {
                    stable = false;
                    why = "node " + std::to_string(i) + " disagrees with node " +
                          std::to_string(live.front());
                    break;
                }
            }
            if (stable) return;
        } catch (const std::runtime_error& e) {
            why = e.what();
        }
        std::this_thread::sleep_for(poll_interval);
    }
    throw std::runtime_error("cluster not stable in time: " + why);
}

std::size_t redis_cluster::primary_for_slot(std::uint16_t slot) const {
    const view v = view_of(first_alive());
    if (slot >= resp::cluster_slots || v.owner[slot].empty()) {
        throw std::runtime_error("no primary serves slot " + std::to_string(slot));
    }
    return node_by_id(v.owner[slot]);
}

std::size_t redis_cluster::primary_for_key(const std::string& key) const {
    return primary_for_slot(resp::key_slot(key));
}

std::vector<std::size_t> redis_cluster::primaries() const {
    const view v = view_of(first_alive());
    std::vector<std::size_t> out;
    for (std::size_t i = 0; i < nodes_.size(); ++i) {
        if (alive(i) && v.roles.find(nodes_[i].id + " primary") != std::string::npos) {
            out.push_back(i);
        }
    }
    return out;
}

std::vector<std::size_t> redis_cluster::replicas_of(std::size_t primary) const {
    const view v = view_of(first_alive());
    std::vector<std::size_t> out;
    for (std::size_t i = 0; i < nodes_.size(); ++i) {
        if (alive(i) &&
            v.roles.find(nodes_[i].id + " replica " + node_id(primary)) != std::string::npos) {
            out.push_back(i);
        }
    }
    return out;
}

std::size_t redis_cluster::wait_for_failover(std::uint16_t slot,
                                             std::chrono::milliseconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    std::string why = "no answer";
    while (std::chrono::steady_clock::now() < deadline) {
        try {
            std::string owner;
            bool agreed = true;
            for (std::size_t i = 0; i < nodes_.size() && agreed; ++i) {
                if (!alive(i)) continue;
                const view v = view_of(i);
                if (!state_ok(i)) {
                    agreed = false;
                    why = "node " + std::to_string(i) + " is not cluster_state:ok";
                } else if (v.owner[slot].empty() || (!owner.empty() && v.owner[slot] != owner)) {
                    agreed = false;
                    why = "nodes disagree on slot " + std::to_string(slot);
                }
                owner = v.owner[slot];
            }
            if (agreed && !owner.empty() && alive(node_by_id(owner))) return node_by_id(owner);
            if (agreed) why = "slot " + std::to_string(slot) + " still served by a dead node";
        } catch (const std::runtime_error& e) {
            why = e.what();
        }
        std::this_thread::sleep_for(poll_interval);
    }
    throw std::runtime_error("no failover for slot " + std::to_string(slot) + ": " + why);
}

void redis_cluster::begin_migration(std::uint16_t slot, std::size_t from, std::size_t to) {
    const std::string s = std::to_string(slot);
    expect_ok(to, {"CLUSTER", "SETSLOT", s, "IMPORTING", node_id(from)});
    expect_ok(from, {"CLUSTER", "SETSLOT", s, "MIGRATING", node_id(to)});
}

void redis_cluster::finish_migration(std::uint16_t slot, std::size_t from, std::size_t to) {
    const std::string s = std::to_string(slot);
    redis_sync source(port(from));
    for (;;) {
        const reply keys = source.call({"CLUSTER", "GETKEYSINSLOT", s, "100"});
        if (keys.is_error()) throw std::runtime_error("CLUSTER GETKEYSINSLOT: " + keys.text);
        if (keys.items.empty()) break;
        std::vector<std::string> migrate = {
            "MIGRATE", "127.0.0.1", std::to_string(port(to)), "", "0", "5000", "KEYS"};
        for (const auto& k : keys.items)
            migrate.push_back(k.text);
        const reply r = source.call(migrate);
        if (r.is_error()) throw std::runtime_error("MIGRATE: " + r.text);
    }
    // The target first: once it owns the slot it bumps its epoch, so no other node can claim the
    // slot back for the source through gossip.
    expect_ok(to, {"CLUSTER", "SETSLOT", s, "NODE", node_id(to)});
    expect_ok(from, {"CLUSTER", "SETSLOT", s, "NODE", node_id(to)});
    for (std::size_t p : primaries()) {
        if (p != from && p != to) expect_ok(p, {"CLUSTER", "SETSLOT", s, "NODE", node_id(to)});
    }
    wait_until_stable();
    if (primary_for_slot(slot) != to) {
        throw std::runtime_error("slot " + s + " did not move to node " + std::to_string(to));
    }
}

void redis_cluster::migrate_slot(std::uint16_t slot, std::size_t from, std::size_t to) {
    begin_migration(slot, from, to);
    finish_migration(slot, from, to);
}

}  // namespace sluice::test
