#pragma once
// The Clock policy: where a breaker reads the time.

#include <chrono>
#include <concepts>
#include <cstdint>

namespace circuit {

/// A Clock has `duration`, `time_point` and a `now()` callable on an
/// instance. Every `std::chrono` clock qualifies; `manual_clock` is the fake
/// one for tests; `coarse_steady_clock`-like clocks can be plugged in for speed.
template <class C>
concept clock = requires(const C& c) {
  typename C::duration;
  typename C::time_point;
  { c.now() } -> std::convertible_to<typename C::time_point>;
  { c.now().time_since_epoch() } -> std::convertible_to<typename C::duration>;
};

namespace detail {
// A clock's reading as nanoseconds since its epoch: how breakers and sets
// keep every time internally.
template <class C>
[[nodiscard]] std::int64_t now_ns(const C& c) noexcept(noexcept(c.now())) {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(c.now().time_since_epoch()).count();
}
}  // namespace detail

}  // namespace circuit
