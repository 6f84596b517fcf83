#pragma once
// A breaker's whole admission state in one atomic word, so that one load
// decides a closed-state call and one compare-exchange admits a probe.
//
//   bits  0..6   state
//   bit   7      timed: calls are timed (slow_call or time_calls), so
//                admission reads the clock (fixed for the breaker's life)
//   bits  8..31  half_open probes outstanding (at most options::half_open_max_calls)
//   bits 32..63  generation, low 32 bits (bumped by every state change and reset)
//
// The invariants the breaker's lock-free paths rely on, stated once here and
// cited by number where they are used:
//
// I1  In closed and disabled, only a transition changes the word. So a
//     success that finds the word equal to the one it was admitted under is
//     of the current generation (circuit_breaker::record_closed_success).
// I2  open_until_ is stored before the release store of the word that
//     publishes open (transition_locked); a reader that acquires an open word
//     then reads open_until_ relaxed and sees that deadline or a later one.
//     trip() while open moves open_until_ without touching the word, so the
//     lazy open -> half_open change re-checks it under the lock.
// I3  Probe bits are non-zero only in half_open and never exceed
//     half_open_max_calls. They change only in half_open: a compare-exchange
//     admits a probe (under the lock instead when probe_timeout is set), and
//     give_back_probe() returns one under the lock; a transition stores a
//     word with none.
// I4  Tickets compare the generation's low 32 bits. A permit is taken for
//     current only if a multiple of 2^32 state changes happened while it
//     was out; each takes the breaker's lock (tens of ns), so that needs
//     minutes of nothing but transitions during one call. Events widen the
//     32 bits to the 64-bit count the same way (circuit_breaker::widen).
// I5  No outcome moves a later generation's counter: locked paths compare
//     generations under the lock; a lock-free success checks the word (I1)
//     and the counter re-checks it with ctx.current() before it writes
//     (detail/epoch_count.hpp says why that closes the race with reset()).

#include <cstdint>

#include <circuit/state.hpp>

namespace circuit::detail {

using word_t = std::uint64_t;

inline constexpr word_t state_bits = 0x7f;
inline constexpr word_t timed_bit = 0x80;
/// Zero under this mask: closed and untimed, the admission that needs
/// nothing but the word (state::closed is 0).
inline constexpr word_t plain_closed_mask = state_bits | timed_bit;
inline constexpr int probe_shift = 8;
inline constexpr word_t one_probe = word_t{1} << probe_shift;
inline constexpr word_t probe_bits = word_t{0xffffff} << probe_shift;
inline constexpr int generation_shift = 32;

static_assert(static_cast<word_t>(state::closed) == 0, "plain_closed_mask tests for a zero state");

[[nodiscard]] constexpr state state_of(word_t w) noexcept { return static_cast<state>(w & state_bits); }
[[nodiscard]] constexpr bool plain_closed(word_t w) noexcept { return (w & plain_closed_mask) == 0; }
[[nodiscard]] constexpr std::uint32_t probes_of(word_t w) noexcept {
  return static_cast<std::uint32_t>((w & probe_bits) >> probe_shift);
}
[[nodiscard]] constexpr std::uint32_t generation_of(word_t w) noexcept {
  return static_cast<std::uint32_t>(w >> generation_shift);
}
[[nodiscard]] constexpr word_t make_word(state s, std::uint64_t generation, word_t flags) noexcept {
  return (generation << generation_shift) | flags | static_cast<word_t>(s);
}

/// What a permit remembers of its admission.
struct ticket {
  /// The word it was admitted under: its state and generation.
  word_t word = 0;
  /// Admission time in clock nanoseconds, read only when slow calls count.
  std::int64_t admitted_at = 0;

  [[nodiscard]] constexpr state admitted_in() const noexcept { return state_of(word); }
  [[nodiscard]] constexpr std::uint32_t generation() const noexcept { return generation_of(word); }
};

}  // namespace circuit::detail
