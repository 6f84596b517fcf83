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
/// clock read and two stores to lines of the calling thread's own (its
/// lane's cell and its lane's slices; detail/thread_lane.hpp), after the
/// thread's first success on the breaker, which makes them.
/// Memory: a fixed number of slices per lane, whatever the call volume. A
/// lane takes (slots + 1) words rounded up to cache lines, where slots is
/// at most `2 x buckets`, and at most `buckets + 2` when `window` is at
/// least `buckets` squared nanoseconds: 128 bytes with the defaults, 65,600
/// at most. The recorder (72 bytes) holds two lanes on the heap from the
/// start (failures; threads without a lane of their own), and each thread
/// lane that records a success adds its own and a 64-byte cell: 256 bytes
/// idle and 192 per busy thread with the defaults. All lanes' slices stay
/// within 656 KB: lanes beyond that (at the largest settings, from the
/// ninth busy thread on) count in the shared lane, with compare-exchanges.
///
/// Thread safety: a settings value; see `recorder` for the live figures.
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

/// The slices of one breaker.
///
/// Each thread lane that records a success gets its own slices (a words
/// array, written by the lane's owner alone) and a slice cache in the
/// lane's cell (detail/thread_lane.hpp): the slice it last recorded in, so
/// that the next success there is two plain stores. Failures have a fixed
/// array of their own (written under the breaker's lock), and so do the
/// threads without a lane (many writers: compare-exchanges, no cache).
///
/// Thread safety: `on_failure`, `reset` and `figures` must be serialized
/// (the breaker calls them under its lock); `on_success` may run
/// concurrently with anything, on any number of threads; `slice_bytes` may
/// run at any time.
class failure_rate_window::recorder {
 public:
  /// Takes valid settings (the breaker validates them); allocates the two
  /// fixed lanes (throws std::bad_alloc).
  explicit recorder(const failure_rate_window& s)
      : rate_(s.failure_rate), minimum_calls_(s.minimum_calls), window_(s.window.count()),
        width_(s.window.count() / s.buckets),
        // Enough slots for every slice that can be live at once.
        // (window_ / width_ rounded up, without overflowing near nanoseconds::max())
        slots_(static_cast<std::uint32_t>(window_ / width_ + (window_ % width_ != 0 ? 1 : 0)) + 1),
        lines_per_lane_(static_cast<std::uint32_t>(round_up(header_words + slots_, words_per_line) / words_per_line)),
        own_lanes_max_(static_cast<std::uint32_t>(slice_budget / lane_bytes() - 2)),
        fixed_(std::make_unique<line[]>(2 * std::size_t{lines_per_lane_})) {
    clear(failure_lane());
    clear(shared_lane());
  }

  recorder(const recorder&) = delete;
  recorder& operator=(const recorder&) = delete;

  ~recorder() {
    cells_.for_each([](lane& l) {
      if (line* w = published_words(l)) delete[] w;
    });
  }

