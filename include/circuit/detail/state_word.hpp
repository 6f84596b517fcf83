#pragma once
// A breaker's whole admission state in one atomic word, so that one load
// decides a closed-state call and one compare-exchange admits a probe.
//
//   bits  0..7   state
//   bits  8..31  half_open probes outstanding (at most options::half_open_max_calls)
//   bits 32..63  generation, low 32 bits (bumped by every state change and reset)

#include <cstdint>

#include <circuit/state.hpp>

namespace circuit::detail {

using word_t = std::uint64_t;

inline constexpr word_t state_bits = 0xff;
inline constexpr int probe_shift = 8;
inline constexpr word_t one_probe = word_t{1} << probe_shift;
inline constexpr word_t probe_bits = word_t{0xffffff} << probe_shift;
inline constexpr int generation_shift = 32;

[[nodiscard]] constexpr state state_of(word_t w) noexcept { return static_cast<state>(w & state_bits); }
[[nodiscard]] constexpr std::uint32_t probes_of(word_t w) noexcept {
  return static_cast<std::uint32_t>((w & probe_bits) >> probe_shift);
}
[[nodiscard]] constexpr std::uint32_t generation_of(word_t w) noexcept {
  return static_cast<std::uint32_t>(w >> generation_shift);
}
[[nodiscard]] constexpr word_t make_word(state s, std::uint64_t generation) noexcept {
  return (generation << generation_shift) | static_cast<word_t>(s);
}

/// What a permit remembers of its admission.
struct ticket {
  std::uint32_t generation = 0;
  state admitted_in = state::closed;
  /// Admission time in clock nanoseconds, read only when slow calls count.
  std::int64_t admitted_at = 0;
};

}  // namespace circuit::detail
