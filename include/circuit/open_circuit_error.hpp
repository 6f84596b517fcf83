#pragma once
// The exception thrown instead of a call that the breaker refused.

#include <chrono>
#include <exception>
#include <optional>
#include <stdexcept>
#include <string>

#include <circuit/state.hpp>

namespace circuit {

/// Thrown by `call()`, `guard()` and a set's `call()` when the breaker
/// refuses a call. `what()` names the breaker.
class open_circuit_error : public std::runtime_error {
 public:
  open_circuit_error(std::string name, circuit::state s, std::optional<std::chrono::nanoseconds> retry_after,
                     std::exception_ptr last_failure = nullptr)
      : std::runtime_error("circuit '" + name + "' is " + std::string(to_string(s)) + ": call not attempted"),
        name_(std::move(name)), state_(s), retry_after_(retry_after), last_failure_(std::move(last_failure)) {}

  /// The breaker's name (the peer id in a set).
  [[nodiscard]] const std::string& name() const noexcept { return name_; }
  /// The state that refused the call: open, half_open (probe slots full) or
  /// isolated.
  [[nodiscard]] circuit::state state() const noexcept { return state_; }
  /// Time until the breaker admits a probe: zero in half_open, empty when
  /// isolated (only `reset()` ends that).
  [[nodiscard]] std::optional<std::chrono::nanoseconds> retry_after() const noexcept { return retry_after_; }
  /// The exception of the failure that made the latest change to open (the
  /// counter's trip or a failed probe), also for refusals in half_open
  /// (Polly's inner exception). Empty when that failure was a returned
  /// value, a slow call or a probe timeout, or when `trip()` or `isolate()`
  /// opened the circuit.
  [[nodiscard]] std::exception_ptr last_failure() const noexcept { return last_failure_; }

 private:
  std::string name_;
  circuit::state state_;
  std::optional<std::chrono::nanoseconds> retry_after_;
  std::exception_ptr last_failure_;
};

}  // namespace circuit
