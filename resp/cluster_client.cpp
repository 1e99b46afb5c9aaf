#include "resp/cluster_client.hpp"

#include <algorithm>
#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/experimental/as_tuple.hpp>
#include <asio/this_coro.hpp>
#include <asio/use_awaitable.hpp>

#include "resp/error.hpp"
#include "resp/redirect.hpp"
#include "resp/script.hpp"

namespace sluice::resp {

namespace {

using clock_type = std::chrono::steady_clock;

constexpr auto nothrow = asio::experimental::as_tuple(asio::use_awaitable);

asio::awaitable<void> pause(std::chrono::milliseconds d, clock_type::time_point deadline) {
    asio::steady_timer t{co_await asio::this_coro::executor};
    t.expires_at(std::min(clock_type::now() + d, deadline));
    co_await t.async_wait(nothrow);
}

// Delivers a reply to the caller's adapter unless the reply is a redirection (MOVED, ASK,
// TRYAGAIN, CLUSTERDOWN): that is kept here, for exec() to follow. A redirection is always a
// whole reply (an error at the top), so the caller's adapter sees either nothing or all of it.
// `skip` top-level replies come first and go nowhere (ASKING's +OK).
struct redirect_catcher {
    adapter next;
    std::size_t skip = 0;
    bool caught = false;
    redirect_kind kind = redirect_kind::other;
    std::uint16_t slot = 0;
    std::string host;  // copied: the node's text lives only as long as the callback
    std::uint16_t port = 0;

