#pragma once
// The default Counter: failures within a sliding time window.

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <memory>

#include <circuit/counter.hpp>
#include <circuit/options.hpp>

namespace circuit {

/// Trips when the failures recorded within the last `window` exceed
/// `max_failures`: with the defaults, the 4th failure inside 60 s
/// (python-circuit's `maxfail` / `time_unit`). A failure exactly `window`
/// old has left the window. `max_failures = 0` trips on the first failure.
///
/// Successes are not weighed, so the breaker reads no clock on success.
/// Memory: `max_failures + 1` time stamps of 8 bytes, whatever the failure
/// volume (512 KiB at the largest `max_failures`), made at the first
/// failure: a breaker that never failed holds none.
struct sliding_window {
  /// Largest accepted `max_failures`: the ring of `max_failures + 1` time
  /// stamps then takes 512 KiB, and a breaker stays within 1 MiB. More
  /// failures than that in a window are a rate: see failure_rate_window.
  static constexpr std::uint32_t max_max_failures = (1u << 16) - 1;

  std::uint32_t max_failures = 3;
  std::chrono::nanoseconds window = std::chrono::seconds(60);

  /// Throws `std::invalid_argument` naming the invalid field.
  void validate() const {
    if (max_failures > max_max_failures) {
      detail::invalid("sliding_window", "max_failures", "must be at most 65535 (use failure_rate_window)");
    }
    detail::require_positive(window, "sliding_window", "window");
  }

  /// The live figures of one breaker: a ring of the newest
  /// `max_failures + 1` failure times. Touched only under the breaker's
  /// transition lock (success is a no-op).
  class recorder {
   public:
    explicit recorder(const sliding_window& s) : window_(s.window), capacity_(s.max_failures + 1u) {}

    // Invariant: while size_ < capacity_, the kept times are [0, size_).

    /// Records a failure at `now`; true when more than `max_failures`
    /// failures now lie within the window.
    bool on_failure(std::chrono::nanoseconds now) noexcept {
      // The ring is made at the first failure: a breaker that never fails
      // (most peers of a large set) holds none. Out of memory here
      // terminates (a noexcept path).
      if (times_ == nullptr) [[unlikely]] times_ = std::make_unique<std::chrono::nanoseconds[]>(capacity_);
      times_[next_] = now;
      next_ = (next_ + 1) % capacity_;
      size_ = std::min(size_ + 1, capacity_);
      // Full ring: the oldest kept failure is the (max_failures+1)-th newest.
      return size_ == capacity_ && in_window(times_[next_], now);
    }

    /// Successes do not move this counter.
    void on_success() noexcept {}

    void reset() noexcept { size_ = next_ = 0; }

    [[nodiscard]] counter_figures figures(std::chrono::nanoseconds now) const noexcept {
      std::uint64_t n = 0;
      for (std::uint32_t i = 0; i < size_; ++i) n += in_window(times_[i], now) ? 1 : 0;
      return {.failures = n, .successes = 0};
    }

   private:
    [[nodiscard]] bool in_window(std::chrono::nanoseconds t, std::chrono::nanoseconds now) const noexcept {
      // A clock that went backwards leaves t > now: that failure is recent.
      // The unsigned difference is exact for t <= now, even at the limits.
      return t > now || static_cast<std::uint64_t>(now.count()) - static_cast<std::uint64_t>(t.count()) <
                            static_cast<std::uint64_t>(window_.count());
    }

    std::chrono::nanoseconds window_;
    std::unique_ptr<std::chrono::nanoseconds[]> times_;  // null until the first failure
    std::uint32_t capacity_;                             // at most 65536
    std::uint32_t next_ = 0;
    std::uint32_t size_ = 0;
  };
};

}  // namespace circuit
