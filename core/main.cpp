// sluice: a rate-limiting API gateway. See README.md and CONTRACT.md for what it promises.

#include <cstdio>
#include <exception>
#include <iostream>
#include <memory>
#include <string>
#include <variant>

#include "core/config.hpp"
#include "core/gateway.hpp"
#include "core/log.hpp"
#include "core/rules_file.hpp"

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
    auto& cfg = std::get<config>(parsed);
    std::shared_ptr<const rule_set> rules;
    if (!cfg.rules_file.empty()) {
        // A file that cannot be served is refused at start with the line --check-config prints.
        try {
            rules = std::make_shared<const rule_set>(load_rules_file(cfg.rules_file));
        } catch (const config_error& e) {
            log_line("sluice: config refused: " + std::string(e.what()));
            return 2;
        }
        log_line("sluice: config loaded from " + cfg.rules_file + " (" +
                 std::to_string(rules->size()) + (rules->size() == 1 ? " rule)" : " rules)"));
    }
    try {
        gateway gw{std::move(cfg), std::move(rules)};
        return gw.run();
    } catch (const std::exception& e) {
        // Start-up only: a listener that cannot be bound, a thread that cannot start.
        std::cerr << "sluice: " << e.what() << '\n';
        return 1;
    }
}
