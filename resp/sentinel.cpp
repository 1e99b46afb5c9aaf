#include "resp/sentinel.hpp"

#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/experimental/as_tuple.hpp>
#include <asio/use_awaitable.hpp>

#include "resp/error.hpp"

namespace sluice::resp {

namespace {

constexpr auto nothrow = asio::experimental::as_tuple(asio::use_awaitable);

std::string address_of(const connection_config& c) {
    return to_string(primary_address{c.host, c.port});
}

}  // namespace

// One Sentinel: its connection, and the push handler reading the messages it sends.
struct sentinel_watcher::link {
    link(sentinel_watcher& w, asio::any_io_executor ex, connection_config c)
        : owner{w},
          name{address_of(c)},
          conn{std::move(ex), std::move(c)},
          listener{w.cfg_.master} {}

    void operator()(const node& n) {
        listener(n);
        if (listener.pending()) owner.on_switch(*this);
    }

    sentinel_watcher& owner;
    std::string name;
    connection conn;
    switch_master_listener listener;
};

sentinel_watcher::sentinel_watcher(asio::any_io_executor ex, sentinel_config cfg)
    : ex_{std::move(ex)}, cfg_{std::move(cfg)}, timer_{ex_} {
    for (connection_config c : cfg_.sentinels) {
        // Pushes are how the subscription's messages arrive; RESP2 would deliver them as
        // replies no request waits for.
        c.protocol = 3;
        c.db = 0;
        c.require_primary = false;
        auto l = std::make_unique<link>(*this, ex_, std::move(c));
        l->conn.set_push_handler(*l);
        l->conn.on_event([this](const link_event&) { wake(); });
        links_.push_back(std::move(l));
    }
}

sentinel_watcher::~sentinel_watcher() = default;

void sentinel_watcher::start() {
    for (auto& l : links_)
        l->conn.start();
    running_ = true;
    asio::co_spawn(ex_, run(), asio::detached);
}

void sentinel_watcher::stop() {
    stopping_ = true;
    timer_.cancel();
    for (auto& l : links_)
        l->conn.stop();
}

bool sentinel_watcher::stopped() const noexcept {
    if (!stopping_ || running_) return false;
    for (const auto& l : links_) {
        if (!l->conn.stopped()) return false;
    }
    return true;
}

void sentinel_watcher::wake() noexcept {
    wake_pending_ = true;
    timer_.cancel();
}

bool sentinel_watcher::subscribed() const noexcept {
    if (subscribed_ == none) return false;
    const connection& c = links_[subscribed_]->conn;
    // A link that came back since is a new one, without the subscription.
    return c.connected() && c.stats().connects.get() == subscribed_connects_;
}

void sentinel_watcher::found(const primary_address& a) {
    if (primary_ == a) return;
    primary_ = a;
    stats_.changes.add();
    if (on_primary_) on_primary_(a);
}

// Inside the Sentinel connection's reader: the owner's reaction must not touch that connection,
// and does not (it retargets the primary's).
void sentinel_watcher::on_switch(link& l) {
    if (auto a = l.listener.take()) {
        stats_.switches.add();
        found(*a);
    }
}

asio::awaitable<void> sentinel_watcher::run() {
    while (!stopping_) {
        wake_pending_ = false;
        if (!subscribed()) co_await subscribe();
        if (stopping_) break;
        const bool ok = co_await ask();
        if (stopping_) break;
        if (!ok) stats_.failures.add();
        if (ok == troubled_) {
            troubled_ = !ok;
            if (on_trouble_) on_trouble_(ok ? std::string{} : last_error_);
        }
        if (wake_pending_) continue;
        // A subscription that failed to come up is tried again soon, like a failed round.
        const bool healthy = ok && subscribed();
        timer_.expires_after(healthy ? cfg_.refresh_interval : cfg_.retry_interval);
        co_await timer_.async_wait(nothrow);  // wake() cancels it
    }
    running_ = false;
}

// On the first Sentinel that accepts it, connected ones first.
asio::awaitable<void> sentinel_watcher::subscribe() {
    subscribed_ = none;
    std::vector<std::size_t> order;
    for (std::size_t i = 0; i < links_.size(); ++i) {
        if (links_[i]->conn.connected()) order.push_back(i);
    }
    for (std::size_t i = 0; i < links_.size(); ++i) {
        if (!links_[i]->conn.connected()) order.push_back(i);
    }
    for (const std::size_t i : order) {
        if (stopping_) co_return;
        request req;
        push_subscribe_switch_master(req);
        connection& c = links_[i]->conn;
        const std::error_code ec = co_await c.exec(req, ignore, cfg_.ask_timeout);
        if (ec || !c.connected()) continue;
        subscribed_ = i;
        subscribed_connects_ = c.stats().connects.get();
        co_return;
    }
}

asio::awaitable<bool> sentinel_watcher::ask() {
    stats_.asks.add();
    std::vector<std::size_t> order;
    if (subscribed_ != none) order.push_back(subscribed_);
    for (std::size_t i = 0; i < links_.size(); ++i) {
        if (i != subscribed_) order.push_back(i);
    }
    std::string errors;
    bool all_unknown = true;
    for (const std::size_t i : order) {
        if (stopping_) co_return false;
        link& l = *links_[i];
        request req;
        push_get_master_addr(req, cfg_.master);
        master_addr_reader reader;
        std::error_code ec = co_await l.conn.exec(req, reader, cfg_.ask_timeout);
        if (!ec) ec = reader.error();
        if (!ec) {
            found(*reader.address());
            co_return true;
        }
        if (ec != errc::sentinel_unknown_master) all_unknown = false;
        errors += (errors.empty() ? "" : "; ") + l.name + ": " +
                  (ec == errc::sentinel_error_reply ? reader.error_text() : ec.message());
    }
    last_error_ = all_unknown
                      ? "no Sentinel knows a primary named '" + cfg_.master + "'"
                      : "no Sentinel gave the address of '" + cfg_.master + "' (" + errors + ")";
    co_return false;
}

}  // namespace sluice::resp
