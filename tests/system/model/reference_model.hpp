#pragma once
// A deliberately simple reference model of the breaker contract in
// the README and the header docs, for differential testing (tests/system/model/driver.hpp).
//
// No cleverness on purpose: one mutex around everything, plain containers,
// every failure time kept (a std::deque for sliding_window, a std::vector of
// (time, outcome) for failure_rate_window with the slice rule applied on
// reading), an explicit 64-bit generation, a map of outstanding permits, and
// the open duration recomputed from its definition (initial * multiplier^n,
// capped at max). Time is int64 nanoseconds on a clock that the driver only
// moves forward.
//
// Where the contract leaves a choice to the implementation, the model follows the
// implementation's documented choice and says so here:
// - metrics() is a state query: like current_state() and admissions, it
//   performs the lazy open -> half_open change once open_for has passed;
// - trip() on an open breaker restarts the open duration without a new
//   generation and without a state_change event;
// - an ignored probe gives back its slot and does not break a run of probe
//   successes;
// - a success is "slow" when strictly more than slow_call passed between
//   admission and settlement;
// - with probe_timeout, the check "has the oldest outstanding probe been out
//   that long?" runs at half_open admissions and state queries (metrics()
//   included), after the lazy open -> half_open change.

#include <algorithm>
#include <cstdint>
#include <deque>
#include <limits>
#include <map>
#include <mutex>
#include <optional>
#include <utility>
#include <vector>

#include <circuit/event.hpp>
#include <circuit/outcome.hpp>
#include <circuit/state.hpp>

namespace circuit_model {

using circuit::event_kind;
using circuit::outcome;
using circuit::state;
using circuit::transition_cause;

enum class counter_kind : std::uint8_t { sliding_window, consecutive_failures, net_failures, failure_rate_window };

struct counter_config {
  counter_kind kind = counter_kind::sliding_window;
  std::uint32_t max_failures = 3;  // sliding_window
  std::uint32_t threshold = 5;     // consecutive_failures, net_failures
  double failure_rate = 0.5;       // failure_rate_window
  std::uint32_t minimum_calls = 20;
  std::uint32_t buckets = 10;
  std::int64_t window = 60'000'000'000;  // sliding_window and failure_rate_window
};

struct open_config {
  bool exponential = false;
  std::int64_t fixed = 10'000'000'000;
  std::int64_t initial = 1'000'000'000;
  double multiplier = 2.0;
  std::int64_t max = 60'000'000'000;
  double jitter = 0.0;
};

struct config {
  counter_config counter;
  open_config open_for;
  std::uint32_t half_open_max_calls = 1;
  std::uint32_t success_threshold = 1;
  std::optional<std::int64_t> slow_call;
  std::optional<std::int64_t> probe_timeout;
  bool time_calls = false;
};

struct counts {
  std::uint64_t successes = 0, failures = 0, ignored = 0, rejections = 0, slow = 0;
  friend bool operator==(const counts&, const counts&) = default;
};

struct snapshot {
  state st = state::closed;
  std::uint64_t generation = 0;
  std::uint64_t window_failures = 0, window_successes = 0;
  counts since_transition, total;
  std::uint64_t stale_outcomes = 0;
  std::uint64_t listener_errors = 0;
  std::int64_t last_transition = 0;
  std::optional<std::int64_t> open_until;
  std::uint64_t transitions[circuit::state_count][circuit::state_count] = {};
};

struct recorded_event {
  event_kind kind;
  state from, to;
  bool has_error;
  std::uint64_t generation = 0;
  std::optional<transition_cause> cause = {};
  friend bool operator==(const recorded_event&, const recorded_event&) = default;
};

/// Why an admission was refused, as open_circuit_error reports it.
struct refusal {
  state in;
  std::optional<std::int64_t> retry_after;
};

/// An open duration the model cannot know exactly (jitter): the breaker's
/// choice must lie in [start + lo, start + hi] (saturated).
struct pending_draw {
  std::int64_t start, lo, hi;
};

class reference_model {
 public:
  using permit_id = std::uint64_t;

  reference_model(config c, std::int64_t now) : cfg_(c), last_transition_(now) {}

