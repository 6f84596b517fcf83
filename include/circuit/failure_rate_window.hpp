#pragma once
// A Counter that trips on the failed share of recent calls.

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <limits>
#include <memory>
#include <type_traits>

#include <circuit/counter.hpp>
#include <circuit/detail/thread_lane.hpp>
#include <circuit/options.hpp>

namespace circuit {

/// Trips when at least `minimum_calls` calls fell in the last `window` and
/// the failed share of them is at least `failure_rate` (resilience4j, Polly,
/// Hystrix). Calls are counted in `buckets` slices of `window / buckets`
/// each; slice j covers [j*w, (j+1)*w) and counts while `now - j*w < window`.
///
/// The rule is checked when a failure is recorded, as Polly does: a success
/// only lowers the failed share, so it never trips. A success costs one
/// clock read and two stores to lines of the calling thread's own.
/// Memory: a fixed number of slices per lane, whatever the call volume:
/// (lanes + 2) x (slots + 1) words, each lane rounded up to cache lines,
/// where slots is at most `buckets + 2`, or `2 x buckets` when `window` is
/// under `2 x buckets` nanoseconds: 1.25 KB with the defaults, 656 KB at
/// most.
struct failure_rate_window {
  /// Largest accepted `buckets`: the recorder then holds at most 656 KB of
  /// slices, and a breaker stays within 1 MiB.
  static constexpr std::uint32_t max_buckets = 1u << 12;

  double failure_rate = 0.5;
  std::uint32_t minimum_calls = 20;
  std::chrono::nanoseconds window = std::chrono::seconds(10);
  std::uint32_t buckets = 10;

  /// Throws `std::invalid_argument` naming the invalid field.
  void validate() const {
    if (!(failure_rate > 0.0 && failure_rate <= 1.0)) {
      detail::invalid("failure_rate_window", "failure_rate", "must be within (0, 1]");
    }
    if (minimum_calls == 0) detail::invalid("failure_rate_window", "minimum_calls", "must be at least 1");
    detail::require_positive(window, "failure_rate_window", "window");
    if (buckets == 0 || buckets > max_buckets) {
      detail::invalid("failure_rate_window", "buckets", "must be between 1 and 4096");
    }
    if (window.count() < buckets) {
      detail::invalid("failure_rate_window", "window", "must be at least `buckets` nanoseconds");
    }
  }

  class recorder;
};

class failure_rate_window::recorder {
 public:
  explicit recorder(const failure_rate_window& s)
      : rate_(s.failure_rate), minimum_calls_(s.minimum_calls), window_(s.window.count()),
        width_(s.window.count() / s.buckets),
        // Enough slots for every slice that can be live at once.
        // (window_ / width_ rounded up, without overflowing near nanoseconds::max())
        slots_(static_cast<std::size_t>(window_ / width_ + (window_ % width_ != 0 ? 1 : 0)) + 1),
        words_per_lane_(round_up(header_words + slots_, words_per_line)),
        lines_(std::make_unique<line[]>((detail::lane_count + 2) * words_per_lane_ / words_per_line)) {
    reset();
  }

  /// Records a failure (under the breaker's lock) and applies the rule.
  bool on_failure(std::chrono::nanoseconds now) noexcept {
    const auto k = slice_of(now.count());
    record(failure_lane, k);
    const auto [failures, successes] = live_counts(now.count(), k);
    const auto calls = failures + successes;
    return calls >= minimum_calls_ && static_cast<double>(failures) / static_cast<double>(calls) >= rate_;
  }

  /// Records a success at `now` in the calling thread's lane; never trips.
  void on_success(std::chrono::nanoseconds now) noexcept {
    (void)on_success([now]() noexcept { return now; });
  }

