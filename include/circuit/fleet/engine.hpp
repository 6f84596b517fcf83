#pragma once
// The fleet engine: makes breakers of this process act as one breaker with
// the breakers of the same name in other processes, through a backend
// (fleet/backend.hpp). It knows nothing of Redis: <circuit/redis.hpp> runs
// one on its own thread against Redis, and tests run one per "process"
// against fleet::in_process_backend, calling sync_now() themselves.
//
// How a shared breaker is watched and steered, without touching its
// success path:
// - its state changes reach the engine through a listener of
//   `event_filter::state_changes` (the success path pays for listeners only
//   when one takes successes), which notes the change and wakes the engine;
// - its evidence is read at each sync as the growth of `metrics().total`;
// - a fleet gate (detail/fleet_gate.hpp) makes a half_open breaker probe
//   only with a reservation the engine obtained from the fleet;
// - what the fleet decided is applied with detail::breaker_access::
//   adopt_fleet_state(), announced with `transition_cause::fleet`, but for
//   the close that this process's own probe success completed
//   (`probes_succeeded` here: a change carries the cause of its maker).
// Nothing here runs on a caller's thread but the listener and the gate,
// which only touch atomics and call the owner's wake-up; the network is the
// backend's.

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <limits>
#include <map>
#include <memory>
#include <optional>
#include <mutex>
#include <random>
#include <stdexcept>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>

#include <circuit/circuit_breaker.hpp>
#include <circuit/circuit_breaker_set.hpp>
#include <circuit/detail/fleet_gate.hpp>
#include <circuit/detail/peer_watcher.hpp>
#include <circuit/event.hpp>
#include <circuit/failure_rate_window.hpp>
#include <circuit/fleet/backend.hpp>
#include <circuit/options.hpp>
#include <circuit/sliding_window.hpp>
#include <circuit/state.hpp>
#include <circuit/subscription.hpp>

namespace circuit::fleet {

/// How an engine syncs. Checked by the engine's constructor
/// (`std::invalid_argument` naming the member, prefixed by `owner`).
struct engine_settings {
  /// How often every shared breaker is synced (and the resolution of the
  /// fleet's evidence buckets); a reservation unused this long is given back.
  std::chrono::nanoseconds sync_interval = std::chrono::milliseconds(250);
  /// A fleet probe reservation expires after this (a crashed prober's too).
  std::chrono::nanoseconds probe_lease = std::chrono::seconds(10);
  /// Names this process in the backend's records; empty: a random one.
  std::string store_id = {};
};

/// Longest breaker name that can be shared (it is part of a key).
inline constexpr std::size_t max_shared_name = 200;

/// Throws `std::invalid_argument` naming `name` unless a breaker called
/// `name` can be shared: not empty, no `{` or `}`, at most 200 bytes.
inline void validate_shared_name(std::string_view name) {
  if (name.empty()) {
    circuit::detail::invalid("options", "name", "must not be empty to share a breaker with a fleet");
  }
  if (name.find_first_of("{}") != std::string_view::npos) {
    circuit::detail::invalid("options", "name", "must not contain '{' or '}' to share a breaker with a fleet");
  }
  if (name.size() > max_shared_name) {
    circuit::detail::invalid("options", "name", "must be at most 200 bytes to share a breaker with a fleet");
  }
}

/// The handle share() returns: while it lives, the breaker (or every peer
/// of the set) is shared; destroying it, or `unshare()`, stops that. It
/// must be destroyed before the breaker or set it shares; it may outlive
/// the engine or store (which unshares everything when it goes). Move-only.
/// Not thread-safe: one owner at a time.
///
/// Like destroying a subscription, unsharing waits for what is inside the
/// breaker's fleet hooks: a call settling a probe (with the listeners it
/// runs) and a fleet change being applied on the store's thread (with its
/// listeners). So do not unshare from inside a listener of a shared
/// breaker, nor while holding a lock that such a listener takes.
class [[nodiscard]] sharing {
 public:
  sharing() = default;
  sharing(sharing&& other) noexcept : undo_(std::move(other.undo_)) {}
  sharing& operator=(sharing&& other) noexcept {
    if (this != &other) {
      unshare();
      undo_ = std::move(other.undo_);
    }
    return *this;
  }
  sharing(const sharing&) = delete;
  sharing& operator=(const sharing&) = delete;
  ~sharing() { unshare(); }

  /// Stops sharing now; nothing when already stopped.
  void unshare() noexcept {
    if (auto u = std::exchange(undo_, nullptr)) u->run();
  }
  /// True while sharing.
  [[nodiscard]] explicit operator bool() const noexcept { return undo_ != nullptr; }

  /// (Internal) how sharing stops; runs at most once.
  struct undo {
    virtual ~undo() = default;
    virtual void run() noexcept = 0;
  };
  /// (Internal) made by the engine.
  explicit sharing(std::shared_ptr<undo> u) noexcept : undo_(std::move(u)) {}

