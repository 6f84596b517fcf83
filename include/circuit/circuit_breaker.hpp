#pragma once
// The circuit breaker: a closed / open / half_open / isolated / disabled
// state machine in front of calls to one remote peer.
//
// Every state change it makes, why, and where it is decided:
//
//   from                   to         cause             decided in
//   closed                 open       counter_tripped   settle_locked(): a failure the Counter trips on
//   half_open              open       probe_failed      settle_locked(): a probe of this spell failed
//   half_open              open       probe_timed_out   expire_probes(): a probe out for probe_timeout
//   half_open              closed     probes_succeeded  settle_locked(): success_threshold probes succeeded
//   open                   half_open  open_elapsed      enter_half_open(): open_until has passed
//   not open or isolated   open       tripped           steer(): trip() (while open: the deadline only)
//   not isolated           isolated   isolated          steer(): isolate()
//   not disabled           disabled   disabled          steer(): disable()
//   any                    closed     reset             steer(): reset() (closed -> closed included)
//   any                    any other  fleet             adopt_fleet_state(): another process of the fleet changed it
//
// Each of those decides inside change_state(), the one entry point, which
// locks, makes the change (transition_locked()), unlocks and announces it.
// The lazy ones (open_elapsed, probe_timed_out) run at admissions and state
// queries: the breaker has no thread. The tests of each row are
// tests/circuit_breaker_steering_test.cpp's "[transitions]" cases.
//
// How it stays cheap: the admission state (state, probes, generation) is one
// atomic word (detail/state_word.hpp, whose invariants I1-I5 the lock-free
// paths cite), so a closed-state call costs one load to admit, and its
// success one more load of the word (unchanged: no transition came in
// between). A success is counted in the calling thread's own lane
// (detail/thread_lane.hpp), so threads share no written cache line.
// Everything else (failures, probes, transitions) takes the breaker's
// mutex; listeners and the clock are called outside it.

#include <algorithm>
#include <atomic>
#include <cassert>
#include <chrono>
#include <concepts>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <functional>
#include <limits>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <type_traits>
#include <utility>
#include <vector>

#include <circuit/call_result.hpp>
#include <circuit/clock.hpp>
#include <circuit/counter.hpp>
#include <circuit/detail/awaitable.hpp>
#include <circuit/detail/backoff.hpp>
#include <circuit/detail/fleet_gate.hpp>
#include <circuit/detail/listener_list.hpp>
#include <circuit/detail/small_mutex.hpp>
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
// What never changes in a breaker after construction, shared by the peers
// of a set made from the same defaults (so each idle peer does not carry a
// copy): the options, the counter settings, and what the paths derive.
template <class Counter>
struct breaker_config {
  circuit::options options;  // name: the breaker's own; empty for a set's defaults
  Counter counter;
  std::int64_t slow_call_ns = 0;      // 0: slow calls are not counted
  std::int64_t probe_timeout_ns = 0;  // 0: probes never time out
};

/// Tag of the constructor a circuit_breaker_set makes its peers with.
struct set_peer_t {
  explicit set_peer_t() = default;
};

// What a circuit_breaker_set needs of its breakers beyond the public API.
struct breaker_access {
  // The set's listeners hear every event of `b` too. Before `b` is shared.
  template <class Breaker>
  static void forward_events(Breaker& b, const listener_list& to) noexcept {
    b.set_listeners_ = &to;
  }

  // The checked, shareable configuration a set's peers are made from.
  template <class Breaker>
  static auto config_for(typename Breaker::counter_type counter, circuit::options opts,
                         const typename Breaker::clock_type& clock) {
    return Breaker::make_config(std::move(counter), std::move(opts), clock);
  }

  // metrics() without the lazy open -> half_open change: that would run
  // listeners, and the set looks at its peers under its own lock.
  template <class Breaker>
  static auto metrics_without_lazy_changes(const Breaker& b) {
    return b.snapshot();
  }

  // ---- The fleet integration (detail/fleet_gate.hpp) ----

  // While `g` is attached, half_open probes need its reservations and the
  // fleet closes the breaker; nullptr detaches, and returns once no thread
  // is inside the gate it detached (so the gate may be destroyed then).
  // Never call it from inside the gate.
  template <class Breaker>
  static void attach_fleet(Breaker& b, fleet_gate* g) noexcept {
    typename Breaker::cold_state* cold = nullptr;
    {
      std::lock_guard lock(b.mutex_);
      cold = &b.cold_locked();
      cold->fleet.store(g, std::memory_order_seq_cst);
    }
    // Outside the lock: a settling probe holds it while inside the gate.
    if (g == nullptr) {
      while (cold->fleet_users.load(std::memory_order_seq_cst) != 0) std::this_thread::yield();
    }
  }

  // Makes a change decided elsewhere in the fleet: `to`, and for open the
  // time left of its spell; the backoff takes one step (growing when
  // `backoff_grew`) to stay in step with the fleet. Already open: only the
  // deadline moves. Announced with `cause`: `fleet`, or the cause of this
  // process's own decision that the fleet confirmed (its probe success
  // that closed the fleet: `probes_succeeded`). True when the state changed.
  template <class Breaker>
  static bool adopt_fleet_state(Breaker& b, state to, std::chrono::nanoseconds open_left = {},
                                bool backoff_grew = false, transition_cause cause = transition_cause::fleet) {
    return b.adopt_fleet_state(to, open_left, backoff_grew, cause);
  }

  // A set's count of callers inside a peer, kept in the breaker's own
  // per-thread tally cells (one cell per thread and peer, not two): pins
  // and unpins counted apart, so that a thread's pin and unpin are not two
  // read-modify-writes of one word in a row. The unpin releases, and
  // pins() acquires: a caller's last use of the breaker happens before the
  // set frees it. pins() reads the unpins first: a count it returns is
  // never below the true one (new pins are kept out by the caller).
  // (A set's call marks its peer in a hazard slot instead: see
  // circuit_breaker_set's pin.)
  template <class Breaker>
  [[gnu::always_inline]] static void pin(Breaker& b) noexcept {
    b.tallies_.add(Breaker::pinned);
  }
  template <class Breaker>
  [[gnu::always_inline]] static void unpin(Breaker& b) noexcept {
    b.tallies_.add(Breaker::unpinned, 1, std::memory_order_release);
  }
  template <class Breaker>
  [[nodiscard]] static std::uint64_t pins(const Breaker& b) noexcept {
    const auto out = b.tallies_.sum(Breaker::unpinned, std::memory_order_acquire);
    return b.tallies_.sum(Breaker::pinned, std::memory_order_acquire) - out;
  }

