#pragma once

#include <chrono>
#include <string>
#include <vector>

#include "tests/support/process.hpp"

namespace sluice::test {

// How a test starts `sluice`.
struct gateway_options {
    std::vector<std::string> flags;  // after --listen, --admin and --redis
    unsigned short port = 0;         // public port; 0 lets the kernel choose
    bool capture_stderr = false;
    // False: the constructor returns as soon as the public listener's line is read, so a test
    // can send its first request at the earliest moment a client could; read_admin_line() then
    // reads the admin port.
    bool read_admin_line = true;
};

// A running `sluice` child process and the ports it printed on stdout.
class sluice_gateway {
  public:
    sluice_gateway(const std::string& redis_url, gateway_options options);

    // Reads the admin listener's line (when the constructor did not); false if it did not come.
    bool read_admin_line(std::chrono::milliseconds timeout = std::chrono::seconds(10));

    // Polls /readyz every 20 ms until it answers `status`; false if it did not within `limit`.
    bool wait_ready(int status = 200, std::chrono::milliseconds limit = std::chrono::seconds(5));
    // /readyz's status now, 0 when the admin listener does not answer.
    int readyz();
    // One sample of /metrics, e.g. `sluice_requests_total{decision="allowed"}`; -1 if absent.
    long long metric(const std::string& sample);

    process proc;
    unsigned short port = 0;
    unsigned short admin = 0;
    int shards = 0;
};

}  // namespace sluice::test
