#include "core/admin.hpp"

#include "core/admin_views.hpp"
#include "core/metrics.hpp"
#include "core/shard.hpp"

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
    } else if (path == "/config") {
        body_.clear();
        append_config_json(body_, *config_.rules, config_.generation, config_.loaded_at_unix_ms,
                           config_.source);
        body_ += '\n';
        content_type = "application/json";
        res.set_body(body_);
    } else {
        res.set_status(404);
        res.set_body("not found: try /healthz, /readyz, /metrics or /config\n");
    }
    res.add_header("Content-Type", content_type);
    co_return;
}

}  // namespace sluice::core
