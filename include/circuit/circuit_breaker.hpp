#pragma once
// The circuit breaker: a closed / open / half_open / isolated state machine
// in front of calls to one remote peer.
//
// How it stays cheap: the admission state (state, probes, generation) is one
// atomic word, so a closed-state call costs one load to admit, and its
// success one more load of the word (unchanged: no transition came in
// between). A success is counted in the calling thread's own lane
// (detail/thread_lane.hpp), so threads share no written cache line. Everything else (failures, probes,
// transitions) takes the breaker's mutex; listeners and the clock are
// called outside it.

#include <atomic>
#include <chrono>
#include <concepts>
#include <cstdint>
#include <exception>
#include <functional>
#include <limits>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <type_traits>
#include <utility>

#include <circuit/clock.hpp>
#include <circuit/counter.hpp>
#include <circuit/detail/backoff.hpp>
#include <circuit/detail/listener_list.hpp>
#include <circuit/detail/state_word.hpp>
#include <circuit/detail/thread_lane.hpp>
#include <circuit/error_predicate.hpp>
#include <circuit/event.hpp>
#include <circuit/exception_predicates.hpp>
#include <circuit/metrics.hpp>
#include <circuit/open_circuit_error.hpp>
#include <circuit/options.hpp>
#include <circuit/outcome.hpp>
#include <circuit/permit.hpp>
#include <circuit/sliding_window.hpp>
#include <circuit/state.hpp>
#include <circuit/subscription.hpp>

namespace circuit {

namespace detail {
// What a circuit_breaker_set needs of its breakers beyond the public API.
struct breaker_access {
  // The set's listeners hear every event of `b` too. Before `b` is shared.
  template <class Breaker>
  static void forward_events(Breaker& b, std::shared_ptr<const listener_list> to) noexcept {
    b.set_listeners_ = std::move(to);
  }

  // metrics() without the lazy open -> half_open change: that would run
  // listeners, and the set looks at its peers under its own lock.
  template <class Breaker>
  static auto look(const Breaker& b) {
    return b.snapshot();
  }
};
}  // namespace detail

/// A circuit breaker in front of calls to one remote peer.
///
/// - `Clock` (`circuit::clock`): where time is read; `manual_clock` in tests.
/// - `Counter` (`circuit::counter`): when a closed breaker trips.
/// - `ErrorPredicate` (`circuit::error_predicate`): what counts as a failure.
///
/// Every member function is thread-safe. The breaker is neither copyable
/// nor movable: permits point to it.
template <class Clock = std::chrono::steady_clock, class Counter = sliding_window, class ErrorPredicate = any_exception>
class circuit_breaker {
  static_assert(circuit::clock<Clock>,
                "circuit_breaker<Clock, ...>: Clock must have `duration`, `time_point` and a `now()` callable on an "
                "instance, as every std::chrono clock does (see circuit::clock)");
  static_assert(circuit::counter<Counter>,
                "circuit_breaker<..., Counter, ...>: Counter must be copyable with `validate()` and a nested "
                "`recorder` constructible from it that has on_failure(ns) -> bool, on_success() or on_success(ns), "
                "reset() and figures(ns) (see circuit::counter)");
  static_assert(circuit::error_predicate<ErrorPredicate>,
                "circuit_breaker<..., ErrorPredicate>: ErrorPredicate must be copyable and callable with "
                "std::exception_ptr, returning bool (true = failure) or circuit::outcome (see "
                "circuit::error_predicate)");

 public:
  using clock_type = Clock;
  using counter_type = Counter;
  using error_predicate_type = ErrorPredicate;
  using time_point = typename Clock::time_point;
  using duration = typename Clock::duration;
  /// What `guard()` and `try_guard()` return.
  using guard_type = permit<circuit_breaker>;
  /// What `metrics()` returns.
  using metrics_type = metrics_snapshot<time_point>;

  /// Throws `std::invalid_argument` naming the field when the counter or
  /// the options are invalid.
  explicit circuit_breaker(Counter counter = {}, circuit::options settings = {}, Clock clock = {},
                           ErrorPredicate predicate = {})
      : clock_(std::move(clock)), predicate_(std::move(predicate)), slow_call_(checked(counter, settings)),
        probe_limit_(settings.half_open_max_calls), settings_(std::move(settings)), counter_settings_(counter),
        recorder_(counter), backoff_(settings_.open_for) {
    word_.store(detail::make_word(state::closed, 0, flags()), std::memory_order_relaxed);
    last_transition_ = now_ns();
  }

