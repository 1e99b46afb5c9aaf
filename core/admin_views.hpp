#pragma once

// What the admin listener's /config and /quota answer, and how /quota reads its query: pure
// functions over the rule set, tested without sockets; the admin handler only wires them.

#include <cstdint>
#include <string>
#include <string_view>

#include "core/rules.hpp"

namespace sluice::core {

// `s` as a JSON string, quotes included: `"`, `\` and control characters escaped, other bytes
// as they are (rule names, paths, hosts and header names are ASCII by construction).
void append_json_string(std::string& out, std::string_view s);

// The /config body: the active rules with their generation (1 for the rules read at start, one
// more per accepted reload) and when they were loaded, e.g.
//   {"generation":2,"loaded_at":"2026-12-01T14:03:07.250Z","source":"sluice.yaml","rules":[
//     {"name":"login","match":{"methods":["POST"],"path":"/login"},"key":"ip",
//      "algorithm":"sliding-log","limit":5,"window_ms":60000,"burst":5,"cost":1,"shadow":false}]}
// `source` is the rules file, or "flags" for the rule the flags make.
void append_config_json(std::string& out, const rule_set& rules, std::uint64_t generation,
                        std::int64_t loaded_at_unix_ms, std::string_view source);

// The /quota body: {"rule":"login","key":"ip:192.0.2.1","limit":5,"remaining":3,"reset_ms":41250}.
void append_quota_json(std::string& out, std::string_view rule, std::string_view key,
                       std::int64_t limit, std::int64_t remaining, std::int64_t reset_ms);

// The value of parameter `name` in a query string (`rule=login&key=ip%3A192.0.2.1`, without the
// '?'), percent-decoded, '+' read as a space, into `out`. False when the parameter is absent or
// its value is malformed (a '%' not followed by two hex digits), so that a mistyped query gets a
// 400 rather than a question about another key. The first occurrence wins.
bool query_param(std::string_view query, std::string_view name, std::string& out);

}  // namespace sluice::core
