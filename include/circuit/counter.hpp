#pragma once
// The Counter policy: when a closed breaker trips.

#include <chrono>
#include <concepts>
#include <cstdint>

namespace circuit {

/// What a Counter holds right now: the figures its rule looks at, for
/// `metrics()`. A counter that weighs only failures reports 0 successes.
struct counter_figures {
  std::uint64_t failures = 0;
  std::uint64_t successes = 0;
};

/// A Counter is a copyable settings value (`sliding_window{...}`) with
/// `validate()` (throws `std::invalid_argument` naming the field) and a
/// nested `recorder`, constructed from the settings, that holds the live
/// figures of one breaker. Times are the breaker clock's reading as
/// nanoseconds since its epoch.
///
/// The breaker calls the recorder this way, which is what makes a lock-free
/// closed-state success path possible:
/// - `on_failure(now)` returns true when the breaker should trip; calls of
///   `on_failure`, `reset` and `figures` are serialized by the breaker.
/// - `on_success()` or `on_success(now)` may run concurrently with anything,
///   on any number of threads; a recorder that does not need the time takes
///   no argument, and then the breaker reads no clock on success.
/// - A recorder may also have `on_success(ctx)`, which the breaker then
///   prefers. `ctx()` reads the time (call it at most once; the clock is
///   read only if it is called), and `ctx.current()` is true while the
///   call's generation is still the breaker's. Work that waits for a clock
///   read waits for the whole read (a TSC read is ordered), so a recorder
///   that loads what it will update before calling `ctx()` hides those
///   loads. A recorder that updates lock-free state checks `ctx.current()`
///   after loading that state and before writing it: the breaker checked
///   before calling, but a `reset()` may come in between, and a call must
///   never move the counter of a later generation (detail/epoch_count.hpp).
///   It may return `bool`: false when it found the call stale and recorded
///   nothing (the breaker counts it in `metrics().stale_outcomes`).
/// - `on_ignored()`, when present, is called for outcomes that count neither
///   way (optional).
template <class C>
concept counter =
    std::copy_constructible<C> && requires(const C& settings) {
      settings.validate();
      typename C::recorder;
    } && std::constructible_from<typename C::recorder, const C&> &&
    requires(typename C::recorder& r, const typename C::recorder& cr, std::chrono::nanoseconds now) {
      { r.on_failure(now) } -> std::same_as<bool>;
      r.reset();
      { cr.figures(now) } -> std::same_as<counter_figures>;
    } &&
    (requires(typename C::recorder& r) { r.on_success(); } ||
     requires(typename C::recorder& r, std::chrono::nanoseconds now) { r.on_success(now); });

/// True when `C`'s recorder needs the time on success (costs a clock read).
template <counter C>
inline constexpr bool reads_clock_on_success = !requires(typename C::recorder& r) { r.on_success(); };

namespace detail {
// Stands for what the breaker hands to on_success(ctx).
struct success_context_archetype {
  std::chrono::nanoseconds operator()() const noexcept;
  bool current() const noexcept;
};
// A recorder with on_success(ctx).
template <class C>
concept takes_success_context =
    requires(typename C::recorder& r, const success_context_archetype& ctx) { r.on_success(ctx); };
}  // namespace detail

}  // namespace circuit
