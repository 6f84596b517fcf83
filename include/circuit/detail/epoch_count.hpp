#pragma once
// A count that successes lower without the breaker's lock, yet never in a
// later generation than their call's.
//
// consecutive_failures and net_failures count failures under the breaker's
// lock, while a success lowers the count with a compare-exchange and no
// lock. The breaker checks that a success's generation is still current
// before giving it to the counter, but a reset() may come in between: the
// success would then lower the next generation's count (README, "States and generations": an outcome
// "never moves ... the counters of a later generation"). So the count
// shares its word with an epoch that reset() bumps, and a success
//   1. loads the word (acquire),
//   2. asks whether its call is still current (the breaker re-loads its own
//      state word), and only then
//   3. compare-exchanges the count down, within the epoch it loaded.
// Why that holds: a count above 0 in a new epoch was written by a failure
// (or by a success after one). Failures take the breaker's lock after the
// transition released it, and add with release, so a success whose step 1
// loads such a count also sees the transition's state word in step 2. A
// reset() after step 1 changes the epoch: step 3 fails, and the success
// starts over.

#include <atomic>
#include <cstdint>

namespace circuit::detail {

// A success context for a call known to be current (a recorder used on its
// own, as the tests do).
struct always_current {
  [[nodiscard]] static constexpr bool current() noexcept { return true; }
};

class epoch_count {
 public:
  /// One more (under the breaker's lock); returns the new count.
  std::uint64_t add_one() noexcept {
    // Release: a success that loads this count sees the transition that
    // came before it (see above). The count never reaches 2^32: the
    // counters trip at a threshold below it.
    return count_of(word_.fetch_add(1, std::memory_order_acq_rel) + 1);
  }

  /// Lowers the count to `lower(count)` unless `current()` (the call's
  /// generation is still the breaker's) turns false first; returns false
  /// then. Lock-free; a count of 0 is left alone without asking.
  template <class Current, class Lower>
  bool lower(const Current& current, const Lower& lower) noexcept {
    auto w = word_.load(std::memory_order_acquire);
    while (count_of(w) != 0) {
      if (!current()) return false;
      const auto next = (w & epoch_bits) | lower(count_of(w));
      if (word_.compare_exchange_weak(w, next, std::memory_order_acquire)) break;  // a failed one reloads w (acquire)
    }
    return true;
  }

  /// Zero, in a new epoch (under the breaker's lock).
  void reset() noexcept {
    const auto w = word_.load(std::memory_order_relaxed);
    word_.store((w & epoch_bits) + epoch_one, std::memory_order_release);
  }

  [[nodiscard]] std::uint64_t count() const noexcept { return count_of(word_.load(std::memory_order_relaxed)); }

 private:
  static constexpr std::uint64_t count_bits = 0xffff'ffff;
  static constexpr std::uint64_t epoch_bits = ~count_bits;
  static constexpr std::uint64_t epoch_one = count_bits + 1;

  static constexpr std::uint64_t count_of(std::uint64_t w) noexcept { return w & count_bits; }

  std::atomic<std::uint64_t> word_{0};  // epoch (high 32 bits) | count (low 32 bits)
};

}  // namespace circuit::detail