    void operator()(const node& n) {
        if (n.depth == 0 && skip > 0) {
            --skip;
            return;
        }
        if (n.depth == 0 && is_error(n.data_type)) {
            const redirect r = parse_redirect(n.value);
            if (r.kind != redirect_kind::other) {
                caught = true;
                kind = r.kind;
                slot = r.slot;
                host.assign(r.host);
                port = r.port;
                return;
            }
        }
        next(n);
    }
};

// A node lost (or never reached) may have failed over: the map is worth asking again.
bool is_down(const link_event& e) noexcept {
    return e.what == link_event::kind::lost || e.what == link_event::kind::unreachable;
}

}  // namespace

struct cluster_client::link {
    link(asio::any_io_executor ex, connection_config c)
        : host{c.host}, port{c.port}, conn{std::move(ex), std::move(c)} {}
    std::string host;
    std::uint16_t port;
    connection conn;
};

cluster_client::cluster_client(asio::any_io_executor ex, cluster_config cfg)
    : ex_{std::move(ex)},
      cfg_{std::move(cfg)},
      links_{std::make_unique<std::unique_ptr<link>[]>(max_links)},
      refresh_timer_{ex_} {
    route_.fill(no_link);
}

cluster_client::~cluster_client() = default;

const connection& cluster_client::connection_of(std::size_t i) const noexcept {
    return links_[i]->conn;
}

std::uint16_t cluster_client::link_for(std::string_view host, std::uint16_t port) {
    const std::size_t n = link_count_.load(std::memory_order_relaxed);
    for (std::size_t i = 0; i < n; ++i) {
        if (links_[i]->port == port && links_[i]->host == host)
            return static_cast<std::uint16_t>(i);
    }
    if (n == max_links || stopping_) return no_link;
    connection_config c = cfg_.node;
    c.host = std::string(host);
    c.port = port;
    auto l = std::make_unique<link>(ex_, std::move(c));
    for (const script* s : preload_)
        l->conn.preload(*s);
    if (on_event_) {
        std::string name = (host.find(':') != std::string_view::npos ? "[" + std::string(host) + "]"
                                                                     : std::string(host)) +
                           ":" + std::to_string(port);
        l->conn.on_event([this, name = std::move(name)](const link_event& e) {
            on_event_(name, e);
            if (is_down(e)) want_refresh();
        });
    } else {
        l->conn.on_event([this](const link_event& e) {
            if (is_down(e)) want_refresh();
        });
    }
    if (started_) l->conn.start();
    links_[n] = std::move(l);
    link_count_.store(n + 1, std::memory_order_release);
    return static_cast<std::uint16_t>(n);
}

cluster_client::link* cluster_client::link_at(std::uint16_t i) noexcept {
    return i == no_link ? nullptr : links_[i].get();
}

cluster_client::link* cluster_client::route(std::uint16_t slot) noexcept {
    return link_at(slot < cluster_slots ? route_[slot] : no_link);
}

void cluster_client::start() {
    for (const connection_config& seed : cfg_.seeds)
        link_for(seed.host, seed.port);
    started_ = true;
    const std::size_t n = link_count_.load(std::memory_order_relaxed);
    for (std::size_t i = 0; i < n; ++i)
        links_[i]->conn.start();
    refresher_running_ = true;
    refresh_wanted_ = true;
    asio::co_spawn(ex_, refresher(), asio::detached);
}

void cluster_client::stop() {
    stopping_ = true;
    refresh_timer_.cancel();
    const std::size_t n = link_count_.load(std::memory_order_relaxed);
    for (std::size_t i = 0; i < n; ++i)
        links_[i]->conn.stop();
}

bool cluster_client::stopped() const noexcept {
    if (!stopping_ || refresher_running_) return false;
    const std::size_t n = link_count_.load(std::memory_order_relaxed);
    for (std::size_t i = 0; i < n; ++i) {
        if (!links_[i]->conn.stopped()) return false;
    }
    return true;
}

void cluster_client::want_refresh() noexcept {
    if (refresh_wanted_ || stopping_) return;
    refresh_wanted_ = true;
    // The refresher sleeps until its next periodic refresh; wake it, and it keeps to
    // refresh_min_interval itself.
    refresh_timer_.cancel();
}

asio::awaitable<void> cluster_client::refresher() {
    // Readiness follows the node connections, so it is looked at every 100 ms; the map is asked
    // for when wanted (at most every refresh_min_interval) and otherwise periodically.
    constexpr auto look = std::chrono::milliseconds(100);
    while (!stopping_) {
        const auto now = clock_type::now();
        const auto every = ready() ? cfg_.refresh_interval : cfg_.refresh_unready_interval;
        if (now >= last_refresh_ + every) refresh_wanted_ = true;
        const auto earliest = last_refresh_ + cfg_.refresh_min_interval;
        if (refresh_wanted_ && now >= earliest) {
            refresh_wanted_ = false;
            last_refresh_ = now;
            const bool ok = co_await refresh_once();
            if (!ok) stats_.refresh_failures.add();
            if (ok == topology_failing_ && on_topology_)
                on_topology_(ok ? std::string{} : last_error_);
            topology_failing_ = !ok;
            update_ready();
            continue;
        }
        update_ready();
        refresh_timer_.expires_at(
            std::min(now + look, refresh_wanted_ ? earliest : last_refresh_ + every));
        co_await refresh_timer_.async_wait(nothrow);  // want_refresh() cancels it
    }
    refresher_running_ = false;
}

// Asks the nodes, connected ones first, for the topology, until one gives a map it can trust.
asio::awaitable<bool> cluster_client::refresh_once() {
    const std::size_t n = link_count_.load(std::memory_order_relaxed);
    std::vector<link*> order;
    order.reserve(n);
    for (std::size_t i = 0; i < n; ++i)
        order.push_back(links_[i].get());
    std::stable_partition(order.begin(), order.end(),
                          [](const link* l) { return l->conn.connected(); });
    const auto timeout = std::max(cfg_.node.connect_timeout, std::chrono::milliseconds(500));
    for (link* l : order) {
        if (stopping_) co_return false;
        for (const topology_source source :
             {topology_source::cluster_shards, topology_source::cluster_slots}) {
            request req;
            req.push("CLUSTER", source == topology_source::cluster_shards ? "SHARDS" : "SLOTS");
            topology_builder builder{source};
            const std::error_code ec = co_await l->conn.exec(req, builder, timeout);
            if (ec) {
                last_error_ = l->host + ":" + std::to_string(l->port) + ": " + ec.message();
                break;  // this node is unreachable: the next one
            }
            auto map = builder.finish();
            if (map) {
                install(*map, *l);
                map_ = std::move(map);
                stats_.refreshes.add();
                co_return true;
            }
            last_error_ = l->host + ":" + std::to_string(l->port) + ": " +
                          builder.error().message() +
                          (builder.detail().empty() ? "" : " (" + builder.detail() + ")");
            // An error reply to CLUSTER SHARDS may be a server without it: try CLUSTER SLOTS.
            if (builder.error() != errc::topology_error_reply) break;
        }
    }
    co_return false;
}

void cluster_client::install(const slot_map& map, const link& answered) {
    // Each primary's link, made now if new; a node that does not know its own address is at the
    // host of the node that answered (as the cluster spec asks clients to assume).
    std::vector<std::uint16_t> link_of(map.nodes().size(), no_link);
    for (const cluster_shard& shard : map.shards()) {
        const cluster_node& node = map.nodes()[shard.primary];
        link_of[shard.primary] = link_for(
            node.host.empty() ? std::string_view{answered.host} : std::string_view{node.host},
            node.port);
    }
    for (std::size_t slot = 0; slot < cluster_slots; ++slot) {
        const std::uint16_t p = map.primary_index(static_cast<std::uint16_t>(slot));
        route_[slot] = p == slot_map::uncovered ? no_link : link_of[p];
    }
}

void cluster_client::update_ready() noexcept {
    // Ready when every slot routes to a node whose connection is up: each distinct link once.
    std::array<bool, max_links> seen{};
    bool ok = true;
    for (const std::uint16_t i : route_) {
        if (i == no_link) {
            ok = false;
            break;
        }
        if (seen[i]) continue;
        seen[i] = true;
        if (!links_[i]->conn.connected()) {
            ok = false;
            break;
        }
    }
    ready_.store(ok, std::memory_order_relaxed);
}

asio::awaitable<std::error_code> cluster_client::exec(const script& s, const request& req,
                                                      std::uint16_t slot, adapter a,
                                                      clock_type::time_point deadline) {
    return run(&s, req, slot, a, deadline);
}

asio::awaitable<std::error_code> cluster_client::exec(const request& req, std::uint16_t slot,
                                                      adapter a, clock_type::time_point deadline) {
    return run(nullptr, req, slot, a, deadline);
}

asio::awaitable<std::error_code> cluster_client::run(const script* s, const request& req,
                                                     std::uint16_t slot, adapter a,
                                                     clock_type::time_point deadline) {
    link* ask_target = nullptr;  // set by an ASK: the next attempt goes there, with ASKING
    std::error_code last = errc::timeout;
    for (int redirections = 0;; ++redirections) {
        // Nodes that disagree mid-migration may send a command back and forth: after a few
        // redirections, each one waits a little.
        if (redirections > 3) co_await pause(cfg_.retry_backoff, deadline);
        const auto now = clock_type::now();
        if (now >= deadline) co_return last;
        link* const l = ask_target != nullptr ? ask_target : route(slot);
        if (l == nullptr) {
            // No map yet, or the slot has no primary: wait for a refresh.
            if (map_) last = errc::cluster_unavailable;
            want_refresh();
            co_await pause(cfg_.retry_backoff, deadline);
            continue;
        }
        redirect_catcher catcher;
        catcher.next = a;
        std::error_code ec;
        if (ask_target != nullptr) {
            // ASKING and the command in one request, so one write: nothing else of this loop can
            // come between them on the connection. Made here: ASK happens only mid-migration.
            request asking;
            asking.push("ASKING");
            asking.write_raw(req.payload());
            for (std::size_t i = 0; i < req.commands(); ++i)
                asking.end_command();
            catcher.skip = 1;
            ask_target = nullptr;
            ec = co_await l->conn.exec(asking, catcher, deadline - now);
        } else if (s != nullptr) {
            ec = co_await l->conn.exec(*s, req, catcher, deadline - now);
        } else {
            ec = co_await l->conn.exec(req, catcher, deadline - now);
        }
        if (ec) {
            if (ec != errc::not_connected) co_return ec;
            // Never sent: the node is down (or its link is backing off). The map may be stale
            // (a failover): refresh, and try again within the deadline.
            stats_.node_errors.add();
            last = ec;
            want_refresh();
            co_await pause(cfg_.retry_backoff, deadline);
            continue;
        }
        if (!catcher.caught) co_return std::error_code{};
        const std::string_view host =
            catcher.host.empty() ? std::string_view{l->host} : std::string_view{catcher.host};
        switch (catcher.kind) {
            case redirect_kind::moved: {
                stats_.moved.add();
                const std::uint16_t target = link_for(host, catcher.port);
                if (target != no_link && catcher.slot < cluster_slots)
                    route_[catcher.slot] = target;
                want_refresh();
                break;
            }
            case redirect_kind::ask:
                stats_.ask.add();
                ask_target = link_at(link_for(host, catcher.port));
                break;
            case redirect_kind::tryagain:
                stats_.tryagain.add();
                co_await pause(cfg_.retry_backoff, deadline);
                break;
            case redirect_kind::clusterdown:
                stats_.clusterdown.add();
                last = errc::cluster_unavailable;
                want_refresh();
                co_await pause(cfg_.retry_backoff, deadline);
                break;
            case redirect_kind::other:
                break;
        }
    }
}

}  // namespace sluice::resp
