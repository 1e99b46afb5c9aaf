#include "core/limiter.hpp"

#include <charconv>

#include "resp/connection.hpp"
#include "resp/script.hpp"

namespace sluice::core {

namespace {

class limiter_category_impl : public std::error_category {
  public:
    const char* name() const noexcept override { return "limiter"; }
    std::string message(int) const override {
        return "the limiter script's reply is not {allowed, remaining, reset_ms, retry_after_ms}";
    }
};

// Reads the script's reply, an array of four integers, straight from the parser's nodes.
struct decision_reader {
    decision& out;
    int index = 0;
    bool bad = false;

    void operator()(const resp::node& n) {
        if (n.depth == 0) {
            if (n.data_type != resp::type::array || n.size != 4) bad = true;
            return;
        }
        if (n.depth != 1 || n.data_type != resp::type::integer || index >= 4) {
            bad = true;
            return;
        }
        std::int64_t v = 0;
        auto [p, ec] = std::from_chars(n.value.data(), n.value.data() + n.value.size(), v);
        if (ec != std::errc{} || p != n.value.data() + n.value.size()) bad = true;
        switch (index++) {
            case 0:
                out.allowed = v == 1;
                break;
            case 1:
                out.remaining = v;
                break;
            case 2:
                out.reset_ms = v;
                break;
            case 3:
                out.retry_after_ms = v;
                break;
        }
    }
};

}  // namespace

std::error_code bad_reply_error() noexcept {
    static const limiter_category_impl category;
    return {1, category};
}

sliding_log_limiter::sliding_log_limiter(resp::connection& redis, const resp::script& script,
                                         limit_policy policy)
    : redis_{redis}, script_{script}, policy_{std::move(policy)} {}

void sliding_log_limiter::make_key(std::string& out, std::string_view prefix,
                                   std::string_view client, std::string_view suffix) {
    out.clear();
    out.append(prefix);
    out.push_back('{');
    out.append(client);
    out.push_back('}');
    out.append(suffix);
}

asio::awaitable<std::error_code> sliding_log_limiter::check(std::string_view client,
                                                            limiter_scratch& scratch,
                                                            decision& out) {
    make_key(scratch.key, policy_.key_prefix, client, policy_.key_suffix);
    scratch.request.clear();
    // Limit and window (and for token-bucket a cost of 1 and the burst): the scripts' fifth
    // argument, a clock, is for tests and never sent here.
    if (policy_.burst != 0) {
        script_.push(scratch.request, {scratch.key}, policy_.limit, policy_.window.count(),
                     std::int64_t{1}, policy_.burst);
    } else {
        script_.push(scratch.request, {scratch.key}, policy_.limit, policy_.window.count());
    }
    out = decision{};
    decision_reader reader{out};
    std::error_code ec =
        co_await redis_.exec(script_, scratch.request, reader, policy_.redis_timeout);
    if (!ec && (reader.bad || reader.index != 4)) ec = bad_reply_error();
    co_return ec;
}

}  // namespace sluice::core