  /// Admission; on refusal returns nullopt and fills `*why`.
  std::optional<permit_id> admit(std::int64_t now, refusal* why) {
    std::lock_guard lock(mutex_);
    lazy_changes_locked(now);
    switch (state_) {
      case state::closed:
      case state::disabled: return grant(now);
      case state::half_open:
        if (probes_ < cfg_.half_open_max_calls) {
          ++probes_;
          return grant(now);
        }
        return reject(why, refusal{state::half_open, 0});
      case state::open:
        return reject(why, refusal{state::open, static_cast<std::int64_t>(std::min<std::uint64_t>(
                                                    span(open_until_, now), std::numeric_limits<std::int64_t>::max()))});
      case state::isolated: return reject(why, refusal{state::isolated, std::nullopt});
    }
    return std::nullopt;
  }

  /// Settles permit `id` with `o` (before the slow-call rule); `has_error`:
  /// the failure carries an exception.
  void settle(permit_id id, outcome o, bool has_error, std::int64_t now) {
    std::lock_guard lock(mutex_);
    const auto p = permits_.at(id);
    permits_.erase(id);
    if (o == outcome::success && cfg_.slow_call && now > p.admitted_at &&
        span(now, p.admitted_at) > static_cast<std::uint64_t>(*cfg_.slow_call)) {
      o = outcome::failure;
      has_error = false;
      ++total_.slow;
    }
    if (o != outcome::failure) has_error = false;
    const bool current = p.generation == generation_;
    switch (o) {
      case outcome::success: ++total_.successes; break;
      case outcome::failure: ++total_.failures; break;
      case outcome::ignored: ++total_.ignored; break;
    }
    if (!current) ++stale_;
    emit(o == outcome::success   ? event_kind::success
         : o == outcome::failure ? event_kind::failure
                                 : event_kind::ignored,
         p.in, p.in, has_error, p.generation);
    if (!current || p.in == state::disabled) return;
    if (p.in == state::half_open) {
      switch (o) {
        case outcome::success:
          if (++probe_successes_ >= cfg_.success_threshold) {
            become(state::closed, now, transition_cause::probes_succeeded);
          } else {
            --probes_;
          }
          break;
        case outcome::failure:
          ++retrips_;
          open_now(now);
          become(state::open, now, transition_cause::probe_failed);
          break;
        case outcome::ignored: --probes_; break;
      }
      return;
    }
    // Admitted in closed, and the breaker is still in that generation.
    if (o == outcome::success) {
      record_success(now);
    } else if (o == outcome::failure) {
      if (record_failure_trips(now)) {
        open_now(now);
        become(state::open, now, transition_cause::counter_tripped);
      }
    }
  }

  /// The lazy changes a state query would make, alone.
  void lazy_changes(std::int64_t now) {
    std::lock_guard lock(mutex_);
    lazy_changes_locked(now);
  }

  state current_state(std::int64_t now) {
    std::lock_guard lock(mutex_);
    lazy_changes_locked(now);
    return state_;
  }

  void trip(std::int64_t now) {
    std::lock_guard lock(mutex_);
    if (state_ == state::isolated) return;
    open_now(now);
    if (state_ != state::open) become(state::open, now, transition_cause::tripped);
  }

  void isolate(std::int64_t now) {
    std::lock_guard lock(mutex_);
    if (state_ != state::isolated) become(state::isolated, now, transition_cause::isolated);
  }

  void disable(std::int64_t now) {
    std::lock_guard lock(mutex_);
    if (state_ != state::disabled) become(state::disabled, now, transition_cause::disabled);
  }

  void reset(std::int64_t now) {
    std::lock_guard lock(mutex_);
    become(state::closed, now, transition_cause::reset);
  }

  snapshot metrics(std::int64_t now) {
    std::lock_guard lock(mutex_);
    lazy_changes_locked(now);
    snapshot s;
    s.st = state_;
    s.generation = generation_;
    const auto [f, ok] = figures(now);
    s.window_failures = f;
    s.window_successes = ok;
    s.total = total_;
    s.since_transition = {total_.successes - base_.successes, total_.failures - base_.failures,
                          total_.ignored - base_.ignored, total_.rejections - base_.rejections,
                          total_.slow - base_.slow};
    for (std::size_t i = 0; i < circuit::state_count; ++i) {
      for (std::size_t j = 0; j < circuit::state_count; ++j) s.transitions[i][j] = transitions_[i][j];
    }
    s.stale_outcomes = stale_;
    s.listener_errors = listener_errors_;
    s.last_transition = last_transition_;
    if (state_ == state::open) s.open_until = open_until_;
    return s;
  }

  /// Events since the last call.
  std::vector<recorded_event> take_events() {
    std::lock_guard lock(mutex_);
    return std::exchange(events_, {});
  }

