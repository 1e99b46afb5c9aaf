#include "tests/support/redis_sentinel.hpp"

#include <signal.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <stdexcept>
#include <thread>

#include "tests/support/redis_server.hpp"

namespace sluice::test {

namespace {

using namespace std::chrono_literals;

constexpr auto poll_interval = 50ms;

std::vector<std::string> lines_of(const std::string& s) {
    std::vector<std::string> out;
    std::istringstream in(s);
    std::string line;
    while (std::getline(in, line))
        out.push_back(line);
    return out;
}

// SENTINEL MASTER's flat field/value list as redis-cli prints it, one per line.
std::map<std::string, std::string> fields_of(const std::string& s) {
    std::map<std::string, std::string> out;
    const auto lines = lines_of(s);
    for (std::size_t i = 0; i + 1 < lines.size(); i += 2)
        out[lines[i]] = lines[i + 1];
    return out;
}

}  // namespace

redis_sentinel::redis_sentinel(redis_sentinel_options options) : options_{std::move(options)} {
    std::string templ =
        (std::filesystem::temp_directory_path() / "sluice-sentinel-XXXXXX").string();
    if (::mkdtemp(templ.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
    root_ = templ;
    try {
        nodes_.push_back(std::make_unique<redis_server>());
        nodes_.push_back(std::make_unique<redis_server>(
            std::vector<std::string>{"--replicaof", "127.0.0.1", std::to_string(node_port(0))}));
        // A Sentinel discovers replicas from the primary's INFO, which it asks for at once and
        // then every 10 s: the replica must be attached before the Sentinels start.
        const auto deadline = std::chrono::steady_clock::now() + 10s;
        while (cli(1, {"INFO", "replication"}).find("master_link_status:up") == std::string::npos) {
            if (std::chrono::steady_clock::now() > deadline)
                throw std::runtime_error("the replica never synced with the primary");
            std::this_thread::sleep_for(poll_interval);
        }
        std::set<unsigned short> taken{node_port(0), node_port(1)};
        sentinels_.resize(options_.sentinels);
        for (std::size_t i = 0; i < sentinels_.size(); ++i) {
            sentinel& s = sentinels_[i];
            do {
                s.port = free_port();
            } while (!taken.insert(s.port).second);
            s.conf = root_ + "/sentinel-" + std::to_string(s.port) + ".conf";
            s.log = root_ + "/sentinel-" + std::to_string(s.port) + ".log";
            start_sentinel(s);
        }
        wait_until_ready(30s);
    } catch (...) {
        for (auto& s : sentinels_)
            if (s.proc.pid() > 0) s.proc.stop(SIGKILL);
        nodes_.clear();
        std::filesystem::remove_all(root_);
        throw;
    }
}

redis_sentinel::~redis_sentinel() {
    for (auto& s : sentinels_) {
        if (s.proc.pid() > 0) s.proc.stop(SIGKILL);
    }
    nodes_.clear();  // each stops its redis-server by PID
    std::error_code ec;
    std::filesystem::remove_all(root_, ec);
}

void redis_sentinel::start_sentinel(sentinel& s) {
    {
        std::ofstream f(s.conf);
        const std::string& m = options_.master;
        f << "port " << s.port << "\n"
          << "bind 127.0.0.1\n"
          << "daemonize no\n"
          << "dir " << root_ << "\n"
          << "logfile " << s.log << "\n"
          << "sentinel resolve-hostnames no\n"
          << "sentinel monitor " << m << " 127.0.0.1 " << node_port(0) << " " << options_.quorum
          << "\n"
          << "sentinel down-after-milliseconds " << m << " " << options_.down_after.count() << "\n"
          << "sentinel failover-timeout " << m << " " << options_.failover_timeout.count() << "\n"
          << "sentinel parallel-syncs " << m << " 1\n";
    }
    s.proc = process("/usr/bin/redis-server", {s.conf, "--sentinel"}, /*capture_stdout=*/true);
}

void redis_sentinel::wait_until_ready(std::chrono::milliseconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    const std::string others = std::to_string(sentinels_.size() - 1);
    std::string last;
    for (;;) {
        bool ok = true;
        for (std::size_t i = 0; i < sentinels_.size() && ok; ++i) {
            const auto f = fields_of(sentinel_cli(i, {"SENTINEL", "MASTER", options_.master}));
            const auto get = [&f](const std::string& k) {
                const auto it = f.find(k);
                return it == f.end() ? std::string{} : it->second;
            };
            ok = get("flags") == "master" && get("num-slaves") == "1" &&
                 get("num-other-sentinels") == others;
            if (!ok) {
                last = "sentinel " + std::to_string(i) + ": flags=" + get("flags") +
                       " num-slaves=" + get("num-slaves") +
                       " num-other-sentinels=" + get("num-other-sentinels");
            }
        }
        if (ok) return;
        if (std::chrono::steady_clock::now() > deadline)
            throw std::runtime_error("the Sentinels never agreed on the setup: " + last);
        std::this_thread::sleep_for(poll_interval);
    }
}

std::string redis_sentinel::seeds() const {
    std::string out;
    for (const auto& s : sentinels_)
        out += (out.empty() ? "" : ",") + std::string("127.0.0.1:") + std::to_string(s.port);
    return out;
}

std::string redis_sentinel::sentinel_log(std::size_t i) const {
    return sentinels_.at(i).log;
}

std::string redis_sentinel::cli(std::size_t node, const std::vector<std::string>& args) const {
    return redis_cli(node_port(node), args);
}

std::string redis_sentinel::sentinel_cli(std::size_t i,
                                         const std::vector<std::string>& args) const {
    return redis_cli(sentinel_port(i), args);
}

std::string redis_sentinel::role(std::size_t node) const {
    const auto lines = lines_of(cli(node, {"ROLE"}));
    return lines.empty() ? std::string{} : lines.front();
}

void redis_sentinel::failover(std::size_t via, std::chrono::milliseconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    std::string answer;
    for (;;) {
        answer = sentinel_cli(via, {"SENTINEL", "FAILOVER", options_.master});
        if (answer == "OK") return;
        if (std::chrono::steady_clock::now() > deadline) break;
        std::this_thread::sleep_for(200ms);
    }
    throw std::runtime_error("SENTINEL FAILOVER was refused: " + answer);
}

void redis_sentinel::wait_for_primary(std::size_t node, std::chrono::milliseconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    const std::string port = std::to_string(node_port(node));
    for (;;) {
        bool ok = role(node) == "master";
        for (std::size_t i = 0; i < sentinels_.size() && ok; ++i) {
            const auto lines =
                lines_of(sentinel_cli(i, {"SENTINEL", "GET-MASTER-ADDR-BY-NAME", options_.master}));
            ok = lines.size() == 2 && lines[1] == port;
        }
        for (std::size_t n = 0; n < nodes_.size() && ok; ++n) {
            if (n != node) ok = role(n) == "slave";
        }
        if (ok) return;
        if (std::chrono::steady_clock::now() > deadline)
            throw std::runtime_error("node " + std::to_string(node) + " never became the primary");
        std::this_thread::sleep_for(poll_interval);
    }
}

}  // namespace sluice::test