  circuit_breaker(const circuit_breaker&) = delete;
  circuit_breaker& operator=(const circuit_breaker&) = delete;

  /// The name given in the options.
  [[nodiscard]] const std::string& name() const noexcept { return settings_.name; }
  /// The options it was made with.
  [[nodiscard]] const circuit::options& settings() const noexcept { return settings_; }
  /// The counter settings it was made with.
  [[nodiscard]] const Counter& counter() const noexcept { return counter_settings_; }

  // ---- Calling through it -------------------------------------------------

  /// A permit for one call, or a refused (false) permit. Never throws.
  /// Closed: one atomic load. Open: one clock read. Half_open: admits up to
  /// `half_open_max_calls` probes at once.
  [[nodiscard]] guard_type try_guard() noexcept {
    const auto w = word_.load(std::memory_order_acquire);
    if (detail::plain_closed(w)) [[likely]] return guard_type(*this, {w});
    // Open and not yet due for a probe: a refusal that needs no refusal
    // details (no exception to fill in) is kept inline.
    if (detail::state_of(w) == state::open && now_ns() < open_until_.load(std::memory_order_relaxed)) {
      tallies_.add(rejected);
      emit(event_kind::rejected, state::open, state::open);
      return {};
    }
    return admit_slow(w, nullptr);
  }

#if defined(__cpp_exceptions)
  /// A permit for one call; throws `open_circuit_error` when refused.
  // Always inlined, throw included: a throw from a frame of its own costs
  // twice as much to unwind (benchmarks/README.md, open/guard).
  [[nodiscard, gnu::always_inline]] guard_type guard() {
    const auto w = word_.load(std::memory_order_acquire);
    if (detail::plain_closed(w)) [[likely]] return guard_type(*this, {w});
    refusal r;
    auto g = admit_slow(w, &r);
    if (!g) throw open_circuit_error(settings_.name, r.in, r.retry_after);
    return g;
  }

  /// Runs `fn(args...)` through the breaker: throws `open_circuit_error`
  /// without running it when refused; otherwise records the outcome
  /// (exceptions and, where the predicate looks at them, return values) and
  /// returns what `fn` returned or rethrows what it threw. If the
  /// ErrorPredicate itself throws, the call counts as a failure and the
  /// predicate's exception propagates instead.
  template <class F, class... Args>
    requires std::invocable<F&, Args...>
  std::invoke_result_t<F&, Args...> call(F&& fn, Args&&... args) {
    const auto w = word_.load(std::memory_order_acquire);
    // Closed: no permit object, the admission word is all it needs.
    if (detail::plain_closed(w)) [[likely]] return run(detail::ticket{w}, fn, std::forward<Args>(args)...);
    auto g = guard();  // admits (a probe, a timed call) or throws
    const auto t = g.ticket_;
    g.breaker_ = nullptr;  // run() settles it on every path
    return run(t, fn, std::forward<Args>(args)...);
  }

  /// A callable that forwards its arguments to `fn` through `call()`. It
  /// refers to this breaker, which must outlive it.
  template <class F>
  [[nodiscard]] auto wrap(F&& fn) {
    return [this, fn = std::forward<F>(fn)](auto&&... args) mutable -> decltype(auto) {
      // `this->` spelled out: clang warns of an unused capture otherwise.
      return this->call(fn, std::forward<decltype(args)>(args)...);
    };
  }
#endif

  // ---- Inspecting and steering --------------------------------------------

  /// The state now. Moves open to half_open once the open duration has
  /// passed (the breaker has no thread of its own), emitting that change.
  [[nodiscard]] state current_state() const {
    const auto w = word_.load(std::memory_order_acquire);
    if (detail::state_of(w) == state::open && now_ns() >= open_until_.load(std::memory_order_relaxed)) {
      return detail::state_of(enter_half_open(w));
    }
    return detail::state_of(w);
  }

  /// A snapshot of the state and the call counts. Like `current_state()`,
  /// moves open to half_open once the open duration has passed.
  [[nodiscard]] metrics_type metrics() const {
    (void)current_state();
    return snapshot();
  }

