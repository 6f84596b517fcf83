#pragma once
// A point-in-time picture of one breaker.

#include <array>
#include <chrono>
#include <cstdint>
#include <optional>

#include <circuit/counter.hpp>
#include <circuit/state.hpp>

namespace circuit {

/// Calls by how they ended.
struct call_counts {
  std::uint64_t successes = 0;
  std::uint64_t failures = 0;   ///< including slow calls
  std::uint64_t ignored = 0;
  std::uint64_t rejections = 0;
  /// Successes counted as failures because they were slow
  /// (`options::slow_call`); also in `failures`. Half_open probes included.
  std::uint64_t slow = 0;

  friend bool operator==(const call_counts&, const call_counts&) = default;
};

/// How many state changes of each (from, to) pair a breaker has made since
/// it was constructed; `reset()` of a closed breaker counts as closed ->
/// closed.
struct transition_counts {
  /// Indexed `[from][to]` by the states' values.
  std::array<std::array<std::uint64_t, state_count>, state_count> counts{};

  /// The changes from `from` to `to`.
  [[nodiscard]] constexpr std::uint64_t operator()(state from, state to) const noexcept {
    return counts[static_cast<std::size_t>(from)][static_cast<std::size_t>(to)];
  }
  /// Counts one change (the breaker's own bookkeeping).
  constexpr void add(state from, state to) noexcept {
    ++counts[static_cast<std::size_t>(from)][static_cast<std::size_t>(to)];
  }
  /// Every change, of any pair.
  [[nodiscard]] constexpr std::uint64_t total() const noexcept {
    std::uint64_t n = 0;
    for (const auto& row : counts) {
      for (const auto c : row) n += c;
    }
    return n;
  }

  friend bool operator==(const transition_counts&, const transition_counts&) = default;
};

/// What `metrics()` returns. Exact when no call is in flight; a moment's
/// approximation while calls run on other threads.
template <class TimePoint>
struct metrics_snapshot {
  circuit::state state = state::closed;
  /// Bumped by every state change and every `reset()`.
  std::uint64_t generation = 0;
  /// What the Counter holds now (e.g. failures within the sliding window).
  counter_figures window;
  /// Calls since the last state change (e.g. rejections in this open spell).
  call_counts since_transition;
  /// Calls since the breaker was made.
  call_counts total;
  /// Outcomes that settled after their generation ended; they are in
  /// `total` but moved nothing.
  std::uint64_t stale_outcomes = 0;
  /// State changes since construction, by (from, to).
  transition_counts transitions;
  /// Listener calls that threw (the exception was dropped).
  std::uint64_t listener_errors = 0;
  /// When the last state change happened (construction counts as one).
  TimePoint last_transition{};
  /// While open: when a probe will be admitted.
  std::optional<TimePoint> open_until;
};

}  // namespace circuit
