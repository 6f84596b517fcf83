#pragma once
// Per-thread lanes: how a success is counted without a shared
// read-modify-write.
//
// Each thread that touches a breaker claims one of `lane_count` lanes for
// its lifetime (lowest free first; given back when the thread exits). A
// striped structure keeps one cache line per lane; the owner of a lane
// updates its line with a plain load and store (no lock prefix, no
// contention), and readers sum the lines. Threads beyond `lane_count` share
// one extra line and pay an atomic read-modify-write instead.

#include <array>
#include <atomic>
#include <bit>
#include <cstddef>
#include <cstdint>

namespace circuit::detail {

/// Exclusive lanes per striped structure; more threads share one more lane.
inline constexpr std::size_t lane_count = 8;
/// The lane of threads that found no exclusive one.
inline constexpr std::size_t shared_lane = lane_count;
/// The size we pad to against false sharing.
inline constexpr std::size_t cache_line = 64;

static_assert(lane_count <= 64, "lane ownership is one 64-bit mask");

// Bit i set: lane i belongs to a live thread.
inline std::atomic<std::uint64_t> lanes_taken{0};
// This thread's lane; lane_count + 1 until claimed.
inline thread_local std::size_t this_lane = lane_count + 1;

struct lane_owner {
  std::size_t lane = shared_lane;
  ~lane_owner() {
    // From here on this thread (in later thread_local destructors) writes
    // through the shared lane; release publishes its last plain stores to
    // the next owner.
    this_lane = shared_lane;
    if (lane < lane_count) lanes_taken.fetch_and(~(std::uint64_t{1} << lane), std::memory_order_release);
  }
};

[[gnu::noinline]] inline std::size_t claim_lane() noexcept {
  thread_local lane_owner owner;
  auto taken = lanes_taken.load(std::memory_order_relaxed);
  for (;;) {
    const auto lane = static_cast<std::size_t>(std::countr_one(taken));
    if (lane >= lane_count) break;
    if (lanes_taken.compare_exchange_weak(taken, taken | (std::uint64_t{1} << lane), std::memory_order_acquire,
                                          std::memory_order_relaxed)) {
      owner.lane = lane;
      break;
    }
  }
  this_lane = owner.lane;
  return owner.lane;
}

/// The calling thread's lane: < lane_count when it owns it exclusively.
[[nodiscard]] inline std::size_t thread_lane() noexcept {
  const auto lane = this_lane;
  if (lane <= shared_lane) [[likely]] return lane;
  return claim_lane();
}

/// Adds `delta` (modulo 2^64, so negative deltas work) to `cell` from
/// `lane`: a plain load and store on an owned lane, an atomic add on the
/// shared one.
inline void bump(std::atomic<std::uint64_t>& cell, std::size_t lane, std::uint64_t delta = 1,
                 std::memory_order order = std::memory_order_relaxed) noexcept {
  if (lane < lane_count) [[likely]] {
    cell.store(cell.load(std::memory_order_relaxed) + delta, order);
  } else {
    cell.fetch_add(delta, order);
  }
}

/// `Fields` counters, striped over the lanes. Increments scale with
/// threads; `sum()` is exact once the writers are quiet, and a moment's
/// approximation while they are not.
template <std::size_t Fields>
class striped_counters {
 public:
  /// `order` release, with `sum(field, acquire)`, lets the reader of a
  /// total see what the adding thread did before it (e.g. a pin count).
  // Always inlined: a closed-state success and an open-state refusal add
  // here, and GCC drops it from their inlined paths in large functions.
  [[gnu::always_inline]] void add(std::size_t field, std::uint64_t delta = 1,
                                  std::memory_order order = std::memory_order_relaxed) noexcept {
    // One test on the hot path: a lane this thread owns.
    if (const auto lane = this_lane; lane < lane_count) [[likely]] {
      auto& cell = lines_[lane].n[field];
      cell.store(cell.load(std::memory_order_relaxed) + delta, order);
    } else {
      add_unowned(field, delta, order);
    }
  }

  [[nodiscard]] std::uint64_t sum(std::size_t field,
                                  std::memory_order order = std::memory_order_relaxed) const noexcept {
    std::uint64_t total = 0;
    for (const auto& line : lines_) total += line.n[field].load(order);
    return total;
  }

 private:
  // This thread has no lane yet, or shares the last one.
  [[gnu::noinline]] void add_unowned(std::size_t field, std::uint64_t delta, std::memory_order order) noexcept {
    const auto lane = thread_lane();
    bump(lines_[lane].n[field], lane, delta, order);
  }

  struct alignas(cache_line) line {
    std::array<std::atomic<std::uint64_t>, Fields> n{};
  };
  std::array<line, lane_count + 1> lines_{};
};

}  // namespace circuit::detail
