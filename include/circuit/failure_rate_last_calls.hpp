#pragma once
// A Counter that trips on the failed share of the last N calls.

#include <array>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>

#include <circuit/counter.hpp>
#include <circuit/detail/epoch_count.hpp>
#include <circuit/detail/thread_lane.hpp>
#include <circuit/options.hpp>

namespace circuit {

/// Trips when at least `minimum_calls` of the last `calls` calls are
/// recorded and the failed share of them is at least `failure_rate`
/// (resilience4j's COUNT_BASED sliding window). Ignored outcomes take no
/// place among the last `calls`: the breaker never gives them to a counter.
///
/// The rule is checked when a failure is recorded: a success only lowers
/// the failed share, so it never trips. Closing the circuit (`reset()`)
/// forgets every call.
///
/// Cost of a success: no clock read, no lock, no read-modify-write and no
/// write to a shared cache line: it loads the epoch (a line only reset()
/// writes) and its own lane's epoch and count, lets the breaker re-check the
/// generation, and stores the count to its own lane's cell. Threads
/// without a lane (detail/thread_lane.hpp) share one more word and pay a
/// compare-exchange on it. A failure sums the lanes under the breaker's
/// lock.
/// Memory: `calls` failure positions (8 bytes each; 512 KiB at the largest
/// `calls`) on the heap, about 80 bytes in the recorder, and a 24-byte cell
/// per thread lane that recorded a success.
///
/// Thread safety: a settings value; see `recorder` for the live figures.
struct failure_rate_last_calls {
  /// Largest accepted `calls`: the recorder keeps one position per call it
  /// weighs (a breaker stays within 1 MiB).
  static constexpr std::uint32_t max_calls = 1u << 16;

  double failure_rate = 0.5;
  std::uint32_t minimum_calls = 20;
  std::uint32_t calls = 100;

  /// Throws `std::invalid_argument` naming the invalid field.
  void validate() const {
    if (!(failure_rate > 0.0 && failure_rate <= 1.0)) {
      detail::invalid("failure_rate_last_calls", "failure_rate", "must be within (0, 1]");
    }
    if (minimum_calls == 0) detail::invalid("failure_rate_last_calls", "minimum_calls", "must be at least 1");
    if (calls == 0 || calls > max_calls) {
      detail::invalid("failure_rate_last_calls", "calls", "must be between 1 and 65536");
    }
    if (minimum_calls > calls) detail::invalid("failure_rate_last_calls", "minimum_calls", "must not be above calls");
  }

  class recorder;
};

/// The last `calls` calls of one breaker.
///
/// How the calls are ordered without a shared write on success: each
/// thread counts its successes in its own lane, and the failure path (under
/// the breaker's lock) places the successes it finds since its last look
/// before the failure it records. A call's place is thus the moment the
/// failure path first sees it; every call gets exactly one. What is kept
/// is the position of each failure among the calls since the last reset():
/// the window is the positions [placed - calls, placed).
///
/// A reset() starts a new epoch instead of writing the lanes (their owners
/// write them without a read-modify-write). A lane's count belongs to the
/// epoch stored beside it, and one of an earlier epoch counts as 0. A
/// success loads the epoch (acquire), then asks `ctx.current()`, then
/// writes: a success that loads the new epoch also sees the transition that
/// came before the reset() (the breaker resets its recorder after
/// publishing the new generation), so it finds itself stale and writes
/// nothing; one that loaded the old epoch writes into the old epoch, which
/// nothing reads any more. Either way it never counts in a later
/// generation.
///
/// Thread safety: `on_failure`, `reset` and `figures` must be serialized
/// (the breaker calls them under its lock); `on_success` may run
/// concurrently with anything, on any number of threads.
class failure_rate_last_calls::recorder {
 public:
  /// Throws `std::invalid_argument` for invalid settings (see validate()).
  explicit recorder(const failure_rate_last_calls& s)
      : rate_(s.failure_rate), minimum_calls_(s.minimum_calls), calls_((s.validate(), s.calls)),
        failures_(std::make_unique<std::uint64_t[]>(calls_)) {}

  /// Records a failure after the successes seen so far, and applies the
  /// rule. Serialized with reset() and figures().
  bool on_failure(std::chrono::nanoseconds) noexcept {
    place_successes();
    ++placed_;
    forget_old_failures();
    failures_[(first_ + kept_) % calls_] = placed_ - 1;
    ++kept_;
    const auto weighed = placed_ < calls_ ? placed_ : calls_;
    return weighed >= minimum_calls_ && static_cast<double>(kept_) / static_cast<double>(weighed) >= rate_;
  }

  /// Counts a success in the calling thread's lane, unless `ctx.current()`
  /// (asked after loading the epoch, before writing) says that the call's
  /// generation is over; returns false then, having recorded nothing.
  /// Lock-free; never trips.
  template <class Context>
    requires requires(const Context& ctx) { bool(ctx.current()); }
  bool on_success(const Context& ctx) noexcept {
    auto* c = lanes_.mine();
    if (c == nullptr) [[unlikely]] return on_success_unowned(ctx);
    return count_in(*c, ctx);
  }
  /// Counts a success (a recorder used on its own: the call is current).
  void on_success() noexcept { (void)on_success(detail::always_current{}); }

  /// Forgets every call. Serialized with on_failure() and figures().
  void reset() noexcept {
    // Release: a success that loads the new epoch sees what came before.
    epoch_.store(epoch_.load(std::memory_order_relaxed) + 1, std::memory_order_release);
    lanes_.for_each([](lane& l) { l[seen_field].store(0, std::memory_order_relaxed); });
    placed_ = first_ = kept_ = 0;
  }

