#pragma once
// Lock-free readers, and writers that know when the readers are gone.
//
// A reader enters by counting itself in the reader counter of the current
// version, reads the shared structure with seq_cst loads, and leaves. A
// writer publishes with seq_cst stores, then calls `wait_for_readers()`: it
// drains the counters of one version, flips the version, drains the other
// (the Left-Right scheme of Ramalhete and Correia, so that arriving readers
// cannot starve it). Afterwards no reader can still see what was replaced,
// and it can be freed.
//
// Entering must be ordered before the reader's loads (a store-load order,
// which x86 gives only to a locked instruction or a fence). Two gates:
// - compact_reader_gate: one counter per version, entered with a seq_cst
//   read-modify-write. For a breaker's listener list, where only a listener
//   pays for it.
// - reader_gate: one domain for every set in the process, with a counter
//   per version and per thread lane (detail/thread_lane.hpp), so readers
//   of different threads share no written cache line. Where the kernel offers it (Linux membarrier), a
//   reader enters with a plain store and a compiler barrier only, and the
//   writer pays instead: membarrier() makes every running thread of the
//   process execute a full fence, so a reader's count is visible to the
//   writer or the reader sees the new structure (the asymmetric fence of
//   liburcu and folly). Otherwise, and under ThreadSanitizer (which cannot
//   see that fence), readers enter with a seq_cst read-modify-write.

#include <array>
#include <atomic>
#include <cstdint>
#include <mutex>
#include <thread>

#include <circuit/detail/thread_lane.hpp>

#if defined(__linux__) && __has_include(<linux/membarrier.h>)
#include <linux/membarrier.h>
#include <sys/syscall.h>
#include <unistd.h>
#define CIRCUIT_HAS_MEMBARRIER 1
#endif

#if defined(__SANITIZE_THREAD__)
#define CIRCUIT_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define CIRCUIT_TSAN 1
#endif
#endif

namespace circuit::detail {

/// The process-wide heavy fence of the asymmetric scheme: true when this
/// process may use it (registered once, at first use; then for good).
[[nodiscard]] inline bool asymmetric_fence_available() noexcept {
#if defined(CIRCUIT_HAS_MEMBARRIER) && !defined(CIRCUIT_TSAN)
  static const bool available = [] {
    const long cmds = syscall(__NR_membarrier, MEMBARRIER_CMD_QUERY, 0, 0);
    return cmds >= 0 && (cmds & MEMBARRIER_CMD_PRIVATE_EXPEDITED) != 0 &&
           syscall(__NR_membarrier, MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED, 0, 0) == 0;
  }();
  return available;
#else
  return false;
#endif
}

/// A full fence on every running thread of the process (only when
/// asymmetric_fence_available()).
inline void heavy_fence() noexcept {
#if defined(CIRCUIT_HAS_MEMBARRIER)
  (void)syscall(__NR_membarrier, MEMBARRIER_CMD_PRIVATE_EXPEDITED, 0, 0);
#endif
}

/// One reader counter per version: a seq_cst read-modify-write to enter.
class compact_reader_gate {
 public:
  /// A read section in progress: the version it entered on.
  struct section {
    std::uint32_t version;
  };

  /// Enters a read section. Wait-free.
  [[nodiscard]] section enter() noexcept {
    const section s{version_.load(std::memory_order_seq_cst)};
    readers_[s.version].fetch_add(1, std::memory_order_seq_cst);
    return s;
  }

  /// Leaves the read section `s`.
  void leave(section s) noexcept { readers_[s.version].fetch_sub(1, std::memory_order_release); }

  /// Returns once every read section entered before the call has left.
  /// Writers must call it one at a time, after publishing with seq_cst
  /// stores, and never from inside a read section.
  void wait_for_readers() noexcept {
    const auto old_version = version_.load(std::memory_order_seq_cst);
    drain(old_version ^ 1u);
    version_.store(old_version ^ 1u, std::memory_order_seq_cst);
    drain(old_version);
  }

 private:
  void drain(std::uint32_t v) const noexcept {
    while (readers_[v].load(std::memory_order_seq_cst) != 0) std::this_thread::yield();
  }