  /// While set, a listener that throws is subscribed: every event counts
  /// one listener error.
  void set_throwing_listener(bool on) {
    std::lock_guard lock(mutex_);
    throwing_listener_ = on;
  }

  /// The jittered open duration to confirm, if the last step drew one.
  std::optional<pending_draw> take_pending_draw() {
    std::lock_guard lock(mutex_);
    return std::exchange(pending_, std::nullopt);
  }
  /// The jittered open duration the last step drew, left pending.
  std::optional<pending_draw> peek_pending_draw() const {
    std::lock_guard lock(mutex_);
    return pending_;
  }
  /// Takes the breaker's drawn `open_until` (checked by the caller).
  void adopt_open_until(std::int64_t t) {
    std::lock_guard lock(mutex_);
    open_until_ = t;
  }

  // For the driver, to aim clock moves at exact boundaries.
  [[nodiscard]] std::vector<std::int64_t> deadlines() const {
    std::lock_guard lock(mutex_);
    std::vector<std::int64_t> d;
    if (state_ == state::open) d.push_back(open_until_);
    for (const auto t : failure_times_) d.push_back(add(t, cfg_.counter.window));
    const auto w = slice_width();
    for (const auto& c : rate_calls_) d.push_back(add(floor_div(c.first, w) * w, cfg_.counter.window));
    if (cfg_.slow_call) {
      for (const auto& [id, p] : permits_) d.push_back(add(p.admitted_at, *cfg_.slow_call));
    }
    if (cfg_.probe_timeout) {
      for (const auto& [id, p] : permits_) d.push_back(add(p.admitted_at, *cfg_.probe_timeout));
    }
    return d;
  }
  [[nodiscard]] std::size_t outstanding() const {
    std::lock_guard lock(mutex_);
    return permits_.size();
  }

 private:
  struct permit_record {
    std::uint64_t generation;
    state in;
    std::int64_t admitted_at;
  };

  // later - earlier, for later >= earlier: exact even across the whole range.
  static std::uint64_t span(std::int64_t later, std::int64_t earlier) {
    return static_cast<std::uint64_t>(later) - static_cast<std::uint64_t>(earlier);
  }
  static std::int64_t add(std::int64_t t, std::int64_t d) {
    return t > std::numeric_limits<std::int64_t>::max() - d ? std::numeric_limits<std::int64_t>::max() : t + d;
  }
  static std::int64_t floor_div(std::int64_t a, std::int64_t b) {
    const auto q = a / b;
    return (a % b != 0 && a < 0) ? q - 1 : q;
  }
  [[nodiscard]] std::int64_t slice_width() const {
    return cfg_.counter.window / static_cast<std::int64_t>(cfg_.counter.buckets);
  }

  permit_id grant(std::int64_t now) {
    const auto id = next_id_++;
    permits_[id] = permit_record{generation_, state_, now};
    return id;
  }

  std::optional<permit_id> reject(refusal* why, refusal r) {
    ++total_.rejections;
    if (why != nullptr) *why = r;
    emit(event_kind::rejected, state_, state_, false, generation_);
    return std::nullopt;
  }

  void emit(event_kind k, state from, state to, bool has_error, std::uint64_t generation,
            std::optional<transition_cause> cause = {}) {
    events_.push_back({k, from, to, has_error, generation, cause});
    if (throwing_listener_) ++listener_errors_;
  }

  // The changes a state query or an admission makes first: open ->
  // half_open once open_for has passed, then half_open -> open once the
  // oldest outstanding probe of this spell has been out for probe_timeout.
  void lazy_changes_locked(std::int64_t now) {
    if (state_ == state::open && now >= open_until_) become(state::half_open, now, transition_cause::open_elapsed);
    if (state_ != state::half_open || !cfg_.probe_timeout) return;
    for (const auto& [id, p] : permits_) {
      if (p.generation == generation_ && p.in == state::half_open && now >= add(p.admitted_at, *cfg_.probe_timeout)) {
        ++retrips_;
        open_now(now);
        become(state::open, now, transition_cause::probe_timed_out);
        if (now >= open_until_) become(state::half_open, now, transition_cause::open_elapsed);  // the clock's end
        return;
      }
    }
  }