  /// Opens now for the current open duration; restarts that duration when
  /// already open. Does not grow an exponential backoff, and does nothing
  /// while isolated.
  void trip() {
    const auto now = now_ns();
    std::unique_lock lock(mutex_);
    const auto s = detail::state_of(word_.load(std::memory_order_relaxed));
    if (s == state::isolated) return;
    if (s == state::open) {
      open_until_.store(saturating_add(now, backoff_.next(false).count()), std::memory_order_relaxed);
      return;
    }
    const auto change = transition_locked(state::open, now, false);
    lock.unlock();
    announce(change);
  }

  /// Holds the circuit open until `reset()`.
  void isolate() {
    const auto now = now_ns();
    std::unique_lock lock(mutex_);
    if (detail::state_of(word_.load(std::memory_order_relaxed)) == state::isolated) return;
    const auto change = transition_locked(state::isolated, now, false);
    lock.unlock();
    announce(change);
  }

  /// Closes the circuit and clears the counter and the backoff; permits
  /// taken before it no longer move anything. Always starts a new
  /// generation.
  void reset() {
    const auto now = now_ns();
    std::unique_lock lock(mutex_);
    const auto change = transition_locked(state::closed, now, false);
    lock.unlock();
    announce(change);
  }

  /// Subscribes `listener`, called with `const event&` for every event,
  /// outside any lock, on the thread that caused it. Keep the returned
  /// subscription: destroying it unsubscribes. A listener that throws is
  /// skipped (counted in `metrics().listener_errors`); the breaker is
  /// already consistent when listeners run.
  template <class F>
    requires std::invocable<F&, const event&>
  [[nodiscard]] subscription on_event(F&& listener) {
    return detail::subscribe(listeners_, std::forward<F>(listener));
  }

 private:
  friend guard_type;
  friend struct detail::breaker_access;

  // metrics() once the lazy open -> half_open change is done.
  [[nodiscard]] metrics_type snapshot() const {
    const auto now = now_ns();
    std::lock_guard lock(mutex_);
    const auto w = word_.load(std::memory_order_relaxed);
    metrics_type m;
    m.state = detail::state_of(w);
    m.generation = generation_;
    m.window = recorder_.figures(std::chrono::nanoseconds(now));
    m.total = totals_locked();
    m.since_transition = {.successes = m.total.successes - base_.successes,
                          .failures = m.total.failures - base_.failures,
                          .ignored = m.total.ignored - base_.ignored,
                          .rejections = m.total.rejections - base_.rejections};
    m.stale_outcomes = stale_outcomes_;
    m.listener_errors = listener_errors_.load(std::memory_order_relaxed);
    m.last_transition = to_time_point(last_transition_);
    if (m.state == state::open) m.open_until = to_time_point(open_until_.load(std::memory_order_relaxed));
    return m;
  }

  struct refusal {
    state in = state::open;
    std::optional<std::chrono::nanoseconds> retry_after;
  };

  struct change {
    bool happened = false;
    state from = state::closed, to = state::closed;
  };

#if defined(__cpp_exceptions)
  // call() once admitted: runs fn and settles `t` on every path (success,
  // the result as classified, or the exception before rethrowing it).
  template <class F, class... Args>
  std::invoke_result_t<F&, Args...> run(const detail::ticket& t, F& fn, Args&&... args) {
    using R = std::invoke_result_t<F&, Args...>;
    if constexpr (std::is_void_v<R>) {
      try {
        std::invoke(fn, std::forward<Args>(args)...);
      } catch (...) {
        settle_error(t, std::current_exception());
        throw;
      }
      settle_success(t);
    } else {
      R result = [&]() -> R {
        try {
          return std::invoke(fn, std::forward<Args>(args)...);
        } catch (...) {
          settle_error(t, std::current_exception());
          throw;
        }
      }();
      settle_result(t, std::as_const(result));
      return std::forward<R>(result);
    }
  }
#endif

  // The word's fixed flags.
  [[nodiscard]] detail::word_t flags() const noexcept { return slow_call_ != 0 ? detail::timed_bit : 0; }

  // ---- Time ---------------------------------------------------------------

  [[nodiscard]] std::int64_t now_ns() const noexcept(noexcept(std::declval<const Clock&>().now())) {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(clock_.now().time_since_epoch()).count();
  }
  [[nodiscard]] static time_point to_time_point(std::int64_t ns) {
    return time_point(std::chrono::duration_cast<duration>(std::chrono::nanoseconds(ns)));
  }
  [[nodiscard]] static std::int64_t saturating_add(std::int64_t t, std::int64_t d) noexcept {
    return t > std::numeric_limits<std::int64_t>::max() - d ? std::numeric_limits<std::int64_t>::max() : t + d;
  }