  // The breaker's clock now, in nanoseconds.
  template <class Breaker>
  [[nodiscard]] static std::int64_t now_ns(const Breaker& b) {
    return b.now_ns();
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
/// nor movable: permits point to it, and must not outlive it (checked in
/// builds without NDEBUG: the destructor aborts with a message).
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
  /// the options are invalid, including a duration too long for `Clock`.
  explicit circuit_breaker(Counter counter = {}, circuit::options opts = {}, Clock clock = {},
                           ErrorPredicate predicate = {})
      // The clock copied, not moved: make_config() reads it, in any order.
      : circuit_breaker(detail::set_peer_t{}, make_config(std::move(counter), std::move(opts), clock), {}, clock,
                        std::move(predicate)) {
    name_ = config_->options.name;
  }

  /// A peer of a `circuit_breaker_set`: made from the set's `config`
  /// (already checked), named `name`, which the set keeps alive.
  circuit_breaker(detail::set_peer_t, std::shared_ptr<const detail::breaker_config<Counter>> config,
                  std::string_view name, Clock clock, ErrorPredicate predicate)
      : listeners_(&detail::listener_list::none()), set_listeners_(&detail::listener_list::none()),
        clock_(std::move(clock)), predicate_(std::move(predicate)), config_(std::move(config)), name_(name),
        recorder_(config_->counter), backoff_(config_->options.open_for) {
    word_.store(detail::make_word(state::closed, 0, flags()), std::memory_order_relaxed);
    last_transition_ = now_ns();
  }

  circuit_breaker(const circuit_breaker&) = delete;
  circuit_breaker& operator=(const circuit_breaker&) = delete;

  ~circuit_breaker() {
#if !defined(NDEBUG)
    if (const auto n = live_permits_.load(std::memory_order_acquire); n != 0) {
      std::fprintf(stderr, "circuit: breaker '%s' destroyed while %lld of its permits are alive (a permit must not "
                   "outlive its breaker)\n", std::string(name_).c_str(), static_cast<long long>(n));
      std::abort();
    }
#endif
    delete cold_.load(std::memory_order_relaxed);
  }

  /// The name given in the options (the peer id in a set).
  [[nodiscard]] std::string_view name() const noexcept { return name_; }
  /// The options it was made with, `name` included (a copy: a set's peers
  /// share one).
  [[nodiscard]] circuit::options options() const {
    auto o = config_->options;
    o.name = std::string(name_);
    return o;
  }
  /// The counter settings it was made with.
  [[nodiscard]] const Counter& counter() const noexcept { return config_->counter; }
  /// The clock it reads (a copy of a `manual_clock` shares the timeline).
  [[nodiscard]] const Clock& clock() const noexcept { return clock_; }

  // ---- Calling through it -------------------------------------------------

  /// A permit for one call, or a refused (false) permit. Never throws.
  /// Closed: one atomic load. Open: one clock read. Half_open: admits up to
  /// `half_open_max_calls` probes at once. Disabled: always admits.
  // Always inlined (see call()); the open refusal too, but its event.
  [[nodiscard, gnu::always_inline]] guard_type try_guard() noexcept {
    const auto w = word_.load(std::memory_order_acquire);
    if (detail::plain_closed(w)) [[likely]] return guard_type(*this, {w});
    if (refused_while_open(w, nullptr) != std::chrono::nanoseconds::zero()) return {};
    return admit_other_states(w, nullptr);
  }

  /// Runs `fn(args...)` through the breaker without an exception for a
  /// refusal: the `call_result` says whether it was refused, what `fn`
  /// returned or threw, and whether that counted as a failure. Never throws
  /// (but what `fn`'s result type's copy or move throws). With
  /// -fno-exceptions, for callables that do not throw.
  // Always inlined, as call() is, with the open refusal; the other
  // states out of line.
  template <class F, class... Args>
    requires std::invocable<F&, Args...>
  [[gnu::always_inline]] call_result<std::invoke_result_t<F&, Args...>> try_call(F&& fn, Args&&... args) {
    using R = std::invoke_result_t<F&, Args...>;
    check_result_type<R>();
    const auto w = word_.load(std::memory_order_acquire);
    if (detail::plain_closed(w)) [[likely]] return run_to_result<R>(detail::ticket{w}, fn, std::forward<Args>(args)...);
    // Built in place: a refusal struct copied into it costs a stalled
    // store-to-load forwarding of its optional.
    std::exception_ptr failure;
    if (const auto left = refused_while_open(w, &failure); left != std::chrono::nanoseconds::zero()) {
      return call_result<R>::refusal(name_, state::open, left, std::move(failure));
    }
    return try_call_other_states<R>(w, fn, std::forward<Args>(args)...);
  }

#if defined(__cpp_exceptions)
  /// A permit for one call; throws `open_circuit_error` when refused.
  // Always inlined, throw included: a throw from a frame of its own costs
  // twice as much to unwind (benchmarks/README.md, open/guard).
  [[nodiscard, gnu::always_inline]] guard_type guard() {
    const auto w = word_.load(std::memory_order_acquire);
    if (detail::plain_closed(w)) [[likely]] return guard_type(*this, {w});
    refusal r;
    auto g = admit_other_states(w, &r);
    if (!g) throw open_circuit_error(std::string(name_), r.in, r.retry_after, std::move(r.last_failure));
    return g;
  }

  /// Runs `fn(args...)` through the breaker: throws `open_circuit_error`
  /// without running it when refused; otherwise records the outcome
  /// (exceptions and, where the predicate looks at them, return values) and
  /// returns what `fn` returned or rethrows what it threw. If the
  /// ErrorPredicate itself throws, the call counts as a failure and the
  /// predicate's exception propagates instead. A callable returning an
  /// awaitable is refused at compile time (use `co_call`), and so is a
  /// result type the predicate looks at results but cannot classify.
  // Always inlined, as are the closed-state admission and success inside:
  // a program with many call sites would otherwise call an out-of-line
  // copy of all of it (benchmarks/README.md, "Scale"). Every other state
  // is handled out of line.
  template <class F, class... Args>
    requires std::invocable<F&, Args...>
  [[gnu::always_inline]] std::invoke_result_t<F&, Args...> call(F&& fn, Args&&... args) {
    check_result_type<std::invoke_result_t<F&, Args...>>();
    const auto w = word_.load(std::memory_order_acquire);
    // Closed: no permit object, the admission word is all it needs.
    if (detail::plain_closed(w)) [[likely]] return run(detail::ticket{w}, fn, std::forward<Args>(args)...);
    return call_other_states(fn, std::forward<Args>(args)...);
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
  /// passed (the breaker has no thread of its own), and half_open back to
  /// open once a probe has been out for `probe_timeout`, emitting the
  /// change.
  [[nodiscard]] state current_state() const {
    auto w = word_.load(std::memory_order_acquire);
    if (detail::state_of(w) == state::open && now_ns() >= open_until_.load(std::memory_order_relaxed)) {
      w = enter_half_open(w);
    }
    if (probe_timeout() != 0 && detail::state_of(w) == state::half_open && detail::probes_of(w) != 0) {
      const auto now = now_ns();
      if (now >= probe_deadline()) {
        w = expire_probes(w, now);
        // As admission does: an open spell already over (the clock's end)
        // is half_open at once.
        if (detail::state_of(w) == state::open && now >= open_until_.load(std::memory_order_relaxed)) {
          w = enter_half_open(w);
        }
      }
    }
    return detail::state_of(w);
  }

  /// A snapshot of the state and the call counts. Like `current_state()`,
  /// does the lazy changes first.
  [[nodiscard]] metrics_type metrics() const {
    (void)current_state();
    return snapshot();
  }

  /// Opens now for the current open duration (cause `tripped`); restarts
  /// that duration when already open, without a new generation or an
  /// event. Does not grow an exponential backoff, and does nothing while
  /// isolated.
  void trip() { steer(state::open, transition_cause::tripped); }

  /// Holds the circuit open until `reset()` or `disable()` (cause
  /// `isolated`). Nothing while already isolated.
  void isolate() { steer(state::isolated, transition_cause::isolated); }

  /// Lets every call through, and nothing moves the state until `trip()`,
  /// `isolate()` or `reset()` (resilience4j DISABLED, an operator's bypass;
  /// cause `disabled`). Calls still count in `metrics().total` and emit
  /// outcome events, but feed no Counter. From any state, isolated
  /// included; nothing while already disabled.
  void disable() { steer(state::disabled, transition_cause::disabled); }

  /// Closes the circuit and clears the counter and the backoff (cause
  /// `reset`); permits taken before it no longer move anything. Always a
  /// new generation and a `state_change` event, closed -> closed included.
  void reset() { steer(state::closed, transition_cause::reset); }

  /// Subscribes `listener`, called with `const event&` for the kinds of
  /// event in `filter`, outside any lock, on the thread that caused it.
  /// Keep the returned subscription: destroying it unsubscribes. A
  /// listener that does not take `success` costs the closed-state success
  /// path nothing. A listener that throws is skipped (counted in
  /// `metrics().listener_errors`); the breaker is already consistent when
  /// listeners run.
  template <class F>
    requires std::invocable<F&, const event&>
  [[nodiscard]] subscription on_event(F&& listener, event_filter filter = event_filter::all) {
    return detail::subscribe(own_listeners(), std::forward<F>(listener), filter);
  }

 private:
  friend guard_type;
  friend struct detail::breaker_access;

  // Indexes into tallies_.
  static constexpr std::size_t succeeded = 0;
  static constexpr std::size_t rejected = 1;
  static constexpr std::size_t pinned = 2;    // a set's callers in (breaker_access::pin)
  static constexpr std::size_t unpinned = 3;  // and out again
  static constexpr std::int64_t never = std::numeric_limits<std::int64_t>::max();

  // What only a breaker that failed, changed state, has listeners or is
  // shared with a fleet needs: made then (cold_locked()), freed with it.
  struct cold_state {
    std::atomic<std::uint64_t> generation{0};
    std::atomic<std::int64_t> probe_deadline{never};  // oldest probe's admission + probe_timeout
    std::atomic<detail::fleet_gate*> fleet{nullptr};   // attached by a fleet integration
    std::atomic<std::uint32_t> fleet_users{0};         // threads inside `fleet` (use_fleet())
    std::atomic<std::uint64_t> listener_errors{0};
    std::shared_ptr<detail::listener_list> listeners;  // made at the first on_event()
    std::vector<std::int64_t> probe_admissions;        // outstanding probes, with a probe_timeout
    // The failure behind the latest change to open, written under the lock
    // through set_open_error(). A refusal copies it under the lock, but
    // only when `has_open_error` says there is one: an open circuit's
    // refusals otherwise share no written cache line.
    std::exception_ptr open_error;
    std::atomic<bool> has_open_error{false};
    void set_open_error(std::exception_ptr e) noexcept {
      has_open_error.store(e != nullptr, std::memory_order_relaxed);  // published by the word's release store
      open_error = std::move(e);
    }
    std::uint32_t probe_successes = 0;
    std::uint64_t failures = 0, ignored = 0, slow = 0, stale_outcomes = 0;
    call_counts base{};  // totals at the last transition
    transition_counts transitions{};
  };

  // metrics() once the lazy changes are done.
  [[nodiscard]] metrics_type snapshot() const {
    const auto now = now_ns();
    std::lock_guard lock(mutex_);
    const auto w = word_.load(std::memory_order_relaxed);
    metrics_type m;
    m.state = detail::state_of(w);
    m.window = recorder_.figures(std::chrono::nanoseconds(now));
    m.total = totals_locked();
    m.since_transition = m.total;
    if (const auto* c = cold_.load(std::memory_order_relaxed)) {
      m.generation = c->generation.load(std::memory_order_relaxed);
      m.since_transition = {.successes = m.total.successes - c->base.successes,
                            .failures = m.total.failures - c->base.failures,
                            .ignored = m.total.ignored - c->base.ignored,
                            .rejections = m.total.rejections - c->base.rejections,
                            .slow = m.total.slow - c->base.slow};
      m.stale_outcomes = c->stale_outcomes;
      m.listener_errors = c->listener_errors.load(std::memory_order_relaxed);
      m.transitions = c->transitions;
    }
    m.last_transition = to_time_point(last_transition_);
    if (m.state == state::open) m.open_until = to_time_point(open_until_.load(std::memory_order_relaxed));
    return m;
  }

  // Why a call was refused, for open_circuit_error and call_result.
  struct refusal {
    state in = state::open;
    std::optional<std::chrono::nanoseconds> retry_after;
    std::exception_ptr last_failure;
  };

  // A state change made under the lock, announced after it.
  struct change {
    bool happened = false;
    state from = state::closed, to = state::closed;
    transition_cause cause = transition_cause::reset;
    std::uint64_t generation = 0;
    std::optional<std::chrono::nanoseconds> open_for = {};
    std::int64_t at = 0;
  };

  // How a settled call went, beyond its outcome, for its event.
  struct settlement {
    std::exception_ptr error = nullptr;
    std::optional<std::chrono::nanoseconds> time = {}, elapsed = {};
    bool slow = false;
    bool from_result = false;
  };

  // What call(), try_call() and permit::record() refuse at compile time.
  template <class R>
  static constexpr void check_result_type() noexcept {
    static_assert(!detail::awaitable_result<R>,
                  "circuit: the callable returns an awaitable: call(), try_call() and wrap() would record the "
                  "creation of the operation, not its outcome; use circuit::co_call (<circuit/asio.hpp>)");
    static_assert(std::is_void_v<R> || !looks_at_results<ErrorPredicate> || result_predicate_for<ErrorPredicate, R>,
                  "circuit: unclassified result: the breaker's ErrorPredicate looks at results but cannot take this "
                  "return type (the notes below name it as R); make the predicate take it, or opt out with "
                  "circuit::other_results_succeed(pred)");
  }

#if defined(__cpp_exceptions)
  // call() in any state but a plain closed one: admits (a probe, a timed
  // call) or throws, then runs.
  template <class F, class... Args>
  [[gnu::noinline]] std::invoke_result_t<F&, Args...> call_other_states(F& fn, Args&&... args) {
    auto g = guard();
    return run(g.release(), fn, std::forward<Args>(args)...);  // run() settles it on every path
  }

  // call() once admitted: runs fn and settles `t` on every path (success,
  // the result as classified, or the exception before rethrowing it).
  template <class F, class... Args>
  [[gnu::always_inline]] std::invoke_result_t<F&, Args...> run(const detail::ticket& t, F& fn, Args&&... args) {
    using R = std::invoke_result_t<F&, Args...>;
    if constexpr (std::is_void_v<R>) {
      try {
        std::invoke(fn, std::forward<Args>(args)...);
      } catch (...) {
        (void)settle_error(t, std::current_exception());
        throw;
      }
      settle_success(t);
    } else {
      R result = [&]() -> R {
        try {
          return std::invoke(fn, std::forward<Args>(args)...);
        } catch (...) {
          (void)settle_error(t, std::current_exception());
          throw;
        }
      }();
      (void)settle_result(t, std::as_const(result));
      return std::forward<R>(result);
    }
  }
#endif

  // try_call() in every state but closed and open-before-its-deadline.
  template <class R, class F, class... Args>
  [[gnu::noinline]] call_result<R> try_call_other_states(detail::word_t w, F& fn, Args&&... args) {
    refusal r;
    auto g = admit_other_states(w, &r);
    if (!g) return call_result<R>::refusal(name_, r.in, r.retry_after, std::move(r.last_failure));
    return run_to_result<R>(g.release(), fn, std::forward<Args>(args)...);  // settled there on every path
  }

  // try_call() once admitted: runs fn and settles `t` exactly once, on
  // every path. Only fn's own call is inside the try: an exception from
  // moving its result into the call_result propagates, settled already.
  template <class R, class F, class... Args>
  [[gnu::always_inline]] call_result<R> run_to_result(const detail::ticket& t, F& fn, Args&&... args) {
    if constexpr (std::is_void_v<R>) {
#if defined(__cpp_exceptions)
      try {
        std::invoke(fn, std::forward<Args>(args)...);
      } catch (...) {
        return thrown_result<R>(t, std::current_exception());
      }
#else
      std::invoke(fn, std::forward<Args>(args)...);
#endif
      return call_result<R>::returned(settle_result_void(t) == outcome::failure);
    } else {
      std::optional<R> value;
#if defined(__cpp_exceptions)
      try {
        value.emplace(std::invoke(fn, std::forward<Args>(args)...));
      } catch (...) {
        return thrown_result<R>(t, std::current_exception());
      }
      outcome o = outcome::failure;
      try {
        o = settle_result(t, std::as_const(*value));
      } catch (...) {
        auto r = call_result<R>::returned(true, std::move(*value));
        r.predicate_threw(std::current_exception());
        return r;
      }
#else
      value.emplace(std::invoke(fn, std::forward<Args>(args)...));
      const auto o = settle_result(t, std::as_const(*value));
#endif
      return call_result<R>::returned(o == outcome::failure, std::move(*value));
    }
  }

#if defined(__cpp_exceptions)
  // try_call()'s fn threw `e`: classified and settled, and held.
  template <class R>
  call_result<R> thrown_result(const detail::ticket& t, std::exception_ptr e) noexcept {
    try {
      const auto o = settle_error(t, e);
      return call_result<R>::thrown(std::move(e), o == outcome::failure);
    } catch (...) {
      return call_result<R>::thrown(std::current_exception(), true);  // the predicate threw
    }
  }
#endif

  // The word's fixed flags: calls are timed when slow calls count or
  // `time_calls` asks for it.
  [[nodiscard]] detail::word_t flags() const noexcept {
    return config_->slow_call_ns != 0 || config_->options.time_calls ? detail::timed_bit : 0;
  }

  // ---- Time ---------------------------------------------------------------

  [[nodiscard]] std::int64_t now_ns() const noexcept(noexcept(std::declval<const Clock&>().now())) {
    return detail::now_ns(clock_);
  }
  [[nodiscard]] static time_point to_time_point(std::int64_t ns) {
    return time_point(std::chrono::duration_cast<duration>(std::chrono::nanoseconds(ns)));
  }
  [[nodiscard]] static std::int64_t saturating_add(std::int64_t t, std::int64_t d) noexcept {
    return t > std::numeric_limits<std::int64_t>::max() - d ? std::numeric_limits<std::int64_t>::max() : t + d;
  }

  // The longest duration the clock's `duration` holds, in nanoseconds
  // (saturated: a coarse clock's may hold more than nanoseconds do).
  [[nodiscard]] static constexpr std::int64_t clock_max_ns() noexcept {
    using period = typename duration::period;
    const long double ns = static_cast<long double>(duration::max().count()) * period::num * 1e9L / period::den;
    return ns >= 9223372036854775807.0L ? std::numeric_limits<std::int64_t>::max() : static_cast<std::int64_t>(ns);
  }

  // A duration setting must fit the clock's duration; one that is added to
  // the time (an open spell, a probe's deadline) must also leave the time
  // now plus it within the clock's time points (kept as nanoseconds here).
  static void require_fits_clock(std::chrono::nanoseconds d, std::optional<std::int64_t> added_to, const char* owner,
                                 const char* field) {
    const bool overflows =
        added_to && *added_to > 0 && d.count() > std::numeric_limits<std::int64_t>::max() - *added_to;
    if (d.count() > clock_max_ns() || overflows) {
      detail::invalid(owner, field, "is too long for the breaker's clock (its time points would overflow)");
    }
  }

  // The checked configuration: throws std::invalid_argument naming the
  // field (see the constructor).
  static std::shared_ptr<const detail::breaker_config<Counter>> make_config(Counter counter, circuit::options o,
                                                                           const Clock& clock) {
    checked(counter, o, clock);
    const auto slow = o.slow_call ? o.slow_call->count() : 0;
    const auto probe_timeout = o.probe_timeout ? o.probe_timeout->count() : 0;
    return std::make_shared<const detail::breaker_config<Counter>>(
        detail::breaker_config<Counter>{std::move(o), std::move(counter), slow, probe_timeout});
  }

  static void checked(const Counter& counter, const circuit::options& o, const Clock& clock) {
    counter.validate();
    circuit::validate(o);
    const std::optional<std::int64_t> now = detail::now_ns(clock);
    std::visit(
        [&](const auto& d) {
          if constexpr (std::is_same_v<std::decay_t<decltype(d)>, fixed>) {
            require_fits_clock(d.duration, now, "fixed", "duration");
          } else {
            require_fits_clock(d.initial, now, "exponential", "initial");
            require_fits_clock(d.max, now, "exponential", "max");
          }
        },
        o.open_for);
    if (o.slow_call) require_fits_clock(*o.slow_call, std::nullopt, "options", "slow_call");
    if (o.probe_timeout) require_fits_clock(*o.probe_timeout, now, "options", "probe_timeout");
    if constexpr (requires { std::chrono::nanoseconds(counter.window); }) {
      require_fits_clock(std::chrono::nanoseconds(counter.window), std::nullopt, "counter", "window");
    }
  }

  // ---- Admission ----------------------------------------------------------

  // Every state but a plain closed one. Loops only when the word moved.
  [[gnu::noinline]] guard_type admit_other_states(detail::word_t w, refusal* why) noexcept {
    for (;;) {
      switch (detail::state_of(w)) {
        case state::closed:
        case state::disabled:  // every call passes, no probe limit
          return guard_type(*this, {w, timed(w) ? now_ns() : 0});
        case state::half_open: {
          if (probe_timeout() != 0) {
            const auto now = now_ns();
            if (detail::probes_of(w) != 0 && now >= probe_deadline()) {
              w = expire_probes(w, now);
              continue;
            }
            return admit_timed_probe(now, why);
          }
          if (detail::probes_of(w) >= probe_limit()) return refuse(w, std::chrono::nanoseconds::zero(), why, std::nullopt);
          if (const auto use = use_fleet(); use.gate != nullptr) return admit_fleet_probe(w, *use.gate, why);
          const auto at = timed(w) ? now_ns() : 0;
          if (word_.compare_exchange_weak(w, w + detail::one_probe, std::memory_order_acquire)) {
            return guard_type(*this, {w, at});
          }
          continue;  // w was reloaded
        }
        case state::open: {
          const auto now = now_ns();
          const auto until = open_until_.load(std::memory_order_relaxed);
          if (now >= until) {
            w = enter_half_open(w);
            continue;
          }
          return refuse(w, time_left(until, now), why, now);
        }
        case state::isolated:
          return refuse(w, std::nullopt, why, std::nullopt);
      }
    }
  }

  // A probe when probe_timeout is set: admitted under the lock, so that its
  // admission time is listed before anyone checks the deadline. (With a
  // probe_timeout every change of the probe bits is made under the lock.)
  guard_type admit_timed_probe(std::int64_t now, refusal* why) noexcept {
    const auto use = use_fleet();
    auto* const fleet = use.gate;
    if (fleet != nullptr) {
      // Ask the fleet only for a probe that has a local slot.
      const auto w = word_.load(std::memory_order_acquire);
      if (detail::state_of(w) != state::half_open) return admit_other_states(w, why);
      if (detail::probes_of(w) >= probe_limit() || !fleet->take_probe()) {
        return refuse(w, std::chrono::nanoseconds::zero(), why, now);
      }
    }
    std::unique_lock lock(mutex_);
    const auto w = word_.load(std::memory_order_relaxed);
    if (detail::state_of(w) != state::half_open || detail::probes_of(w) >= probe_limit()) {
      lock.unlock();
      if (fleet != nullptr) fleet->probe_settled(outcome::ignored);  // the reservation goes back unused
      if (detail::state_of(w) == state::half_open) return refuse(w, std::chrono::nanoseconds::zero(), why, now);
      return admit_other_states(word_.load(std::memory_order_acquire), why);  // it changed state meanwhile
    }
    word_.store(w + detail::one_probe, std::memory_order_release);
    auto& cold = cold_locked();
    cold.probe_admissions.push_back(now);  // out of memory here terminates (noexcept)
    const auto deadline = std::min(cold.probe_deadline.load(std::memory_order_relaxed), saturating_add(now, probe_timeout()));
    cold.probe_deadline.store(deadline, std::memory_order_relaxed);
    return guard_type(*this, {w, now});
  }

  // A probe of a breaker shared with a fleet: only with one of the fleet's
  // reservations, given back if the local slot is gone after all.
  guard_type admit_fleet_probe(detail::word_t w, detail::fleet_gate& fleet, refusal* why) noexcept {
    if (!fleet.take_probe()) return refuse(w, std::chrono::nanoseconds::zero(), why, std::nullopt);
    const auto at = timed(w) ? now_ns() : 0;
    while (detail::state_of(w) == state::half_open && detail::probes_of(w) < probe_limit()) {
      if (word_.compare_exchange_weak(w, w + detail::one_probe, std::memory_order_acquire)) {
        return guard_type(*this, {w, at});
      }
    }
    fleet.probe_settled(outcome::ignored);
    return admit_other_states(w, why);
  }

  // Open and not yet due for a probe: refused inline, by try_guard() and
  // try_call(), so that many call sites do not each pay a call for it.
  // Returns the time until a probe is due (> 0), or zero and counts nothing
  // when the call is not refused so. The deadline read after the acquired
  // word is that spell's or a later one (I2). `failure`, unless null,
  // gets the failure behind the circuit's opening (reject()).
  [[nodiscard, gnu::always_inline]] std::chrono::nanoseconds refused_while_open(detail::word_t w,
                                                                              std::exception_ptr* failure) noexcept {
    if (detail::state_of(w) != state::open) return {};
    const auto now = now_ns();
    const auto until = open_until_.load(std::memory_order_relaxed);
    if (now >= until) return {};
    reject(w, now, failure);
    return time_left(until, now);
  }

  // Every refusal: counted; the failure behind the circuit's opening copied
  // into `failure` unless null; then announced (after the copy: a
  // rejection listener may steer the breaker).
  [[gnu::always_inline]] void reject(detail::word_t w, std::optional<std::int64_t> now,
                                     std::exception_ptr* failure) noexcept {
    tallies_.add(rejected);
    if (failure != nullptr) *failure = open_failure();
    if (hears(event_kind::rejected)) [[unlikely]] announce_rejection(w, now);
  }

  // From `now` to `until` (later), as a retry_after.
  [[nodiscard]] static std::chrono::nanoseconds time_left(std::int64_t until, std::int64_t now) noexcept {
    const auto left = static_cast<std::uint64_t>(until) - static_cast<std::uint64_t>(now);
    return std::chrono::nanoseconds(
        static_cast<std::int64_t>(std::min<std::uint64_t>(left, std::numeric_limits<std::int64_t>::max())));
  }

  guard_type refuse(detail::word_t w, std::optional<std::chrono::nanoseconds> retry_after, refusal* why,
                    std::optional<std::int64_t> now) noexcept {
    const auto s = detail::state_of(w);
    if (why != nullptr) *why = {s, retry_after, nullptr};
    reject(w, now, why != nullptr && s != state::isolated ? &why->last_failure : nullptr);
    return {};
  }

  // The failure behind the latest change to open, or null: locked only
  // when there is one (cold_state::set_open_error()).
  [[nodiscard, gnu::always_inline]] std::exception_ptr open_failure() const noexcept {
    const auto* cold = cold_.load(std::memory_order_acquire);
    if (cold == nullptr || !cold->has_open_error.load(std::memory_order_relaxed)) return nullptr;
    return open_failure_locked(*cold);
  }
  [[gnu::noinline]] std::exception_ptr open_failure_locked(const cold_state& cold) const noexcept {
    std::lock_guard lock(mutex_);
    return cold.open_error;
  }

  // The lazy open -> half_open change, once open_for has passed (checked by
  // the caller). Returns the word to retry admission with.
  detail::word_t enter_half_open(detail::word_t seen) const {
    const auto now = now_ns();
    return change_state(now, [&]() -> std::optional<transition> {
      // Re-checked under the lock: a trip() since the caller looked restarts
      // open_until_ without changing the word (I2).
      if (word_.load(std::memory_order_relaxed) != seen || now < open_until_.load(std::memory_order_relaxed)) {
        return std::nullopt;
      }
      return transition{state::half_open, transition_cause::open_elapsed};
    });
  }

  // The lazy half_open -> open change, once a probe has been out for
  // probe_timeout (checked by the caller): as a failed probe, the backoff
  // grows. Returns the word to retry admission with.
  detail::word_t expire_probes(detail::word_t seen, std::int64_t now) const {
    return change_state(now, [&]() -> std::optional<transition> {
      const auto w = word_.load(std::memory_order_relaxed);
      if (detail::state_of(w) != state::half_open || detail::generation_of(w) != detail::generation_of(seen) ||
          cold_locked().probe_admissions.empty() || now < probe_deadline()) {
        return std::nullopt;
      }
      return transition{state::open, transition_cause::probe_timed_out};
    });
  }

  // Trip, isolate, disable, reset: the operator's changes.
  void steer(state to, transition_cause cause) {
    const auto now = now_ns();
    (void)change_state(now, [&]() -> std::optional<transition> {
      const auto s = detail::state_of(word_.load(std::memory_order_relaxed));
      if (to == state::open && s == state::isolated) return std::nullopt;  // trip() does not end isolation
      if (to != state::closed && s == to) {
        // Already there: trip() restarts the open duration, without a new
        // generation or an event; isolate() and disable() do nothing.
        if (to == state::open) {
          open_until_.store(saturating_add(now, backoff_.next(config_->options.open_for, false).count()), std::memory_order_relaxed);
          cold_locked().set_open_error(nullptr);
        }
        return std::nullopt;
      }
      return transition{to, cause};
    });
  }

  // A change another process of the fleet made (the table's `fleet` row).
  bool adopt_fleet_state(state to, std::chrono::nanoseconds open_left, bool backoff_grew, transition_cause cause) {
    const auto now = now_ns();
    bool changed = false;
    (void)change_state(now, [&]() -> std::optional<transition> {
      const auto s = detail::state_of(word_.load(std::memory_order_relaxed));
      const auto until = saturating_add(now, std::max<std::int64_t>(open_left.count(), 0));
      if (to == state::open && s == state::open) {
        open_until_.store(until, std::memory_order_relaxed);  // the same spell (I2: no new word)
        return std::nullopt;
      }
      if (s == to) return std::nullopt;
      changed = true;
      transition t{to, cause};
      if (to == state::open) {
        t.open_until = until;
        t.grow = backoff_grew;
      }
      return t;
    });
    return changed;
  }

  // ---- Settlement ---------------------------------------------------------

  [[nodiscard]] static constexpr bool timed(detail::word_t w) noexcept { return (w & detail::timed_bit) != 0; }

  // The hot path: a success admitted in closed, with calls not timed.
  // No lock, no allocation, no shared write, and no clock read for the
  // counters that do not weigh successes by time.
  [[gnu::always_inline]] void settle_success(const detail::ticket& t) noexcept {
    if (!detail::plain_closed(t.word)) [[unlikely]] {
      (void)settle(t, outcome::success, {});
      return;
    }
    record_closed_success(t.word, [this] { return std::chrono::nanoseconds(now_ns()); }, nullptr);
  }

  // Every other settlement: timing (elapsed, slow calls), then
  // settle_locked() unless it is a success that needs no lock after all.
  // Returns the outcome recorded (a slow success is a failure).
  [[gnu::noinline]] outcome settle(const detail::ticket& t, outcome o, settlement&& how) noexcept {
    if (o == outcome::success && detail::plain_closed(t.word)) {
      settle_success(t);
      return o;
    }
    // A failure feeds the counter, a probe's outcome may change the state:
    // both need the time.
    const auto now = now_ns();
    how.time = std::chrono::nanoseconds(now);
    if (timed(t.word)) {
      // Exact across the whole range (unsigned); a clock that stepped back
      // reads as no time at all.
      const auto span = now > t.admitted_at ? static_cast<std::uint64_t>(now) - static_cast<std::uint64_t>(t.admitted_at)
                                            : std::uint64_t{0};
      how.elapsed = std::chrono::nanoseconds(
          static_cast<std::int64_t>(std::min<std::uint64_t>(span, std::numeric_limits<std::int64_t>::max())));
      if (const auto slow = config_->slow_call_ns;
          o == outcome::success && slow != 0 && span > static_cast<std::uint64_t>(slow)) {
        o = outcome::failure;
        how.slow = true;
      }
    }
    if (o == outcome::success && t.admitted_in() == state::closed) {
      record_closed_success(t.word, [now] { return std::chrono::nanoseconds(now); }, how);
      return o;
    }
    if (o == outcome::success && t.admitted_in() == state::disabled) {
      // Counted, fed to no counter; unequal words mean stale (I1).
      tallies_.add(succeeded);
      if (word_.load(std::memory_order_acquire) != t.word) note_stale();
      emit_outcome(event_kind::success, t, how);
      return o;
    }
    settle_locked(t, o, how, now);
    return o;
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
  // `how` is the timing of a timed call, or nullptr on the hot path (which
  // then builds no settlement at all unless someone listens).
  template <class ReadNow, class How>
  [[gnu::always_inline]] void record_closed_success(detail::word_t admitted, const ReadNow& read_now,
                                                    const How& how) noexcept {
    tallies_.add(succeeded);
    const bool heard = hears(event_kind::success);
    // Equal means current (I1).
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
    if (heard) [[unlikely]] {
      if constexpr (std::is_same_v<How, std::nullptr_t>) {
        emit_outcome(event_kind::success, detail::ticket{admitted}, settlement{});
      } else {
        emit_outcome(event_kind::success, detail::ticket{admitted}, how);
      }
    }
  }

  // Failures, ignored outcomes, probes: under the lock, where the counter
  // decides and transitions happen. Kept out of line: only settle_success()
  // is on the hot path.
  [[gnu::noinline]] void settle_locked(const detail::ticket& t, outcome o, const settlement& how,
                                       std::int64_t now) noexcept {
    const auto kind = o == outcome::success   ? event_kind::success
                      : o == outcome::failure ? event_kind::failure
                                              : event_kind::ignored;
    // A probe of a breaker shared with a fleet: the fleet hears how it went
    // (a stale one as ignored), after the lock.
    const auto use = t.admitted_in() == state::half_open ? use_fleet() : fleet_use{};
    auto* const fleet = use.gate;
    outcome for_fleet = outcome::ignored;
    (void)change_state(
        now,
        [&]() -> std::optional<transition> {
          const auto w = word_.load(std::memory_order_relaxed);
          auto& cold = cold_locked();
          const bool current = detail::generation_of(w) == t.generation();
          const bool probe = current && t.admitted_in() == state::half_open;
          assert(!probe || detail::probes_of(w) > 0);  // I3: a current probe holds a slot
          if (probe) probe_settled(t);
          if (probe) for_fleet = o;
          if (!current) ++cold.stale_outcomes;
          switch (o) {
            case outcome::success:
              tallies_.add(succeeded);
              if (!probe) return std::nullopt;
              // Shared with a fleet: the fleet counts probe successes and closes it.
              if (fleet == nullptr && ++cold.probe_successes >= config_->options.success_threshold) {
                return transition{state::closed, transition_cause::probes_succeeded};
              }
              give_back_probe();
              return std::nullopt;
            case outcome::failure:
              ++cold.failures;
              if (how.slow) ++cold.slow;
              if (probe) return transition{state::open, transition_cause::probe_failed, how.error};
              if (current && t.admitted_in() == state::closed && recorder_.on_failure(std::chrono::nanoseconds(now))) {
                return transition{state::open, transition_cause::counter_tripped, how.error};
              }
              return std::nullopt;
            case outcome::ignored:
              ++cold.ignored;
              if (probe) give_back_probe();
              return std::nullopt;
          }
          return std::nullopt;
        },
        [&] {
          emit_outcome(kind, t, how);  // the outcome's event comes before the change it causes
          if (fleet != nullptr) fleet->probe_settled(for_fleet);
        });
  }

  // Classifies an exception and settles; returns the outcome recorded.
  outcome settle_error(const detail::ticket& t, std::exception_ptr e) {
    if (!e) return settle(t, outcome::failure, {});  // nothing to classify
    return settle_classified(t, e);
  }

  // Classifies a returned value (where the predicate takes it) and settles;
  // returns the outcome recorded.
  template <class R>
  outcome settle_result(const detail::ticket& t, const R& result) {
    check_result_type<R>();
    if constexpr (result_predicate_for<ErrorPredicate, R>) {
      return settle_classified(t, result);
    } else {
      return settle_result_void(t);
    }
  }

  // Asks the predicate about `x`, an exception or a returned value, and
  // settles with its verdict. If the predicate itself throws, the call is a
  // failure (carrying `x` when it is an exception) and the predicate's
  // exception propagates.
  template <class X>
  outcome settle_classified(const detail::ticket& t, const X& x) {
    constexpr bool is_exception = std::is_same_v<X, std::exception_ptr>;
    const auto details = [&](outcome o) -> settlement {
      if constexpr (is_exception) {
        return {.error = o == outcome::failure ? x : nullptr};
      } else {
        return {.from_result = o == outcome::failure};
      }
    };
#if defined(__cpp_exceptions)
    outcome o = outcome::failure;
    try {
      o = to_outcome(predicate_(x));
    } catch (...) {
      if constexpr (is_exception) {
        (void)settle(t, outcome::failure, details(outcome::failure));
      } else {
        (void)settle(t, outcome::failure, {});  // not decided on the value: the predicate failed
      }
      throw;
    }
    return settle(t, o, details(o));
#else
    const auto o = to_outcome(predicate_(x));
    return settle(t, o, details(o));
#endif
  }

  // A call that returned nothing to classify: a success (unless slow).
  outcome settle_result_void(const detail::ticket& t) noexcept {
    if (detail::plain_closed(t.word)) [[likely]] {
      settle_success(t);
      return outcome::success;
    }
    return settle(t, outcome::success, {});
  }

  // Under the lock: a probe of the current half_open spell is done without
  // deciding. Admissions race on the word, transitions cannot (I3).
  void give_back_probe() noexcept {
    [[maybe_unused]] const auto before = word_.fetch_sub(detail::one_probe, std::memory_order_release);
    assert(detail::state_of(before) == state::half_open && detail::probes_of(before) > 0);
  }

  // Under the lock: a probe of the current spell settled; with a
  // probe_timeout, its admission leaves the list the deadline comes from.
  void probe_settled(const detail::ticket& t) noexcept {
    if (probe_timeout() == 0) return;
    auto& admissions = cold_locked().probe_admissions;
    if (const auto i = std::find(admissions.begin(), admissions.end(), t.admitted_at); i != admissions.end()) {
      *i = admissions.back();
      admissions.pop_back();
    }
    const auto oldest = std::min_element(admissions.begin(), admissions.end());
    cold_locked().probe_deadline.store(oldest == admissions.end() ? never : saturating_add(*oldest, probe_timeout()),
                          std::memory_order_relaxed);
  }

  [[gnu::noinline, gnu::cold]] void note_stale() noexcept {
    std::lock_guard lock(mutex_);
    ++cold_locked().stale_outcomes;
  }

  // ---- Transitions (the table at the top of this file) ---------------------

  // A state change to make: where to, why, and the failure behind it.
  struct transition {
    state to;
    transition_cause cause;
    std::exception_ptr error = nullptr;
    // A change adopted from the fleet: the open spell's deadline, and
    // whether the backoff grows with it.
    std::optional<std::int64_t> open_until = {};
    bool grow = false;
  };

  // Nothing to run between the unlock and the announcement.
  struct no_outcome_event {
    void operator()() const noexcept {}
  };

  // The one entry point of every state change in the table at the top of
  // this file: under the lock, `decide` looks at the breaker (and may count
  // the outcome that causes the change) and returns the transition to make,
  // if any; it is made, the lock released, `outcome_event` run (an
  // outcome's own event comes before the change it causes), and the change
  // announced outside the lock. Returns the word after it.
  template <class Decide, class OutcomeEvent = no_outcome_event>
  detail::word_t change_state(std::int64_t now, Decide&& decide, OutcomeEvent&& outcome_event = {}) const noexcept {
    std::unique_lock lock(mutex_);
    change c;
    if (std::optional<transition> t = decide()) c = transition_locked(std::move(*t), now);
    lock.unlock();
    outcome_event();
    announce(c);
    return word_.load(std::memory_order_acquire);
  }

  // The mechanics of every state change, under the lock: a new generation (so
  // permits of the old one move nothing), the per-state bookkeeping, then
  // the word that publishes it all, then the counter's reset. `error` is
  // the exception of the failure that caused a change to open, if any.
  change transition_locked(transition t, std::int64_t now) const noexcept {
    const auto to = t.to;
    const auto cause = t.cause;
    const auto from = detail::state_of(word_.load(std::memory_order_relaxed));
    auto& cold = cold_locked();
    const auto generation = cold.generation.load(std::memory_order_relaxed) + 1;
    cold.generation.store(generation, std::memory_order_relaxed);
    cold.probe_successes = 0;
    cold.probe_admissions.clear();
    cold.probe_deadline.store(never, std::memory_order_relaxed);
    change c{.happened = true, .from = from, .to = to, .cause = cause, .generation = generation, .at = now};
    switch (to) {
      case state::open: {  // tripped by the counter, a failed or timed-out probe, or trip()
        const bool grow =
            cause == transition_cause::probe_failed || cause == transition_cause::probe_timed_out || t.grow;
        const auto d = backoff_.next(config_->options.open_for, grow);
        const auto until = t.open_until.value_or(saturating_add(now, d.count()));
        open_until_.store(until, std::memory_order_relaxed);
        cold.set_open_error(std::move(t.error));
        c.open_for = t.open_until ? std::chrono::nanoseconds(until > now ? until - now : 0) : d;
        break;
      }
      case state::closed:  // reset() or enough probe successes
        backoff_.restart();
        // Not kept while closed (it may hold what the exception owns); a
        // refusal that raced this change may find none.
        cold.set_open_error(nullptr);
        break;
      case state::isolated:  // isolate()
      case state::disabled:  // disable()
        cold.set_open_error(nullptr);
        break;
      case state::half_open:  // open_for has passed; open_error stays for its refusals
        break;
    }
    last_transition_ = now;
    cold.base = totals_locked();
    cold.transitions.add(from, to);
    // Publishes everything above (I2); the new word holds no probe (I3).
    word_.store(detail::make_word(to, generation, flags()), std::memory_order_release);
    // After the word: a lock-free success that sees the reset (a recorder's
    // release) then sees the new word too, and knows it is stale
    // (failure_rate_window). One admitted just now may still be wiped from
    // the window; it stays in the totals.
    if (to == state::closed) recorder_.reset();
    return c;
  }

  // ---- Events and counts --------------------------------------------------

  // The generation a 32-bit word generation `low` stands for: the latest
  // one with those low bits (I4).
  [[nodiscard]] std::uint64_t widen(std::uint32_t low) const noexcept {
    const auto* cold = cold_.load(std::memory_order_acquire);
    const auto now = cold != nullptr ? cold->generation.load(std::memory_order_relaxed) : 0;
    return now - static_cast<std::uint32_t>(static_cast<std::uint32_t>(now) - low);
  }

  // True when a listener of this breaker, or of the set it belongs to,
  // takes events of kind `k`: two independent relaxed loads.
  [[nodiscard, gnu::always_inline]] bool hears(event_kind k) const noexcept {
    // Acquire (a plain load on x86): a list made by the first on_event() is
    // seen whole.
    return listeners_.load(std::memory_order_acquire)->wants(k) || set_listeners_->wants(k);
  }

  void announce(const change& c) const noexcept {
    if (!c.happened || !hears(event_kind::state_change)) return;
    event e{.kind = event_kind::state_change, .name = name_, .from = c.from, .to = c.to};
    e.generation = c.generation;
    e.cause = c.cause;
    e.open_for = c.open_for;
    e.time = std::chrono::nanoseconds(c.at);
    dispatch(e);
  }

  // `now`: the time, when the refusal read the clock.
  [[gnu::noinline, gnu::cold]] void announce_rejection(detail::word_t w, std::optional<std::int64_t> now) const noexcept {
    event e{.kind = event_kind::rejected, .name = name_, .from = detail::state_of(w), .to = detail::state_of(w)};
    e.generation = widen(detail::generation_of(w));
    if (now) e.time = std::chrono::nanoseconds(*now);
    dispatch(e);
  }

  void emit_outcome(event_kind kind, const detail::ticket& t, const settlement& how) const noexcept {
    if (!hears(kind)) return;
    event e{.kind = kind, .name = name_, .from = t.admitted_in(), .to = t.admitted_in()};
    if (kind == event_kind::failure) e.error = how.error;
    e.generation = widen(t.generation());
    e.time = how.time;
    e.elapsed = how.elapsed;
    e.from_result = how.from_result;
    dispatch(e);
  }

  [[gnu::noinline]] void dispatch(const event& e) const noexcept {
    // Only to a list that takes the kind: the empty list every breaker
    // starts with is shared, and dispatching enters its reader gate.
    const auto* own = listeners_.load(std::memory_order_acquire);
    const auto failed = (own->wants(e.kind) ? own->dispatch(e) : 0) +
                        (set_listeners_->wants(e.kind) ? set_listeners_->dispatch(e) : 0);
    if (failed != 0) [[unlikely]] {
      std::lock_guard lock(mutex_);
      cold_locked().listener_errors.fetch_add(failed, std::memory_order_relaxed);
    }
  }

  [[nodiscard]] call_counts totals_locked() const noexcept {
    call_counts t{.successes = tallies_.sum(succeeded), .rejections = tallies_.sum(rejected)};
    if (const auto* cold = cold_.load(std::memory_order_relaxed)) {
      t.failures = cold->failures;
      t.ignored = cold->ignored;
      t.slow = cold->slow;
    }
    return t;
  }

  // ---- What only a busy breaker needs --------------------------------------

  // Under mutex_: the cold state, made at first need. Out of memory here
  // (a few hundred bytes, once per breaker) terminates: the paths that
  // need it are noexcept.
  cold_state& cold_locked() const noexcept {
    if (auto* c = cold_.load(std::memory_order_relaxed)) [[likely]] return *c;
    return make_cold_locked();
  }
  [[gnu::noinline]] cold_state& make_cold_locked() const noexcept {
    auto* c = new cold_state{};
    cold_.store(c, std::memory_order_release);  // read without the lock by probe_deadline(), use_fleet(), widen()
    return *c;
  }

  // Lock-free readers of the cold state (defaults while there is none).
  [[nodiscard]] std::int64_t probe_deadline() const noexcept {
    const auto* c = cold_.load(std::memory_order_acquire);
    return c != nullptr ? c->probe_deadline.load(std::memory_order_relaxed) : never;
  }
  // The attached fleet gate, held for the life of this object so that a
  // detach waits for it: no read-modify-write unless one is attached.
  struct fleet_use {
    cold_state* cold = nullptr;
    detail::fleet_gate* gate = nullptr;
    fleet_use() noexcept = default;
    fleet_use(cold_state* c, detail::fleet_gate* g) noexcept : cold(c), gate(g) {}
    fleet_use(fleet_use&& o) noexcept : cold(std::exchange(o.cold, nullptr)), gate(std::exchange(o.gate, nullptr)) {}
    fleet_use& operator=(fleet_use&&) = delete;
    ~fleet_use() {
      if (cold != nullptr) cold->fleet_users.fetch_sub(1, std::memory_order_release);
    }
  };
  [[nodiscard]] fleet_use use_fleet() const noexcept {
    auto* c = cold_.load(std::memory_order_acquire);
    if (c == nullptr || c->fleet.load(std::memory_order_relaxed) == nullptr) return {};
    // Counted in, then loaded: a detach that stores null before it is seen
    // waits for this count (both seq_cst).
    c->fleet_users.fetch_add(1, std::memory_order_seq_cst);
    if (auto* g = c->fleet.load(std::memory_order_seq_cst)) return {c, g};
    c->fleet_users.fetch_sub(1, std::memory_order_release);
    return {};
  }

  [[nodiscard]] std::int64_t probe_timeout() const noexcept { return config_->probe_timeout_ns; }
  [[nodiscard]] std::uint32_t probe_limit() const noexcept { return config_->options.half_open_max_calls; }

  // This breaker's own listener list, made at the first subscription.
  std::shared_ptr<detail::listener_list>& own_listeners() {
    std::lock_guard lock(mutex_);
    auto& cold = cold_locked();
    if (cold.listeners == nullptr) {
      cold.listeners = std::make_shared<detail::listener_list>();
      listeners_.store(cold.listeners.get(), std::memory_order_release);
    }
    return cold.listeners;
  }

  // Debug builds count live permits, so that the destructor can tell one
  // outlived the breaker. (The member exists in every build: one layout.)
  void permit_made() noexcept {
#if !defined(NDEBUG)
    live_permits_.fetch_add(1, std::memory_order_relaxed);
#endif
  }
  void permit_done() noexcept {
#if !defined(NDEBUG)
    live_permits_.fetch_sub(1, std::memory_order_release);
#endif
  }


  // State-machine members are mutable: a const breaker still moves from
  // open to half_open when its state is read (the lazy transition).

  // Read on every call: the word, what the open path compares with, and
  // whether anyone listens, here or to the set this breaker belongs to (a
  // list that wants nothing until someone subscribes; two independent
  // loads after these), and this thread's tallies.
  mutable std::atomic<detail::word_t> word_{0};
  mutable std::atomic<std::int64_t> open_until_{0};
  std::atomic<const detail::listener_list*> listeners_;
  const detail::listener_list* set_listeners_;
  // Written per success and per rejection (and by a set's pins), each
  // thread in its own lane cell, made at the thread's first call here.
  detail::striped_counters<4> tallies_;
  [[no_unique_address]] Clock clock_;
  [[no_unique_address]] ErrorPredicate predicate_;
  const std::shared_ptr<const detail::breaker_config<Counter>> config_;
  std::string_view name_;  // config_'s, or the set's copy of the peer id
  mutable typename Counter::recorder recorder_;

  // The rest changes only under mutex_ (the atomics are read without it).
  mutable detail::small_mutex mutex_;
  std::atomic<std::int32_t> live_permits_{0};  // debug builds only
  mutable std::int64_t last_transition_ = 0;
  mutable detail::backoff backoff_;
  mutable std::atomic<cold_state*> cold_{nullptr};
};

}  // namespace circuit
