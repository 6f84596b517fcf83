#pragma once
// A clock that only moves when a test moves it.

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>

namespace circuit {

/// The fake clock for unit tests: time stands still until `advance()` or
/// `set()` moves it. Copies share one timeline, so a test keeps a copy and
/// moves it while breakers hold theirs:
///
///     circuit::manual_clock clock;
///     circuit::circuit_breaker<circuit::manual_clock> b({}, {}, clock);
///     clock.advance(10s);   // b sees the time move too
///
/// Thread-safe: every member may be called concurrently.
class manual_clock {
 public:
  using rep = std::int64_t;
  using period = std::nano;
  using duration = std::chrono::nanoseconds;
  using time_point = std::chrono::time_point<manual_clock, duration>;
  /// False: a test may `set()` the time backwards.
  static constexpr bool is_steady = false;

  /// A new timeline starting at `start` (the clock's epoch by default).
  explicit manual_clock(time_point start = time_point{})
      : now_(std::make_shared<std::atomic<rep>>(start.time_since_epoch().count())) {}

  /// The current time of this timeline.
  [[nodiscard]] time_point now() const noexcept {
    return time_point{duration{now_->load(std::memory_order_acquire)}};
  }

  /// Moves the timeline forward by `d` (backwards if `d` is negative).
  void advance(duration d) noexcept { now_->fetch_add(d.count(), std::memory_order_acq_rel); }

  /// Puts the timeline at `t`.
  void set(time_point t) noexcept { now_->store(t.time_since_epoch().count(), std::memory_order_release); }

 private:
  std::shared_ptr<std::atomic<rep>> now_;
};

}  // namespace circuit
