#pragma once
// Lock-free readers, and writers that know when the readers are gone.
//
// A reader enters with a seq_cst increment of the reader counter of the
// current version in its own lane (an uncontended cache line: readers of
// different threads share nothing; a compact gate has one counter per
// version instead), reads the shared structure with seq_cst
// loads, and leaves. A writer publishes with seq_cst stores, then calls
// `wait_for_readers()`: it drains the counters of one version, flips the
// version, drains the other (the Left-Right scheme of Ramalhete and
// Correia, so that arriving readers cannot starve it). Afterwards no reader
// can still see what was replaced, and it can be freed. (seq_cst operations
// rather than fences: the same instructions on x86, and ThreadSanitizer
// understands them.)

#include <array>
#include <atomic>
#include <cstdint>
#include <thread>

#include <circuit/detail/thread_lane.hpp>

namespace circuit::detail {

/// `Lanes` reader counters per version: one per thread lane (striped: the
/// set's lookups, where readers of different threads must share nothing),
/// or 1 (compact: a breaker's listener list, paid for only by listeners).
template <std::size_t Lanes>
class basic_reader_gate {
  static_assert(Lanes == 1 || Lanes == lane_count + 1, "one counter, or one per thread lane");

 public:
  /// A read section in progress: which counter it entered on.
  struct section {
    std::size_t lane;
    std::uint32_t version;
  };

  /// Enters a read section. Wait-free.
  [[nodiscard]] section enter() noexcept {
    const section t{Lanes == 1 ? 0 : thread_lane(), version_.load(std::memory_order_seq_cst)};
    counters_[t.version][t.lane].n.fetch_add(1, std::memory_order_seq_cst);
    return t;
  }

  /// Leaves the read section `t`.
  void leave(section t) noexcept { counters_[t.version][t.lane].n.fetch_sub(1, std::memory_order_release); }

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
  void drain(std::uint32_t version) const noexcept {
    for (;;) {
      std::uint64_t readers = 0;
      for (const auto& c : counters_[version]) readers += c.n.load(std::memory_order_seq_cst);
      if (readers == 0) return;
      std::this_thread::yield();
    }
  }

  struct alignas(Lanes == 1 ? alignof(std::atomic<std::uint64_t>) : cache_line) counter {
    std::atomic<std::uint64_t> n{0};
  };
  std::atomic<std::uint32_t> version_{0};
  std::array<std::array<counter, Lanes>, 2> counters_{};
};

/// The striped gate.
using reader_gate = basic_reader_gate<lane_count + 1>;

}  // namespace circuit::detail
