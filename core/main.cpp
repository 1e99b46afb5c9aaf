// sluice: a rate-limiting API gateway. See README.md and CONTRACT.md for what it promises.

#include <cstdio>
#include <exception>
#include <iostream>
#include <variant>

#include "core/config.hpp"
#include "core/gateway.hpp"
#include "core/rules_file.hpp"

namespace {

// What the gateway cannot serve yet: a rules file. Refused at start rather than run as something
// else.
const char* unsupported(const sluice::core::config& cfg) {
    if (!cfg.rules_file.empty()) {
        return "sluice: --config: the gateway does not serve a rules file yet; check one with "
               "sluice --check-config FILE";
    }
    return nullptr;
}

}  // namespace

int main(int argc, char** argv) {
    using namespace sluice::core;
    parse_result parsed;
    try {
        parsed = parse_args(argc, argv, std::getenv("REDIS_URL"));
    } catch (const usage_error& e) {
        std::cerr << e.what() << '\n';
        return 2;
    }
    if (std::holds_alternative<help_requested>(parsed)) {
        std::cout << help_text();
        return 0;
    }
    if (const auto* check = std::get_if<check_config_requested>(&parsed)) {
        return check_rules_file(check->file, std::cout, std::cerr);
    }
    if (const char* message = unsupported(std::get<config>(parsed))) {
        std::cerr << message << '\n';
        return 2;
    }
    try {
        gateway gw{std::get<config>(std::move(parsed))};
        return gw.run();
    } catch (const std::exception& e) {
        // Start-up only: a listener that cannot be bound, a thread that cannot start.
        std::cerr << "sluice: " << e.what() << '\n';
        return 1;
    }
}