  static std::int64_t checked(const Counter& counter, const circuit::options& settings) {
    counter.validate();
    circuit::validate(settings);
    return settings.slow_call ? settings.slow_call->count() : 0;
  }

  // ---- Admission ----------------------------------------------------------

  // Every state but a plain closed one. Loops only when the word moved.
  [[gnu::noinline]] guard_type admit_slow(detail::word_t w, refusal* why) noexcept {
    for (;;) {
      switch (detail::state_of(w)) {
        case state::closed:
          return guard_type(*this, {w, slow_call_ != 0 ? now_ns() : 0});
        case state::half_open:
          if (detail::probes_of(w) < probe_limit_) {
            const auto at = slow_call_ ? now_ns() : 0;
            if (word_.compare_exchange_weak(w, w + detail::one_probe, std::memory_order_acquire)) {
              return guard_type(*this, {w, at});
            }
            continue;  // w was reloaded
          }
          return refuse(w, std::chrono::nanoseconds::zero(), why);
        case state::open: {
          const auto now = now_ns();
          const auto until = open_until_.load(std::memory_order_relaxed);
          if (now >= until) {
            w = enter_half_open(w);
            continue;
          }
          const auto left = static_cast<std::uint64_t>(until) - static_cast<std::uint64_t>(now);
          return refuse(w, std::chrono::nanoseconds(static_cast<std::int64_t>(
                               std::min<std::uint64_t>(left, std::numeric_limits<std::int64_t>::max()))),
                        why);
        }
        case state::isolated:
          return refuse(w, std::nullopt, why);
      }
    }
  }

  guard_type refuse(detail::word_t w, std::optional<std::chrono::nanoseconds> retry_after, refusal* why) noexcept {
    tallies_.add(rejected);
    const auto s = detail::state_of(w);
    if (why != nullptr) *why = {s, retry_after};
    emit(event_kind::rejected, s, s);
    return {};
  }

  // The lazy open -> half_open change, once open_for has passed (checked by
  // the caller). Returns the word to retry admission with.
  detail::word_t enter_half_open(detail::word_t seen) const {
    const auto now = now_ns();
    std::unique_lock lock(mutex_);
    change c;
    // Re-checked under the lock: a trip() since the caller looked restarts
    // open_until_ without changing the word.
    if (word_.load(std::memory_order_relaxed) == seen && now >= open_until_.load(std::memory_order_relaxed)) {
      c = transition_locked(state::half_open, now, false);
    }
    lock.unlock();
    announce(c);
    return word_.load(std::memory_order_acquire);
  }

  // ---- Settlement ---------------------------------------------------------

  // The hot path: a success admitted in closed, with slow calls not timed.
  // No lock, no allocation, no shared write, and no clock read for the
  // counters that do not weigh successes by time.
  [[gnu::always_inline]] void settle_success(const detail::ticket& t) noexcept {
    if (!detail::plain_closed(t.word)) [[unlikely]] return settle(t, outcome::success, nullptr);
    record_closed_success(t.word, [this] { return std::chrono::nanoseconds(now_ns()); });
  }

  // Every other settlement: slow-call timing, then settle_slow() unless it
  // is a closed-state success after all.
  void settle(const detail::ticket& t, outcome o, std::exception_ptr error) noexcept {
    if (o == outcome::success && detail::plain_closed(t.word)) return settle_success(t);
    // A probe's success may close the circuit: that transition needs the time.
    const auto now = now_ns();
    if (o == outcome::success && slow_call_ != 0 && now > t.admitted_at &&
        static_cast<std::uint64_t>(now) - static_cast<std::uint64_t>(t.admitted_at) >
            static_cast<std::uint64_t>(slow_call_)) {
      o = outcome::failure;
    }
    if (o == outcome::success && t.admitted_in() == state::closed) {
      return record_closed_success(t.word, [now] { return std::chrono::nanoseconds(now); });
    }
    settle_slow(t, o, std::move(error), now);
  }

  // What a recorder's on_success(ctx) gets (see circuit::counter): the time
  // on demand, and whether the call's generation is still current.
  template <class ReadNow>
  struct success_context {
    const std::atomic<detail::word_t>& word;
    detail::word_t admitted;
    const ReadNow& read_now;

    [[nodiscard]] std::chrono::nanoseconds operator()() const noexcept { return read_now(); }
    [[nodiscard]] bool current() const noexcept { return word.load(std::memory_order_acquire) == admitted; }
  };

