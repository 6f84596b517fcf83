#pragma once
// co_call: a circuit breaker (or one peer of a set) in front of an Asio C++20
// coroutine, with an optional deadline. Needs standalone Asio (1.22 or later)
// and the CMake target circuit::asio; not included by <circuit/circuit.hpp>.
//
// Why call() cannot do this: calling a function that returns an awaitable
// only creates the work. Its outcome arrives after a suspension, and a
// scope-exit permit cannot tell a finished call from a coroutine frame that
// was destroyed while suspended (no exception is in flight either way). So
// co_call takes a permit, owns it across the suspension, and settles it
// explicitly for every ending:
//
//   the operation returns or throws   as the ErrorPredicate says
//   our deadline fires first          a failure, whatever the predicate says
//   the caller's own cancellation     ignored (a probe slot comes back)
//   the frame is destroyed unsettled  ignored
//   refused                           a rejection; the operation never starts
//
// The deadline race runs the operation and a timer as an Asio parallel group
// waiting for the first to finish (`wait_for_one`), not awaitable_operators'
// `||`, which waits for the first *success*: an EOF after 1 ms would sit out
// the whole deadline and be reported as a timeout.

#if !defined(__cpp_exceptions)
#error "<circuit/asio.hpp> needs exceptions: co_call reports refusals, deadlines and cancellations by throwing. Build without -fno-exceptions, or leave this header out."
#elif !defined(__cpp_impl_coroutine)
#error "<circuit/asio.hpp> needs C++20 coroutines: compile with -std=c++20 (g++ 10 also needs -fcoroutines)."
#else

#include <asio/awaitable.hpp>

#if !defined(ASIO_HAS_CO_AWAIT)
#error "<circuit/asio.hpp>: Asio's coroutine support is off (ASIO_HAS_CO_AWAIT is not defined). With clang and Asio 1.22, define ASIO_HAS_CO_AWAIT=1 and ASIO_HAS_STD_COROUTINE=1 before any Asio header; linking the CMake target circuit::asio does that."
#else

#include <array>
#include <chrono>
#include <concepts>
#include <exception>
#include <functional>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>
#include <tuple>
#include <type_traits>
#include <utility>

#include <asio/basic_waitable_timer.hpp>
#include <asio/bind_executor.hpp>
#include <asio/cancellation_state.hpp>
#include <asio/cancellation_type.hpp>
#include <asio/co_spawn.hpp>
#include <asio/error.hpp>
#include <asio/experimental/parallel_group.hpp>
#include <asio/strand.hpp>
#include <asio/this_coro.hpp>
#include <asio/use_awaitable.hpp>
#include <asio/wait_traits.hpp>

#include <circuit/call_timeout_error.hpp>

namespace circuit {

namespace detail {

// ---- What co_call takes ------------------------------------------------------

template <class A>
struct asio_awaitable_traits : std::false_type {};

template <class T, class Executor>
struct asio_awaitable_traits<asio::awaitable<T, Executor>> : std::true_type {
  using value_type = T;
  using executor_type = Executor;
};

// An asio::awaitable<T, Executor>.
template <class A>
concept asio_awaitable = asio_awaitable_traits<std::remove_cvref_t<A>>::value;

// A callable that takes no argument and returns an asio::awaitable.
template <class F>
concept asio_awaitable_factory =
    !asio_awaitable<F> && std::invocable<std::decay_t<F>&> && asio_awaitable<std::invoke_result_t<std::decay_t<F>&>>;

template <class F>
using asio_factory_awaitable = std::remove_cvref_t<std::invoke_result_t<std::decay_t<F>&>>;

// A circuit_breaker, or anything with its admission interface.
template <class B>
concept asio_breaker = requires(B& b) {
  b.try_guard();
  b.guard();
  { b.name() } -> std::convertible_to<std::string_view>;
};

// A circuit_breaker_set that has `peer` as a key.
template <class S, class K>
concept asio_breaker_set = requires(S& s, const K& peer) {
  typename S::breaker_type;
  typename S::key_type;
  s.try_guard(peer);
  s.guard(peer);
};

// ---- Admission ---------------------------------------------------------------

// Admission through one breaker. `guard()` is the permit of `try_guard()`
// that throws open_circuit_error, with its details, when refused.
template <class Breaker>
struct asio_breaker_admission {
  Breaker* breaker;