  std::atomic<std::uint32_t> version_{0};
  std::array<std::atomic<std::uint64_t>, 2> readers_{};
};

/// The readers of every set in the process, by thread lane: one pair of
/// counters (a cache line) per lane, so readers of different threads share
/// no written line, and (with the asymmetric fence) enter with a plain
/// store. One domain for all sets, as RCU has one for a process: a
/// reader's section is a lookup (tens of nanoseconds), so a writer that
/// waits for every reader in the process waits no longer for it, and a
/// reader finds its counter with one thread-local load and no search.
class reader_gate {
 public:
  /// A read section in progress: the counter it leaves on.
  struct section {
    std::atomic<std::uint64_t>* counter;
    bool shared;  // threads without a lane share it: read-modify-writes
  };

  /// Enters a read section. Wait-free.
  [[nodiscard, gnu::always_inline]] section enter() const noexcept {
    auto& d = domain();
    // Acquire: a reader that sees a flipped version sees what the writer
    // published before flipping it.
    const auto v = d.version.load(std::memory_order_acquire);
    const auto lane = this_lane;
    if (lane < overflow_lane && d.asymmetric) [[likely]] {
      auto& c = d.lanes[lane];
      c.entered[v].store(c.entered[v].load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
      // The store-load order comes from the writer's heavy_fence().
      std::atomic_signal_fence(std::memory_order_seq_cst);
      return {&c.left[v], false};
    }
    return enter_with_rmw(v);
  }

  /// Leaves the read section `s`.
  [[gnu::always_inline]] void leave(section s) const noexcept {
    // Release: the writer's acquiring drain sees everything this reader did.
    if (!s.shared) [[likely]] {
      s.counter->store(s.counter->load(std::memory_order_relaxed) + 1, std::memory_order_release);
    } else {
      s.counter->fetch_add(1, std::memory_order_release);
    }
  }

  /// Returns once every read section (of any set) entered before the call
  /// has left. Writers call it after publishing with seq_cst stores, never
  /// from inside a read section; they take turns.
  void wait_for_readers() const noexcept {
    auto& d = domain();
    std::lock_guard turn(d.writers);
    if (d.asymmetric) heavy_fence();
    const auto old_version = d.version.load(std::memory_order_seq_cst);
    drain(d, old_version ^ 1u);
    d.version.store(old_version ^ 1u, std::memory_order_seq_cst);
    drain(d, old_version);
  }

 private:
  // Entries and exits per version, counted apart: a thread's leave and its
  // next enter are then not read-modify-writes of one word in a row.
  struct alignas(cache_line) lane_counters {
    std::atomic<std::uint64_t> entered[2]{};
    std::atomic<std::uint64_t> left[2]{};
  };
  struct domain_state {
    const bool asymmetric = asymmetric_fence_available();
    std::atomic<std::uint32_t> version{0};
    lane_counters* const lanes = new lane_counters[max_lanes()];
    lane_counters shared;  // threads without a lane
    std::mutex writers;
  };

  // Never destroyed: threads may read after static destruction.
  [[nodiscard, gnu::always_inline]] static domain_state& domain() noexcept {
    static auto* const d = new domain_state;
    return *d;
  }

  // A thread without a lane yet, or none to get, or no asymmetric fence:
  // a seq_cst read-modify-write.
  [[gnu::noinline]] static section enter_with_rmw(std::uint32_t v) noexcept {
    auto& d = domain();
    const auto lane = thread_lane();
    const bool shared = lane >= max_lanes();
    auto& c = shared ? d.shared : d.lanes[lane];
    c.entered[v].fetch_add(1, std::memory_order_seq_cst);
    return {&c.left[v], shared};
  }

  static void drain(const domain_state& d, std::uint32_t v) noexcept {
    // Exits first: a reader entering meanwhile only makes the difference
    // larger, never hides one that is inside.
    for (;;) {
      std::uint64_t left = d.shared.left[v].load(std::memory_order_seq_cst);
      for (std::size_t i = 0; i < max_lanes(); ++i) left += d.lanes[i].left[v].load(std::memory_order_seq_cst);
      std::uint64_t entered = d.shared.entered[v].load(std::memory_order_seq_cst);
      for (std::size_t i = 0; i < max_lanes(); ++i) entered += d.lanes[i].entered[v].load(std::memory_order_seq_cst);
      if (entered == left) return;
      std::this_thread::yield();
    }
  }
};

}  // namespace circuit::detail
