#pragma once
// A Counter that trips on a run of failures.

#include <atomic>
#include <chrono>
#include <cstdint>

#include <circuit/counter.hpp>
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

    bool on_failure(std::chrono::nanoseconds) noexcept {
      return run_.fetch_add(1, std::memory_order_relaxed) + 1 >= threshold_;
    }

    void on_success() noexcept {
      auto run = run_.load(std::memory_order_relaxed);
      while (run != 0 && !run_.compare_exchange_weak(run, 0, std::memory_order_relaxed)) {
      }
    }

    void reset() noexcept { run_.store(0, std::memory_order_relaxed); }

    [[nodiscard]] counter_figures figures(std::chrono::nanoseconds) const noexcept {
      return {.failures = run_.load(std::memory_order_relaxed), .successes = 0};
    }

   private:
    std::uint32_t threshold_;
    std::atomic<std::uint64_t> run_{0};
  };
};

}  // namespace circuit