 private:
  std::shared_ptr<undo> undo_;
};

namespace detail {

inline void require_positive_setting(std::chrono::nanoseconds d, const char* owner, const char* field) {
  if (d <= std::chrono::nanoseconds::zero()) circuit::detail::invalid(owner, field, "must be positive");
}

// One shared breaker, whatever its type: the gate, the change queue filled
// by the listener, and what the engine keeps between syncs.
class shared_entry : public circuit::detail::fleet_gate {
 public:
  shared_entry(const shared_entry&) = delete;
  shared_entry& operator=(const shared_entry&) = delete;
  ~shared_entry() override = default;

  // ---- Caller threads (the gate and the listener) ---------------------------

  bool take_probe() noexcept override {
    auto w = probes_.load(std::memory_order_acquire);
    while (reserved(w) != 0) {
      if (probes_.compare_exchange_weak(w, pack(reserved(w) - 1, in_flight(w) + 1, takes(w) + 1),
                                        std::memory_order_acq_rel)) {
        return true;
      }
    }
    wants_.fetch_add(1, std::memory_order_relaxed);
    wake();
    return false;
  }

  void probe_settled(outcome o) noexcept override {
    auto w = probes_.load(std::memory_order_acquire);
    while (in_flight(w) != 0 &&
           !probes_.compare_exchange_weak(w, pack(reserved(w), in_flight(w) - 1, takes(w)), std::memory_order_acq_rel)) {
    }
    if (o == outcome::success) {
      // Counted for the fleet generation it was reserved in: [generation:48][count:16].
      const auto generation = known_generation_.load(std::memory_order_acquire) & 0xffffffffffff;
      auto ok = probe_ok_.load(std::memory_order_acquire);
      for (;;) {
        const auto next = (ok >> 16) == generation ? ok + ((ok & 0xffff) != 0xffff ? 1 : 0) : (generation << 16) | 1;
        if (probe_ok_.compare_exchange_weak(ok, next, std::memory_order_acq_rel)) break;
      }
    }
    wake();
  }

  // The state_changes listener: a change made here (not adopted) is queued
  // for the fleet; the latest one wins.
  void heard(const event& e) noexcept {
    if (e.kind != event_kind::state_change || !e.cause) return;
    change_kind k = change_kind::none;
    switch (*e.cause) {
      case transition_cause::counter_tripped: k = change_kind::counter_tripped; break;
      case transition_cause::probe_failed:
      case transition_cause::probe_timed_out: k = change_kind::reopened; break;
      case transition_cause::tripped: k = change_kind::tripped; break;
      case transition_cause::isolated: k = change_kind::isolated; break;
      case transition_cause::disabled: k = change_kind::disabled; break;
      case transition_cause::reset: k = change_kind::reset; break;
      case transition_cause::probes_succeeded:  // the fleet closes it (adopted, reported as a probe success)
      case transition_cause::open_elapsed:      // derived by every process alike
      case transition_cause::fleet:             // adopted, not ours
        return;
    }
    // The change first, then its count: a sync that reads the count
    // before it takes the change either takes it or sees the count move.
    const auto generation = known_generation_.load(std::memory_order_acquire) & 0xffffffffffffff;
    change_.store((generation << 8) | static_cast<std::uint64_t>(k), std::memory_order_release);
    local_changes_.fetch_add(1, std::memory_order_acq_rel);
    wake();
  }

  // ---- The engine's thread ----------------------------------------------------

  // What a sync needs from the breaker (under use_mutex_).
  struct local_view {
    state now_state = state::closed;
    std::uint64_t successes = 0, failures = 0;
    std::int64_t open_left_ns = 0;
    std::int64_t now_ns = 0;
  };

  [[nodiscard]] const std::string& name() const noexcept { return name_; }
  [[nodiscard]] const breaker_rule& rule() const noexcept { return rule_; }

