#pragma once
// The exception thrown instead of a call that the breaker refused.

#include <chrono>
#include <optional>
#include <stdexcept>
#include <string>

#include <circuit/state.hpp>

namespace circuit {

/// Thrown by `call()`, `guard()` and a set's `call()` when the breaker
/// refuses a call. `what()` names the breaker.
class open_circuit_error : public std::runtime_error {
 public:
  open_circuit_error(std::string name, circuit::state s, std::optional<std::chrono::nanoseconds> retry_after)
      : std::runtime_error("circuit '" + name + "' is " + std::string(to_string(s)) + ": call not attempted"),
        name_(std::move(name)), state_(s), retry_after_(retry_after) {}

  /// The breaker's name (the peer id in a set).
  [[nodiscard]] const std::string& name() const noexcept { return name_; }
  /// The state that refused the call: open, half_open (probe slots full) or
  /// isolated.
  [[nodiscard]] circuit::state state() const noexcept { return state_; }
  /// Time until the breaker admits a probe: zero in half_open, empty when
  /// isolated (only `reset()` ends that).
  [[nodiscard]] std::optional<std::chrono::nanoseconds> retry_after() const noexcept { return retry_after_; }

 private:
  std::string name_;
  circuit::state state_;
  std::optional<std::chrono::nanoseconds> retry_after_;
};

}  // namespace circuit
