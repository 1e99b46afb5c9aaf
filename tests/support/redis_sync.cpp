#include "tests/support/redis_sync.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <stdexcept>

#include "resp/serializer.hpp"

namespace sluice::test {

std::int64_t reply::integer() const {
    if (t != resp::type::integer) throw std::runtime_error("not an integer reply: " + text);
    return std::stoll(text);
}

const reply& reply::operator[](std::size_t i) const {
    if (i >= items.size()) throw std::runtime_error("reply has no element " + std::to_string(i));
    return items[i];
}

std::vector<std::int64_t> reply::integers() const {
    std::vector<std::int64_t> out;
    for (const auto& r : items)
        out.push_back(r.integer());
    return out;
}

redis_sync::redis_sync(unsigned short port) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    if (fd_ < 0) throw std::runtime_error("socket failed");
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
        ::close(fd_);
        throw std::runtime_error("connect to redis-server failed");
    }
    int one = 1;
    ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

redis_sync::~redis_sync() {
    if (fd_ >= 0) ::close(fd_);
}

void redis_sync::send(const std::string& bytes) {
    std::size_t sent = 0;
    while (sent < bytes.size()) {
        ssize_t n = ::write(fd_, bytes.data() + sent, bytes.size() - sent);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) throw std::runtime_error("write to redis-server failed");
        sent += static_cast<std::size_t>(n);
    }
}

reply redis_sync::read_reply() {
    // The parser reports nodes in pre-order; open[d] is the aggregate whose children are at d + 1.
    reply root;
    std::vector<reply*> open;
    auto on_node = [&](const resp::node& n) {
        reply* r;
        if (n.depth == 0) {
            r = &root;
        } else {
            auto& siblings = open[n.depth - 1]->items;
            siblings.emplace_back();
            r = &siblings.back();
        }
        r->t = n.data_type;
        if (resp::is_aggregate(n.data_type)) {
            open.resize(n.depth + 1);
            open[n.depth] = r;
        } else {
            r->text.assign(n.value);
        }
    };
    read_reply(on_node);
    return root;
}

void redis_sync::read_reply(resp::adapter on_node) {
    for (;;) {
        if (start_ < buf_.size()) {
            auto res = parser_.parse(std::string_view{buf_}.substr(start_), on_node);
            if (res.st == resp::parser::status::done) {
                start_ += res.consumed;
                return;
            }
            if (res.st == resp::parser::status::error) throw std::runtime_error("bad reply");
        }
        // Replies already handed out are dropped only now, not one by one: a pipeline's replies
        // arrive many per read.
        buf_.erase(0, start_);
        start_ = 0;
        char tmp[65536];
        ssize_t n = ::read(fd_, tmp, sizeof tmp);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) throw std::runtime_error("read from redis-server failed");
        buf_.append(tmp, static_cast<std::size_t>(n));
    }
}

reply redis_sync::call(const std::vector<std::string>& args) {
    return pipeline({args}).front();
}

std::vector<reply> redis_sync::pipeline(const std::vector<std::vector<std::string>>& commands) {
    resp::request req;
    for (const auto& args : commands) {
        req.write_array_header(args.size());
        for (const auto& a : args)
            req.write_bulk(a);
        req.end_command();
    }
    send(std::string(req.payload()));
    std::vector<reply> out;
    out.reserve(commands.size());
    for (std::size_t i = 0; i < commands.size(); ++i)
        out.push_back(read_reply());
    return out;
}

void redis_sync::call(const std::vector<std::string>& args, resp::adapter on_node) {
    resp::request req;
    req.write_array_header(args.size());
    for (const auto& a : args)
        req.write_bulk(a);
    req.end_command();
    send(std::string(req.payload()));
    read_reply(on_node);
}

std::string redis_sync::load(const std::string& source) {
    auto r = call({"SCRIPT", "LOAD", source});
    if (r.is_error()) throw std::runtime_error("SCRIPT LOAD: " + r.text);
    return r.text;
}

}  // namespace sluice::test
