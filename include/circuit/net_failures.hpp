#pragma once
// A Counter that weighs failures against successes.

#include <chrono>
#include <cstdint>

#include <circuit/counter.hpp>
#include <circuit/detail/epoch_count.hpp>
#include <circuit/options.hpp>

namespace circuit {

/// Failures minus successes, never below 0; reaching `threshold` trips
/// (pycircuitbreaker NET_ERROR: 4 failures out of 5 calls still add up).
struct net_failures {
  std::uint32_t threshold = 5;

  /// Throws `std::invalid_argument` naming the invalid field.
  void validate() const {
    if (threshold == 0) detail::invalid("net_failures", "threshold", "must be at least 1");
  }

  /// The net count. A success writes only when the count is above 0, so a
  /// healthy breaker's successes share nothing.
  class recorder {
   public:
    explicit recorder(const net_failures& s) : threshold_(s.threshold) {}

    bool on_failure(std::chrono::nanoseconds) noexcept { return net_.add_one() >= threshold_; }

    /// One less, unless `ctx.current()` turns false first (a reset() came
    /// in between: the count is another generation's); returns false then.
    template <class Context>
      requires requires(const Context& ctx) { bool(ctx.current()); }
    bool on_success(const Context& ctx) noexcept {
      return net_.lower([&] { return bool(ctx.current()); }, [](std::uint64_t n) { return n - 1; });
    }
    /// One less.
    void on_success() noexcept { (void)on_success(detail::always_current{}); }

    void reset() noexcept { net_.reset(); }

    [[nodiscard]] counter_figures figures(std::chrono::nanoseconds) const noexcept {
      return {.failures = net_.count(), .successes = 0};
    }

   private:
    std::uint32_t threshold_;
    detail::epoch_count net_;
  };
};

}  // namespace circuit
