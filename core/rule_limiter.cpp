#include "core/rule_limiter.hpp"

#include <algorithm>
#include <charconv>

#include "core/limiter.hpp"
#include "resp/connection.hpp"
#include "resp/script.hpp"

namespace sluice::core {

namespace {

// rules_scratch::group_state: what is known of a group's call.
enum state : std::uint8_t {
    pending,   // no reply yet, or one being read
    allowed,   // every rule without shadow allowed: each rule's record is in its token
    rejected,  // a rule without shadow rejected: nothing recorded
    noscript,  // Redis had forgotten decide.lua: nothing ran, the call is sent again
    bad,       // an error reply or a reply of the wrong shape
    // After a rejection elsewhere: what this allowed group recorded is being given back.
    giving_back,
    give_back_noscript,
};

std::string_view suffix_of(algorithm a) noexcept {
    switch (a) {
        case algorithm::fixed_window:
            return ":fw";
        case algorithm::sliding_window:
            return ":sw";
        case algorithm::token_bucket:
            return ":tb";
        case algorithm::sliding_log:
        case algorithm::none:
            break;
    }
    return ":log";
}

bool integer_of(const resp::node& n, std::int64_t& v) noexcept {
    if (n.data_type != resp::type::integer) return false;
    const char* end = n.value.data() + n.value.size();
    auto [p, ec] = std::from_chars(n.value.data(), end, v);
    return ec == std::errc{} && p == end;
}

// Reads decide.lua's replies, {allowed, {allowed, remaining, reset_ms, retry_after_ms, token}...},
// one per group from `first` on, straight from the parser's nodes into the scratch.
struct decide_reader {
    rules_scratch& s;
    std::size_t group;  // the reply being read; one before the first until its root arrives
    std::size_t element = 0;
    std::size_t field = 0;
    std::size_t position = 0;

    decide_reader(rules_scratch& scratch, std::size_t first) : s{scratch}, group{first - 1} {}

    void operator()(const resp::node& n) {
        if (n.depth == 0) {
            ++group;
            element = 0;
            if (group >= s.groups) return;
            std::uint8_t& st = s.group_state[group];
            if (resp::is_error(n.data_type)) {
                st = n.value.starts_with("NOSCRIPT") ? noscript : bad;
                return;
            }
            const std::size_t members = s.group_begin[group + 1] - s.group_begin[group];
            st = n.data_type == resp::type::array && n.size == members + 1 ? pending : bad;
            return;
        }
        if (group >= s.groups) return;
        std::uint8_t& st = s.group_state[group];
        if (st == bad) return;
        if (n.depth == 1) {
            if (element == 0) {
                std::int64_t v = 0;
                st = !integer_of(n, v) ? bad : v == 1 ? allowed : rejected;
            } else if (n.data_type != resp::type::array || n.size != 5) {
                st = bad;
            } else {
                position = s.order[s.group_begin[group] + element - 1];
                field = 0;
            }
            ++element;
            return;
        }
        if (n.depth != 2 || element < 2) {
            st = bad;
            return;
        }
        rule_decision& d = s.decisions[position];
        if (field == 4) {
            if (n.data_type != resp::type::bulk_string &&
                n.data_type != resp::type::simple_string) {
                st = bad;
            } else {
                s.tokens[position].assign(n.value);
            }
        } else {
            std::int64_t v = 0;
            if (!integer_of(n, v)) st = bad;
            switch (field) {
                case 0:
                    d.allowed = v == 1;
                    break;
                case 1:
                    d.remaining = v;
                    break;
                case 2:
                    d.reset_ms = v;
                    break;
                case 3:
                    d.retry_after_ms = v;
                    break;
            }
        }
        ++field;
    }
};

// Reads give_back.lua's replies for the groups in state giving_back, in order: only NOSCRIPT
// matters (the call is then sent again); the units given back are not needed.
struct give_back_reader {
    rules_scratch& s;
    std::size_t group;

