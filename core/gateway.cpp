#include "core/gateway.hpp"

#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/experimental/as_tuple.hpp>
#include <asio/io_context.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/signal_set.hpp>
#include <asio/use_awaitable.hpp>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <functional>
#include <optional>
#include <thread>
#include <vector>

#include "core/admin.hpp"
#include "core/log.hpp"
#include "core/rules_file.hpp"
#include "core/shard.hpp"
#include "decide_lua.hpp"
#include "give_back_lua.hpp"
#include "http/server.hpp"
#include "quota_lua.hpp"
#include "resp/connection.hpp"
#include "resp/script.hpp"

namespace sluice::core {

namespace {

constexpr auto nothrow = asio::experimental::as_tuple(asio::use_awaitable);
// CONTRACT.md: in-flight requests get at most this long to finish after SIGINT/SIGTERM.
constexpr std::chrono::milliseconds drain_grace{5000};

asio::ip::tcp::endpoint resolve(asio::io_context& ctx, const endpoint& e) {
    asio::ip::tcp::resolver resolver{ctx};
    auto results =
        resolver.resolve(e.host, std::to_string(e.port), asio::ip::tcp::resolver::passive);
    return results.begin()->endpoint();
}

std::string text(const asio::ip::tcp::endpoint& ep) {
    auto a = ep.address();
    std::string host = a.is_v6() ? "[" + a.to_string() + "]" : a.to_string();
    return host + ":" + std::to_string(ep.port());
}

std::int64_t unix_ms() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
}

}  // namespace

struct gateway::impl {
    impl(config c, std::shared_ptr<const rule_set> r)
        : cfg{std::move(c)},
          rules{std::move(r)},
          decide{std::string(decide_lua)},
          give_back{std::string(give_back_lua)},
          quota_script{std::string(quota_lua)},
          quota_redis{admin_ctx.get_executor(), quota_config(cfg)},
          quota_cluster{make_cluster(admin_ctx, cfg)},
          quota{quota_redis,      quota_script,      cfg.key_prefix,
                rules != nullptr, cfg.redis_timeout, quota_cluster.get()} {
        if (quota_cluster) quota_cluster->preload(quota_script);
        // With Sentinel /quota follows the primary like the shards do.
        if (quota_sentinel) {
            quota_sentinel->on_primary(
                [this](const resp::primary_address& a) { quota_redis.retarget(a.host, a.port); });
        }
    }

    static resp::connection_config quota_config(const config& cfg) {
        auto c = resp::connection_config::from_url(cfg.redis);
        c.require_primary = !cfg.redis_sentinels.empty();
        return c;
    }

    asio::awaitable<void> admin_accept_loop() {
        while (admin_acceptor.is_open()) {
            auto [ec, socket] = co_await admin_acceptor.async_accept(nothrow);
            if (ec) {
                if (!admin_acceptor.is_open()) break;
                continue;
            }
            asio::co_spawn(
                admin_ctx,
                http::serve_connection(std::move(socket), *admin, admin_limits, admin_control),
                [](std::exception_ptr) {});
        }
    }

    // Declared first: the admin listener's I/O objects below belong to it.
    asio::io_context admin_ctx{1};
    config cfg;
    // With --config: the rules, shared by every shard.
    std::shared_ptr<const rule_set> rules;
    // Every shard's batches run decide.lua; a rejection across identities, give_back.lua.
    resp::script decide;
    resp::script give_back;
    limiter_scripts scripts{decide, give_back};
    // /quota's own Redis connection, on the admin thread.
    resp::script quota_script;
    resp::connection quota_redis;  // not started with --redis-cluster
    std::unique_ptr<resp::cluster_client> quota_cluster;
    std::unique_ptr<resp::sentinel_watcher> quota_sentinel{make_sentinel(admin_ctx, cfg)};
    quota_source quota;
    // What /config shows; a reload replaces its rules (on this thread, the admin's).
    config_view view;
    asio::ip::tcp::endpoint listening_at;
    std::vector<std::unique_ptr<shard>> shards;
    std::vector<std::thread> threads;

    asio::ip::tcp::acceptor admin_acceptor{admin_ctx};
    std::unique_ptr<admin_handler> admin;
    http::server_limits admin_limits;
    http::connection_control admin_control{admin_ctx.get_executor()};
};

