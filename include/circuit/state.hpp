#pragma once
// The four states of a circuit breaker.

#include <cstdint>
#include <string_view>

namespace circuit {

/// Where a breaker stands. `isolated` is an operator's manual hold-open:
/// only `reset()` ends it.
enum class state : std::uint8_t { closed, open, half_open, isolated };

/// "closed", "open", "half_open" or "isolated". Thread-safe.
[[nodiscard]] constexpr std::string_view to_string(state s) noexcept {
  switch (s) {
    case state::closed: return "closed";
    case state::open: return "open";
    case state::half_open: return "half_open";
    case state::isolated: return "isolated";
  }
  return "unknown";
}

}  // namespace circuit
