#pragma once
// circuit::redis::store: breakers of many processes acting as one, through
// Redis. The fleet logic is fleet/engine.hpp's; this adds the Redis backend
// (redis/fleet_backend.hpp), the thread that syncs every sync_interval or
// as soon as something changed, and the subscriber that hears other
// processes' changes by pub/sub. No call of a shared breaker ever waits
// for any of it.

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <semaphore>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include <circuit/fleet/engine.hpp>
#include <circuit/redis/connection.hpp>
#include <circuit/redis/fleet_backend.hpp>
#include <circuit/redis/settings.hpp>

namespace circuit::redis {

/// Shares breakers (any circuit_breaker, or every peer of a
/// circuit_breaker_set) with the other processes that share breakers of the
/// same names under the same prefix. Owns its connections and threads (none
/// with `settings::manual`). Construction never fails because Redis is
/// down: the store keeps trying, with jittered backoff (100 ms to 2 s), and
/// the breakers work locally meanwhile.
///
/// Every member is thread-safe. The store may be destroyed before the
/// handles share() returned (it unshares everything); a handle must be
/// destroyed before the breaker or set it shares, and not from inside a
/// listener of a shared breaker (see fleet::sharing and fleet::engine for
/// what listeners on the store's thread may do).
class store {
 public:
  /// Throws `std::invalid_argument` naming the invalid member of `s`.
  explicit store(settings s = {})
      : settings_(checked(std::move(s))), backend_(settings_, !settings_.manual),
        engine_(backend_,
                {.sync_interval = settings_.sync_interval, .probe_lease = settings_.probe_lease, .store_id = {}},
                detail::settings_owner, [this] { wake(); }) {
    if (settings_.manual) return;
    syncer_ = std::thread([this] { sync_loop(); });
    if (settings_.subscribe) subscriber_ = std::thread([this] { subscribe_loop(); });
  }

  store(const store&) = delete;
  store& operator=(const store&) = delete;

  /// Stops the threads (a command in flight ends within command_timeout)
  /// and unshares everything.
  ~store() {
    {
      std::lock_guard lock(mutex_);
      stopping_ = true;
      detail::connection::interrupt(subscriber_fd_);
    }
    wakeup_.notify_all();
    syncs_due_.release();
    if (syncer_.joinable()) syncer_.join();
    if (subscriber_.joinable()) subscriber_.join();
    engine_.unshare_all();
  }

  /// Shares `b` (a breaker, or a set: every peer, present and future) until
  /// the returned handle is destroyed. Throws `std::invalid_argument` naming
  /// `name` when a breaker's name is empty, holds `{` or `}`, or is longer
  /// than 200 bytes (a set's peer with such a name is left unshared and
  /// listed in `status().unsynced`).
  template <class Shared>
  [[nodiscard]] fleet::sharing share(Shared& b) {
    return engine_.share(b);
  }

  /// Redis is reachable and the script loaded, as of the last exchange
  /// (false within command_timeout + sync_interval of Redis going away).
  [[nodiscard]] bool up() const noexcept { return backend_.up(); }

  /// Round trips, errors, reconnects, the last error, what is shared.
  [[nodiscard]] store_status status() const {
    store_status s;
    s.up = backend_.up();
    s.round_trips = backend_.round_trips();
    s.errors = backend_.errors();
    s.reconnects = backend_.reconnects();
    s.last_error = backend_.last_error();
    s.shared = engine_.shared();
    s.unsynced = engine_.unsynced();
    return s;
  }

  /// One sync now, on the calling thread (connecting first if needed, within
  /// the timeouts): what `manual` stores do instead of a thread. True when
  /// Redis answered.
  bool sync_now() { return engine_.sync_now().ok; }

  /// The settings it was made with.
  [[nodiscard]] const settings& configuration() const noexcept { return settings_; }

 private:
  static settings checked(settings s) {
    detail::validate(s);
    return s;
  }

  // From a caller's thread (a state change, a probe wanting a reservation)
  // or the subscriber: an early sync. Takes no lock: the caller never waits
  // for the store's thread (one release of a semaphore per burst of wakes).
  void wake() noexcept {
    if (settings_.manual) return;
    if (!woken_.exchange(true, std::memory_order_acq_rel)) syncs_due_.release();
  }

