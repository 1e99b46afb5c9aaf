#include "tests/support/redis_server.hpp"

#include <signal.h>
#include <sys/wait.h>

#include <array>
#include <cstdio>
#include <stdexcept>
#include <string_view>
#include <thread>

namespace sluice::test {

namespace {

std::string shell_quote(const std::string& s) {
    std::string out = "'";
    for (char c : s) {
        if (c == '\'')
            out += "'\\''";
        else
            out += c;
    }
    return out + "'";
}

}  // namespace

redis_server::redis_server(std::vector<std::string> extra)
    : port_{free_port()}, extra_{std::move(extra)} {
    for (std::size_t i = 0; i + 1 < extra_.size(); ++i) {
        if (extra_[i] == "--requirepass") password_ = extra_[i + 1];
    }
    start();
}

redis_server::~redis_server() {
    stop();
}

std::string redis_server::url() const {
    return "redis://127.0.0.1:" + std::to_string(port_);
}

void redis_server::start() {
    std::vector<std::string> args = {"--port",
                                     std::to_string(port_),
                                     "--bind",
                                     "127.0.0.1",
                                     "--save",
                                     "",
                                     "--appendonly",
                                     "no",
                                     "--daemonize",
                                     "no",
                                     "--loglevel",
                                     "warning",
                                     "--enable-debug-command",
                                     "yes"};
    args.insert(args.end(), extra_.begin(), extra_.end());
    proc_ = process("/usr/bin/redis-server", args, /*capture_stdout=*/true);
    wait_ready(std::chrono::seconds(10));
}

void redis_server::stop() {
    if (proc_.pid() > 0) proc_.stop(SIGKILL);
}

void redis_server::suspend() {
    if (proc_.pid() > 0) ::kill(proc_.pid(), SIGSTOP);
}

void redis_server::resume() {
    if (proc_.pid() > 0) ::kill(proc_.pid(), SIGCONT);
}

void redis_server::wait_ready(std::chrono::milliseconds timeout) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
        if (cli({"PING"}) == "PONG") return;
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    throw std::runtime_error("redis-server did not start on port " + std::to_string(port_));
}

std::string redis_cli(unsigned short port, const std::vector<std::string>& args,
                      const std::string& password) {
    std::string cmd = "redis-cli -h 127.0.0.1 -p " + std::to_string(port);
    if (!password.empty()) cmd += " --no-auth-warning -a " + shell_quote(password);
    for (const auto& a : args)
        cmd += " " + shell_quote(a);
    cmd += " 2>/dev/null";
    std::string out;
    if (FILE* f = ::popen(cmd.c_str(), "r")) {
        std::array<char, 4096> buf{};
        std::size_t n;
        while ((n = std::fread(buf.data(), 1, buf.size(), f)) > 0)
            out.append(buf.data(), n);
        ::pclose(f);
    }
    while (!out.empty() && (out.back() == '\n' || out.back() == '\r'))
        out.pop_back();
    return out;
}

long long evalsha_calls(unsigned short port, const std::string& password) {
    const std::string info = redis_cli(port, {"INFO", "commandstats"}, password);
    constexpr std::string_view field = "cmdstat_evalsha:calls=";
    const auto at = info.find(field);
    return at == std::string::npos ? 0 : std::stoll(info.substr(at + field.size()));
}

std::string redis_server::cli(const std::vector<std::string>& args) const {
    return redis_cli(port_, args, password_);
}

}  // namespace sluice::test