  // Builds this breaker's request (under use_mutex_); with `all` false,
  // only when it has something to tell or to learn: evidence, a change, a
  // probe, a state other than closed, a remote change heard of.
  std::optional<sync_request> gather(std::int64_t sync_interval_ns,
                                     const std::function<std::uint64_t()>& next_batch_id, bool all) {
    const auto v = local();
    gathered_at_ns_ = v.now_ns;
    sync_request q;
    q.name = name_;
    q.rule = rule_;
    q.local_state = v.now_state;
    q.local_open_left_ns = v.open_left_ns;

    evidence_batch b;
    b.failures = v.failures - last_failures_;
    b.successes = v.successes - last_successes_;
    last_failures_ = v.failures;
    last_successes_ = v.successes;
    changes_at_gather_ = local_changes_.load(std::memory_order_acquire);
    const auto change = change_.exchange(0, std::memory_order_acq_rel);
    b.change = static_cast<change_kind>(change & 0xff);
    b.change_generation = change >> 8;
    const auto ok = probe_ok_.exchange(0, std::memory_order_acq_rel);
    b.probe_successes = ok & 0xffff;
    b.probe_generation = ok >> 16;
    if (b.failures != 0 || b.successes != 0 || b.change != change_kind::none || b.probe_successes != 0) {
      add_batch(b, v.now_ns, next_batch_id);
    }
    // Out of the window, a batch's evidence no longer counts anywhere;
    // memory stays bounded by dropping the oldest beyond max_batches.
    for (auto& u : unacked_) {
      if (v.now_ns - u.gathered_ns >= rule_.window_ns) u.batch.failures = u.batch.successes = 0;
    }
    std::erase_if(unacked_, [](const pending_batch& u) {
      return u.batch.failures == 0 && u.batch.successes == 0 && u.batch.change == change_kind::none &&
             u.batch.probe_successes == 0;
    });
    while (unacked_.size() > max_batches) unacked_.pop_front();
    for (const auto& u : unacked_) {
      auto sent = u.batch;
      sent.age_ns = std::max<std::int64_t>(0, v.now_ns - u.gathered_ns);
      q.batches.push_back(sent);
    }

    // Probe slots: keep what is held by probes in flight, ask for what
    // refused calls wanted, give back a reservation unused for one interval
    // (locally first, so that no call takes it once the fleet has it back).
    const auto wanted = wants_.exchange(0, std::memory_order_acq_rel);
    const bool probing = v.now_state == state::half_open;
    const bool fresh = v.now_ns - granted_at_ns_ < sync_interval_ns;
    auto w = probes_.load(std::memory_order_acquire);
    while ((!probing || !fresh) && reserved(w) != 0 &&
           !probes_.compare_exchange_weak(w, pack(0, in_flight(w), takes(w)), std::memory_order_acq_rel)) {
    }
    if (!probing || !fresh) w = pack(0, in_flight(w), takes(w));
    const std::uint32_t limit = std::min<std::uint32_t>(rule_.half_open_max_calls, max_slots);
    const std::uint32_t ask = probing ? std::max<std::uint32_t>(reserved(w), std::min<std::uint32_t>(wanted, limit)) : 0;
    q.probes_held = std::min<std::uint32_t>(limit, in_flight(w) + ask);
    in_flight_at_gather_ = in_flight(w);
    takes_at_gather_ = takes(w);
    if (!probing) granted_at_ns_ = std::numeric_limits<std::int64_t>::min() / 2;
    const bool heard = remote_change_.exchange(false, std::memory_order_acq_rel);
    const bool needed = heard || !known_ || !unacked_.empty() || q.probes_held != 0 || reserved(w) != 0 ||
                        v.now_state != state::closed;
    if (!all && !needed) return std::nullopt;
    return q;
  }

  // Another process changed this breaker (a backend's notification): the
  // next sync includes it.
  void remote_change() noexcept { remote_change_.store(true, std::memory_order_release); }

  // The sync failed: whatever was sent may or may not have counted; it is
  // all sent again, with the same batch ids.
  void sync_failed(bool maybe_applied) noexcept {
    if (!maybe_applied) return;
    for (auto& u : unacked_) u.sent = true;
  }

  // Applies the fleet's reply (under use_mutex_).
  void apply(const sync_reply& r) {
    for (auto& u : unacked_) u.sent = true;
    // The fleet generation of our latest probe success the server counted:
    // if it closed the fleet, that close is ours (adopt()).
    for (const auto& u : unacked_) {
      if (r.usable && u.batch.id <= r.acknowledged && u.batch.probe_successes != 0) {
        counted_probe_generation_ = std::max(counted_probe_generation_, u.batch.probe_generation);
      }
    }
    std::erase_if(unacked_, [&](const pending_batch& u) { return u.batch.id <= r.acknowledged; });
    {
      std::lock_guard lock(report_mutex_);
      unsynced_ = !r.usable;
      error_ = r.error;
      if (r.usable) last_reply_ = r;
    }
    if (!r.usable) return;
    const bool changed_here = local_changes_.load(std::memory_order_acquire) != changes_at_gather_;
    // A local change since the request: the next sync carries it, and the
    // reply may not reflect it yet.
    if (changed_here) return;
    adopt(r);
    known_ = true;
    known_generation_.store(r.generation, std::memory_order_release);
    // The reservation this store now holds, less what is in flight.
    auto w = probes_.load(std::memory_order_acquire);
    for (;;) {
      std::uint32_t keep = 0;
      if (r.fleet_state == state::half_open && current() == state::half_open) {
        const auto taken = takes(w) - takes_at_gather_;
        const std::int64_t left = static_cast<std::int64_t>(r.probes_granted) - in_flight_at_gather_ - taken;
        keep = static_cast<std::uint32_t>(std::clamp<std::int64_t>(left, 0, max_slots));
      }
      if (probes_.compare_exchange_weak(w, pack(keep, in_flight(w), takes(w)), std::memory_order_acq_rel)) {
        if (keep > reserved(w)) granted_at_ns_ = gathered_at_ns_;
        break;
      }
    }
  }

  // Evidence counts from when sharing began: what the breaker saw before
  // is its own.
  void prime() {
    const auto v = local();
    last_failures_ = v.failures;
    last_successes_ = v.successes;
  }