  /// The failures and successes among the last `calls` calls. Places the
  /// successes seen so far first (it changes no outcome of the rule), so
  /// like on_failure() it must be serialized with the other members.
  [[nodiscard]] counter_figures figures(std::chrono::nanoseconds) const noexcept {
    place_successes();
    forget_old_failures();
    const auto weighed = placed_ < calls_ ? placed_ : calls_;
    return {.failures = kept_, .successes = weighed - kept_};
  }

 private:
  using lane = detail::lane_cells<3>::cell;
  static constexpr std::size_t epoch_field = 0, count_field = 1, seen_field = 2;
  static constexpr int tag_shift = 40;
  static constexpr std::uint64_t count_mask = (std::uint64_t{1} << tag_shift) - 1;

  // The low 24 bits of an epoch, in the shared lane's word.
  static constexpr std::uint64_t tag_of(std::uint64_t epoch) noexcept { return epoch << tag_shift; }

  // A thread without a lane yet claims one; threads beyond the lanes share
  // one word, epoch tag (24 bits) | count (40 bits, saturating: the failure
  // path needs no more than `calls` of them), which they compare-exchange
  // and the failure path takes (swaps to 0). Mistaking one epoch's tag for
  // another's would take a success stalled across 2^24 resets.
  // A success in this thread's own cell.
  template <class Context>
  [[gnu::always_inline]] bool count_in(lane& l, const Context& ctx) noexcept {
    const auto epoch = epoch_.load(std::memory_order_acquire);
    const bool same_epoch = l[epoch_field].load(std::memory_order_relaxed) == epoch;
    const auto n = same_epoch ? l[count_field].load(std::memory_order_relaxed) : 0;
    if (!ctx.current()) [[unlikely]] return false;
    l[count_field].store(n + 1, std::memory_order_relaxed);
    // The count first: a reader that sees the new epoch (acquire) sees it.
    if (!same_epoch) l[epoch_field].store(epoch, std::memory_order_release);
    return true;
  }

  // This thread's first success here (its cell is made: out of memory on
  // this noexcept path terminates), or it has no lane.
  template <class Context>
  [[gnu::noinline]] bool on_success_unowned(const Context& ctx) noexcept {
    bool overflow = false;
    auto& mine = lanes_.mine_or_overflow(overflow);
    if (!overflow) return count_in(mine, ctx);
    const auto tag = tag_of(epoch_.load(std::memory_order_acquire));
    auto w = shared_.load(std::memory_order_acquire);
    for (;;) {
      // Checked after each load: a word of a newer epoch than ours was
      // released after its reset(), so current() is false by then.
      if (!ctx.current()) return false;
      const auto next = (w & ~count_mask) != tag ? tag | 1 : (w & count_mask) == count_mask ? w : w + 1;
      if (shared_.compare_exchange_weak(w, next, std::memory_order_acq_rel, std::memory_order_acquire)) return true;
    }
  }

  // Gives the successes counted since the last look their places.
  void place_successes() const noexcept {
    const auto epoch = epoch_.load(std::memory_order_relaxed);
    std::uint64_t found = 0;
    lanes_.for_each([&](lane& l) {
      if (l[epoch_field].load(std::memory_order_acquire) != epoch) return;  // none in this epoch yet
      // Within an epoch a lane's count only grows.
      const auto count = l[count_field].load(std::memory_order_relaxed);
      found += count - l[seen_field].load(std::memory_order_relaxed);
      l[seen_field].store(count, std::memory_order_relaxed);
    });
    const auto tag = tag_of(epoch);
    auto w = shared_.load(std::memory_order_acquire);
    while ((w & ~count_mask) == tag && (w & count_mask) != 0) {
      if (shared_.compare_exchange_weak(w, tag, std::memory_order_acq_rel, std::memory_order_acquire)) {
        found += w & count_mask;
        break;
      }
    }
    // `calls` successes in a row leave no failure in the window.
    if (found >= calls_) kept_ = 0;
    placed_ += found;
  }

  // Drops the failures no longer among the last `calls` calls, which are
  // the positions [placed_ - calls_, placed_).
  void forget_old_failures() const noexcept {
    while (kept_ != 0 && placed_ - failures_[first_] > calls_) {
      first_ = (first_ + 1) % calls_;
      --kept_;
    }
  }

  // Per thread lane: the epoch its count belongs to (0: none yet) and the
  // successes in that epoch, written by the lane's owner alone with a plain
  // load and store; and how many of them the failure path has placed
  // (under the breaker's lock, like everything below but the epoch).
  mutable detail::lane_cells<3> lanes_;
  // Read by every success, written only by reset(); with the settings,
  // which never change.
  std::atomic<std::uint64_t> epoch_{1};
  double rate_;
  std::uint64_t minimum_calls_;
  std::uint64_t calls_;
  std::unique_ptr<std::uint64_t[]> failures_;  // ring: positions of the kept failures, oldest at first_

  // The word of the threads beyond the lanes, and the failure path's own
  // state (under the breaker's lock, figures() too), which takes from it.
  mutable std::atomic<std::uint64_t> shared_{0};
  mutable std::uint64_t placed_ = 0;  // calls placed since reset()
  mutable std::uint64_t first_ = 0;   // ring index of the oldest kept failure
  mutable std::uint64_t kept_ = 0;    // failures among the last `calls`
};

}  // namespace circuit
