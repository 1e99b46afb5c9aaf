#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <deque>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace sluice::test {

// One scripted answer of a test upstream.
struct scripted_reply {
    std::string bytes;                   // sent as is: a whole response, a broken one, or garbage
    std::chrono::milliseconds delay{0};  // before the first byte
    bool close_after = false;            // close the connection once sent (FIN)
    bool reset_after = false;            // close with RST once sent
    bool silent = false;                 // send nothing, keep the connection open
    // Sent once the request's head is read, before its body: a `100 Continue`, or a final
    // answer with skip_body (then the body is not read, and the connection closes after).
    std::string before_body{};
    bool skip_body = false;
    // After `bytes` (a 101), echo every byte received until the peer half-closes, then close.
    bool echo_after = false;
};

// A loopback HTTP upstream for proxy tests: records each request's raw bytes (head, and body by
// Content-Length or chunked framing, as received) and answers the queued replies in order, then
// the default one. Blocking
// sockets, a thread per connection; the destructor stops and joins them.
class scripted_upstream {
  public:
    // Answers "ok" by default.
    scripted_upstream();
    explicit scripted_upstream(scripted_reply default_reply);
    ~scripted_upstream();
    scripted_upstream(const scripted_upstream&) = delete;
    scripted_upstream& operator=(const scripted_upstream&) = delete;

    unsigned short port() const noexcept { return port_; }
    void push(scripted_reply reply);
    std::vector<std::string> requests() const;
    std::size_t request_count() const;
    // The bytes of each request whose connection closed before it was complete.
    std::vector<std::string> partial_requests() const;
    std::size_t connection_count() const noexcept { return connections_.load(); }

    // A keep-alive 200 with a Content-Length body.
    static scripted_reply ok(const std::string& body, const std::string& extra_headers = {});

  private:
    void accept_loop();
    void serve(int fd);
    scripted_reply next();

    int listen_fd_ = -1;
    unsigned short port_ = 0;
    std::atomic<bool> stop_{false};
    std::atomic<std::size_t> connections_{0};
    mutable std::mutex mutex_;
    std::deque<scripted_reply> queue_;
    scripted_reply default_reply_;
    std::vector<std::string> requests_;
    std::vector<std::string> partial_;
    std::vector<int> open_fds_;
    std::vector<std::thread> threads_;
    std::thread acceptor_;
};

}  // namespace sluice::test
