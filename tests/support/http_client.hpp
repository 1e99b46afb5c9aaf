#pragma once

#include <chrono>
#include <map>
#include <optional>
#include <string>

namespace sluice::test {

struct http_response {
    int status = 0;
    std::map<std::string, std::string> headers;  // names in lower case
    std::string body;

    std::string header(const std::string& lower_name) const {
        auto it = headers.find(lower_name);
        return it == headers.end() ? std::string{} : it->second;
    }
};

// A deliberately simple blocking HTTP/1.1 client for tests, independent of the code under test:
// one TCP connection, raw bytes out, responses framed by Content-Length.
class http_client {
  public:
    http_client(unsigned short port, std::chrono::milliseconds timeout = std::chrono::seconds(5));
    ~http_client();
    http_client(const http_client&) = delete;
    http_client& operator=(const http_client&) = delete;

    bool connected() const noexcept { return fd_ >= 0; }

    // Sends raw bytes (a request, several pipelined ones, or garbage).
    bool send(const std::string& bytes);
    // Reads one response; nullopt on timeout, close or an unparsable response.
    std::optional<http_response> read_response();
    // GET `path` with extra header lines (each "Name: value\r\n").
    std::optional<http_response> get(const std::string& path, const std::string& headers = {});
    // True when the server closed the connection (reads EOF) within the timeout.
    bool closed_by_peer();

  private:
    int fd_ = -1;
    std::chrono::milliseconds timeout_;
    std::string buf_;
    bool fill();
};

// Sends raw `bytes` on a new connection and returns everything read until the server closes it
// (or 5 s pass): for answers a framed client would not parse, or a connection's whole life.
std::string exchange(unsigned short port, const std::string& bytes);

// One GET on a fresh connection.
std::optional<http_response> http_get(unsigned short port, const std::string& path,
                                      const std::string& headers = {});

// The statuses of `n` GET / on one keep-alive connection, space-separated ("200 200 429"), "none"
// for a request without an answer.
std::string statuses(unsigned short port, int n);

// One GET / as the client `api_key` (X-Api-Key): its status, and whether the gateway counted it
// (a fail-open 200 carries no X-RateLimit-Remaining). Status 0: no answer.
struct keyed_answer {
    int status = 0;
    bool counted = false;
};
keyed_answer get_as(unsigned short port, const std::string& api_key);

}  // namespace sluice::test