  // What the last reply said, for status reports: these take only
  // report_mutex_, so a listener on the engine's thread may ask.
  [[nodiscard]] bool unsynced() const {
    std::lock_guard lock(report_mutex_);
    return unsynced_;
  }
  [[nodiscard]] std::string error() const {
    std::lock_guard lock(report_mutex_);
    return error_;
  }
  [[nodiscard]] std::optional<sync_reply> last_reply() const {
    std::lock_guard lock(report_mutex_);
    return last_reply_;
  }
  [[nodiscard]] std::size_t unacknowledged() const noexcept { return unacked_.size(); }

  // Stops everything that reaches the breaker (under use_mutex_).
  virtual void detach() noexcept = 0;

  std::mutex use_mutex_;  // the engine's thread while it touches the breaker; detach
  std::atomic<bool> attached_{true};

 protected:
  shared_entry(std::string name, breaker_rule rule, std::function<void()> wake)
      : name_(std::move(name)), rule_(rule), wake_(std::move(wake)) {}

  virtual local_view local() const = 0;
  [[nodiscard]] virtual state current() const = 0;
  virtual void adopt_state(state to, std::int64_t open_left_ns, bool grew, transition_cause cause) = 0;

 private:
  static constexpr std::size_t max_batches = 64;
  static constexpr std::uint32_t max_slots = 0xffff;

  // The probe word: [reserved:16][in flight:16][takes:32], one atomic so that
  // a reservation is taken, and given back, exactly once.
  static constexpr std::uint64_t pack(std::uint64_t r, std::uint64_t f, std::uint64_t t) noexcept {
    return (r << 48) | ((f & 0xffff) << 32) | (t & 0xffffffff);
  }
  static constexpr std::uint32_t reserved(std::uint64_t w) noexcept { return static_cast<std::uint32_t>(w >> 48); }
  static constexpr std::uint32_t in_flight(std::uint64_t w) noexcept {
    return static_cast<std::uint32_t>((w >> 32) & 0xffff);
  }
  static constexpr std::uint32_t takes(std::uint64_t w) noexcept { return static_cast<std::uint32_t>(w); }

  struct pending_batch {
    evidence_batch batch;
    std::int64_t gathered_ns = 0;
    bool sent = false;  // sent at least once: its id must not change
  };

  void add_batch(const evidence_batch& b, std::int64_t now, const std::function<std::uint64_t()>& next_id) {
    // A batch never sent can take more evidence under its id.
    if (!unacked_.empty() && !unacked_.back().sent) {
      auto& last = unacked_.back().batch;
      last.failures += b.failures;
      last.successes += b.successes;
      if (b.change != change_kind::none) {
        last.change = b.change;
        last.change_generation = b.change_generation;
      }
      if (b.probe_successes != 0) {
        if (last.probe_generation != b.probe_generation) last.probe_successes = 0;
        last.probe_successes += b.probe_successes;
        last.probe_generation = b.probe_generation;
      }
      return;
    }
    pending_batch p{b, now, false};
    p.batch.id = next_id();
    unacked_.push_back(p);
  }

  // What the fleet says, applied to the local breaker (see the top of
  // this file): another process's change always; our own only to take the
  // server's open-until; and whatever makes the states disagree.
  void adopt(const sync_reply& r) {
    const auto local_state = current();
    const auto is_open = [](state s) { return s == state::open || s == state::half_open; };
    const bool compatible = local_state == r.fleet_state || (is_open(local_state) && is_open(r.fleet_state));
    const bool new_generation = !known_ || r.generation != known_generation_.load(std::memory_order_acquire);
    bool take = !compatible;
    if (new_generation && compatible) {
      if (r.by_requester || !known_) {
        take = r.fleet_state == state::open && local_state == state::open;  // the server's open-until
      } else {
        take = !(r.fleet_state == state::isolated || r.fleet_state == state::disabled);
      }
    }
    if (!take) return;
    if (is_open(r.fleet_state)) {
      adopt_state(state::open, r.open_left_ns, r.backoff_grew, transition_cause::fleet);
      return;
    }
    // A change is announced with the cause of the process that made it: the
    // close that our own counted probe success completed (the server
    // closes a half_open spell of generation g into g + 1, made by the
    // requester) is `probes_succeeded` here, `fleet` everywhere else.
    const bool closed_by_our_probe = r.fleet_state == state::closed && r.by_requester &&
                                     local_state == state::half_open && counted_probe_generation_ != 0 &&
                                     counted_probe_generation_ + 1 == r.generation;
    adopt_state(r.fleet_state, 0, false,
                closed_by_our_probe ? transition_cause::probes_succeeded : transition_cause::fleet);
  }

  void wake() noexcept {
    if (wake_) wake_();
  }

  const std::string name_;
  const breaker_rule rule_;
  const std::function<void()> wake_;

  std::atomic<std::uint64_t> probes_{0};
  std::atomic<std::uint32_t> wants_{0};
  std::atomic<std::uint64_t> known_generation_{0};
  std::atomic<bool> remote_change_{false};

