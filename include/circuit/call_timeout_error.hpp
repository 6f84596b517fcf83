#pragma once
// The exception thrown instead of a result when a call's own deadline fired
// first (co_call with a deadline, <circuit/asio.hpp>).

#include <chrono>
#include <string>
#include <system_error>

namespace circuit {

/// Thrown by `co_call(..., deadline)` when the deadline passed before the
/// operation finished: the operation was cancelled, had unwound, and the
/// call was recorded as a failure. A `std::system_error` whose `code()` is
/// `std::errc::timed_out`, so code that already handles timeouts by error
/// code handles it too. A value type: thread-safe to read.
class call_timeout_error : public std::system_error {
 public:
  /// `name`: the breaker's name (the peer id in a set), empty when unknown.
  call_timeout_error(std::string name, std::chrono::nanoseconds deadline)
      : std::system_error(std::make_error_code(std::errc::timed_out), message(name, deadline)),
        name_(std::move(name)), deadline_(deadline) {}

  /// The breaker's name (the peer id in a set); empty when not known.
  [[nodiscard]] const std::string& name() const noexcept { return name_; }
  /// The deadline the call was given.
  [[nodiscard]] std::chrono::nanoseconds deadline() const noexcept { return deadline_; }

 private:
  static std::string message(const std::string& name, std::chrono::nanoseconds deadline) {
    using std::chrono::duration_cast;
    using std::chrono::microseconds;
    using std::chrono::milliseconds;
    // The largest unit that shows the deadline exactly.
    std::string amount;
    if (deadline % milliseconds(1) == deadline.zero()) {
      amount = std::to_string(duration_cast<milliseconds>(deadline).count()) + " ms";
    } else if (deadline % microseconds(1) == deadline.zero()) {
      amount = std::to_string(duration_cast<microseconds>(deadline).count()) + " us";
    } else {
      amount = std::to_string(deadline.count()) + " ns";
    }
    return (name.empty() ? std::string("circuit") : "circuit '" + name + "'") + ": call timed out after " + amount;
  }

  std::string name_;
  std::chrono::nanoseconds deadline_;
};

}  // namespace circuit