  void sync_loop() {
    using clock = std::chrono::steady_clock;
    auto next = clock::now();
    auto last_full = next;
    while (!stopping_.load(std::memory_order_acquire)) {
      (void)syncs_due_.try_acquire_until(next);
      if (stopping_.load(std::memory_order_acquire)) break;
      // Acquires what the wakers did before waking (their queued changes).
      (void)woken_.exchange(false, std::memory_order_acq_rel);
      // Without pub/sub every sync polls every breaker; with it, only those
      // with news, and every ten intervals all of them (a message can be
      // lost while the subscriber reconnects, and polling keeps idle keys).
      const auto start = clock::now();
      const bool all = !subscribed_.load(std::memory_order_acquire) ||
                       full_next_.exchange(false, std::memory_order_acq_rel) ||
                       start - last_full >= 10 * settings_.sync_interval;
      if (sync_guarded(all ? fleet::sync_scope::all : fleet::sync_scope::changed) && all) last_full = start;
      const auto done = clock::now();
      next = done + settings_.sync_interval;
      // At most one early sync per 2 ms, however often calls wake us.
      std::this_thread::sleep_until(done + std::chrono::milliseconds(2));
    }
  }

  // A sync on the store's thread: nothing may escape the thread. Out of
  // memory is the only exception a sync can meet; the next interval tries
  // again. False when it threw.
  bool sync_guarded(fleet::sync_scope scope) noexcept {
    try {
      (void)engine_.sync_now(scope);
      return true;
    } catch (...) {
      return false;
    }
  }

  // The subscriber. Out of memory (the only exception it can meet) drops
  // the connection, as an error does; it subscribes again after a delay.
  void subscribe_loop() noexcept {
    auto delay = std::chrono::milliseconds(100);
    while (true) {
      try {
        if (!subscribe_once(delay)) return;
      } catch (...) {
      }
      std::unique_lock lock(mutex_);
      wakeup_.wait_for(lock, delay, [&] { return stopping_.load(); });
      if (stopping_) return;
      delay = std::min(delay * 2, std::chrono::milliseconds(2000));
    }
  }

  // One subscription, until its connection fails; false when stopping.
  bool subscribe_once(std::chrono::milliseconds& delay) {
    {
      std::lock_guard lock(mutex_);
      if (stopping_) return false;
    }
    // Commands bounded while subscribing; then reads wait for messages
    // without a bound (the destructor interrupts them).
    detail::connection c(settings_, settings_.command_timeout);
    if (!c.ok()) return true;
    auto r = c.command({"SUBSCRIBE", fleet_backend::changes_channel(settings_.prefix)});
    if (!r || r->type != REDIS_REPLY_ARRAY) return true;
    // Listed for the destructor's interrupt while `c` is open, however
    // this ends (declared after `c`: unlisted before it closes).
    struct listed {
      store& s;
      ~listed() {
        std::lock_guard lock(s.mutex_);
        s.subscriber_fd_ = -1;
        s.subscribed_ = false;
      }
    };
    {
      std::lock_guard lock(mutex_);
      if (stopping_) return false;
      subscriber_fd_ = c.fd();
      subscribed_ = true;
      full_next_ = true;  // changes may have been missed while not subscribed
    }
    const listed unlist{*this};
    no_read_timeout(c);
    delay = std::chrono::milliseconds(100);
    wake();
    while (auto m = c.next_reply()) {
      if (m->type == REDIS_REPLY_ARRAY && m->elements == 3 && m->element[2]->type == REDIS_REPLY_STRING) {
        engine_.remote_change(std::string_view(m->element[2]->str, m->element[2]->len));
        wake();
      }
    }
    return !stopping_.load();
  }

  static void no_read_timeout(detail::connection& c) noexcept {
    const timeval none{};
    (void)::setsockopt(c.fd(), SOL_SOCKET, SO_RCVTIMEO, &none, sizeof none);
  }

  const settings settings_;
  std::mutex mutex_;
  std::condition_variable wakeup_;  // the subscriber's retry wait
  std::counting_semaphore<> syncs_due_{0};
  std::atomic<bool> woken_{false};
  std::atomic<bool> stopping_{false};
  int subscriber_fd_ = -1;
  std::atomic<bool> subscribed_{false};  // the subscriber listens now
  std::atomic<bool> full_next_{false};   // the next sync polls every breaker
  fleet_backend backend_;
  fleet::engine<fleet_backend> engine_;
  std::thread syncer_;
  std::thread subscriber_;
};

}  // namespace circuit::redis