  // Written on caller threads, lock-free: the latest local change
  // [fleet generation:56][change_kind:8], how many there were, and probe
  // successes [fleet generation:48][count:16].
  std::atomic<std::uint64_t> change_{0};
  std::atomic<std::uint64_t> local_changes_{0};
  std::atomic<std::uint64_t> probe_ok_{0};

  // The engine's thread only (but prime(), before sharing begins).
  bool known_ = false;
  std::uint64_t last_failures_ = 0, last_successes_ = 0;
  std::uint64_t changes_at_gather_ = 0;
  std::uint32_t in_flight_at_gather_ = 0, takes_at_gather_ = 0;
  std::uint64_t counted_probe_generation_ = 0;  // see apply()
  std::int64_t granted_at_ns_ = std::numeric_limits<std::int64_t>::min() / 2;
  std::int64_t gathered_at_ns_ = 0;
  std::deque<pending_batch> unacked_;
  mutable std::mutex report_mutex_;  // never held while calling out
  bool unsynced_ = false;
  std::string error_;
  std::optional<sync_reply> last_reply_;
};

// Durations of any clock, as nanoseconds since its epoch.
template <class TimePoint>
[[nodiscard]] std::int64_t since_epoch_ns(TimePoint t) noexcept {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count();
}

template <class Breaker>
[[nodiscard]] breaker_rule rule_for(const Breaker& b, const engine_settings& s) {
  breaker_rule r;
  using counter = typename Breaker::counter_type;
  const auto interval = s.sync_interval.count();
  const auto bucket_for = [&](std::int64_t window) {
    return std::max<std::int64_t>(interval, window / 1024 + (window % 1024 != 0 ? 1 : 0));
  };
  if constexpr (std::is_same_v<counter, sliding_window>) {
    r.kind = rule_kind::failure_count;
    r.max_failures = b.counter().max_failures;
    r.window_ns = b.counter().window.count();
    r.bucket_ns = bucket_for(r.window_ns);
  } else if constexpr (std::is_same_v<counter, failure_rate_window>) {
    r.kind = rule_kind::failure_rate;
    r.failure_rate = b.counter().failure_rate;
    r.minimum_calls = b.counter().minimum_calls;
    r.window_ns = b.counter().window.count();
    r.bucket_ns = bucket_for(r.window_ns);
  } else {
    r.kind = rule_kind::state_only;  // consecutive_failures, net_failures, count-based: evidence stays local
    r.bucket_ns = 1;
  }
  std::visit(
      [&](const auto& d) {
        if constexpr (std::is_same_v<std::decay_t<decltype(d)>, fixed>) {
          r.open_initial_ns = r.open_max_ns = d.duration.count();
          r.open_multiplier = 1.0;
        } else {
          r.open_initial_ns = d.initial.count();
          r.open_multiplier = d.multiplier;
          r.open_max_ns = d.max.count();
        }
      },
      b.options().open_for);
  r.half_open_max_calls = b.options().half_open_max_calls;
  r.success_threshold = b.options().success_threshold;
  r.probe_lease_ns = s.probe_lease.count();
  // Idle: nobody has synced it for a window (a minute at least), a lease
  // and a few intervals, after the end of any open spell.
  r.idle_ttl_ns = std::max<std::int64_t>(r.window_ns, std::int64_t{60} * 1000000000) + r.probe_lease_ns + 4 * interval;
  return r;
}

template <class Breaker>
class breaker_entry final : public shared_entry {
 public:
  breaker_entry(Breaker& b, const engine_settings& s, std::function<void()> wake)
      : shared_entry(std::string(b.name()), rule_for(b, s), std::move(wake)), breaker_(b) {}

  // After construction, once the entry is owned by a shared_ptr.
  void attach() {
    prime();
    subscription_ = breaker_.on_event([this](const event& e) { heard(e); }, event_filter::state_changes);
    circuit::detail::breaker_access::attach_fleet(breaker_, static_cast<circuit::detail::fleet_gate*>(this));
  }

  void detach() noexcept override {
    if (!attached_) return;
    attached_ = false;
    circuit::detail::breaker_access::attach_fleet(breaker_, static_cast<circuit::detail::fleet_gate*>(nullptr));
    subscription_.reset();
  }

  [[nodiscard]] const Breaker* breaker() const noexcept { return &breaker_; }

 protected:
  local_view local() const override {
    const auto m = breaker_.metrics();
    local_view v;
    v.now_state = m.state;
    v.successes = m.total.successes;
    v.failures = m.total.failures;
    v.now_ns = since_epoch_ns(breaker_.clock().now());
    if (m.open_until) v.open_left_ns = std::max<std::int64_t>(0, since_epoch_ns(*m.open_until) - v.now_ns);
    return v;
  }
  [[nodiscard]] state current() const override { return breaker_.current_state(); }
  void adopt_state(state to, std::int64_t open_left_ns, bool grew, transition_cause cause) override {
    (void)circuit::detail::breaker_access::adopt_fleet_state(breaker_, to, std::chrono::nanoseconds(open_left_ns),
                                                             grew, cause);
  }

