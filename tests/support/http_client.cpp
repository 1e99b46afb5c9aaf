#include "tests/support/http_client.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>

namespace sluice::test {

http_client::http_client(unsigned short port, std::chrono::milliseconds timeout)
    : timeout_{timeout} {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = htons(port);
    if (::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
        ::close(fd_);
        fd_ = -1;
        return;
    }
    int one = 1;
    ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

http_client::~http_client() {
    if (fd_ >= 0) ::close(fd_);
}

bool http_client::send(const std::string& bytes) {
    std::size_t off = 0;
    while (off < bytes.size()) {
        ssize_t n = ::send(fd_, bytes.data() + off, bytes.size() - off, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return false;
        off += static_cast<std::size_t>(n);
    }
    return true;
}

bool http_client::fill() {
    pollfd p{fd_, POLLIN, 0};
    int r = ::poll(&p, 1, static_cast<int>(timeout_.count()));
    if (r <= 0) return false;
    char tmp[16384];
    ssize_t n = ::recv(fd_, tmp, sizeof tmp, 0);
    if (n <= 0) return false;
    buf_.append(tmp, static_cast<std::size_t>(n));
    return true;
}

std::optional<http_response> http_client::read_response() {
    if (fd_ < 0) return std::nullopt;
    std::size_t end;
    while ((end = buf_.find("\r\n\r\n")) == std::string::npos) {
        if (!fill()) return std::nullopt;
    }
    http_response r;
    std::string head = buf_.substr(0, end);
    std::size_t line_end = head.find("\r\n");
    std::string status_line = head.substr(0, line_end);
    if (status_line.rfind("HTTP/1.", 0) != 0 || status_line.size() < 12) return std::nullopt;
    r.status = std::stoi(status_line.substr(9, 3));
    std::size_t pos = line_end == std::string::npos ? head.size() : line_end + 2;
    while (pos < head.size()) {
        std::size_t e = head.find("\r\n", pos);
        if (e == std::string::npos) e = head.size();
        std::string line = head.substr(pos, e - pos);
        auto colon = line.find(':');
        if (colon != std::string::npos) {
            std::string name = line.substr(0, colon);
            std::transform(name.begin(), name.end(), name.begin(),
                           [](unsigned char c) { return std::tolower(c); });
            std::string value = line.substr(colon + 1);
            while (!value.empty() && value.front() == ' ')
                value.erase(0, 1);
            r.headers[name] = value;
        }
        pos = e + 2;
    }
    std::size_t length = 0;
    if (auto cl = r.header("content-length"); !cl.empty()) length = std::stoul(cl);
    buf_.erase(0, end + 4);
    while (buf_.size() < length) {
        if (!fill()) return std::nullopt;
    }
    r.body = buf_.substr(0, length);
    buf_.erase(0, length);
    return r;
}

std::optional<http_response> http_client::get(const std::string& path, const std::string& headers) {
    if (!send("GET " + path + " HTTP/1.1\r\nHost: test\r\n" + headers + "\r\n"))
        return std::nullopt;
    return read_response();
}

bool http_client::closed_by_peer() {
    if (fd_ < 0) return true;
    for (;;) {
        pollfd p{fd_, POLLIN, 0};
        if (::poll(&p, 1, static_cast<int>(timeout_.count())) <= 0) return false;
        char tmp[4096];
        ssize_t n = ::recv(fd_, tmp, sizeof tmp, 0);
        if (n == 0) return true;
        if (n < 0) return errno == ECONNRESET;
    }
}

std::string exchange(unsigned short port, const std::string& bytes) {
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    std::string out;
    if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0 &&
        ::send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL) ==
            static_cast<ssize_t>(bytes.size())) {
        const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
        char buf[65536];
        while (std::chrono::steady_clock::now() < deadline) {
            pollfd p{fd, POLLIN, 0};
            if (::poll(&p, 1, 100) <= 0) continue;
            const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
            if (n <= 0) break;
            out.append(buf, static_cast<std::size_t>(n));
        }
    }
    ::close(fd);
    return out;
}

std::optional<http_response> http_get(unsigned short port, const std::string& path,
                                      const std::string& headers) {
    http_client c{port};
    if (!c.connected()) return std::nullopt;
    return c.get(path, headers);
}

std::string statuses(unsigned short port, int n) {
    http_client c{port};
    std::string out;
    for (int i = 0; i < n; ++i) {
        const auto r = c.get("/");
        out += (out.empty() ? "" : " ") + (r ? std::to_string(r->status) : std::string("none"));
    }
    return out;
}

keyed_answer get_as(unsigned short port, const std::string& api_key) {
    auto r = http_get(port, "/", "X-Api-Key: " + api_key + "\r\n");
    if (!r) return {};
    return {r->status, !r->header("x-ratelimit-remaining").empty()};
}

}  // namespace sluice::test