gateway::gateway(config cfg, std::shared_ptr<const rule_set> rules)
    : impl_{std::make_unique<impl>(std::move(cfg), std::move(rules))} {
    auto& m = *impl_;
    auto listen_at = resolve(m.admin_ctx, m.cfg.listen);
    for (unsigned i = 0; i < m.cfg.threads; ++i) {
        m.shards.push_back(std::make_unique<shard>(m.cfg, m.scripts, i, m.rules.get()));
        // With port 0 the first shard's kernel-chosen port is the one all shards share.
        listen_at = m.shards.back()->listen(listen_at);
    }
    auto admin_at = resolve(m.admin_ctx, m.cfg.admin);
    m.admin_acceptor.open(admin_at.protocol());
    m.admin_acceptor.set_option(asio::ip::tcp::acceptor::reuse_address(true));
    m.admin_acceptor.bind(admin_at);
    m.admin_acceptor.listen();
    m.view.rules = m.rules ? m.rules : std::make_shared<const rule_set>(rules_from_flags(m.cfg));
    m.view.source = m.rules ? m.cfg.rules_file : "flags";
    m.view.loaded_at_unix_ms = unix_ms();
    m.admin = std::make_unique<admin_handler>(m.shards, m.view, m.quota);
    m.listening_at = listen_at;
}

gateway::~gateway() {
    for (auto& t : impl_->threads) {
        if (t.joinable()) t.join();
    }
}

namespace {

// SIGHUP: the rules file is read and checked here, off every shard's loop; a file that loads is
// handed to each shard as the next version, one that does not leaves the current one in place.
template <class Impl>
void reload(Impl& m) {
    if (m.cfg.rules_file.empty()) {
        log_line("sluice: SIGHUP: no --config to reload; the flags' rule stays");
        return;
    }
    std::shared_ptr<const rule_set> rules;
    try {
        rules = std::make_shared<const rule_set>(load_rules_file(m.cfg.rules_file));
    } catch (const std::exception& e) {
        ++m.view.reloads_refused;
        log_line(std::string("sluice: config refused: ") + e.what() + "; generation " +
                 std::to_string(m.view.generation) + " stays");
        return;
    }
    const std::uint64_t generation = ++m.view.generation;
    for (auto& s : m.shards)
        s->install_rules(rules, generation);
    m.view.rules = rules;
    m.view.loaded_at_unix_ms = unix_ms();
    ++m.view.reloads_loaded;
    log_line("sluice: config loaded from " + m.cfg.rules_file + " (" +
             std::to_string(rules->size()) + (rules->size() == 1 ? " rule" : " rules") +
             ", generation " + std::to_string(generation) + ")");
}

}  // namespace

int gateway::run() {
    auto& m = *impl_;
    std::signal(SIGPIPE, SIG_IGN);
    for (auto& s : m.shards)
        m.threads.emplace_back([s = s.get()] { s->run(); });

    // Signals are handled from here on: only now may the banner say the gateway is up (a
    // supervisor that sends SIGTERM as soon as it reads it must get a clean shutdown).
    // SIGHUP's default action ends the process; a supervisor that sends it to reload must not
    // kill the gateway. The rules are read at start: say so, once per signal.
    asio::signal_set hangups{m.admin_ctx, SIGHUP};
    std::function<void()> await_hangup = [&] {
        hangups.async_wait([&](const std::error_code& ec, int) {
            if (ec) return;
            reload(m);
            await_hangup();
        });
    };
    await_hangup();
    asio::signal_set signals{m.admin_ctx, SIGINT, SIGTERM};
    signals.async_wait([&m, &hangups](const std::error_code& ec, int signo) {
        if (ec) return;
        std::error_code ignored;
        hangups.cancel(ignored);
        m.quota_redis.stop();
        if (m.quota_cluster) m.quota_cluster->stop();
        if (m.quota_sentinel) m.quota_sentinel->stop();
        log_line(signo == SIGINT ? "sluice: shutdown begun (SIGINT)"
                                 : "sluice: shutdown begun (SIGTERM)");
        // Refuse new connections at once, everywhere; then let each shard drain on its own.
        for (auto& s : m.shards)
            s->shutdown(drain_grace);
        m.admin_acceptor.close(ignored);
        m.admin_control.stop();
    });
    if (m.quota_cluster) {
        m.quota_cluster->start();
    } else if (m.quota_sentinel) {
        m.quota_redis.start_untargeted();
        m.quota_sentinel->start();
    } else {
        m.quota_redis.start();
    }
    asio::co_spawn(m.admin_ctx, m.admin_accept_loop(), asio::detached);

    std::printf("sluice: listening on %s (%u shard%s)\n", text(m.listening_at).c_str(),
                m.cfg.threads, m.cfg.threads == 1 ? "" : "s");
    std::printf("sluice: admin on %s\n", text(m.admin_acceptor.local_endpoint()).c_str());
    std::fflush(stdout);

    m.admin_ctx.run();
    for (auto& t : m.threads)
        t.join();
    log_line("sluice: shutdown done");
    return 0;
}

}  // namespace sluice::core