 private:
  Breaker& breaker_;
  subscription subscription_;
};

// What all shared breakers of one engine share: the list, and the wake-up.
struct engine_core {
  std::mutex mutex;
  std::vector<std::shared_ptr<shared_entry>> entries;
  std::vector<std::string> refused;  // set peers that could not be shared (their names)
  std::function<void()> wake;  // set once, before anything is shared
  std::map<std::uint64_t, std::weak_ptr<sharing::undo>> undos;
  std::uint64_t next_undo = 1;

  void add(std::shared_ptr<shared_entry> e) {
    std::lock_guard lock(mutex);
    entries.push_back(std::move(e));
  }
  // A detached entry leaves the list; the last owner frees it (no caller
  // is inside its gate or listener once detached).
  void remove(const shared_entry* e) noexcept {
    std::shared_ptr<shared_entry> gone;  // freed after the unlock
    std::lock_guard lock(mutex);
    const auto i = std::find_if(entries.begin(), entries.end(), [&](const auto& x) { return x.get() == e; });
    if (i == entries.end()) return;
    gone = std::move(*i);
    entries.erase(i);
  }
  [[nodiscard]] std::vector<std::shared_ptr<shared_entry>> snapshot() {
    std::lock_guard lock(mutex);
    return entries;
  }
};

// Stops one entry: the engine's thread is done with the breaker afterwards,
// and no caller is inside its gate (attach_fleet(nullptr) waits for them),
// so it may be freed at once. Never from inside the gate or a listener of
// the breaker, nor under a lock that a caller inside the gate may hold.
inline void retire(engine_core& core, const std::shared_ptr<shared_entry>& e) noexcept {
  {
    std::lock_guard use(e->use_mutex_);
    e->detach();
  }
  core.remove(e.get());
}

// The undo of sharing one breaker.
struct breaker_undo final : sharing::undo {
  std::weak_ptr<engine_core> core;
  std::shared_ptr<shared_entry> entry;
  std::uint64_t id = 0;
  std::once_flag once;

  void run() noexcept override {
    std::call_once(once, [&] {
      if (auto c = core.lock()) {
        retire(*c, entry);
        std::lock_guard lock(c->mutex);
        c->undos.erase(id);
      } else {
        std::lock_guard use(entry->use_mutex_);
        entry->detach();
      }
      entry.reset();
    });
  }
};

// Every peer of a set, present and future (detail::set_access::watch).
template <class Set>
class set_sharing final : public sharing::undo, public circuit::detail::peer_watcher<typename Set::breaker_type> {
  using breaker = typename Set::breaker_type;

 public:
  set_sharing(Set& s, std::weak_ptr<engine_core> core, engine_settings settings)
      : set_(s), core_(std::move(core)), settings_(std::move(settings)) {}

  void start() { circuit::detail::set_access::watch(set_, this); }

  // Under the set's writer lock: no blocking beyond short mutexes, no call
  // into the set.
  void added(breaker& b) noexcept override {
    auto c = core_.lock();
    if (!c) return;
    std::shared_ptr<breaker_entry<breaker>> e;
    try {
      validate_shared_name(b.name());
      e = std::make_shared<breaker_entry<breaker>>(b, settings_, c->wake);
      e->attach();
      {
        std::lock_guard lock(mutex_);
        peers_.emplace(&b, e);
      }
      c->add(e);
      if (c->wake) c->wake();
    } catch (...) {
      // Out of memory half-way: no gate may stay attached to an entry
      // nobody syncs (or that is freed).
      if (e) {
        {
          std::lock_guard lock(mutex_);
          peers_.erase(&b);
        }
        std::lock_guard use(e->use_mutex_);
        e->detach();
      }
      try {
        std::lock_guard lock(c->mutex);
        if (c->refused.size() < 1000) c->refused.emplace_back(b.name());
      } catch (...) {
        // Out of memory: not listed.
      }
    }
  }

  void removing(breaker& b) noexcept override {
    std::shared_ptr<breaker_entry<breaker>> e;
    {
      std::lock_guard lock(mutex_);
      const auto i = peers_.find(&b);
      if (i == peers_.end()) return;
      e = std::move(i->second);
      peers_.erase(i);
    }
    if (auto c = core_.lock()) {
      retire(*c, e);
    } else {
      std::lock_guard use(e->use_mutex_);
      e->detach();
    }
  }

  void run() noexcept override {
    std::call_once(once_, [&] {
      circuit::detail::set_access::unwatch(set_, this);
      std::map<const breaker*, std::shared_ptr<breaker_entry<breaker>>> peers;
      {
        std::lock_guard lock(mutex_);
        peers.swap(peers_);
      }
      auto c = core_.lock();
      for (auto& [b, e] : peers) {
        if (c) {
          retire(*c, e);
        } else {
          std::lock_guard use(e->use_mutex_);
          e->detach();
        }
      }
      if (c) {
        std::lock_guard lock(c->mutex);
        c->undos.erase(id);
      }
    });
  }

