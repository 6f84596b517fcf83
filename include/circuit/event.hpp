#pragma once
// What a breaker tells its listeners.

#include <cstdint>
#include <exception>
#include <string_view>

#include <circuit/state.hpp>

namespace circuit {

/// The kinds of event: one outcome event per admitted call (`success` or
/// `failure`; an ignored outcome emits none), `rejected` per refused call,
/// and `state_change` per transition.
enum class event_kind : std::uint8_t { success, failure, rejected, state_change };

/// "success", "failure", "rejected" or "state_change".
[[nodiscard]] constexpr std::string_view to_string(event_kind k) noexcept {
  switch (k) {
    case event_kind::success: return "success";
    case event_kind::failure: return "failure";
    case event_kind::rejected: return "rejected";
    case event_kind::state_change: return "state_change";
  }
  return "unknown";
}

/// One event, passed to listeners by const reference; the views it holds
/// are valid only during the call. Events are delivered on the thread that
/// caused them, in causal order on that thread (an outcome before the state
/// change it causes); events caused on different threads at the same time
/// may reach a listener in either order.
struct event {
  event_kind kind;
  /// The breaker's name (the peer id in a set).
  std::string_view name;
  /// For `state_change` the old and new state; otherwise both are the state
  /// the outcome was recorded in (for an outcome of an older generation,
  /// the state it was admitted in).
  state from, to;
  /// For a failure raised as an exception; empty otherwise.
  std::exception_ptr error = nullptr;
};

}  // namespace circuit
