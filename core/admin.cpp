#include "core/admin.hpp"

#include "core/admin_views.hpp"
#include "core/client_key.hpp"
#include "core/metrics.hpp"
#include "core/shard.hpp"
#include "resp/cluster_client.hpp"
#include "resp/cluster_slot.hpp"
#include "resp/connection.hpp"
#include "resp/script.hpp"

namespace sluice::core {

asio::awaitable<void> admin_handler::handle(const http::request& req,
                                            const asio::ip::tcp::endpoint&, http::response& res) {
    std::string_view path = req.target.substr(0, req.target.find('?'));
    // One Content-Type per answer: Prometheus's text format for /metrics, plain text otherwise.
    std::string_view content_type = "text/plain; charset=utf-8";
    if (req.method != "GET" && req.method != "HEAD") {
        res.set_status(405);
        res.add_header("Allow", "GET, HEAD");
        res.set_body("method not allowed\n");
    } else if (path == "/healthz") {
        res.set_body("ok\n");
    } else if (path == "/readyz") {
        body_.clear();
        for (std::size_t i = 0; i < shards_.size(); ++i) {
            if (!shards_[i]->redis_connected()) {
                body_ += "shard " + std::to_string(i) + ": redis unreachable\n";
            }
        }
        if (body_.empty()) {
            res.set_body("ready\n");
        } else {
            res.set_status(503);
            res.set_body(body_);
        }
    } else if (path == "/metrics") {
        std::vector<const shard_metrics*> metrics;
        std::vector<redis_view> redis;
        std::vector<upstream_view> upstream;
        for (const auto& s : shards_) {
            metrics.push_back(&s->metrics());
            redis.push_back(s->redis_stats());
            upstream.push_back(s->upstream_stats());
        }
        body_ = render_metrics(metrics, redis, upstream);
        body_ +=
            "# HELP sluice_config_generation The version of the rules served: 1 at start, one more "
            "per reload that loaded.\n# TYPE sluice_config_generation gauge\n"
            "sluice_config_generation " +
            std::to_string(config_.generation) +
            "\n# HELP sluice_config_reloads_total SIGHUP reloads of --config, by result.\n"
            "# TYPE sluice_config_reloads_total counter\n"
            "sluice_config_reloads_total{result=\"loaded\"} " +
            std::to_string(config_.reloads_loaded) +
            "\nsluice_config_reloads_total{result=\"refused\"} " +
            std::to_string(config_.reloads_refused) + "\n";
        content_type = "text/plain; version=0.0.4; charset=utf-8";
        res.set_body(body_);
    } else if (path == "/quota") {
        const std::size_t q = req.target.find('?');
        co_await quota(q == std::string_view::npos ? std::string_view{} : req.target.substr(q + 1),
                       res);
        content_type = res.status() == 200 ? "application/json" : content_type;
    } else if (path == "/config") {
        body_.clear();
        append_config_json(body_, *config_.rules, config_.generation, config_.loaded_at_unix_ms,
                           config_.source);
        body_ += '\n';
        content_type = "application/json";
        res.set_body(body_);
    } else {
        res.set_status(404);
        res.set_body("not found: try /healthz, /readyz, /metrics, /config or /quota\n");
    }
    res.add_header("Content-Type", content_type);
    co_return;
}

namespace {

// The key suffix of a rule's state (docs/algorithms.md).
std::string_view state_suffix(algorithm a) noexcept {
    switch (a) {
        case algorithm::fixed_window:
            return "fw";
        case algorithm::sliding_window:
            return "sw";
        case algorithm::token_bucket:
            return "tb";
        case algorithm::sliding_log:
        case algorithm::none:
            break;
    }
    return "log";
}

}  // namespace

asio::awaitable<void> admin_handler::quota(std::string_view query, http::response& res) {
    std::string name, client;
    if (!query_param(query, "rule", name) || !query_param(query, "key", client) || client.empty() ||
        client.size() > max_identity || client.find_first_of("{}") != std::string::npos) {
        res.set_status(400);
        res.set_body(
            "usage: /quota?rule=NAME&key=CLIENT, CLIENT the identity as sluice keys it "
            "(ip:192.0.2.1, key:VALUE)\n");
        co_return;
    }
    // The rules of this moment: a reload meanwhile does not change the answer's rule.
    const std::shared_ptr<const rule_set> rules = config_.rules;
    const rule* r = rules->find(name);
    if (r == nullptr || r->algorithm == algorithm::none) {
        res.set_status(404);
        body_ = "no rule named \"" + name + "\" that keeps state\n";
        res.set_body(body_);
        co_return;
    }
    // The flags' rule keeps the keys it always had: {client}:log, {client}:default:<suffix>.
    std::string key = quota_.key_prefix + "{" + client + "}";
    if (quota_.rules_file || r->algorithm != algorithm::sliding_log) {
        key += ":" + r->name;
    }
    key += ":";
    key += state_suffix(r->algorithm);
    resp::request req;
    quota_.script.push(req, {key}, to_string(r->algorithm), std::int64_t{r->limit},
                       std::int64_t{r->window.count()}, std::int64_t{r->burst});
    // {{remaining, reset_ms}}: one rule asked.
    std::int64_t values[2] = {0, 0};
    int seen = 0;
    bool bad = false;
    auto reader = [&](const resp::node& n) {
        if (n.depth == 0) {
            bad = bad || n.data_type != resp::type::array || n.size != 1;
        } else if (n.depth == 1) {
            bad = bad || n.data_type != resp::type::array || n.size != 2;
        } else if (n.data_type != resp::type::integer || seen >= 2) {
            bad = true;
        } else {
            values[seen++] = std::stoll(std::string(n.value));
        }
    };
    const std::error_code ec =
        quota_.cluster != nullptr
            ? co_await quota_.cluster->exec(quota_.script, req, resp::key_slot(key), reader,
                                            std::chrono::steady_clock::now() + quota_.timeout)
            : co_await quota_.redis.exec(quota_.script, req, reader, quota_.timeout);
    if (ec || bad || seen != 2) {
        res.set_status(503);
        res.set_body("redis could not answer\n");
        co_return;
    }
    body_.clear();
    append_quota_json(body_, r->name, client, r->limit, values[0], values[1]);
    body_ += '\n';
    res.set_body(body_);
}

}  // namespace sluice::core
