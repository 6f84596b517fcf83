#pragma once
// The five states of a circuit breaker.

#include <array>
#include <cstddef>
#include <cstdint>
#include <ostream>
#include <string_view>

namespace circuit {

/// Where a breaker stands. `isolated` is an operator's manual hold-open:
/// only `reset()` (or `disable()`) ends it. `disabled` is an operator's
/// bypass: every call passes and nothing moves the state (resilience4j
/// DISABLED).
enum class state : std::uint8_t { closed, open, half_open, isolated, disabled };

/// How many states there are, and all of them in order (for tables that
/// have a row per state, such as `transition_counts`).
inline constexpr std::size_t state_count = 5;
inline constexpr std::array<state, state_count> all_states = {state::closed, state::open, state::half_open,
                                                              state::isolated, state::disabled};

/// "closed", "open", "half_open", "isolated" or "disabled". Thread-safe.
[[nodiscard]] constexpr std::string_view to_string(state s) noexcept {
  switch (s) {
    case state::closed: return "closed";
    case state::open: return "open";
    case state::half_open: return "half_open";
    case state::isolated: return "isolated";
    case state::disabled: return "disabled";
  }
  return "unknown";
}

/// Prints `to_string(s)`.
inline std::ostream& operator<<(std::ostream& out, state s) { return out << to_string(s); }

}  // namespace circuit
