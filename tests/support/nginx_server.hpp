#pragma once

#include <map>
#include <string>

#include "tests/support/process.hpp"

namespace sluice::test {

// A real nginx on a free loopback port, private to one test: one process (master_process off),
// every path it writes (pid, logs, temp files) in a fresh directory, stopped by PID.
//
// `http_config` goes inside the http {} block, with every "@PORT@" replaced by the port nginx is
// to listen on and every "@DIR@" by the private directory. `files` are written into that
// directory first (name relative to it, content), e.g. static pages for a `root @DIR@/www;`.
class nginx_server {
  public:
    explicit nginx_server(const std::string& http_config,
                          const std::map<std::string, std::string>& files = {});
    ~nginx_server();
    nginx_server(const nginx_server&) = delete;
    nginx_server& operator=(const nginx_server&) = delete;

    unsigned short port() const noexcept { return port_; }
    const std::string& dir() const noexcept { return dir_; }
    std::string error_log() const;  // what nginx logged so far, for a failing test's message

    void stop();  // SIGTERM: nginx's fast shutdown

    // Where the Debian package puts the binary.
    static constexpr const char* program = "/usr/sbin/nginx";

  private:
    std::string dir_;
    unsigned short port_;
    process proc_;
};

}  // namespace sluice::test