  std::uint64_t id = 0;

 private:
  Set& set_;
  std::weak_ptr<engine_core> core_;
  engine_settings settings_;
  std::mutex mutex_;
  std::map<const breaker*, std::shared_ptr<breaker_entry<breaker>>> peers_;
  std::once_flag once_;
};

template <class T>
struct is_breaker_set : std::false_type {};
template <class B, class K, class H>
struct is_breaker_set<circuit_breaker_set<B, K, H>> : std::true_type {};

[[nodiscard]] inline std::string random_store_id() {
  std::random_device rd;
  std::mt19937_64 gen((static_cast<std::uint64_t>(rd()) << 32) ^ rd());
  static constexpr char hex[] = "0123456789abcdef";
  std::string id(16, '0');
  auto v = gen();
  for (auto& ch : id) {
    ch = hex[v & 15];
    v >>= 4;
  }
  return id;
}

}  // namespace detail

/// Which shared breakers a sync includes (engine::sync_now()).
enum class sync_scope : std::uint8_t { all, changed };

/// How the engine's syncs went so far.
struct engine_counts {
  std::uint64_t syncs = 0;   ///< sync_now() calls that reached the backend
  std::uint64_t errors = 0;  ///< of which failed
  std::string last_error;    ///< of the latest failure, empty when none
};

/// The fleet logic for one process (one store): shares breakers and sets
/// through `Backend` (a circuit::fleet::backend). It has no thread: its
/// owner calls `sync_now()` (a test, or a store's thread), and may pass a
/// wake-up to the constructor. Every member is thread-safe; `sync_now()`
/// runs one sync at a time. `Backend` must outlive the engine.
///
/// The fleet's changes are applied, and their events announced, on the
/// thread that runs `sync_now()`, announced with `transition_cause::fleet`
/// (or `probes_succeeded` in the process whose probe success completed the
/// fleet's count). A listener of a shared breaker may call `shared()`,
/// `unsynced()`, `fleet_view()` and `counts()` (and a store's `status()`
/// and `up()`), but not `sync_now()`, `share()` or an unshare; and a
/// listener of a shared set's peer must not erase peers of that set or
/// make new ones (which may evict one): a peer going away waits for the
/// engine's thread to be done with it, which may be running that listener.
template <class Backend>
  requires backend<Backend>
class engine {
 public:
  /// Throws `std::invalid_argument` naming the member of `settings` that
  /// is invalid (prefixed with `owner`, e.g. "settings.sync_interval").
  /// `wake` (optional) is called, on a caller's thread, whenever a shared
  /// breaker has something to tell the fleet (a state change, a probe that
  /// wants a reservation); it must not block.
  explicit engine(Backend& b, engine_settings settings = {}, const char* owner = "engine_settings",
                  std::function<void()> wake = {})
      : backend_(b), settings_(checked(std::move(settings), owner)), core_(std::make_shared<detail::engine_core>()) {
    if (settings_.store_id.empty()) settings_.store_id = detail::random_store_id();
    core_->wake = std::move(wake);
    // Batch ids grow across restarts of a process that keeps its store id.
    batch_ids_ = static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::microseconds>(
                                                std::chrono::system_clock::now().time_since_epoch())
                                                .count());
  }

  engine(const engine&) = delete;
  engine& operator=(const engine&) = delete;

  /// Unshares everything that is still shared.
  ~engine() { unshare_all(); }

  /// Shares `b` (any circuit_breaker), or every peer of a
  /// circuit_breaker_set, present and future, until the returned handle
  /// goes. Throws `std::invalid_argument` naming `name` for a breaker whose
  /// name cannot be shared (validate_shared_name); a set's peer with such a
  /// name is not shared and is listed by `refused()`. Sharing a breaker
  /// twice (by two engines) is not supported.
  template <class Shared>
  [[nodiscard]] sharing share(Shared& s) {
    if constexpr (detail::is_breaker_set<Shared>::value) {
      auto u = std::make_shared<detail::set_sharing<Shared>>(s, core_, settings_);
      register_undo(u, u->id);
      u->start();
      return sharing(std::move(u));
    } else {
      validate_shared_name(s.name());
      auto e = std::make_shared<detail::breaker_entry<Shared>>(s, settings_, core_->wake);
      auto u = std::make_shared<detail::breaker_undo>();
      u->core = core_;
      u->entry = e;
      register_undo(u, u->id);  // before the attach: a throw leaves nothing attached
      try {
        e->attach();
        core_->add(std::move(e));
      } catch (...) {
        u->run();  // detaches and forgets it
        throw;
      }
      wake();
      return sharing(std::move(u));
    }
  }