  // A success admitted in closed under `admitted`: tallied in this thread's
  // lane, and given to the counter unless a transition came in between.
  // `read_now` reads the time, if the counter wants it; a counter that takes
  // a success_context reads it when it is ready (a clock read can hold back
  // the work after it) and re-checks currency before it writes.
  template <class ReadNow>
  [[gnu::always_inline]] void record_closed_success(detail::word_t admitted, const ReadNow& read_now) noexcept {
    tallies_.add(succeeded);
    const bool heard = !unheard();
    // In closed the word changes only by a transition: equal means current.
    if (word_.load(std::memory_order_acquire) == admitted) [[likely]] {
      if constexpr (detail::takes_success_context<Counter>) {
        const success_context<ReadNow> ctx{word_, admitted, read_now};
        // A recorder may return false: it found the call stale after all.
        if constexpr (std::is_same_v<decltype(recorder_.on_success(ctx)), bool>) {
          if (!recorder_.on_success(ctx)) [[unlikely]] note_stale();
        } else {
          recorder_.on_success(ctx);
        }
      } else if constexpr (reads_clock_on_success<Counter>) {
        recorder_.on_success(read_now());
      } else {
        recorder_.on_success();
      }
    } else {
      note_stale();
    }
    if (heard) [[unlikely]] dispatch(event_kind::success, state::closed, state::closed, nullptr);
  }

  // Failures, ignored outcomes and probes: under the lock, where the counter
  // decides and transitions happen. Kept out of line: only settle_success()
  // is on the hot path.
  [[gnu::noinline]] void settle_slow(const detail::ticket& t, outcome o, std::exception_ptr error,
                                     std::int64_t now) noexcept {
    std::unique_lock lock(mutex_);
    const auto w = word_.load(std::memory_order_relaxed);
    const bool current = detail::generation_of(w) == t.generation();
    change c;
    switch (o) {
      case outcome::success:
        tallies_.add(succeeded);
        if (!current) break;
        if (t.admitted_in() == state::half_open) {
          if (++probe_successes_ >= settings_.success_threshold) {
            c = transition_locked(state::closed, now, false);
          } else {
            give_back_probe();
          }
        }
        break;
      case outcome::failure:
        ++failures_;
        if (!current) break;
        if (t.admitted_in() == state::half_open) {
          c = transition_locked(state::open, now, true);
        } else if (recorder_.on_failure(std::chrono::nanoseconds(now))) {
          c = transition_locked(state::open, now, false);
        }
        break;
      case outcome::ignored:
        ++ignored_;
        if (current && t.admitted_in() == state::half_open) give_back_probe();
        break;
    }
    if (!current) ++stale_outcomes_;
    lock.unlock();
    if (o != outcome::ignored) {
      emit(o == outcome::success ? event_kind::success : event_kind::failure, t.admitted_in(), t.admitted_in(),
           o == outcome::failure ? std::move(error) : nullptr);
    }
    announce(c);
  }

  void settle_error(const detail::ticket& t, std::exception_ptr e) {
    if (!e) return settle(t, outcome::failure, nullptr);  // nothing to classify
#if defined(__cpp_exceptions)
    outcome o = outcome::failure;
    try {
      o = to_outcome(predicate_(std::as_const(e)));
    } catch (...) {
      settle(t, outcome::failure, e);
      throw;
    }
    settle(t, o, o == outcome::failure ? std::move(e) : nullptr);
#else
    settle(t, to_outcome(predicate_(std::as_const(e))), e);
#endif
  }

  template <class R>
  void settle_result(const detail::ticket& t, const R& result) {
    if constexpr (result_predicate_for<ErrorPredicate, R>) {
#if defined(__cpp_exceptions)
      outcome o = outcome::failure;
      try {
        o = to_outcome(predicate_(result));
      } catch (...) {
        settle(t, outcome::failure, nullptr);
        throw;
      }
      settle(t, o, nullptr);
#else
      settle(t, to_outcome(predicate_(result)), nullptr);
#endif
    } else {
      settle_success(t);
    }
  }

  // Under the lock: a probe of the current half_open spell is done without
  // deciding. Admissions race on the word, transitions cannot.
  void give_back_probe() noexcept { word_.fetch_sub(detail::one_probe, std::memory_order_release); }

  [[gnu::noinline, gnu::cold]] void note_stale() noexcept {
    std::lock_guard lock(mutex_);
    ++stale_outcomes_;
  }

