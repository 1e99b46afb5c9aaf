#include "core/batcher.hpp"

#include <asio/async_result.hpp>
#include <asio/post.hpp>
#include <asio/this_coro.hpp>
#include <asio/use_awaitable.hpp>
#include <optional>

#include "resp/cluster_client.hpp"
#include "resp/cluster_slot.hpp"
#include "resp/connection.hpp"
#include "resp/error.hpp"
#include "resp/script.hpp"

namespace sluice::core {

// One request waiting in a batch, kept in its own coroutine's frame.
struct batcher::pending {
    using resume_type = asio::async_result<asio::use_awaitable_t<>, void()>::handler_type;

    batch_outcome outcome;
    std::optional<resume_type> resume;  // a follower's; the leader never suspends on it
    pending* next = nullptr;
};

struct batcher::batch {
    batch_encoder encoder;
    resp::request request;
    pending* first = nullptr;
    pending* last = nullptr;
    std::chrono::steady_clock::time_point deadline;  // its first check's
    std::uint16_t slot = 0;                          // on a cluster: every key's
    // Its leader's wake-up while it waits for room on the wire.
    std::optional<pending::resume_type> wake;
};

batcher::batcher(resp::connection& redis, resp::cluster_client* cluster, const resp::script& decide,
                 std::size_t max_checks, std::size_t max_in_flight,
                 std::chrono::milliseconds timeout, shard_metrics& metrics)
    : redis_{redis},
      cluster_{cluster},
      decide_{decide},
      max_checks_{std::clamp<std::size_t>(max_checks, 1, max_batch_checks)},
      max_in_flight_{max_in_flight},
      timeout_{timeout},
      metrics_{metrics} {
    open_.reserve(cluster_ != nullptr ? max_batch_checks : 1);
}

batcher::~batcher() = default;

batcher::batch* batcher::acquire() {
    if (free_.empty()) {
        // Grows to the batches in flight at the shard's peak, then stays. The buffer is sized
        // for a full batch of typical checks at once, so that a batch larger than the ones
        // before it does not grow it while the shard is busy.
        all_.push_back(std::make_unique<batch>());
        all_.back()->request.reserve(256 + max_checks_ * 128);
        return all_.back().get();
    }
    batch* b = free_.back();
    free_.pop_back();
    return b;
}

namespace {

// A parked batch's leader's wake-up, taken out of the batch so it can be called or posted.
template <class Batch>
auto take_wake(Batch& b) {
    auto wake = std::move(*b.wake);
    b.wake.reset();
    return wake;
}

}  // namespace

batcher::batch* batcher::open_for(std::uint16_t slot) noexcept {
    for (batch* b : open_) {
        if (b->slot == slot) return b;
    }
    return nullptr;
}

bool batcher::is_open(const batch& b) const noexcept {
    return std::find(open_.begin(), open_.end(), &b) != open_.end();
}

void batcher::seal(batch& b) {
    const auto at = std::find(open_.begin(), open_.end(), &b);
    if (at != open_.end()) {
        *at = open_.back();
        open_.pop_back();
    }
    if (parked_ == &b) {
        // Sealed, it cannot grow: nothing left to wait for. Posted, not resumed here: the
        // request sealing it is still joining (or starting the next batch).
        parked_ = nullptr;
        asio::post(take_wake(b));
    }
}

asio::awaitable<batch_outcome> batcher::decide(std::span<batch_check> checks) {
    pending me;
    // On a cluster a batch holds one slot's checks: a client's keys share a hash tag, so the
    // first key names the slot of the whole request.
    std::uint16_t slot = 0;
    if (cluster_ != nullptr && !checks.empty() && checks[0].count > 0) {
        const batch_check& c = checks[0];
        slot = resp::key_slot(c.keys[c.order != nullptr ? c.order[0] : 0]);
    }
    batch* const joinable = open_for(slot);
    const bool leader = joinable == nullptr || !joinable->encoder.fits(checks, max_checks_);
    batch* mine = joinable;
    if (leader) {
        if (joinable != nullptr) seal(*joinable);
        mine = acquire();
        mine->slot = slot;
        mine->deadline = std::chrono::steady_clock::now() + timeout_;
        open_.push_back(mine);
    }
    batch& b = *mine;
    for (batch_check& c : checks)
        b.encoder.add(c);
    if (b.last != nullptr) b.last->next = &me;
    if (b.first == nullptr) b.first = &me;
    b.last = &me;
    if (b.encoder.checks() >= max_checks_) seal(b);  // full: the next check starts one
    if (!turn_marked_) {
        // Runs once everything ready in this turn has: counts the turn. Posted before the
        // leader's own wake-up below, so it runs first.
        turn_marked_ = true;
        asio::post(co_await asio::this_coro::executor, [this] {
            turn_marked_ = false;
            metrics_.loop_turns.add();
        });
    }

    if (!leader) {
        co_await asio::async_initiate<const asio::use_awaitable_t<>&, void()>(
            [&me](pending::resume_type resume) { me.resume.emplace(std::move(resume)); },
            asio::use_awaitable);
        co_return me.outcome;
    }
    if (is_open(b)) {
        // To the back of the loop's queue: the requests whose bytes arrived in this turn run
        // first, and join.
        co_await asio::post(co_await asio::this_coro::executor, asio::use_awaitable);
    }
    // Only a batch that can still grow waits: a full one gains nothing by it (so --batch-max 1
    // sends every check at once, however many are out).
    // On a cluster every slot's batch goes at the end of its turn: the bound is for one node.
    if (cluster_ == nullptr && is_open(b) && max_in_flight_ != 0 && in_flight_ >= max_in_flight_) {
        parked_ = &b;
        co_await asio::async_initiate<const asio::use_awaitable_t<>&, void()>(
            [&b](pending::resume_type wake) { b.wake.emplace(std::move(wake)); },
            asio::use_awaitable);
    }
    seal(b);
    const batch_outcome outcome = co_await send(b);
    // Resumed here, one after the other: each runs until it next waits (its answer written, or
    // its next check made) and comes back. Its frame may be gone then, so `next` is read first.
    for (pending* p = b.first; p != nullptr;) {
        pending* const next = p->next;
        p->outcome = outcome;
        if (p != &me) {
            auto resume = std::move(*p->resume);
            p->resume.reset();
            std::move(resume)();
        }
        p = next;
    }
    b.encoder.clear();
    b.first = b.last = nullptr;
    free_.push_back(&b);
    co_return outcome;
}

void batcher::wake_parked() {
    if (parked_ == nullptr || in_flight_ >= max_in_flight_) return;
    batch* const b = parked_;
    parked_ = nullptr;
    // Resumed here, so it is on the wire in the same write as the requests the replies just read
    // make. Its followers all joined in earlier turns and are suspended.
    take_wake (*b)();
}

asio::awaitable<batch_outcome> batcher::send(batch& b) {
    batch_outcome outcome;
    outcome.sent = std::chrono::steady_clock::now();
    if (outcome.sent >= b.deadline) {
        // It waited out its whole deadline behind a batch Redis did not answer.
        outcome.ec = resp::errc::timeout;
        co_return outcome;
    }
    b.encoder.encode(decide_, b.request);
    metrics_.observe_batch(b.encoder.checks());
    metrics_.batches_in_flight.store(++in_flight_, std::memory_order_relaxed);
    batch_reader reader{b.encoder.added()};
    if (cluster_ != nullptr) {
        outcome.ec = co_await cluster_->exec(decide_, b.request, b.slot, reader, b.deadline);
    } else {
        outcome.ec = co_await redis_.exec(decide_, b.request, reader, b.deadline - outcome.sent);
    }
    if (!outcome.ec) reader.finish();
    metrics_.batches_in_flight.store(--in_flight_, std::memory_order_relaxed);
    wake_parked();
    metrics_.decision_latency.observe(std::chrono::steady_clock::now() - outcome.sent,
                                      b.encoder.checks());
    co_return outcome;
}

}  // namespace sluice::core
