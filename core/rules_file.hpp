#pragma once

#include <iosfwd>
#include <string>
#include <string_view>

#include "core/rules.hpp"

namespace sluice::core {

// Reads a YAML rules file (README "Rules file"):
//
//   rules:
//     - name: login
//       match: {methods: [POST], path: /login}
//       limit: 5
//       window: 1m
//
// and validates all of it: unknown and duplicate keys, values of the wrong type or out of
// range, a burst on an algorithm without one, a cost no request could pay. Throws config_error
// with one line naming the place, 1-based, and what was expected there:
// "sluice.yaml:4:12: limit: expected a positive integer up to 1000000000, got "abc"", or
// "sluice.yaml: cannot read: No such file or directory" for a file that cannot be read.
rule_set load_rules_file(const std::string& path);

// The same for text already read; `file` names it in messages.
rule_set parse_rules(std::string_view text, std::string_view file);

// sluice --check-config FILE: prints describe() of each rule to `out`, one a line, and returns 0,
// or prints the error line to `err` and returns 2, the usage-error status.
int check_rules_file(const std::string& path, std::ostream& out, std::ostream& err);

}  // namespace sluice::core