  /// The same, reading the time from `ctx()` only once this lane's slice
  /// and slot are loaded, so that no load waits for the clock. When `ctx`
  /// has `current()` (the breaker's success context), a success that has
  /// gone stale by the time it enters a slice is dropped: it must not count
  /// in the window of the generation after a reset(). Returns false then.
  template <class Context>
    requires std::is_invocable_r_v<std::chrono::nanoseconds, const Context&>
  bool on_success(const Context& ctx) noexcept {
    const auto lane = detail::this_lane;
    if (lane >= detail::lane_count) [[unlikely]] return on_success_cold(lane, ctx().count(), ctx);
    // The slice this lane last recorded in: a success there is a store to
    // its slot and one to the cache, and no division. Everything but the
    // comparison with the time is worked out before the clock read, and
    // little is kept across it (what is kept is spilled to the stack).
    auto& c = caches_[lane];
    const bool current = c.epoch.load(std::memory_order_relaxed) == epoch_.load(std::memory_order_relaxed);
    constexpr auto min = std::numeric_limits<std::int64_t>::min(), max = std::numeric_limits<std::int64_t>::max();
    const auto first = current ? c.first.load(std::memory_order_relaxed) : max;  // out of date: no time is in
    const auto last = current ? c.last.load(std::memory_order_relaxed) : min;
    const auto n = c.count.load(std::memory_order_relaxed);
    const auto next = c.tag.load(std::memory_order_relaxed) | (n == count_mask ? n : n + 1);  // saturates
    auto* const slot = c.slot.load(std::memory_order_relaxed);
    const auto t = ctx().count();
    if (first <= t && t <= last) [[likely]] {
      c.count.store(next & count_mask, std::memory_order_relaxed);
      slot->store(next, std::memory_order_relaxed);
      return true;
    }
    return on_success_cold(lane, t, ctx);
  }

  void reset() noexcept {
    for (std::size_t lane = 0; lane < detail::lane_count + 2; ++lane) {
      for (std::size_t i = 0; i < slots_; ++i) word(lane, header_words + i).store(0, std::memory_order_relaxed);
      word(lane, newest).store(static_cast<std::uint64_t>(never), std::memory_order_relaxed);
    }
    // Every slice cache is now out of date: the next success of each lane
    // enters its slice afresh, moving `newest` up again. Released, so that
    // an owner that sees the new epoch sees the lanes cleared, on any CPU.
    // A success racing with reset() may still land in a cleared slot; the
    // next entry clears it again.
    epoch_.fetch_add(1, std::memory_order_release);
  }

  [[nodiscard]] counter_figures figures(std::chrono::nanoseconds now) const noexcept {
    const auto [failures, successes] = live_counts(now.count(), slice_of(now.count()));
    return {.failures = failures, .successes = successes};
  }

 private:
  // Each lane: [newest slice written][slot 0 .. slots_-1]. A slot packs
  // the low 24 bits of its slice index (a tag) with a 40-bit count.
  static constexpr std::size_t header_words = 1;
  static constexpr std::size_t newest = 0;
  static constexpr std::size_t words_per_line = detail::cache_line / sizeof(std::uint64_t);
  static constexpr std::size_t failure_lane = detail::lane_count + 1;
  static constexpr int tag_shift = 40;
  static constexpr std::uint64_t count_mask = (std::uint64_t{1} << tag_shift) - 1;
  static constexpr std::int64_t never = INT64_MIN;

  struct alignas(detail::cache_line) line {
    std::atomic<std::uint64_t> w[words_per_line];
  };

  static constexpr std::size_t round_up(std::size_t n, std::size_t m) { return (n + m - 1) / m * m; }
  static constexpr std::uint64_t tag_of(std::int64_t k) noexcept {
    return static_cast<std::uint64_t>(k) << tag_shift;  // keeps the low 24 bits of k
  }

  [[nodiscard]] std::atomic<std::uint64_t>& word(std::size_t lane, std::size_t i) const noexcept {
    const auto at = lane * words_per_lane_ + i;
    return lines_[at / words_per_line].w[at % words_per_line];
  }
  [[nodiscard]] std::size_t slot_index(std::int64_t k) const noexcept {
    const auto n = static_cast<std::int64_t>(slots_);
    return static_cast<std::size_t>(((k % n) + n) % n);
  }
  [[nodiscard]] std::atomic<std::uint64_t>& slot(std::size_t lane, std::int64_t k) const noexcept {
    return word(lane, header_words + slot_index(k));
  }

