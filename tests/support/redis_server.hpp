#pragma once

#include <chrono>
#include <string>
#include <vector>

#include "tests/support/process.hpp"

namespace sluice::test {

// Runs redis-cli against 127.0.0.1:`port` and returns its stdout, trimmed; stderr is dropped (a
// node that is still starting says so there). Test setup and checks that must not depend on the
// client under test.
std::string redis_cli(unsigned short port, const std::vector<std::string>& args,
                      const std::string& password = {});

// EVALSHA calls the server at `port` has run for its clients (INFO commandstats). A replica
// applies a script's effects, not the EVALSHA: what it replicates does not count.
long long evalsha_calls(unsigned short port, const std::string& password = {});

// A real redis-server on a free loopback port, private to one test: no persistence, stopped by
// PID when the object goes away. restart() keeps the port, so clients can reconnect to it.
class redis_server {
  public:
    // `extra` is appended to the command line, e.g. {"--requirepass", "secret"}.
    explicit redis_server(std::vector<std::string> extra = {});
    ~redis_server();

    unsigned short port() const noexcept { return port_; }
    std::string url() const;  // redis://127.0.0.1:<port>

    void stop();   // SIGKILL: the abrupt death a client must survive
    void start();  // on the same port
    void restart() {
        stop();
        start();
    }
    bool running() { return proc_.running(); }
    pid_t pid() const noexcept { return proc_.pid(); }

    // SIGSTOP / SIGCONT: a Redis that keeps its connections open and answers nothing, as a
    // paused VM or a partition looks from the client.
    void suspend();
    void resume();

    // Runs redis-cli against this server and returns its stdout, trimmed (test setup and checks
    // that must not depend on the client under test).
    std::string cli(const std::vector<std::string>& args) const;

  private:
    void wait_ready(std::chrono::milliseconds timeout);

    unsigned short port_;
    std::vector<std::string> extra_;
    std::string password_;
    process proc_;
};

}  // namespace sluice::test
