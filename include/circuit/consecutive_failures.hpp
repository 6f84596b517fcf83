#pragma once
// A Counter that trips on a run of failures.

#include <chrono>
#include <cstdint>

#include <circuit/counter.hpp>
#include <circuit/detail/epoch_count.hpp>
#include <circuit/options.hpp>

namespace circuit {

/// Trips on the `threshold`-th failure in a row; a success ends the run
/// (pybreaker `fail_max`, pycircuitbreaker SINGLE_RESET).
struct consecutive_failures {
  std::uint32_t threshold = 5;

  /// Throws `std::invalid_argument` naming the invalid field.
  void validate() const {
    if (threshold == 0) detail::invalid("consecutive_failures", "threshold", "must be at least 1");
  }

  /// The current run of failures. A success reads it and writes only when
  /// a run is under way, so a healthy breaker's successes share nothing.
  class recorder {
   public:
    explicit recorder(const consecutive_failures& s) : threshold_(s.threshold) {}

    bool on_failure(std::chrono::nanoseconds) noexcept { return run_.add_one() >= threshold_; }

    /// Ends the run, unless `ctx.current()` turns false first (a reset()
    /// came in between: the run is another generation's); returns false
    /// then.
    template <class Context>
      requires requires(const Context& ctx) { bool(ctx.current()); }
    bool on_success(const Context& ctx) noexcept {
      return run_.lower([&] { return bool(ctx.current()); }, [](std::uint64_t) { return std::uint64_t{0}; });
    }
    /// Ends the run.
    void on_success() noexcept { (void)on_success(detail::always_current{}); }

    void reset() noexcept { run_.reset(); }

    [[nodiscard]] counter_figures figures(std::chrono::nanoseconds) const noexcept {
      return {.failures = run_.count(), .successes = 0};
    }

   private:
    std::uint32_t threshold_;
    detail::epoch_count run_;
  };
};

}  // namespace circuit
