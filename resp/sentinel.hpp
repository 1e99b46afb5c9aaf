#pragma once

#include <asio/any_io_executor.hpp>
#include <asio/awaitable.hpp>
#include <asio/steady_timer.hpp>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "resp/config.hpp"
#include "resp/connection.hpp"
#include "resp/counter.hpp"
#include "resp/sentinel_reply.hpp"

namespace sluice::resp {

struct sentinel_config {
    // The Sentinels, asked in this order; host, port and credentials of each (the Sentinel's
    // own, not the primary's). Other settings (timeouts, health check) apply as given.
    std::vector<connection_config> sentinels;
    std::string master;  // the name the Sentinels monitor the primary by
    // Asked again this often even without a reason: a +switch-master missed while no
    // subscription was up (between a Sentinel's loss and the next subscription) is caught here.
    std::chrono::milliseconds refresh_interval{5000};
    // While no Sentinel has said where the primary is, this often.
    std::chrono::milliseconds retry_interval{500};
    // How long one Sentinel may take to answer before the next is asked.
    std::chrono::milliseconds ask_timeout{1000};
};

struct sentinel_stats {
    counter asks;      // rounds of GET-MASTER-ADDR-BY-NAME
    counter failures;  // rounds no Sentinel answered with an address
    counter switches;  // +switch-master messages followed
    counter changes;   // times the primary's address changed (the first one included)
};

// Follows one primary managed by Sentinel, for one event loop: asks the Sentinels where it is,
// keeps a subscription to +switch-master on one of them, and tells its owner each new address.
//
//   start ─► SENTINEL GET-MASTER-ADDR-BY-NAME, each Sentinel in turn until one answers
//         ─► SUBSCRIBE +switch-master on one Sentinel (RESP3: messages arrive as pushes)
//   +switch-master for our name ─► on_primary(new address), at once
//   subscribed Sentinel lost, or back ─► subscribe again (elsewhere if need be), ask again
//   every refresh_interval ─► ask again (the safety net)
//
// The Sentinel we are subscribed to is asked first: its messages and its answers are one
// sequence, while another Sentinel may not have learnt of a failover yet and, asked first, would
// send us back to the old primary for a while.
//
// Not thread-safe: one per loop, like connection. stats() may be read from any thread.
class sentinel_watcher {
  public:
    sentinel_watcher(asio::any_io_executor ex, sentinel_config cfg);
    ~sentinel_watcher();
    sentinel_watcher(const sentinel_watcher&) = delete;
    sentinel_watcher& operator=(const sentinel_watcher&) = delete;

    // Each new address of the primary: the first, then one per change, never the same twice in
    // a row.
    void on_primary(std::function<void(const primary_address&)> f) { on_primary_ = std::move(f); }
    // When no Sentinel can say where the primary is (why), and when one can again (an empty
    // string): once per change, never per round.
    void on_trouble(std::function<void(const std::string&)> f) { on_trouble_ = std::move(f); }

    void start();
    // Stops the Sentinel connections and the loop; let the executor run until stopped().
    void stop();
    bool stopped() const noexcept;

    // The primary's last known address (loop thread only).
    const std::optional<primary_address>& primary() const noexcept { return primary_; }
    const sentinel_stats& stats() const noexcept { return stats_; }
    const std::string& last_error() const noexcept { return last_error_; }

  private:
    struct link;

    asio::awaitable<void> run();
    asio::awaitable<void> subscribe();
    asio::awaitable<bool> ask();
    bool subscribed() const noexcept;
    void found(const primary_address& a);
    void on_switch(link& l);
    void wake() noexcept;

    asio::any_io_executor ex_;
    sentinel_config cfg_;
    std::function<void(const primary_address&)> on_primary_;
    std::function<void(const std::string&)> on_trouble_;
    std::vector<std::unique_ptr<link>> links_;
    static constexpr std::size_t none = static_cast<std::size_t>(-1);
    std::size_t subscribed_ = none;          // the link holding the subscription
    std::uint64_t subscribed_connects_ = 0;  // its handshake count then: a new link has none
    std::optional<primary_address> primary_;
    sentinel_stats stats_;
    asio::steady_timer timer_;
    bool wake_pending_ = false;
    bool troubled_ = false;
    bool stopping_ = false;
    bool running_ = false;
    std::string last_error_;
};

}  // namespace sluice::resp