  [[nodiscard]] auto admit() const { return breaker->guard(); }
  [[nodiscard]] std::string name() const { return std::string(breaker->name()); }
};

// Admission through one peer of a set; the peer stays pinned while the
// permit lives.
template <class Set, class Key>
struct asio_peer_admission {
  Set* set;
  Key peer;

  [[nodiscard]] auto admit() const { return set->guard(peer); }
  // The set names a peer's breaker after its id; only needed for messages.
  [[nodiscard]] std::string name() const {
    if constexpr (std::is_convertible_v<const Key&, std::string_view>) {
      return std::string(std::string_view(peer));
    } else if constexpr (std::is_arithmetic_v<Key>) {
      return std::to_string(peer);
    } else {
      return {};
    }
  }
};

// Owns a co_call's permit across its suspensions. co_call settles it
// explicitly on every ending it sees; this destructor covers the one it
// cannot see: the frame destroyed while suspended (the io_context destroyed,
// a parent frame destroyed), when a scope-exit permit would see no
// exception in flight and record a success.
template <class Permit>
class asio_permit_owner {
 public:
  explicit asio_permit_owner(Permit p) noexcept : permit_(std::move(p)) {}
  asio_permit_owner(const asio_permit_owner&) = delete;
  asio_permit_owner& operator=(const asio_permit_owner&) = delete;
  ~asio_permit_owner() {
    if (permit_) permit_.ignore();
  }

  Permit& operator*() noexcept { return permit_; }
  Permit* operator->() noexcept { return &permit_; }

