#pragma once
// How long each open spell lasts: fixed, or growing with each re-trip.

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <random>
#include <type_traits>
#include <variant>

#include <circuit/options.hpp>

namespace circuit::detail {

/// The open-duration schedule of one breaker. Not thread-safe: the breaker
/// calls it under its transition lock.
class backoff {
 public:
  /// Seeds the jitter of `d` (the schedule itself is passed to next(): the
  /// breaker's configuration holds it, and a set's peers share that).
  explicit backoff(const open_duration& d) {
    if (const auto* e = std::get_if<exponential>(&d)) {
      random_.seed(static_cast<std::minstd_rand::result_type>(e->seed ? *e->seed : std::random_device{}()));
    }
  }

  /// The duration of an open spell of schedule `spec` (always the same one)
  /// that starts now; `grow` after a failed
  /// probe (a consecutive re-trip), not for a trip from closed or `trip()`.
  [[nodiscard]] std::chrono::nanoseconds next(const open_duration& spec, bool grow) {
    return std::visit(
        [&](const auto& d) -> std::chrono::nanoseconds {
          if constexpr (std::is_same_v<std::decay_t<decltype(d)>, fixed>) {
            return d.duration;
          } else {
            if (grow && static_cast<double>(d.initial.count()) * scale_ < static_cast<double>(d.max.count())) {
              scale_ *= d.multiplier;
            }
            // The growth is computed in double and capped before converting,
            // so no step can overflow nanoseconds.
            const auto full = std::min(static_cast<double>(d.initial.count()) * scale_, static_cast<double>(d.max.count()));
            const auto drawn = full * (1.0 - d.jitter * uniform(d));
            // Compared in double first: max near nanoseconds::max() rounds up
            // to 2^63, which does not convert back to int64.
            if (drawn >= static_cast<double>(d.max.count())) return d.max;
            return std::chrono::nanoseconds(std::clamp<std::int64_t>(static_cast<std::int64_t>(drawn), 1, d.max.count()));
          }
        },
        spec);
  }

  /// Back to the first step, once the circuit closes.
  void restart() noexcept { scale_ = 1.0; }

 private:
  // A draw in [0, 1) from the seeded engine (only when jitter is on).
  double uniform(const exponential& d) {
    if (d.jitter == 0.0) return 0.0;
    return std::uniform_real_distribution<double>(0.0, 1.0)(random_);
  }

  double scale_ = 1.0;
  std::minstd_rand random_;  // small: a set may hold many breakers
};

}  // namespace circuit::detail
