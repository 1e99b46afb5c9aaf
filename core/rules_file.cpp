#include "core/rules_file.hpp"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstdio>
#include <cstring>
#include <optional>
#include <ostream>
#include <span>
#include <vector>

#include "core/duration.hpp"

namespace sluice::core {

namespace {

constexpr std::string_view top_keys[] = {"rules"};
constexpr std::string_view rule_keys[] = {"name",   "match", "key",  "algorithm", "limit",
                                          "window", "burst", "cost", "shadow"};
constexpr std::string_view match_keys[] = {"methods", "path", "path_prefix", "host"};

std::string join(std::span<const std::string_view> words) {
    std::string out;
    for (const auto word : words) {
        if (!out.empty()) out.append(", ");
        out.append(word);
    }
    return out;
}

// How a value that was not what we wanted reads in a message.
std::string got(const YAML::Node& node) {
    switch (node.Type()) {
        case YAML::NodeType::Scalar:
            return quote(node.Scalar());
        case YAML::NodeType::Sequence:
            return node.size() == 0 ? "an empty list" : "a list";
        case YAML::NodeType::Map:
            return node.size() == 0 ? "an empty map" : "a map";
        case YAML::NodeType::Null:
        case YAML::NodeType::Undefined:
            break;
    }
    return "nothing";
}

// One key of a map with its value, and where the key was written.
struct entry {
    std::string key;
    YAML::Mark at;
    YAML::Node value;
};

std::optional<std::uint32_t> parse_count(std::string_view text) noexcept {
    if (text.empty() || text.size() > 10 ||
        !std::all_of(text.begin(), text.end(), [](char c) { return c >= '0' && c <= '9'; })) {
        return std::nullopt;
    }
    std::uint64_t n = 0;
    std::from_chars(text.data(), text.data() + text.size(), n);
    if (n < 1 || n > static_cast<std::uint64_t>(max_limit)) return std::nullopt;
    return static_cast<std::uint32_t>(n);
}

// RFC 9110 tchar without lower-case letters: registered methods are all upper case, and a
// lower-case "get" in a rule would never match the GET clients send.
bool valid_method(std::string_view m) noexcept {
    constexpr std::string_view extra = "!#$%&'*+-.^_`|~";
    return !m.empty() && std::all_of(m.begin(), m.end(), [&](char c) {
        return (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
               extra.find(c) != std::string_view::npos;
    });
}

// What a path in a rule may hold: what a request target's path can, as it is sent.
bool valid_path(std::string_view p) noexcept {
    return std::none_of(p.begin(), p.end(), [](char c) {
        const auto u = static_cast<unsigned char>(c);
        return u <= 0x20 || u >= 0x7f || c == '?' || c == '#';
    });
}

// A DNS name or an IPv6 literal in brackets, already in lower case; no port.
bool valid_host(std::string_view h) noexcept {
    if (h.size() > 2 && h.front() == '[' && h.back() == ']') {
        const auto inner = h.substr(1, h.size() - 2);
        return inner.find(':') != std::string_view::npos && ip_address::parse(inner).has_value();
    }
    return !h.empty() && h.size() <= 253 && h.front() != '.' && h.back() != '.' &&
           h.front() != '-' && h.find("..") == std::string_view::npos &&
           std::all_of(h.begin(), h.end(), [](char c) {
               return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.';
           });
}

class loader {
  public:
    explicit loader(std::string_view file) : file_(file) {}

    rule_set load(std::string_view text) {
        std::vector<YAML::Node> documents;
        try {
            documents = YAML::LoadAll(std::string(text));
        } catch (const YAML::Exception& e) {
            fail(e.mark, "invalid YAML: " + e.msg);
        }
        if (documents.empty() || documents.front().IsNull()) {
            fail(YAML::Mark(), "expected a map with a \"rules\" list, got an empty file");
        }
        if (documents.size() > 1) {
            fail(documents[1].Mark(), "expected one YAML document, got a second one");
        }
        const YAML::Node& top = documents.front();
        if (!top.IsMap()) fail(top.Mark(), "expected a map with a \"rules\" list, got " + got(top));
        std::optional<entry> rules;
        for (auto& e : entries(top, top_keys, "at the top level"))
            rules = std::move(e);
        if (!rules) fail(top.Mark(), "missing key \"rules\" (the list of rules)");
        const YAML::Node& list = rules->value;
        if (!list.IsSequence() || list.size() == 0) {
            expected(*rules, "a list of rules, each a map with name, limit and window");
        }

        std::vector<rule> out;
        std::vector<YAML::Mark> name_marks;
        for (const auto& item : list) {
            YAML::Mark name_at;
            rule r = read_rule(item, rules->at, name_at);
            for (std::size_t i = 0; i < out.size(); ++i) {
                if (out[i].name == r.name) {
                    fail(name_at, "name: duplicate rule name " + quote(r.name) + " (first at " +
                                      line_col(name_marks[i]) + ")");
                }
            }
            out.push_back(std::move(r));
            name_marks.push_back(name_at);
        }
        for (std::size_t i = 0; i < out.size(); ++i) {
            std::size_t together = 0;
            for (const rule& other : out)
                together += may_apply_together(out[i].match, other.match) ? 1 : 0;
            if (together > max_applying_rules) {
                fail(name_marks[i], "match: " + std::to_string(together) +
                                        " rules could apply to one request with " +
                                        quote(out[i].name) + ", at most " +
                                        std::to_string(max_applying_rules) + " may");
            }
        }
        return rule_set(std::move(out));
    }

  private:
    static std::string line_col(const YAML::Mark& at) {
        // A null mark (-1) only comes from yaml-cpp's own failures; name the start of the file.
        return std::to_string(std::max(at.line, 0) + 1) + ":" +
               std::to_string(std::max(at.column, 0) + 1);
    }

    [[noreturn]] void fail(const YAML::Mark& at, std::string_view message) const {
        throw config_error(file_ + ":" + line_col(at) + ": " + std::string(message));
    }

    // "limit: expected a positive integer up to 1000000000, got "abc"", at the value, or at its
    // key when there is no value (yaml-cpp marks an empty value where the next token starts).
    [[noreturn]] void expected(const entry& e, std::string_view what) const {
        const bool empty = e.value.IsNull() || !e.value.IsDefined();
        fail(empty ? e.at : e.value.Mark(),
             e.key + ": expected " + std::string(what) + ", got " + got(e.value));
    }

    // The keys of `map` in order, each known and given once.
    std::vector<entry> entries(const YAML::Node& map, std::span<const std::string_view> known,
                               std::string_view where) const {
        std::vector<entry> out;
        for (auto it = map.begin(); it != map.end(); ++it) {
            // Copies: the iterator's operator-> yields a temporary.
            const YAML::Node key = it->first;
            if (!key.IsScalar()) {
                fail(key.Mark(), "expected a key name " + std::string(where) + ", got " + got(key));
            }
            const std::string& name = key.Scalar();
            if (std::find(known.begin(), known.end(), name) == known.end()) {
                fail(key.Mark(), "unknown key " + quote(name) + " " + std::string(where) +
                                     (known.size() == 1 ? " (expected: " : " (expected one of: ") +
                                     join(known) + ")");
            }
            for (const auto& earlier : out) {
                if (earlier.key == name) {
                    fail(key.Mark(), "duplicate key " + quote(name) + " " + std::string(where) +
                                         " (first at " + line_col(earlier.at) + ")");
                }
            }
            out.push_back({name, key.Mark(), it->second});
        }
        return out;
    }

    const std::string& scalar(const entry& e, std::string_view what) const {
        if (!e.value.IsScalar()) expected(e, what);
        return e.value.Scalar();
    }

    std::uint32_t count(const entry& e) const {
        constexpr std::string_view what = "a positive integer up to 1000000000";
        const auto n = parse_count(scalar(e, what));
        if (!n) expected(e, what);
        return *n;
    }

    rule read_rule(const YAML::Node& node, const YAML::Mark& list_at, YAML::Mark& name_at) const {
        if (!node.IsMap()) {
            fail(node.IsNull() ? list_at : node.Mark(),
                 "a rule: expected a map with name, limit, window and optionally match, key, "
                 "algorithm, burst, cost, shadow, got " +
                     got(node));
        }
        rule r;
        bool has_name = false;
        bool has_limit = false;
        bool has_window = false;
        std::optional<entry> burst;
        std::optional<entry> cost;
        for (const auto& e : entries(node, rule_keys, "in a rule")) {
            if (e.key == "name") {
                constexpr std::string_view what =
                    "a name of 1 to 64 lower-case letters, digits, '_' or '-'";
                r.name = scalar(e, what);
                if (!valid_rule_name(r.name)) expected(e, what);
                name_at = e.value.Mark();
                has_name = true;
            } else if (e.key == "match") {
                r.match = read_match(e);
            } else if (e.key == "key") {
                constexpr std::string_view what = "ip or header:NAME (NAME an HTTP header name)";
                auto parsed = key_source::parse(scalar(e, what));
                if (!parsed) expected(e, what);
                r.key = std::move(*parsed);
            } else if (e.key == "algorithm") {
                const std::string what = "one of: " + std::string(algorithm_names);
                const auto parsed = parse_algorithm(scalar(e, what));
                if (!parsed) expected(e, what);
                r.algorithm = *parsed;
            } else if (e.key == "limit") {
                r.limit = count(e);
                has_limit = true;
            } else if (e.key == "window") {
                constexpr std::string_view what =
                    "a positive duration (an integer with ms, s, m or h, e.g. 10s)";
                const auto parsed = parse_duration(scalar(e, what), zero_duration::reject);
                if (!parsed) expected(e, what);
                const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(parsed.value);
                if (ms != parsed.value) expected(e, "a whole number of milliseconds (e.g. 250ms)");
                r.window = ms;
                has_window = true;
            } else if (e.key == "burst") {
                r.burst = count(e);
                burst = e;
            } else if (e.key == "cost") {
                r.cost = count(e);
                cost = e;
            } else if (e.key == "shadow") {
                constexpr std::string_view what = "true or false";
                const std::string& text = scalar(e, what);
                if (text != "true" && text != "false") expected(e, what);
                r.shadow = text == "true";
            }
        }
        if (!has_name) fail(node.Mark(), "missing key \"name\" in a rule");
        const std::string in_rule = " in rule " + quote(r.name);
        if (!has_limit) fail(node.Mark(), "missing key \"limit\"" + in_rule);
        if (!has_window) fail(node.Mark(), "missing key \"window\"" + in_rule);
        // Only token-bucket has a capacity apart from its limit. The other algorithms read no
        // burst, so one written there (as in a file that lists every key) is checked as a
        // number and then has no effect.
        if (!burst || r.algorithm != algorithm::token_bucket) r.burst = r.limit;
        if (cost && r.cost > r.burst) {
            const bool bucket = r.algorithm == algorithm::token_bucket;
            fail(cost->value.Mark(), "cost: " + std::to_string(r.cost) + " is more than the " +
                                         (bucket ? "burst, " : "limit, ") +
                                         std::to_string(r.burst) +
                                         ": no request could ever be allowed");
        }
        return r;
    }

    rule_match read_match(const entry& e) const {
        if (!e.value.IsMap()) expected(e, "a map of methods, path, path_prefix, host");
        rule_match m;
        for (const auto& part : entries(e.value, match_keys, "in match")) {
            if (part.key == "methods") {
                if (!part.value.IsSequence() || part.value.size() == 0) {
                    expected(part, "a list of HTTP methods such as [GET, POST]");
                }
                for (const auto& item : part.value) {
                    const entry method{part.key, part.at, item};
                    constexpr std::string_view what = "an HTTP method in upper case, such as GET";
                    const std::string& name = scalar(method, what);
                    if (!valid_method(name)) expected(method, what);
                    if (std::find(m.methods.begin(), m.methods.end(), name) != m.methods.end()) {
                        fail(item.Mark(), "methods: " + quote(name) + " is listed twice");
                    }
                    m.methods.push_back(name);
                }
            } else if (part.key == "path" || part.key == "path_prefix") {
                constexpr std::string_view what =
                    "a path starting with '/', without query, fragment, spaces or control "
                    "characters";
                const std::string& path = scalar(part, what);
                if (!path.starts_with('/') || !valid_path(path)) expected(part, what);
                if (!m.path.empty() || !m.path_prefix.empty()) {
                    fail(part.at, part.key + ": a match has path or path_prefix, not both");
                }
                (part.key == "path" ? m.path : m.path_prefix) = path;
            } else if (part.key == "host") {
                constexpr std::string_view what =
                    "a host name without port, such as api.example.com or [2001:db8::1]";
                std::string host = scalar(part, what);
                std::transform(host.begin(), host.end(), host.begin(), [](char c) {
                    return c >= 'A' && c <= 'Z' ? static_cast<char>(c + 32) : c;
                });
                if (!valid_host(host)) expected(part, what);
                m.host = std::move(host);
            }
        }
        return m;
    }

    std::string file_;
};

}  // namespace

rule_set parse_rules(std::string_view text, std::string_view file) {
    return loader(file).load(text);
}

rule_set load_rules_file(const std::string& path) {
    std::FILE* f = std::fopen(path.c_str(), "rb");
    if (f == nullptr) throw config_error(path + ": cannot read: " + std::strerror(errno));
    std::string text;
    char buffer[8192];
    std::size_t n = 0;
    while ((n = std::fread(buffer, 1, sizeof buffer, f)) > 0)
        text.append(buffer, n);
    const int error = std::ferror(f) ? errno : 0;
    std::fclose(f);
    if (error != 0) throw config_error(path + ": cannot read: " + std::strerror(error));
    return parse_rules(text, path);
}

int check_rules_file(const std::string& path, std::ostream& out, std::ostream& err) {
    try {
        const rule_set rules = load_rules_file(path);
        for (const auto& r : rules.rules())
            out << describe(r) << '\n';
        out.flush();
        return 0;
    } catch (const config_error& e) {
        err << e.what() << '\n';
        return 2;
    }
}

}  // namespace sluice::core