    void operator()(const resp::node& n) {
        if (n.depth != 0) return;
        ++group;
        while (group < s.groups && s.group_state[group] != giving_back)
            ++group;
        if (group < s.groups && resp::is_error(n.data_type) && n.value.starts_with("NOSCRIPT")) {
            s.group_state[group] = give_back_noscript;
        }
    }
};

}  // namespace

rule_limiter::rule_limiter(resp::connection& redis, const resp::script& decide,
                           const resp::script& give_back, const rule_set& rules,
                           std::string key_prefix, trusted_proxies trusted,
                           std::chrono::milliseconds redis_timeout)
    : redis_{redis},
      decide_{decide},
      give_back_{give_back},
      rules_{rules},
      key_prefix_{std::move(key_prefix)},
      trusted_{std::move(trusted)},
      timeout_{redis_timeout} {
    for (const rule& r : rules_.rules()) {
        rule_text t;
        t.suffix = ":" + r.name + std::string(suffix_of(r.algorithm));
        t.args = {std::string(to_string(r.algorithm)),
                  std::to_string(r.limit),
                  std::to_string(r.window.count()),
                  std::to_string(r.burst),
                  std::to_string(r.cost),
                  r.shadow ? "1" : "0"};
        text_.push_back(std::move(t));
        std::uint32_t src = 0;
        while (src < identifiers_.size() && !(identifiers_[src].source() == r.key))
            ++src;
        if (src == identifiers_.size()) identifiers_.emplace_back(r.key, trusted_);
        source_of_rule_.push_back(src);
    }
}

void rule_limiter::prepare(rules_scratch& s) const {
    s.matched.reserve(rules_.size());
    s.identities.resize(identifiers_.size());
    s.identity_of_source.resize(identifiers_.size());
}

bool rule_limiter::match(std::string_view method, std::string_view host, std::string_view target,
                         rules_scratch& s) const {
    rules_.match(method, host, target, s.matched);
    s.count = 0;
    bool fits = true;
    for (const std::uint32_t i : s.matched) {
        if (rules_.rules()[i].algorithm == algorithm::none) continue;
        if (s.count == max_applying_rules) {
            fits = false;
            break;
        }
        s.applying[s.count++] = i;
    }
    return fits;
}

// Groups the applying rules by identity, each group in file order, groups in the order of their
// first rule. At most 16 rules: comparing each with the groups found so far is cheapest.
void rule_limiter::group(rules_scratch& s) const noexcept {
    std::array<std::uint8_t, max_applying_rules> group_of{};
    std::array<std::uint8_t, max_applying_rules> first{};  // a rule of each group
    std::array<std::uint8_t, max_applying_rules + 1> sizes{};
    s.groups = 0;
    for (std::size_t k = 0; k < s.count; ++k) {
        std::size_t g = 0;
        while (g < s.groups && identity(s, first[g]) != identity(s, k))
            ++g;
        if (g == s.groups) first[s.groups++] = static_cast<std::uint8_t>(k);
        group_of[k] = static_cast<std::uint8_t>(g);
        ++sizes[g];
    }
    s.group_begin[0] = 0;
    for (std::size_t g = 0; g < s.groups; ++g)
        s.group_begin[g + 1] = static_cast<std::uint8_t>(s.group_begin[g] + sizes[g]);
    std::array<std::uint8_t, max_applying_rules> next = {};
    for (std::size_t g = 0; g < s.groups; ++g)
        next[g] = s.group_begin[g];
    for (std::size_t k = 0; k < s.count; ++k)
        s.order[next[group_of[k]]++] = static_cast<std::uint8_t>(k);
}

void rule_limiter::push_decide(resp::request& req, const rules_scratch& s, std::size_t g) const {
    const std::size_t begin = s.group_begin[g], end = s.group_begin[g + 1];
    const std::size_t n = end - begin;
    req.write_array_header(3 + n + 6 * n);
    req.write_bulk("EVALSHA");
    req.write_bulk(decide_.sha());
    req.write_arg(n);
    for (std::size_t j = begin; j < end; ++j)
        req.write_bulk(s.keys[s.order[j]]);
    for (std::size_t j = begin; j < end; ++j) {
        for (const std::string& a : text_[s.applying[s.order[j]]].args)
            req.write_bulk(a);
    }
    req.end_command();
}

void rule_limiter::push_give_back(resp::request& req, const rules_scratch& s, std::size_t g) const {
    const std::size_t begin = s.group_begin[g], end = s.group_begin[g + 1];
    const std::size_t n = end - begin;
    req.write_array_header(3 + n + 6 * n);
    req.write_bulk("EVALSHA");
    req.write_bulk(give_back_.sha());
    req.write_arg(n);
    for (std::size_t j = begin; j < end; ++j)
        req.write_bulk(s.keys[s.order[j]]);
    for (std::size_t j = begin; j < end; ++j) {
        const std::size_t k = s.order[j];
        const auto& args = text_[s.applying[k]].args;
        for (std::size_t a = 0; a < 5; ++a)
            req.write_bulk(args[a]);
        req.write_bulk(s.tokens[k]);
    }
    req.end_command();
}

asio::awaitable<std::error_code> rule_limiter::check(rules_scratch& s, bool& ok) {
    ok = false;
    for (std::size_t k = 0; k < s.count; ++k) {
        sliding_log_limiter::make_key(s.keys[k], key_prefix_, identity(s, k),
                                      text_[s.applying[k]].suffix);
        s.tokens[k].clear();
        s.decisions[k] = rule_decision{};
    }
    group(s);
    s.request.clear();
    for (std::size_t g = 0; g < s.groups; ++g) {
        s.group_state[g] = pending;
        push_decide(s.request, s, g);
    }
    // Plain exec, not exec(script, ...): that one retries a request of one EVALSHA. A NOSCRIPT
    // reaches the reader instead, and only that group is sent again, through the script-aware
    // exec that loads it: a refused EVALSHA ran nothing, the other groups' replies stand.
    decide_reader reader{s, 0};
    std::error_code ec = co_await redis_.exec(s.request, reader, timeout_);
    if (ec) co_return ec;
    for (std::size_t g = 0; g < s.groups && !ec; ++g) {
        if (s.group_state[g] != noscript) continue;
        s.retry.clear();
        push_decide(s.retry, s, g);
        decide_reader again{s, g};
        ec = co_await redis_.exec(decide_, s.retry, again, timeout_);
    }
    if (ec) co_return ec;

    bool all = true, any_recorded = false;
    for (std::size_t g = 0; g < s.groups; ++g) {
        if (s.group_state[g] != allowed && s.group_state[g] != rejected)
            co_return bad_reply_error();
        all = all && s.group_state[g] == allowed;
        any_recorded = any_recorded || s.group_state[g] == allowed;
    }
    ok = all;
    if (all || !any_recorded) co_return std::error_code{};

    // Rejected by one group, recorded by others: give their records back. The answer is a
    // rejection whatever happens here; should the give-back fail, the records stay and the
    // rules count a request that was not served until they expire (never less than served).
    s.request.clear();
    for (std::size_t g = 0; g < s.groups; ++g) {
        if (s.group_state[g] != allowed) continue;
        s.group_state[g] = giving_back;
        push_give_back(s.request, s, g);
    }
    give_back_reader gb{s, static_cast<std::size_t>(-1)};
    if (co_await redis_.exec(s.request, gb, timeout_)) co_return std::error_code{};
    for (std::size_t g = 0; g < s.groups; ++g) {
        if (s.group_state[g] != give_back_noscript) continue;
        s.retry.clear();
        push_give_back(s.retry, s, g);
        if (co_await redis_.exec(give_back_, s.retry, resp::ignore, timeout_)) break;
    }
    co_return std::error_code{};
}

}  // namespace sluice::core
