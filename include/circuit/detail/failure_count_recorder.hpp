#pragma once
// The recorder shared by consecutive_failures and net_failures: failures
// counted up under the breaker's lock, successes lowering the count without
// it (detail/epoch_count.hpp). The two counters differ only in how far a
// success lowers the count.

#include <chrono>
#include <cstdint>

#include <circuit/counter.hpp>
#include <circuit/detail/epoch_count.hpp>

namespace circuit::detail {

// `Lower` is a stateless `std::uint64_t(std::uint64_t count) noexcept`: the
// count after one success, given a count above 0. A success that finds the
// count at 0 writes nothing, so a healthy breaker's successes share nothing.
template <class Lower>
class failure_count_recorder {
 public:
  explicit failure_count_recorder(std::uint32_t threshold) noexcept : threshold_(threshold) {}

  /// One more failure (under the breaker's lock); true when the count has
  /// reached the threshold.
  bool on_failure(std::chrono::nanoseconds) noexcept { return count_.add_one() >= threshold_; }

  /// Lowers the count by `Lower`, unless `ctx.current()` turns false first
  /// (a reset() came in between: the count is another generation's);
  /// returns false then. Lock-free.
  template <class Context>
    requires requires(const Context& ctx) { bool(ctx.current()); }
  bool on_success(const Context& ctx) noexcept {
    return count_.lower([&] { return bool(ctx.current()); }, Lower{});
  }
  /// Lowers the count by `Lower`.
  void on_success() noexcept { (void)on_success(always_current{}); }

  /// Zero, in a new epoch (under the breaker's lock).
  void reset() noexcept { count_.reset(); }

  [[nodiscard]] counter_figures figures(std::chrono::nanoseconds) const noexcept {
    return {.failures = count_.count(), .successes = 0};
  }

 private:
  std::uint32_t threshold_;
  epoch_count count_;
};

}  // namespace circuit::detail
