#pragma once
// A Counter that weighs failures against successes.

#include <atomic>
#include <chrono>
#include <cstdint>

#include <circuit/counter.hpp>
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

    bool on_failure(std::chrono::nanoseconds) noexcept {
      return net_.fetch_add(1, std::memory_order_relaxed) + 1 >= threshold_;
    }

    void on_success() noexcept {
      auto net = net_.load(std::memory_order_relaxed);
      while (net != 0 && !net_.compare_exchange_weak(net, net - 1, std::memory_order_relaxed)) {
      }
    }

    void reset() noexcept { net_.store(0, std::memory_order_relaxed); }

    [[nodiscard]] counter_figures figures(std::chrono::nanoseconds) const noexcept {
      return {.failures = net_.load(std::memory_order_relaxed), .successes = 0};
    }

   private:
    std::uint32_t threshold_;
    std::atomic<std::uint64_t> net_{0};
  };
};

}  // namespace circuit
