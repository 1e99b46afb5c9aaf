#pragma once

#include <atomic>
#include <chrono>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace sluice::test {

// A TCP relay on 127.0.0.1 in front of another loopback port that holds every new connection
// for `delay` before it relays a byte: a Redis that accepts at once but whose first answer
// comes late, as across a slow link or from a server busy at start. The client's connect()
// succeeds immediately (the kernel completes it); only the conversation waits.
//
// One thread accepts and one thread per connection relays, which is plenty for the few
// connections a gateway opens. The destructor stops and joins them all.
class delay_proxy {
  public:
    delay_proxy(unsigned short target_port, std::chrono::milliseconds delay);
    ~delay_proxy();
    delay_proxy(const delay_proxy&) = delete;
    delay_proxy& operator=(const delay_proxy&) = delete;

    unsigned short port() const noexcept { return port_; }
    std::string url() const;  // redis://127.0.0.1:<port>
    // Connections accepted so far.
    int accepted() const noexcept { return accepted_.load(); }

  private:
    void accept_loop();
    void relay(int client);

    unsigned short target_port_;
    std::chrono::milliseconds delay_;
    unsigned short port_ = 0;
    int listen_fd_ = -1;
    std::atomic<bool> stopping_{false};
    std::atomic<int> accepted_{0};
    std::thread acceptor_;
    std::mutex mutex_;
    std::vector<std::thread> relays_;
};

}  // namespace sluice::test
