#pragma once
// A breaker's whole admission state in one atomic word, so that one load
// decides a closed-state call and one compare-exchange admits a probe.
//
//   bits  0..6   state
//   bit   7      timed: slow calls are counted, so admission reads the clock
//                (fixed for the breaker's life)
//   bits  8..31  half_open probes outstanding (at most options::half_open_max_calls)
//   bits 32..63  generation, low 32 bits (bumped by every state change and reset)

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
