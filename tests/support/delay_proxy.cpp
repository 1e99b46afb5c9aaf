#include "tests/support/delay_proxy.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <stdexcept>

#include "tests/support/process.hpp"

namespace sluice::test {

namespace {

// How often the threads look at `stopping_`: the destructor waits at most about this long.
constexpr int tick_ms = 20;

int connect_loopback(unsigned short port) {
    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return -1;
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = htons(port);
    if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
        ::close(fd);
        return -1;
    }
    int one = 1;
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    return fd;
}

bool send_all(int fd, const char* data, std::size_t size) {
    while (size > 0) {
        ssize_t n = ::send(fd, data, size, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return false;
        data += n;
        size -= static_cast<std::size_t>(n);
    }
    return true;
}

}  // namespace

delay_proxy::delay_proxy(unsigned short target_port, std::chrono::milliseconds delay)
    : target_port_{target_port}, delay_{delay} {
    listen_fd_ = listen_loopback(port_);
    if (listen_fd_ < 0) throw std::runtime_error("delay_proxy: cannot listen");
    acceptor_ = std::thread([this] { accept_loop(); });
}

delay_proxy::~delay_proxy() {
    stopping_ = true;
    acceptor_.join();
    ::close(listen_fd_);
    std::lock_guard lock{mutex_};
    for (auto& t : relays_)
        t.join();
}

std::string delay_proxy::url() const {
    return "redis://127.0.0.1:" + std::to_string(port_);
}

void delay_proxy::accept_loop() {
    while (!stopping_) {
        pollfd p{listen_fd_, POLLIN, 0};
        if (::poll(&p, 1, tick_ms) <= 0) continue;
        int client = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
        if (client < 0) continue;
        ++accepted_;
        std::lock_guard lock{mutex_};
        relays_.emplace_back([this, client] { relay(client); });
    }
}

void delay_proxy::relay(int client) {
    auto until = std::chrono::steady_clock::now() + delay_;
    while (!stopping_ && std::chrono::steady_clock::now() < until)
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
    int server = stopping_ ? -1 : connect_loopback(target_port_);
    if (server < 0) {
        ::close(client);
        return;
    }
    int one = 1;
    ::setsockopt(client, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    // Each direction ends on its own (EOF is passed on as a half-close); the relay ends when
    // both have, or on any error, which closes both sides as a reset link would.
    bool open[2] = {true, true};  // client -> server, server -> client
    const int from[2] = {client, server};
    const int to[2] = {server, client};
    char buf[16384];
    while (!stopping_ && (open[0] || open[1])) {
        pollfd p[2] = {{from[0], static_cast<short>(open[0] ? POLLIN : 0), 0},
                       {from[1], static_cast<short>(open[1] ? POLLIN : 0), 0}};
        int r = ::poll(p, 2, tick_ms);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) break;
        bool failed = false;
        for (int i = 0; i < 2 && !failed; ++i) {
            if (!open[i] || p[i].revents == 0) continue;
            ssize_t n = ::recv(from[i], buf, sizeof buf, 0);
            if (n < 0 && errno == EINTR) continue;
            if (n < 0) {
                failed = true;
            } else if (n == 0) {
                open[i] = false;
                ::shutdown(to[i], SHUT_WR);
            } else if (!send_all(to[i], buf, static_cast<std::size_t>(n))) {
                failed = true;
            }
        }
        if (failed) break;
    }
    ::close(client);
    ::close(server);
}

}  // namespace sluice::test
