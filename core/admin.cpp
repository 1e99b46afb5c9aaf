#include "core/admin.hpp"

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
        content_type = "text/plain; version=0.0.4; charset=utf-8";
        res.set_body(body_);
    } else {
        res.set_status(404);
        res.set_body("not found: try /healthz, /readyz or /metrics\n");
    }
    res.add_header("Content-Type", content_type);
    co_return;
}

}  // namespace sluice::core