  // ---- Transitions --------------------------------------------------------

  // Every state change happens here, under the lock: a new generation (so
  // permits of the old one move nothing), the per-state bookkeeping, then
  // the word that publishes it all, then the counter's reset.
  change transition_locked(state to, std::int64_t now, bool failed_probe) const noexcept {
    const auto from = detail::state_of(word_.load(std::memory_order_relaxed));
    ++generation_;
    probe_successes_ = 0;
    switch (to) {
      case state::closed:  // reset() or enough probe successes
        backoff_.restart();
        break;
      case state::open:  // tripped by the counter, a failed probe or trip()
        open_until_.store(saturating_add(now, backoff_.next(failed_probe).count()), std::memory_order_relaxed);
        break;
      case state::half_open:  // open_for has passed
      case state::isolated:   // isolate()
        break;
    }
    last_transition_ = now;
    base_ = totals_locked();
    word_.store(detail::make_word(to, generation_, flags()), std::memory_order_release);
    // After the word: a lock-free success that sees the reset (a recorder's
    // release) then sees the new word too, and knows it is stale
    // (failure_rate_window). One admitted just now may still be wiped from
    // the window; it stays in the totals.
    if (to == state::closed) recorder_.reset();
    return {from != to, from, to};
  }

  // ---- Events and counts --------------------------------------------------

  void announce(const change& c) const noexcept {
    if (c.happened) emit(event_kind::state_change, c.from, c.to);
  }

  [[nodiscard]] bool unheard() const noexcept {
    return listeners_->empty() && (set_listeners_ == nullptr || set_listeners_->empty());
  }

  void emit(event_kind kind, state from, state to) const noexcept {
    if (unheard()) [[likely]] return;
    dispatch(kind, from, to, nullptr);
  }
  void emit(event_kind kind, state from, state to, std::exception_ptr error) const noexcept {
    if (unheard()) [[likely]] return;
    dispatch(kind, from, to, std::move(error));
  }

  [[gnu::noinline]] void dispatch(event_kind kind, state from, state to, std::exception_ptr error) const noexcept {
    const event e{kind, settings_.name, from, to, std::move(error)};
    auto failed = listeners_->dispatch(e);
    if (set_listeners_ != nullptr) failed += set_listeners_->dispatch(e);
    if (failed != 0) listener_errors_.fetch_add(failed, std::memory_order_relaxed);
  }

  [[nodiscard]] call_counts totals_locked() const noexcept {
    return {.successes = tallies_.sum(succeeded),
            .failures = failures_,
            .ignored = ignored_,
            .rejections = tallies_.sum(rejected)};
  }

  // Indexes into tallies_.
  static constexpr std::size_t succeeded = 0;
  static constexpr std::size_t rejected = 1;

  // State-machine members are mutable: a const breaker still moves from
  // open to half_open when its state is read (the lazy transition).

  // Read on every call: the word, and what the open path compares with.
  alignas(detail::cache_line) mutable std::atomic<detail::word_t> word_{0};
  mutable std::atomic<std::int64_t> open_until_{0};
  // Read on every call too: is anyone listening, here or to the set this
  // breaker belongs to? Side by side, so that asking takes two independent
  // loads after these.
  const std::shared_ptr<detail::listener_list> listeners_ = std::make_shared<detail::listener_list>();
  std::shared_ptr<const detail::listener_list> set_listeners_;
  [[no_unique_address]] Clock clock_;
  [[no_unique_address]] ErrorPredicate predicate_;
  const std::int64_t slow_call_;  // 0: slow calls are not counted
  const std::uint32_t probe_limit_;
  const circuit::options settings_;
  const Counter counter_settings_;
  mutable typename Counter::recorder recorder_;

  // Written per success and per rejection, each thread in its own lane.
  detail::striped_counters<2> tallies_;

  // The rest changes only under mutex_.
  mutable std::mutex mutex_;
  mutable detail::backoff backoff_;
  mutable std::uint64_t generation_ = 0;
  mutable std::uint32_t probe_successes_ = 0;
  std::uint64_t failures_ = 0;
  std::uint64_t ignored_ = 0;
  std::uint64_t stale_outcomes_ = 0;
  mutable std::int64_t last_transition_ = 0;
  mutable call_counts base_{};  // totals at the last transition

  mutable std::atomic<std::uint64_t> listener_errors_{0};
};

}  // namespace circuit
