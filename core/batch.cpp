#include "core/batch.hpp"

#include <algorithm>
#include <charconv>

#include "resp/script.hpp"

namespace sluice::core {

namespace {

void append_bulk(std::string& out, std::string_view s) {
    char digits[24];
    const auto end = std::to_chars(digits, digits + sizeof digits, s.size()).ptr;
    out.push_back('$');
    out.append(digits, end);
    out.append("\r\n");
    out.append(s);
    out.append("\r\n");
}

bool integer_of(const resp::node& n, std::int64_t& v) noexcept {
    if (n.data_type != resp::type::integer) return false;
    const char* end = n.value.data() + n.value.size();
    auto [p, ec] = std::from_chars(n.value.data(), end, v);
    return ec == std::errc{} && p == end;
}

// Fields per rule in the reply: allowed, remaining, reset_ms, retry_after_ms (and the token).
std::size_t fields_of(const batch_check& c) noexcept {
    return c.tokens != nullptr ? 5 : 4;
}

}  // namespace

batch_rule::batch_rule(algorithm a, std::int64_t limit, std::chrono::milliseconds window,
                       std::int64_t burst, std::int64_t cost, bool shadow) {
    append_bulk(args_, to_string(a));
    append_bulk(args_, std::to_string(limit));
    append_bulk(args_, std::to_string(window.count()));
    append_bulk(args_, burst == 0 ? std::string{} : std::to_string(burst));
    append_bulk(args_, cost == 1 ? std::string{} : std::to_string(cost));
    append_bulk(args_, shadow ? "1" : "0");
}

// ---------------------------------------------------------------------------------------------
// batch_encoder

void batch_encoder::clear() noexcept {
    checks_ = 0;
    keys_ = 0;
    rule_count_ = 0;
}

std::size_t batch_encoder::index_of(const batch_rule* r) const noexcept {
    std::size_t i = 0;
    while (i < rule_count_ && rules_[i] != r)
        ++i;
    return i;
}

bool batch_encoder::fits(std::span<const batch_check> request,
                         std::size_t max_checks) const noexcept {
    if (checks_ == 0) return request.size() <= list_.size();
    // Counts every rule of the request as new: cheaper than finding which the batch names, and a
    // request has at most max_applying_rules.
    std::size_t rules = 0;
    for (const batch_check& c : request)
        rules += c.count;
    return checks_ + request.size() <= std::min(max_checks, list_.size()) &&
           rule_count_ + rules <= max_batch_rules;
}

void batch_encoder::add(batch_check& c) noexcept {
    list_[checks_++] = &c;
    keys_ += c.count;
    for (std::size_t i = 0; i < c.count; ++i) {
        const batch_rule* r = c.rules[c.order[i]];
        if (index_of(r) == rule_count_ && rule_count_ < max_batch_rules) rules_[rule_count_++] = r;
    }
}

void batch_encoder::encode(const resp::script& decide, resp::request& req,
                           std::string_view clock) const {
    req.clear();
    std::size_t args = 2 + 6 * rule_count_;
    for (std::size_t k = 0; k < checks_; ++k)
        args += 1 + list_[k]->count;
    req.write_array_header(3 + keys_ + args);
    req.write_bulk("EVALSHA");
    req.write_bulk(decide.sha());
    req.write_arg(keys_);
    for (std::size_t k = 0; k < checks_; ++k) {
        const batch_check& c = *list_[k];
        for (std::size_t i = 0; i < c.count; ++i)
            req.write_bulk(c.keys[c.order[i]]);
    }
    req.write_bulk(clock);
    req.write_arg(rule_count_);
    for (std::size_t i = 0; i < rule_count_; ++i)
        req.write_raw(rules_[i]->resp_args());
    for (std::size_t k = 0; k < checks_; ++k) {
        const batch_check& c = *list_[k];
        const auto n = static_cast<std::int64_t>(c.count);
        req.write_arg(c.tokens != nullptr ? -n : n);
        for (std::size_t i = 0; i < c.count; ++i)
            req.write_arg(index_of(c.rules[c.order[i]]) + 1);
    }
    req.end_command();
}

// ---------------------------------------------------------------------------------------------
// batch_reader

batch_reader::batch_reader(std::span<batch_check* const> checks) noexcept : checks_{checks} {
    for (batch_check* c : checks_) {
        expected_ += 1 + c->count * fields_of(*c);
        c->allowed = false;
        c->bad = false;
    }
}

void batch_reader::next_check() noexcept {
    ++check_;
    rule_ = 0;
    field_ = 0;
    started_ = false;
}

void batch_reader::operator()(const resp::node& n) noexcept {
    if (n.depth == 0) {
        root_ = true;
        if (resp::is_error(n.data_type)) {
            error_ = true;
            shape_ = false;
        } else if (n.data_type != resp::type::array || n.size != expected_) {
            shape_ = false;
        }
        return;
    }
    if (!shape_ || n.depth != 1 || check_ >= checks_.size()) {
        shape_ = false;
        return;
    }
    ++seen_;
    batch_check& c = *checks_[check_];
    if (!started_) {
        std::int64_t v = 0;
        if (!integer_of(n, v)) c.bad = true;
        c.allowed = v == 1;
        started_ = true;
        if (c.count == 0) next_check();
        return;
    }
    const std::size_t position = c.order[rule_];
    if (field_ == 4) {
        if (n.data_type != resp::type::bulk_string && n.data_type != resp::type::simple_string) {
            c.bad = true;
        } else {
            c.tokens[position].assign(n.value);
        }
    } else {
        std::int64_t v = 0;
        if (!integer_of(n, v)) c.bad = true;
        rule_decision& d = c.decisions[position];
        switch (field_) {
            case 0:
                d.allowed = v == 1;
                break;
            case 1:
                d.remaining = v;
                break;
            case 2:
                d.reset_ms = v;
                break;
            default:
                d.retry_after_ms = v;
                break;
        }
    }
    if (++field_ == fields_of(c)) {
        field_ = 0;
        if (++rule_ == c.count) next_check();
    }
}

bool batch_reader::finish() noexcept {
    const bool ok = root_ && shape_ && seen_ == expected_;
    if (!ok) {
        for (batch_check* c : checks_)
            c->bad = true;
    }
    return ok;
}

}  // namespace sluice::core