  // An owned lane's first success in a slice, or in an epoch: caches the
  // slice, then records the success (moving `newest` up, clearing the
  // slots of skipped slices). A reset() in between leaves a cache of the
  // epoch before it, which the next success sees out of date.
  // `epoch` was loaded with acquire: the slots and `newest` as its reset()
  // left them are visible.
  [[gnu::noinline]] void enter_slice(std::size_t lane, std::int64_t t, std::uint64_t epoch) noexcept {
    auto& c = caches_[lane];
    constexpr auto min = std::numeric_limits<std::int64_t>::min(), max = std::numeric_limits<std::int64_t>::max();
    auto r = t % width_;
    if (r < 0) r += width_;
    const auto k = slice_of(t);
    const auto index = slot_index(k);
    // Slice k covers [t - r, t - r + width - 1], clamped to the int64 range.
    auto& slot = word(lane, header_words + index);
    c.tag.store(tag_of(k), std::memory_order_relaxed);
    c.slot.store(&slot, std::memory_order_relaxed);
    c.first.store(t < min + r ? min : t - r, std::memory_order_relaxed);
    const auto ahead = width_ - 1 - r;
    c.last.store(t > max - ahead ? max : t + ahead, std::memory_order_relaxed);
    c.epoch.store(epoch, std::memory_order_relaxed);
    record_at(lane, k, index);
    c.count.store(slot.load(std::memory_order_relaxed) & count_mask, std::memory_order_relaxed);
  }

  // A success outside the cached slice: in another slice or epoch, from a
  // thread with no lane yet, or in the shared lane (many writers: no cache).
  // Returns false when the call went stale.
  template <class Context>
  [[gnu::noinline]] bool on_success_cold(std::size_t lane, std::int64_t t, const Context& ctx) noexcept {
    // Acquire: a reset() seen here (the breaker resets the recorder after
    // publishing the new generation) makes the call's staleness visible.
    const auto epoch = epoch_.load(std::memory_order_acquire);
    if (!still_current(ctx)) return false;
    if (lane >= detail::lane_count) lane = detail::thread_lane();
    if (lane < detail::lane_count) {
      enter_slice(lane, t, epoch);
    } else {
      record(lane, slice_of(t));
    }
    return true;
  }

  template <class Context>
  static bool still_current(const Context& ctx) noexcept {
    if constexpr (requires { bool(ctx.current()); }) {
      return ctx.current();
    } else {
      return true;
    }
  }

  // Floor division, so times before the clock's epoch land in the right slice.
  [[nodiscard]] std::int64_t slice_of(std::int64_t t) const noexcept {
    const auto q = t / width_;
    return (t % width_ < 0) ? q - 1 : q;
  }

  // The slot word for slice k after one more call: counts up while the slot
  // holds slice k (saturating), else starts slice k afresh.
  [[nodiscard]] static std::uint64_t plus_one(std::uint64_t v, std::int64_t k) noexcept {
    if ((v & ~count_mask) != tag_of(k)) return tag_of(k) | 1;
    return (v & count_mask) == count_mask ? v : v + 1;
  }

  void record(std::size_t lane, std::int64_t k) noexcept { record_at(lane, k, slot_index(k)); }