  // A state change (or reset): new generation, every probe slot freed.
  void become(state to, std::int64_t now, transition_cause cause) {
    const auto from = state_;
    state_ = to;
    ++generation_;
    probes_ = 0;
    probe_successes_ = 0;
    last_transition_ = now;
    base_ = total_;
    if (to == state::closed) {
      failure_times_.clear();
      rate_calls_.clear();
      run_ = 0;
      retrips_ = 0;
    }
    ++transitions_[static_cast<std::size_t>(from)][static_cast<std::size_t>(to)];
    emit(event_kind::state_change, from, to, false, generation_, cause);
  }

  // Sets open_until for an open spell starting now.
  void open_now(std::int64_t now) {
    const auto& o = cfg_.open_for;
    if (!o.exponential) {
      open_until_ = add(now, o.fixed);
      return;
    }
    long double full = static_cast<long double>(o.initial);
    for (std::uint64_t i = 0; i < retrips_ && full < static_cast<long double>(o.max); ++i) {
      full *= static_cast<long double>(o.multiplier);
    }
    full = std::min(full, static_cast<long double>(o.max));
    const auto hi = static_cast<std::int64_t>(full);
    if (o.jitter == 0.0) {
      open_until_ = add(now, hi);
      return;
    }
    const auto lo = std::max<std::int64_t>(1, static_cast<std::int64_t>(full * (1.0L - o.jitter)) - 1);
    pending_ = pending_draw{now, lo, hi};
    open_until_ = add(now, hi);
  }

  void record_success(std::int64_t now) {
    switch (cfg_.counter.kind) {
      case counter_kind::sliding_window: break;
      case counter_kind::consecutive_failures: run_ = 0; break;
      case counter_kind::net_failures:
        if (run_ > 0) --run_;
        break;
      case counter_kind::failure_rate_window: rate_calls_.emplace_back(now, false); break;
    }
  }

  bool record_failure_trips(std::int64_t now) {
    switch (cfg_.counter.kind) {
      case counter_kind::sliding_window:
        failure_times_.push_back(now);
        return figures(now).first > cfg_.counter.max_failures;
      case counter_kind::consecutive_failures:
      case counter_kind::net_failures: return ++run_ >= cfg_.counter.threshold;
      case counter_kind::failure_rate_window: {
        rate_calls_.emplace_back(now, true);
        const auto [failed, ok] = figures(now);
        const auto calls = failed + ok;
        return calls >= cfg_.counter.minimum_calls &&
               static_cast<double>(failed) / static_cast<double>(calls) >= cfg_.counter.failure_rate;
      }
    }
    return false;
  }

  // (failures, successes) the counter holds at `now`.
  [[nodiscard]] std::pair<std::uint64_t, std::uint64_t> figures(std::int64_t now) const {
    std::uint64_t failed = 0, ok = 0;
    switch (cfg_.counter.kind) {
      case counter_kind::sliding_window:
        // A failure exactly `window` old has left the window.
        for (const auto t : failure_times_) {
          failed += span(now, t) < static_cast<std::uint64_t>(cfg_.counter.window) ? 1 : 0;
        }
        break;
      case counter_kind::consecutive_failures:
      case counter_kind::net_failures: failed = run_; break;
      case counter_kind::failure_rate_window: {
        // Slice j covers [j*w, (j+1)*w) and counts while now - j*w < window.
        const auto w = slice_width();
        for (const auto& [t, is_failure] : rate_calls_) {
          const auto j = floor_div(t, w);
          if (span(now, j * w) < static_cast<std::uint64_t>(cfg_.counter.window)) (is_failure ? failed : ok) += 1;
        }
        break;
      }
    }
    return {failed, ok};
  }

  mutable std::mutex mutex_;
  config cfg_;
  state state_ = state::closed;
  std::uint64_t generation_ = 0;
  std::int64_t open_until_ = 0;
  std::int64_t last_transition_;
  std::uint32_t probes_ = 0;
  std::uint32_t probe_successes_ = 0;
  std::uint64_t retrips_ = 0;  // failed probes since the circuit last closed
  counts total_, base_;
  std::uint64_t transitions_[circuit::state_count][circuit::state_count] = {};
  std::uint64_t stale_ = 0;
  std::uint64_t listener_errors_ = 0;
  bool throwing_listener_ = false;
  std::map<permit_id, permit_record> permits_;
  permit_id next_id_ = 1;
  std::deque<std::int64_t> failure_times_;                  // sliding_window
  std::vector<std::pair<std::int64_t, bool>> rate_calls_;  // failure_rate_window: (time, failed)
  std::uint64_t run_ = 0;                                   // consecutive / net failures
  std::vector<recorded_event> events_;
  std::optional<pending_draw> pending_;
};

}  // namespace circuit_model
