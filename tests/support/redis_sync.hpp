#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "resp/adapter.hpp"
#include "resp/node.hpp"
#include "resp/parser.hpp"

namespace sluice::test {

// A whole reply as a tree: what a test compares and walks.
struct reply {
    resp::type t = resp::type::null;
    std::string text;          // scalars: the payload (an integer's digits, an error's message)
    std::vector<reply> items;  // aggregates: the elements

    bool is_error() const noexcept { return resp::is_error(t); }
    std::int64_t integer() const;                  // an integer reply; throws otherwise
    const reply& operator[](std::size_t i) const;  // an element; throws when out of range
    std::vector<std::int64_t> integers() const;    // an array of integers
};

// A blocking connection to a redis-server, for tests that send many commands and check every
// reply: a script called thousands of times against a reference model, or 100,000 clients'
// worth of keys pipelined. Built on the project's serializer and parser, with no event loop.
class redis_sync {
  public:
    explicit redis_sync(unsigned short port);
    ~redis_sync();
    redis_sync(const redis_sync&) = delete;
    redis_sync& operator=(const redis_sync&) = delete;

    reply call(const std::vector<std::string>& args);
    // Sends every command in one write, then reads their replies in order.
    std::vector<reply> pipeline(const std::vector<std::vector<std::string>>& commands);
    // SCRIPT LOAD: the script's SHA-1.
    std::string load(const std::string& source);
    // Sends one command and hands its reply's nodes to `on_node` as they are parsed, the way
    // resp::connection delivers them, for testing an adapter on a real server's bytes.
    void call(const std::vector<std::string>& args, resp::adapter on_node);

  private:
    void send(const std::string& bytes);
    reply read_reply();
    void read_reply(resp::adapter on_node);

    int fd_ = -1;
    std::string buf_;
    std::size_t start_ = 0;  // where the next reply begins in buf_
    resp::parser parser_;
};

}  // namespace sluice::test