  // record() with k's slot index already known.
  //
  // The first call of slice k in a lane (it moves `newest` up to k) clears
  // the slots of slice k and of the slices skipped since: they hold only
  // calls older than the window, yet a tag keeps just 24 bits of the slice
  // index, so a slice 2^24 * slots_ slices old would pass for k.
  void record_at(std::size_t lane, std::int64_t k, std::size_t index) noexcept {
    auto& s = word(lane, header_words + index);
    auto& n = word(lane, newest);
    if (lane != detail::shared_lane) {  // one writer: the lane's owner, or the breaker's lock
      const auto seen = static_cast<std::int64_t>(n.load(std::memory_order_relaxed));
      if (seen < k) {
        // Clear and write first, then publish k (release, read with acquire
        // by live_counts()): the window never reads slot k before it holds
        // slice k's count, whatever it held before.
        forget_skipped(lane, seen, k);
        s.store(tag_of(k) | 1, std::memory_order_relaxed);
        n.store(static_cast<std::uint64_t>(k), std::memory_order_release);
      } else {
        s.store(plus_one(s.load(std::memory_order_relaxed), k), std::memory_order_relaxed);
      }
      return;
    }
    // The shared lane has many writers: the one that moves `newest` clears.
    auto v = s.load(std::memory_order_relaxed);
    auto seen = n.load(std::memory_order_acquire);
    while (static_cast<std::int64_t>(seen) < k) {
      if (n.compare_exchange_weak(seen, static_cast<std::uint64_t>(k), std::memory_order_acq_rel,
                                  std::memory_order_acquire)) {
        forget_skipped(lane, static_cast<std::int64_t>(seen), k);
        // A writer that saw `newest` at k already added to v.
        if (s.compare_exchange_strong(v, 0, std::memory_order_relaxed)) v = 0;
        break;
      }
    }
    while (!s.compare_exchange_weak(v, plus_one(v, k), std::memory_order_relaxed)) {
    }
  }

  // Zeroes the slots of the slices between `before` (the lane's previous
  // newest slice, or `never`) and k, exclusive, at most slots_ - 1 of them.
  void forget_skipped(std::size_t lane, std::int64_t before, std::int64_t k) noexcept {
    const auto gap = static_cast<std::uint64_t>(k) - static_cast<std::uint64_t>(before);  // exact: before < k
    const auto count = std::min<std::uint64_t>(gap - 1, slots_ - 1);
    const auto n = static_cast<std::int64_t>(slots_);
    const auto at = static_cast<std::size_t>(((k % n) + n) % n);
    for (std::size_t i = 1; i <= count; ++i) {
      word(lane, header_words + (at + slots_ - i) % slots_).store(0, std::memory_order_relaxed);
    }
  }

  struct counts {
    std::uint64_t failures, successes;
  };

  // Sums the live slices (k_min .. k) of every lane.
  [[nodiscard]] counts live_counts(std::int64_t now, std::int64_t k) const noexcept {
    // The oldest live slice j is the first with now - j*w < window.
    // Within one window of the earliest time, every slice since then is live.
    const auto k_min = now >= never + window_ ? slice_of(now - window_) + 1 : slice_of(never);
    counts c{0, 0};
    for (std::size_t lane = 0; lane < detail::lane_count + 2; ++lane) {
      if (static_cast<std::int64_t>(word(lane, newest).load(std::memory_order_acquire)) < k_min) continue;
      std::uint64_t sum = 0;
      for (auto j = k_min; j <= k; ++j) {
        const auto v = slot(lane, j).load(std::memory_order_relaxed);
        if ((v & ~count_mask) == tag_of(j)) sum += v & count_mask;
        if (j == k) break;  // k may be the largest slice index: no ++j past it
      }
      (lane == failure_lane ? c.failures : c.successes) += sum;
    }
    return c;
  }

  // What an owned lane's owner last recorded in: the epoch, the times slice
  // k covers (clamped to the int64 range), its tag, the count its slot
  // holds, and the slot. Written by the owner alone: when it enters a slice
  // and, the count, on every success; reset() only starts a new epoch.
  // Keeping the count here spares a success the load of the slot, one load
  // fewer before its clock read. A cache line each: it is written per call.
  struct alignas(detail::cache_line) slice_cache {
    std::atomic<std::uint64_t> epoch{0};  // of the recorder when filled; 0: never filled
    std::atomic<std::int64_t> first{0}, last{0};
    std::atomic<std::uint64_t> tag{0}, count{0};
    std::atomic<std::atomic<std::uint64_t>*> slot{nullptr};
  };
  std::array<slice_cache, detail::lane_count> caches_;
  // Bumped by reset(): a cache filled in an earlier epoch is out of date.
  std::atomic<std::uint64_t> epoch_{1};

  double rate_;
  std::uint64_t minimum_calls_;
  std::int64_t window_;
  std::int64_t width_;
  std::size_t slots_;
  std::size_t words_per_lane_;
  std::unique_ptr<line[]> lines_;
};

}  // namespace circuit
