#pragma once
// A Counter that weighs failures against successes.

#include <chrono>
#include <cstdint>

#include <circuit/counter.hpp>
#include <circuit/detail/failure_count_recorder.hpp>
#include <circuit/options.hpp>

namespace circuit {

namespace detail {
// A success takes one failure off.
struct one_less {
  constexpr std::uint64_t operator()(std::uint64_t n) const noexcept { return n - 1; }
};
}  // namespace detail

/// Failures minus successes, never below 0; reaching `threshold` trips
/// (pycircuitbreaker NET_ERROR: 4 failures out of 5 calls still add up).
struct net_failures {
  std::uint32_t threshold = 5;

  /// Throws `std::invalid_argument` naming the invalid field.
  void validate() const {
    if (threshold == 0) detail::invalid("net_failures", "threshold", "must be at least 1");
  }

  /// The net count. A success writes only when the count is above 0, so a
  /// healthy breaker's successes share nothing. `on_success(ctx)` takes one
  /// off, unless `ctx.current()` turns false first (a reset() came in
  /// between: the count is another generation's); it returns false then.
  /// `on_success()` takes one off.
  class recorder : public detail::failure_count_recorder<detail::one_less> {
   public:
    explicit recorder(const net_failures& s) : failure_count_recorder(s.threshold) {}
  };
};

}  // namespace circuit
