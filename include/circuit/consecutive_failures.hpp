#pragma once
// A Counter that trips on a run of failures.

#include <chrono>
#include <cstdint>

#include <circuit/counter.hpp>
#include <circuit/detail/failure_count_recorder.hpp>
#include <circuit/options.hpp>

namespace circuit {

namespace detail {
// A success ends the run.
struct end_run {
  constexpr std::uint64_t operator()(std::uint64_t) const noexcept { return 0; }
};
}  // namespace detail

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
  /// `on_success(ctx)` ends the run, unless `ctx.current()` turns false
  /// first (a reset() came in between: the run is another generation's);
  /// it returns false then. `on_success()` ends the run.
  class recorder : public detail::failure_count_recorder<detail::end_run> {
   public:
    explicit recorder(const consecutive_failures& s) : failure_count_recorder(s.threshold) {}
  };
};

}  // namespace circuit
