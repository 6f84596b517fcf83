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
//
// Each lane also has a hazard slot (Michael's hazard pointers, protected
// by the gate instead of by a fence of their own): a reader may mark one
// object it found there before it leaves, to keep it alive after the
// section; a writer that has unlinked an object and waited for the readers
// looks at every slot (hazards()) before it frees it. The set marks the
// peer of a call there.

#include <array>
#include <atomic>
#include <cstdint>
#include <mutex>
#include <thread>
#include <type_traits>

#include <circuit/detail/small_mutex.hpp>
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

// reader_gate's state, one for the process.
// Entries and exits per version, counted apart: a thread's leave and its
// next enter are then not read-modify-writes of one word in a row.
// Beside them the lane's hazard: what its thread marked as in use from
// inside a section (reader_gate::section::hazard), in the line that the
// section writes anyway.
struct alignas(cache_line) reader_lane_counters {
  std::atomic<std::uint64_t> entered[2]{};
  std::atomic<std::uint64_t> left[2]{};
  std::atomic<const void*> hazard{nullptr};
};
// Constant-initialized, so that reader_gate::enter() reads it without a
// guard or a pointer to follow; the lanes are allocated at the first slow
// entry or wait, and never freed (threads may read after static
// destruction).
struct reader_domain_state {
  std::atomic<std::uint32_t> version{0};
  std::atomic<reader_lane_counters*> lanes{nullptr};  // once allocated (reader_gate::set_up())
  // `lanes`, where the asymmetric fence is available: readers enter them
  // with plain stores. Null otherwise (read-modify-writes).
  std::atomic<reader_lane_counters*> plain_lanes{nullptr};
  reader_lane_counters shared;  // threads without a lane
  small_mutex writers;
};
static_assert(std::is_trivially_destructible_v<reader_domain_state>);
inline constinit reader_domain_state reader_domain{};

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
    /// This thread's hazard slot (nullptr for a thread without a lane): a
    /// pointer stored here (release) before leave() and cleared (release)
    /// later by the same thread is seen by every writer's hazards() after
    /// its wait_for_readers(): the writer keeps what it points to alive.
    std::atomic<const void*>* hazard;
  };

  /// Enters a read section. Wait-free.
  [[nodiscard, gnu::always_inline]] section enter() const noexcept {
    // Acquire: a reader that sees a flipped version sees what the writer
    // published before flipping it.
    const auto v = reader_domain.version.load(std::memory_order_acquire);
    auto* const lanes = reader_domain.plain_lanes.load(std::memory_order_acquire);
    const auto lane = this_lane;
    if (lane < overflow_lane && lanes != nullptr) [[likely]] {
      auto& c = lanes[lane];
      c.entered[v].store(c.entered[v].load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
      // The store-load order comes from the writer's heavy_fence().
      std::atomic_signal_fence(std::memory_order_seq_cst);
      return {&c.left[v], false, &c.hazard};
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
    auto* const lanes = set_up();
    std::lock_guard turn(reader_domain.writers);
    if (asymmetric_fence_available()) heavy_fence();  // readers may be in plain_lanes
    const auto old_version = reader_domain.version.load(std::memory_order_seq_cst);
    drain(lanes, old_version ^ 1u);
    reader_domain.version.store(old_version ^ 1u, std::memory_order_seq_cst);
    drain(lanes, old_version);
  }

  /// Calls `visit(p)` for each pointer held in a hazard slot now (acquire,
  /// paired with the release stores that set and clear a slot: what its
  /// thread did before either is visible).
  template <class Visit>
  static void hazards(Visit&& visit) {
    const auto* lanes = reader_domain.lanes.load(std::memory_order_acquire);
    if (lanes == nullptr) return;
    for (std::size_t i = 0; i < max_lanes(); ++i) {
      if (const void* p = lanes[i].hazard.load(std::memory_order_acquire)) visit(p);
    }
  }

 private:
  // The lanes, allocated once.
  static reader_lane_counters* set_up() noexcept {
    if (auto* lanes = reader_domain.lanes.load(std::memory_order_acquire)) [[likely]] return lanes;
    return allocate();
  }
  [[gnu::noinline]] static reader_lane_counters* allocate() noexcept {
    static reader_lane_counters* const made = [] {
      auto* lanes = new reader_lane_counters[max_lanes()];  // out of memory here terminates (noexcept)
      reader_domain.lanes.store(lanes, std::memory_order_release);
      if (asymmetric_fence_available()) reader_domain.plain_lanes.store(lanes, std::memory_order_release);
      return lanes;
    }();
    return made;
  }

  // A thread without a lane yet, or none to get, or no asymmetric fence:
  // a seq_cst read-modify-write.
  [[gnu::noinline]] static section enter_with_rmw(std::uint32_t v) noexcept {
    auto* const lanes = set_up();
    const auto lane = thread_lane();
    const bool shared = lane >= max_lanes();
    auto& c = shared ? reader_domain.shared : lanes[lane];
    c.entered[v].fetch_add(1, std::memory_order_seq_cst);
    return {&c.left[v], shared, shared ? nullptr : &c.hazard};
  }

  static void drain(const reader_lane_counters* lanes, std::uint32_t v) noexcept {
    // Exits first: a reader entering meanwhile only makes the difference
    // larger, never hides one that is inside.
    for (;;) {
      std::uint64_t left = reader_domain.shared.left[v].load(std::memory_order_seq_cst);
      for (std::size_t i = 0; i < max_lanes(); ++i) left += lanes[i].left[v].load(std::memory_order_seq_cst);
      std::uint64_t entered = reader_domain.shared.entered[v].load(std::memory_order_seq_cst);
      for (std::size_t i = 0; i < max_lanes(); ++i) entered += lanes[i].entered[v].load(std::memory_order_seq_cst);
      if (entered == left) return;
      std::this_thread::yield();
    }
  }
};

}  // namespace circuit::detail