  /// One sync: gather, one backend sync, apply. `sync_scope::all` syncs
  /// every shared breaker (a poll: what a process without change
  /// notifications needs every interval); `sync_scope::changed` only those
  /// with something to tell or learn (new evidence or a local change, a
  /// probe, a state other than closed, a `remote_change()`), for a backend
  /// that notifies. Never throws for the backend's failures (they are
  /// counted).
  sync_outcome sync_now(sync_scope scope = sync_scope::all) {
    std::lock_guard one_at_a_time(sync_mutex_);
    const auto entries = core_->snapshot();
    requests_.clear();
    active_.clear();
    const auto next_id = std::function<std::uint64_t()>([this] { return ++batch_ids_; });
    for (const auto& e : entries) {
      std::lock_guard use(e->use_mutex_);
      if (!e->attached_) continue;
      auto q = e->gather(settings_.sync_interval.count(), next_id, scope == sync_scope::all);
      if (!q) continue;
      requests_.push_back(std::move(*q));
      active_.push_back(e);
    }
    replies_.clear();
    sync_outcome o = backend_.sync(settings_.store_id, requests_, replies_);
    {
      std::lock_guard lock(counts_mutex_);
      ++counts_.syncs;
      if (!o.ok) {
        ++counts_.errors;
        counts_.last_error = o.error;
      }
    }
    if (!o.ok || replies_.size() != active_.size()) {
      for (const auto& e : active_) {
        std::lock_guard use(e->use_mutex_);
        if (e->attached_) e->sync_failed(o.maybe_applied || o.ok);
      }
      if (o.ok) o = {.ok = false, .maybe_applied = true, .error = "backend returned a wrong number of replies"};
      active_.clear();  // an entry unshared meanwhile is freed now, not at the next sync
      return o;
    }
    for (std::size_t i = 0; i < active_.size(); ++i) {
      std::lock_guard use(active_[i]->use_mutex_);
      if (active_[i]->attached_) active_[i]->apply(replies_[i]);
    }
    active_.clear();
    return o;
  }

  /// A backend heard that another process changed the breaker called
  /// `name`: the next `sync_scope::changed` sync includes it. Thread-safe,
  /// does not block on a sync.
  void remote_change(std::string_view name) {
    for (const auto& e : core_->snapshot()) {
      if (e->name() == name) e->remote_change();
    }
  }

  /// Breakers shared now.
  [[nodiscard]] std::size_t shared() const {
    std::lock_guard lock(core_->mutex);
    return core_->entries.size();
  }

  /// Names of shared breakers whose record could not be used at the last
  /// sync (they go on locally), then of set peers that could not be shared.
  [[nodiscard]] std::vector<std::string> unsynced() const {
    std::vector<std::string> out;
    for (const auto& e : core_->snapshot()) {
      if (e->attached_ && e->unsynced()) out.push_back(e->name());
    }
    std::lock_guard lock(core_->mutex);
    out.insert(out.end(), core_->refused.begin(), core_->refused.end());
    return out;
  }

  /// The fleet's view of the shared breaker named `name` at the last sync
  /// (totals, window, generation), if it is shared and has synced.
  [[nodiscard]] std::optional<sync_reply> fleet_view(std::string_view name) const {
    for (const auto& e : core_->snapshot()) {
      if (e->attached_ && e->name() == name) return e->last_reply();
    }
    return std::nullopt;
  }

  /// Counts of syncs and errors.
  [[nodiscard]] engine_counts counts() const {
    std::lock_guard lock(counts_mutex_);
    return counts_;
  }

  /// The settings, with the store id filled in.
  [[nodiscard]] const engine_settings& settings() const noexcept { return settings_; }

  /// Stops sharing everything (what the destructor does).
  void unshare_all() noexcept {
    std::vector<std::shared_ptr<sharing::undo>> undos;
    {
      std::lock_guard lock(core_->mutex);
      for (auto& [id, w] : core_->undos) {
        if (auto u = w.lock()) undos.push_back(std::move(u));
      }
    }
    for (auto& u : undos) u->run();
  }

 private:
  static engine_settings checked(engine_settings s, const char* owner) {
    detail::require_positive_setting(s.sync_interval, owner, "sync_interval");
    detail::require_positive_setting(s.probe_lease, owner, "probe_lease");
    if (s.store_id.find_first_of(" \t\r\n") != std::string::npos) {
      circuit::detail::invalid(owner, "store_id", "must not contain white space");
    }
    return s;
  }

  template <class U>
  void register_undo(const std::shared_ptr<U>& u, std::uint64_t& id) {
    std::lock_guard lock(core_->mutex);
    id = core_->next_undo++;
    core_->undos.emplace(id, u);
  }

  void wake() {
    if (core_->wake) core_->wake();
  }

  Backend& backend_;
  engine_settings settings_;
  std::shared_ptr<detail::engine_core> core_;

  std::mutex sync_mutex_;
  std::uint64_t batch_ids_ = 0;
  std::vector<sync_request> requests_;
  std::vector<sync_reply> replies_;
  std::vector<std::shared_ptr<detail::shared_entry>> active_;

  mutable std::mutex counts_mutex_;
  engine_counts counts_;
};

}  // namespace circuit::fleet