  /// Records a failure (under the breaker's lock) and applies the rule.
  bool on_failure(std::chrono::nanoseconds now) noexcept {
    const auto k = slice_of(now.count());
    record(failure_lane(), k);
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
  /// A thread's first success here makes its lane's cell and slices (out of
  /// memory then: the success counts in the shared lane); the later ones
  /// allocate nothing.
  template <class Context>
    requires std::is_invocable_r_v<std::chrono::nanoseconds, const Context&>
  bool on_success(const Context& ctx) noexcept {
    auto* const cell = cells_.mine();
    if (cell == nullptr) [[unlikely]] return on_success_cold(nullptr, ctx().count(), ctx);
    // The slice this lane last recorded in: a success there is a store to
    // its slot and one to the cache, and no division. Everything but the
    // comparison with the time is worked out before the clock read, and
    // little is kept across it (what is kept is spilled to the stack).
    auto& c = *cell;
    const bool current = c[epoch_field].load(std::memory_order_relaxed) == epoch_.load(std::memory_order_relaxed);
    constexpr auto min = std::numeric_limits<std::int64_t>::min(), max = std::numeric_limits<std::int64_t>::max();
    // Out of date: no time is in.
    const auto first = current ? static_cast<std::int64_t>(c[first_field].load(std::memory_order_relaxed)) : max;
    const auto last = current ? static_cast<std::int64_t>(c[last_field].load(std::memory_order_relaxed)) : min;
    const auto n = c[count_field].load(std::memory_order_relaxed);
    const auto next = c[tag_field].load(std::memory_order_relaxed) | (n == count_mask ? n : n + 1);  // saturates
    auto* const slot = reinterpret_cast<std::atomic<std::uint64_t>*>(c[slot_field].load(std::memory_order_relaxed));
    const auto t = ctx().count();
    if (first <= t && t <= last) [[likely]] {
      c[count_field].store(next & count_mask, std::memory_order_relaxed);
      slot->store(next, std::memory_order_relaxed);
      return true;
    }
    return on_success_cold(&c, t, ctx);
  }

  void reset() noexcept {
    clear(failure_lane());
    clear(shared_lane());
    cells_.for_each([this](lane& l) {
      if (line* w = published_words(l)) clear(w);
    });
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

  /// The heap this recorder holds for slices now: the failures' and the
  /// shared lane's from construction, and one more lane's per thread lane
  /// that has its own (or is making it; the cells, 64 bytes each, come
  /// from the lanes' arenas and are not included). At most 656 KB.
  [[nodiscard]] std::size_t slice_bytes() const noexcept {
    const std::size_t own = std::min(own_lanes_.load(std::memory_order_relaxed), own_lanes_max_);
    return (2 + own) * lane_bytes();
  }

 private:
  // Each lane's words: [newest slice written][slot 0 .. slots_-1]. A slot
  // packs the low 24 bits of its slice index (a tag) with a 40-bit count.
  static constexpr std::size_t header_words = 1;
  static constexpr std::size_t newest = 0;
  static constexpr std::size_t words_per_line = detail::cache_line / sizeof(std::uint64_t);
  static constexpr int tag_shift = 40;
  static constexpr std::uint64_t count_mask = (std::uint64_t{1} << tag_shift) - 1;
  static constexpr std::int64_t never = INT64_MIN;

  struct alignas(detail::cache_line) line {
    std::atomic<std::uint64_t> w[words_per_line];
  };

  static constexpr std::size_t round_up(std::size_t n, std::size_t m) { return (n + m - 1) / m * m; }

  // All lanes' slices together stay within what 10 lanes take at the
  // largest settings (2 x max_buckets slots): 656,000 bytes.
  static constexpr std::size_t slice_budget =
      10 * ((header_words + 2 * std::size_t{max_buckets} + words_per_line - 1) / words_per_line) * sizeof(line);

  // A lane's cell: its slice cache (see on_success()), and its words.
  // One cache line, written by the lane's owner alone.
  using lane = detail::lane_cells<8>::cell;
  static_assert(sizeof(lane) == detail::cache_line);
  static_assert(sizeof(std::uintptr_t) <= sizeof(std::uint64_t));
  static constexpr std::size_t epoch_field = 0, first_field = 1, last_field = 2, tag_field = 3, count_field = 4,
                               slot_field = 5, words_field = 6;
  // words_field: 0 while the lane has no words yet; no_words when the
  // slice budget was spent before it came (it counts in the shared lane).
  static constexpr std::uint64_t no_words = 1;

  static constexpr std::uint64_t tag_of(std::int64_t k) noexcept {
    return static_cast<std::uint64_t>(k) << tag_shift;  // keeps the low 24 bits of k
  }

  [[nodiscard]] std::size_t lane_bytes() const noexcept { return lines_per_lane_ * sizeof(line); }
  [[nodiscard]] line* failure_lane() const noexcept { return fixed_.get(); }
  [[nodiscard]] line* shared_lane() const noexcept { return fixed_.get() + lines_per_lane_; }

  // The words of a lane that has its own, as its owner published them
  // (acquire: initialized), or nullptr.
  [[nodiscard]] static line* published_words(const lane& l) noexcept {
    const auto v = l[words_field].load(std::memory_order_acquire);
    return v == 0 || v == no_words ? nullptr : reinterpret_cast<line*>(static_cast<std::uintptr_t>(v));
  }

  [[nodiscard]] static std::atomic<std::uint64_t>& word(line* lane_words, std::size_t i) noexcept {
    return lane_words[i / words_per_line].w[i % words_per_line];
  }
  [[nodiscard]] std::size_t slot_index(std::int64_t k) const noexcept {
    const auto n = static_cast<std::int64_t>(slots_);
    return static_cast<std::size_t>(((k % n) + n) % n);
  }

  // Zero slots, and no slice written yet.
  void clear(line* w) const noexcept {
    for (std::size_t i = 0; i < slots_; ++i) word(w, header_words + i).store(0, std::memory_order_relaxed);
    word(w, newest).store(static_cast<std::uint64_t>(never), std::memory_order_relaxed);
  }

  // This thread's own lane's words: made on its first success here, within
  // the slice budget; nullptr when it has none (count in the shared lane).
  [[nodiscard]] line* own_words(lane& l) noexcept {
    const auto v = l[words_field].load(std::memory_order_relaxed);  // only this thread writes it
    if (v == no_words) return nullptr;
    if (v != 0) return reinterpret_cast<line*>(static_cast<std::uintptr_t>(v));
    // A read-modify-write, once per lane: lanes beyond the budget stay
    // without words for the recorder's life.
    if (own_lanes_.fetch_add(1, std::memory_order_relaxed) >= own_lanes_max_) {
      l[words_field].store(no_words, std::memory_order_relaxed);
      return nullptr;
    }
    line* w = new (std::nothrow) line[lines_per_lane_]();
    if (w == nullptr) {
      own_lanes_.fetch_sub(1, std::memory_order_relaxed);  // tried again on the next success
      return nullptr;
    }
    clear(w);
    // Release: reset() and live_counts() that load it see the words cleared.
    l[words_field].store(static_cast<std::uint64_t>(reinterpret_cast<std::uintptr_t>(w)), std::memory_order_release);
    return w;
  }

  // An owned lane's first success in a slice, or in an epoch: caches the
  // slice, then records the success (moving `newest` up, clearing the
  // slots of skipped slices). A reset() in between leaves a cache of the
  // epoch before it, which the next success sees out of date.
  // `epoch` was loaded with acquire: the slots and `newest` as its reset()
  // left them are visible.
  [[gnu::noinline]] void enter_slice(lane& c, line* w, std::int64_t t, std::uint64_t epoch) noexcept {
    constexpr auto min = std::numeric_limits<std::int64_t>::min(), max = std::numeric_limits<std::int64_t>::max();
    auto r = t % width_;
    if (r < 0) r += width_;
    const auto k = slice_of(t);
    const auto index = slot_index(k);
    // Slice k covers [t - r, t - r + width - 1], clamped to the int64 range.
    auto& slot = word(w, header_words + index);
    c[tag_field].store(tag_of(k), std::memory_order_relaxed);
    c[slot_field].store(static_cast<std::uint64_t>(reinterpret_cast<std::uintptr_t>(&slot)), std::memory_order_relaxed);
    c[first_field].store(static_cast<std::uint64_t>(t < min + r ? min : t - r), std::memory_order_relaxed);
    const auto ahead = width_ - 1 - r;
    c[last_field].store(static_cast<std::uint64_t>(t > max - ahead ? max : t + ahead), std::memory_order_relaxed);
    c[epoch_field].store(epoch, std::memory_order_relaxed);
    record_at(w, k, index);
    c[count_field].store(slot.load(std::memory_order_relaxed) & count_mask, std::memory_order_relaxed);
  }

  // A success outside the cached slice: in another slice or epoch, from a
  // thread with no cell here yet (`c` nullptr: its cell and words are made
  // now), or from a lane without words of its own or a thread without a
  // lane (both in the shared lane: many writers, no cache).
  // Returns false when the call went stale.
  template <class Context>
  [[gnu::noinline]] bool on_success_cold(lane* c, std::int64_t t, const Context& ctx) noexcept {
    // Acquire: a reset() seen here (the breaker resets the recorder after
    // publishing the new generation) makes the call's staleness visible.
    const auto epoch = epoch_.load(std::memory_order_acquire);
    if (!still_current(ctx)) return false;
    if (c == nullptr) c = made_cell();
    if (line* w = c != nullptr ? own_words(*c) : nullptr) {
      enter_slice(*c, w, t, epoch);
    } else {
      record(shared_lane(), slice_of(t));
    }
    return true;
  }

  // This thread's cell, made on its first success here; nullptr when it
  // has no lane (every lane taken: see detail::max_lanes()) or no memory
  // for the cell.
  [[gnu::noinline]] lane* made_cell() noexcept {
    if (detail::thread_lane() >= detail::max_lanes()) return nullptr;  // needs no overflow cell here
#if defined(__cpp_exceptions)
    try {
#endif
      bool overflow = false;
      lane& c = cells_.mine_or_overflow(overflow);
      return overflow ? nullptr : &c;
#if defined(__cpp_exceptions)
    } catch (const std::bad_alloc&) {
      return nullptr;
    }
#endif
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

  void record(line* w, std::int64_t k) noexcept { record_at(w, k, slot_index(k)); }

  // record() with k's slot index already known.
  //
  // The first call of slice k in a lane (it moves `newest` up to k) clears
  // the slots of slice k and of the slices skipped since: they hold only
  // calls older than the window, yet a tag keeps just 24 bits of the slice
  // index, so a slice 2^24 * slots_ slices old would pass for k.
  void record_at(line* w, std::int64_t k, std::size_t index) noexcept {
    auto& s = word(w, header_words + index);
    auto& n = word(w, newest);
    if (w != shared_lane()) {  // one writer: the lane's owner, or the breaker's lock
      const auto seen = static_cast<std::int64_t>(n.load(std::memory_order_relaxed));
      if (seen < k) {
        // Clear and write first, then publish k (release, read with acquire
        // by live_counts()): the window never reads slot k before it holds
        // slice k's count, whatever it held before.
        forget_skipped(w, seen, k);
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
        forget_skipped(w, static_cast<std::int64_t>(seen), k);
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
  void forget_skipped(line* w, std::int64_t before, std::int64_t k) const noexcept {
    const auto gap = static_cast<std::uint64_t>(k) - static_cast<std::uint64_t>(before);  // exact: before < k
    const auto count = std::min<std::uint64_t>(gap - 1, slots_ - 1);
    const std::size_t at = slot_index(k);
    for (std::size_t i = 1; i <= count; ++i) {
      auto& slot = word(w, header_words + (at + slots_ - i) % slots_);
      if (w != shared_lane()) {  // one writer
        slot.store(0, std::memory_order_relaxed);
        continue;
      }
      // Shared: a writer that moved `newest` past k meanwhile may already
      // count the slice that shares this slot, k - i + slots_; keep that.
      const auto newer = tag_of(k - static_cast<std::int64_t>(i) + static_cast<std::int64_t>(slots_));
      auto v = slot.load(std::memory_order_relaxed);
      while ((v & ~count_mask) != newer && !slot.compare_exchange_weak(v, 0, std::memory_order_relaxed)) {
      }
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
    const auto live = [&](line* w) {
      std::uint64_t sum = 0;
      if (static_cast<std::int64_t>(word(w, newest).load(std::memory_order_acquire)) < k_min) return sum;
      for (auto j = k_min; j <= k; ++j) {
        const auto v = word(w, header_words + slot_index(j)).load(std::memory_order_relaxed);
        if ((v & ~count_mask) == tag_of(j)) sum += v & count_mask;
        if (j == k) break;  // k may be the largest slice index: no ++j past it
      }
      return sum;
    };
    counts c{live(failure_lane()), live(shared_lane())};
    cells_.for_each([&](const lane& l) {
      if (line* w = published_words(l)) c.successes += live(w);
    });
    return c;
  }

  // Per thread lane that recorded a success: its cell. The slice cache in
  // it is what the owner last recorded in: the epoch, the times slice k
  // covers (clamped to the int64 range), its tag, the count its slot holds,
  // and the slot. Written by the owner alone: when it enters a slice and,
  // the count, on every success; reset() only starts a new epoch. Keeping
  // the count here spares a success the load of the slot, one load fewer
  // before its clock read. epoch_field 0: never filled.
  detail::lane_cells<8> cells_;
  // Bumped by reset(): a cache filled in an earlier epoch is out of date.
  // Read by every success; with the settings, which never change.
  std::atomic<std::uint64_t> epoch_{1};

  double rate_;
  std::uint64_t minimum_calls_;
  std::int64_t window_;
  std::int64_t width_;
  std::uint32_t slots_;
  std::uint32_t lines_per_lane_;
  std::uint32_t own_lanes_max_;              // lanes that may have words of their own
  std::atomic<std::uint32_t> own_lanes_{0};  // ... and that took (or tried) them: once per lane
  std::unique_ptr<line[]> fixed_;            // the failures' lane, then the shared lane
};

}  // namespace circuit