 private:
  Permit permit_;
};

// ---- Outcomes ----------------------------------------------------------------

// How the operation ended: its value or its exception.
template <class T>
struct asio_outcome {
  std::optional<T> value;
  std::exception_ptr error;
};

template <>
struct asio_outcome<void> {
  std::exception_ptr error;
};

// Records what the operation did as the ErrorPredicate says, then hands it
// to the caller. A predicate that throws records a failure and its exception
// propagates instead (as in call()).
template <class T, class Permit>
T asio_settle(Permit& permit, asio_outcome<T>& out) {
  if (out.error) {
    permit.failure(out.error);
    std::rethrow_exception(out.error);
  }
  if constexpr (std::is_void_v<T>) {
    permit.success();
  } else {
    permit.record(std::as_const(*out.value));
    return std::move(*out.value);
  }
}

// Whether a cancellation has reached the calling coroutine's cancellation
// state (after its filter), whatever its type. Takes the state read by
// `co_await asio::this_coro::cancellation_state`.
inline bool asio_cancelled(const asio::cancellation_state& state) noexcept {
  return state.cancelled() != asio::cancellation_type::none;
}

template <class Admission>
[[noreturn]] void asio_throw_cancelled(const Admission& admission) {
  const auto name = admission.name();
  throw std::system_error(asio::error::operation_aborted,
                          (name.empty() ? std::string("circuit") : "circuit '" + name + "'") +
                              ": call cancelled by the caller");
}

// Makes the operation of the awaitable forms: the awaitable itself, once.
template <class A>
struct asio_given {
  A operation;
  A operator()() { return std::move(operation); }
};

// ---- The call without a deadline ---------------------------------------------
//
// Every co_await below is awaited into a variable first, never inside an if
// condition: g++ 12 miscompiled one such co_await here (the tests
// crashed in a destructor of the frame).

// The operation runs inline in the caller's coroutine, under the caller's
// cancellation state: whatever cancellation passes the caller's filter
// reaches the operation, and counts as the caller's, whatever its type.
template <class T, class Executor, class Admission, class MakeOperation>
asio::awaitable<T, Executor> asio_call(Admission admission, MakeOperation make_operation) {
  // Already cancelled (the caller turned off throw_if_cancelled): nothing
  // is admitted, as Asio would not start an operation either.
  const bool cancelled_at_entry = asio_cancelled(co_await asio::this_coro::cancellation_state);
  if (cancelled_at_entry) asio_throw_cancelled(admission);
  asio_permit_owner permit(admission.admit());  // throws open_circuit_error when refused
  asio_outcome<T> out;
  try {
    if constexpr (std::is_void_v<T>) {
      co_await make_operation();
    } else {
      out.value.emplace(co_await make_operation());
    }
  } catch (...) {
    out.error = std::current_exception();
  }
  // Read again: the operation may have reset the thread's state.
  const bool cancelled_by_caller = asio_cancelled(co_await asio::this_coro::cancellation_state);
  if (cancelled_by_caller) {
    permit->ignore();
    asio_throw_cancelled(admission);
  }
  co_return asio_settle(*permit, out);
}

// ---- The call with a deadline ------------------------------------------------

// A coroutine spawned for the call lets every cancellation type through to
// what it awaits (Asio's default for a spawned coroutine is `terminal`
// only), and keeps one that came before it started. Returns whether one did.
template <class Executor>
asio::awaitable<bool, Executor> asio_take_every_cancellation() {
  const bool before = asio_cancelled(co_await asio::this_coro::cancellation_state);
  co_await asio::this_coro::reset_cancellation_state(asio::enable_total_cancellation());
  co_return before;
}

// The operation's side of the race: keeps the outcome in the caller's frame,
// which outlives it (the race completes only after it).
template <class T, class Executor>
asio::awaitable<void, Executor> asio_run_into(asio::awaitable<T, Executor> operation, asio_outcome<T>& out) {
  try {
    const bool cancelled_before = co_await asio_take_every_cancellation<Executor>();
    if (cancelled_before) throw std::system_error(asio::error::operation_aborted);
    if constexpr (std::is_void_v<T>) {
      co_await std::move(operation);
    } else {
      out.value.emplace(co_await std::move(operation));
    }
  } catch (...) {
    out.error = std::current_exception();
  }
}

// The race itself: the operation (spawned) against a timer, as a parallel
// group that completes once both have, the loser cancelled (every type) when
// the first finishes. Runs on a strand of its own, which the group's
// operations and their completions, and the cancellations the group sends
// them, all go through: the group is initiated, and completes, in one
// sequence even when the io_context runs on several threads (Asio 1.22's
// parallel_group is not safe otherwise: it touches its state after
// launching the operations). Returns whether the deadline fired first.
template <class T, class Executor>
asio::awaitable<bool, Executor> asio_race(asio::awaitable<T, Executor> operation, asio_outcome<T>& out,
                                          std::chrono::nanoseconds deadline) {
  const bool cancelled_before = co_await asio_take_every_cancellation<Executor>();
  if (cancelled_before) {
    out.error = std::make_exception_ptr(std::system_error(asio::error::operation_aborted));
    co_return false;
  }
  const Executor strand = co_await asio::this_coro::executor;
  asio::basic_waitable_timer<std::chrono::steady_clock, asio::wait_traits<std::chrono::steady_clock>, Executor> timer(
      strand, deadline);
  const auto [order, escaped, timer_error] =
      co_await asio::experimental::make_parallel_group(
          asio::bind_executor(strand,
                              [&](auto token) {
                                return asio::co_spawn(strand, asio_run_into(std::move(operation), out),
                                                      std::move(token));
                              }),
          asio::bind_executor(strand, [&](auto token) { return timer.async_wait(std::move(token)); }))
          .async_wait(asio::experimental::wait_for_one(), asio::use_awaitable_t<Executor>{});
  if (escaped && !out.error) out.error = escaped;
  co_return order[0] == 1 && !timer_error;
}

// The call with a deadline. Both sides of the race have finished, the
// operation unwound, before this resumes.
template <class T, class Executor, class Admission, class MakeOperation>
asio::awaitable<T, Executor> asio_call_within(Admission admission, MakeOperation make_operation,
                                              std::chrono::nanoseconds deadline) {
  static_assert(std::is_constructible_v<Executor, asio::strand<Executor>>,
                "circuit::co_call with a deadline: the coroutine's executor must be able to hold a strand of "
                "itself (asio::any_io_executor, the default, can); use co_call without a deadline, or "
                "asio::awaitable<T, asio::any_io_executor>");

  const bool cancelled_at_entry = asio_cancelled(co_await asio::this_coro::cancellation_state);
  if (cancelled_at_entry) asio_throw_cancelled(admission);
  asio_permit_owner permit(admission.admit());  // throws open_circuit_error when refused
  asio_outcome<T> out;
  bool timed_out = false;
  try {
    auto operation = make_operation();
    const Executor strand(asio::make_strand(co_await asio::this_coro::executor));
    timed_out = co_await asio::co_spawn(strand, asio_race(std::move(operation), out, deadline),
                                        asio::use_awaitable_t<Executor>{});
  } catch (...) {
    out.error = std::current_exception();  // make_operation() threw, or Asio could not start the race
  }
  if (timed_out) {
    // A failure whatever the predicate would say, carrying the timeout (in
    // the failure event, and as last_failure() if it opens the circuit).
    call_timeout_error timeout(admission.name(), deadline);
    permit->failure_unclassified(std::make_exception_ptr(timeout));
    throw timeout;
  }
  const bool cancelled_by_caller = asio_cancelled(co_await asio::this_coro::cancellation_state);
  if (cancelled_by_caller) {
    permit->ignore();
    asio_throw_cancelled(admission);
  }
  co_return asio_settle(*permit, out);
}

// A deadline as the timer's duration: positive, rounded up, saturated.
template <class Rep, class Period>
std::chrono::nanoseconds asio_deadline(std::chrono::duration<Rep, Period> d) {
  using wide = std::chrono::duration<long double, std::nano>;
  if (!(wide(d) > wide::zero())) {
    throw std::invalid_argument("circuit::co_call: deadline must be positive");
  }
  if (wide(d) >= wide(std::chrono::nanoseconds::max())) return std::chrono::nanoseconds::max();
  return std::chrono::ceil<std::chrono::nanoseconds>(d);
}

}  // namespace detail

// ---- co_call -------------------------------------------------------------------

/// Awaits `operation` through `breaker`: `co_await co_call(b, fetch(sock))`.
///
/// When awaited, asks the breaker first: refused, it throws
/// `open_circuit_error` (counted as a rejection) and `operation` never
/// starts; admitted, it awaits `operation` and records how it ended: a
/// returned value or an exception as the ErrorPredicate says (then returns
/// the value or rethrows); the caller's own cancellation (any type that
/// reaches this coroutine's cancellation slot) as ignored, throwing
/// `std::system_error` with `asio::error::operation_aborted`; the frame
/// destroyed before it ended (say, the io_context destroyed) as ignored.
/// A caller already cancelled gets `operation_aborted` and nothing is
/// admitted. A half_open probe slot always comes back.
///
/// Thread-safe as the breaker is: holds no lock across a suspension, and
/// works on an io_context run by several threads without a strand. The
/// breaker must outlive the returned awaitable.
template <class Breaker, class T, class Executor>
  requires detail::asio_breaker<Breaker>
asio::awaitable<T, Executor> co_call(Breaker& breaker, asio::awaitable<T, Executor> operation) {
  return detail::asio_call<T, Executor>(detail::asio_breaker_admission<Breaker>{&breaker},
                                        detail::asio_given<asio::awaitable<T, Executor>>{std::move(operation)});
}

/// As `co_call(breaker, operation)`, with a deadline: when `deadline` passes
/// before `operation` finishes, `operation` is cancelled (every cancellation
/// type), has unwound when this throws `call_timeout_error`
/// (`std::errc::timed_out`), and the call is a failure, whatever the
/// predicate says. A failure that comes before the deadline is recorded when
/// it comes. `operation` runs on a strand of its own. Throws
/// `std::invalid_argument` naming `deadline` when it is not positive.
template <class Breaker, class T, class Executor, class Rep, class Period>
  requires detail::asio_breaker<Breaker>
asio::awaitable<T, Executor> co_call(Breaker& breaker, asio::awaitable<T, Executor> operation,
                                     std::chrono::duration<Rep, Period> deadline) {
  const auto d = detail::asio_deadline(deadline);
  return detail::asio_call_within<T, Executor>(
      detail::asio_breaker_admission<Breaker>{&breaker},
      detail::asio_given<asio::awaitable<T, Executor>>{std::move(operation)}, d);
}

/// As `co_call(breaker, operation)`, where `make_operation()` returns the
/// operation's awaitable: it is called only once the breaker has admitted the
/// call (never when refused), and an exception from it counts as the
/// operation's. `make_operation` is moved into the returned awaitable, so
/// what it captures lives as long as the call.
template <class Breaker, class F>
  requires detail::asio_breaker<Breaker> && detail::asio_awaitable_factory<F>
detail::asio_factory_awaitable<F> co_call(Breaker& breaker, F&& make_operation) {
  using A = detail::asio_factory_awaitable<F>;
  return detail::asio_call<typename detail::asio_awaitable_traits<A>::value_type,
                           typename detail::asio_awaitable_traits<A>::executor_type>(
      detail::asio_breaker_admission<Breaker>{&breaker}, std::decay_t<F>(std::forward<F>(make_operation)));
}

/// `co_call(breaker, make_operation)` with a deadline, as
/// `co_call(breaker, operation, deadline)`.
template <class Breaker, class F, class Rep, class Period>
  requires detail::asio_breaker<Breaker> && detail::asio_awaitable_factory<F>
detail::asio_factory_awaitable<F> co_call(Breaker& breaker, F&& make_operation,
                                          std::chrono::duration<Rep, Period> deadline) {
  using A = detail::asio_factory_awaitable<F>;
  const auto d = detail::asio_deadline(deadline);
  return detail::asio_call_within<typename detail::asio_awaitable_traits<A>::value_type,
                                  typename detail::asio_awaitable_traits<A>::executor_type>(
      detail::asio_breaker_admission<Breaker>{&breaker}, std::decay_t<F>(std::forward<F>(make_operation)), d);
}

/// `co_call(peers.get(peer), operation)` without handing the peer out: the
/// peer's breaker is made on first use, and the peer stays pinned (not
/// evicted) from admission until the call is settled. `peer` is copied
/// (decayed) into the returned awaitable. Thread-safe as the set is.
template <class Set, class K, class T, class Executor>
  requires detail::asio_breaker_set<Set, std::decay_t<K>>
asio::awaitable<T, Executor> co_call(Set& peers, K&& peer, asio::awaitable<T, Executor> operation) {
  return detail::asio_call<T, Executor>(
      detail::asio_peer_admission<Set, std::decay_t<K>>{&peers, std::forward<K>(peer)},
      detail::asio_given<asio::awaitable<T, Executor>>{std::move(operation)});
}

/// The set form of `co_call(breaker, operation, deadline)`.
template <class Set, class K, class T, class Executor, class Rep, class Period>
  requires detail::asio_breaker_set<Set, std::decay_t<K>>
asio::awaitable<T, Executor> co_call(Set& peers, K&& peer, asio::awaitable<T, Executor> operation,
                                     std::chrono::duration<Rep, Period> deadline) {
  const auto d = detail::asio_deadline(deadline);
  return detail::asio_call_within<T, Executor>(
      detail::asio_peer_admission<Set, std::decay_t<K>>{&peers, std::forward<K>(peer)},
      detail::asio_given<asio::awaitable<T, Executor>>{std::move(operation)}, d);
}

/// The set form of `co_call(breaker, make_operation)`.
template <class Set, class K, class F>
  requires detail::asio_breaker_set<Set, std::decay_t<K>> && detail::asio_awaitable_factory<F>
detail::asio_factory_awaitable<F> co_call(Set& peers, K&& peer, F&& make_operation) {
  using A = detail::asio_factory_awaitable<F>;
  return detail::asio_call<typename detail::asio_awaitable_traits<A>::value_type,
                           typename detail::asio_awaitable_traits<A>::executor_type>(
      detail::asio_peer_admission<Set, std::decay_t<K>>{&peers, std::forward<K>(peer)},
      std::decay_t<F>(std::forward<F>(make_operation)));
}

/// The set form of `co_call(breaker, make_operation, deadline)`.
template <class Set, class K, class F, class Rep, class Period>
  requires detail::asio_breaker_set<Set, std::decay_t<K>> && detail::asio_awaitable_factory<F>
detail::asio_factory_awaitable<F> co_call(Set& peers, K&& peer, F&& make_operation,
                                          std::chrono::duration<Rep, Period> deadline) {
  using A = detail::asio_factory_awaitable<F>;
  const auto d = detail::asio_deadline(deadline);
  return detail::asio_call_within<typename detail::asio_awaitable_traits<A>::value_type,
                                  typename detail::asio_awaitable_traits<A>::executor_type>(
      detail::asio_peer_admission<Set, std::decay_t<K>>{&peers, std::forward<K>(peer)},
      std::decay_t<F>(std::forward<F>(make_operation)), d);
}

}  // namespace circuit

#endif  // ASIO_HAS_CO_AWAIT
#endif  // exceptions and coroutines
