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

std::string lowercase(std::string s) {
    std::transform(s.begin(), s.end(), s.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    return s;
}

std::size_t content_length_of(const std::string& head) {
    const std::string lower = lowercase(head);
    const auto at = lower.find("\r\ncontent-length:");
    if (at == std::string::npos) return 0;
    return std::strtoul(lower.c_str() + at + 17, nullptr, 10);
}

bool is_chunked(const std::string& head) {
    return lowercase(head).find("\r\ntransfer-encoding: chunked\r\n") != std::string::npos;
}

// Where a chunked body that starts at buf[from] ends (after its trailer section), or npos while
// it is incomplete. Lenient: it is a test's recorder, the test checks the framing itself.
std::size_t chunked_end(const std::string& buf, std::size_t from) {
    std::size_t at = from;
    for (;;) {
        const std::size_t eol = buf.find("\r\n", at);
        if (eol == std::string::npos) return std::string::npos;
        const std::size_t size = std::strtoul(buf.c_str() + at, nullptr, 16);
        if (size == 0) {
            const std::size_t end = buf.find("\r\n\r\n", eol);
            if (buf.compare(eol, 4, "\r\n\r\n") == 0) return eol + 4;
            return end == std::string::npos ? end : end + 4;
        }
        at = eol + 2 + size + 2;
        if (at > buf.size()) return std::string::npos;
    }
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

std::vector<std::string> scripted_upstream::partial_requests() const {
    std::lock_guard lock(mutex_);
    return partial_;
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
        const scripted_reply r = next();
        const std::string head = buf.substr(0, head_end + 2);
        if (!r.before_body.empty() && !send_all(fd, r.before_body)) break;
        std::size_t total = head_end + 4;
        if (r.skip_body) {
            std::lock_guard lock(mutex_);
            requests_.push_back(buf.substr(0, total));
            break;
        }
        const bool chunked = is_chunked(head);
        if (!chunked) total += content_length_of(head);
        for (;;) {
            if (chunked) {
                const std::size_t end = chunked_end(buf, head_end + 4);
                if (end != std::string::npos) {
                    total = end;
                    break;
                }
            } else if (buf.size() >= total) {
                break;
            }
            const ssize_t n = ::recv(fd, chunk, sizeof chunk, 0);
            if (n <= 0) {
                open = false;
                break;
            }
            buf.append(chunk, static_cast<std::size_t>(n));
        }
        if (!open) {
            // What came of a request cut short is recorded too: a test may look for it.
            std::lock_guard lock(mutex_);
            partial_.push_back(buf);
            break;
        }
        {
            std::lock_guard lock(mutex_);
            requests_.push_back(buf.substr(0, total));
        }
        buf.erase(0, total);
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
        if (r.echo_after) {
            if (!buf.empty() && !send_all(fd, buf)) break;
            for (;;) {
                const ssize_t n = ::recv(fd, chunk, sizeof chunk, 0);
                if (n <= 0) break;
                if (!send_all(fd, std::string(chunk, static_cast<std::size_t>(n)))) break;
            }
            ::shutdown(fd, SHUT_WR);
            break;
        }
    }
    {
        std::lock_guard lock(mutex_);
        open_fds_.erase(std::remove(open_fds_.begin(), open_fds_.end(), fd), open_fds_.end());
    }
    ::close(fd);
}

}  // namespace sluice::test
