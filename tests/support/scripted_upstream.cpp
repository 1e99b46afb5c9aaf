#include "tests/support/scripted_upstream.hpp"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <stdexcept>

namespace sluice::test {

namespace {

bool send_all(int fd, const std::string& bytes) {
    std::size_t sent = 0;
    while (sent < bytes.size()) {
        const ssize_t n = ::send(fd, bytes.data() + sent, bytes.size() - sent, MSG_NOSIGNAL);
        if (n <= 0) return false;
        sent += static_cast<std::size_t>(n);
    }
    return true;
}

std::size_t content_length_of(const std::string& head) {
    std::string lower = head;
    std::transform(lower.begin(), lower.end(), lower.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    const auto at = lower.find("\r\ncontent-length:");
    if (at == std::string::npos) return 0;
    return std::strtoul(lower.c_str() + at + 17, nullptr, 10);
}

}  // namespace

scripted_reply scripted_upstream::ok(const std::string& body, const std::string& extra_headers) {
    scripted_reply r;
    r.bytes = "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n" + extra_headers +
              "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
    return r;
}

scripted_upstream::scripted_upstream() : scripted_upstream(ok("ok")) {}

scripted_upstream::scripted_upstream(scripted_reply default_reply)
    : default_reply_(std::move(default_reply)) {
    listen_fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof addr;
    if (listen_fd_ < 0 ||
        ::bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
        ::listen(listen_fd_, 128) != 0 ||
        ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
        throw std::runtime_error("scripted_upstream: cannot listen");
    }
    port_ = ntohs(addr.sin_port);
    acceptor_ = std::thread([this] { accept_loop(); });
}

scripted_upstream::~scripted_upstream() {
    stop_ = true;
    acceptor_.join();
    {
        std::lock_guard lock(mutex_);
        for (const int fd : open_fds_)
            ::shutdown(fd, SHUT_RDWR);
    }
    for (auto& t : threads_)
        t.join();
    ::close(listen_fd_);
}

void scripted_upstream::push(scripted_reply reply) {
    std::lock_guard lock(mutex_);
    queue_.push_back(std::move(reply));
}

std::vector<std::string> scripted_upstream::requests() const {
    std::lock_guard lock(mutex_);
    return requests_;
}

std::size_t scripted_upstream::request_count() const {
    std::lock_guard lock(mutex_);
    return requests_.size();
}

scripted_reply scripted_upstream::next() {
    std::lock_guard lock(mutex_);
    if (queue_.empty()) return default_reply_;
    scripted_reply r = std::move(queue_.front());
    queue_.pop_front();
    return r;
}

void scripted_upstream::accept_loop() {
    while (!stop_) {
        pollfd p{listen_fd_, POLLIN, 0};
        if (::poll(&p, 1, 50) <= 0) continue;
        const int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
        if (fd < 0) continue;
        ++connections_;
        std::lock_guard lock(mutex_);
        open_fds_.push_back(fd);
        threads_.emplace_back([this, fd] { serve(fd); });
    }
}

void scripted_upstream::serve(int fd) {
    std::string buf;
    char chunk[16384];
    bool open = true;
    while (open && !stop_) {
        // One request: the head, then a Content-Length body.
        std::size_t head_end;
        while ((head_end = buf.find("\r\n\r\n")) == std::string::npos) {
            const ssize_t n = ::recv(fd, chunk, sizeof chunk, 0);
            if (n <= 0) {
                open = false;
                break;
            }
            buf.append(chunk, static_cast<std::size_t>(n));
        }
        if (!open) break;
        const std::size_t total = head_end + 4 + content_length_of(buf.substr(0, head_end + 2));
        while (buf.size() < total) {
            const ssize_t n = ::recv(fd, chunk, sizeof chunk, 0);
            if (n <= 0) {
                open = false;
                break;
            }
            buf.append(chunk, static_cast<std::size_t>(n));
        }
        if (!open) break;
        {
            std::lock_guard lock(mutex_);
            requests_.push_back(buf.substr(0, total));
        }
        buf.erase(0, total);
        const scripted_reply r = next();
        if (r.delay.count() > 0) std::this_thread::sleep_for(r.delay);
        if (r.silent) {
            while (!stop_ && ::recv(fd, chunk, sizeof chunk, 0) > 0) {
            }
            break;
        }
        if (!send_all(fd, r.bytes)) break;
        if (r.reset_after) {
            linger l{1, 0};
            ::setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof l);
            break;
        }
        if (r.close_after) break;
    }
    {
        std::lock_guard lock(mutex_);
        open_fds_.erase(std::remove(open_fds_.begin(), open_fds_.end(), fd), open_fds_.end());
    }
    ::close(fd);
}

}  // namespace sluice::test
