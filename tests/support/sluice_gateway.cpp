#include "tests/support/sluice_gateway.hpp"

#include <gtest/gtest.h>

#include <regex>
#include <thread>

#include "tests/support/http_client.hpp"

namespace sluice::test {

using namespace std::chrono_literals;

sluice_gateway::sluice_gateway(const std::string& redis_url, gateway_options options) {
    std::vector<std::string> args = {"--listen", "127.0.0.1:" + std::to_string(options.port),
                                     "--admin",  "127.0.0.1:0",
                                     "--redis",  redis_url};
    args.insert(args.end(), options.flags.begin(), options.flags.end());
    proc = process(binary("sluice"), args, /*capture_stdout=*/true, options.capture_stderr);
    static const std::regex listening(R"(listening on 127\.0\.0\.1:(\d+) \((\d+) shards?\))");
    std::string line = proc.wait_for_line("listening on", 10s);
    std::smatch m;
    if (std::regex_search(line, m, listening)) {
        port = static_cast<unsigned short>(std::stoi(m[1]));
        shards = std::stoi(m[2]);
    }
    EXPECT_NE(port, 0) << "sluice did not print its public port";
    if (options.read_admin_line) read_admin_line();
}

bool sluice_gateway::read_admin_line(std::chrono::milliseconds timeout) {
    static const std::regex admin_re(R"(admin on 127\.0\.0\.1:(\d+))");
    std::string line = proc.wait_for_line("admin on", timeout);
    std::smatch m;
    if (std::regex_search(line, m, admin_re)) admin = static_cast<unsigned short>(std::stoi(m[1]));
    EXPECT_NE(admin, 0) << "sluice did not print its admin port";
    return admin != 0;
}

bool sluice_gateway::wait_ready(int status, std::chrono::milliseconds limit) {
    auto deadline = std::chrono::steady_clock::now() + limit;
    while (std::chrono::steady_clock::now() < deadline) {
        if (readyz() == status) return true;
        std::this_thread::sleep_for(20ms);
    }
    return false;
}

int sluice_gateway::readyz() {
    auto r = http_get(admin, "/readyz");
    return r ? r->status : 0;
}

long long sluice_gateway::metric(const std::string& sample) {
    auto r = http_get(admin, "/metrics");
    if (!r) return -1;
    // At the start of a line: the name also appears in its "# HELP" line.
    auto pos = r->body.find("\n" + sample + " ");
    if (pos == std::string::npos) return -1;
    return std::stoll(r->body.substr(pos + sample.size() + 2));
}

}  // namespace sluice::test
