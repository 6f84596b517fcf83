#pragma once
// What a breaker tells its listeners, and which of it a listener asks for.

#include <chrono>
#include <cstdint>
#include <exception>
#include <initializer_list>
#include <optional>
#include <ostream>
#include <string_view>

#include <circuit/state.hpp>

namespace circuit {

/// The kinds of event: exactly one outcome event per admitted call
/// (`success`, `failure` or `ignored`), `rejected` per refused call, and
/// `state_change` per transition (and per `reset()`).
enum class event_kind : std::uint8_t { success, failure, rejected, state_change, ignored };

/// "success", "failure", "rejected", "state_change" or "ignored".
[[nodiscard]] constexpr std::string_view to_string(event_kind k) noexcept {
  switch (k) {
    case event_kind::success: return "success";
    case event_kind::failure: return "failure";
    case event_kind::rejected: return "rejected";
    case event_kind::state_change: return "state_change";
    case event_kind::ignored: return "ignored";
  }
  return "unknown";
}

/// Prints `to_string(k)`.
inline std::ostream& operator<<(std::ostream& out, event_kind k) { return out << to_string(k); }

/// Why a state changed. Every `state_change` event carries one.
enum class transition_cause : std::uint8_t {
  counter_tripped,   ///< closed -> open: the Counter's rule was met by a failure
  probe_failed,      ///< half_open -> open: a probe failed
  probe_timed_out,   ///< half_open -> open: a probe was outstanding for `options::probe_timeout`
  probes_succeeded,  ///< half_open -> closed: `success_threshold` probes succeeded
  open_elapsed,      ///< open -> half_open: the open duration passed
  tripped,           ///< -> open by `trip()`
  isolated,          ///< -> isolated by `isolate()`
  disabled,          ///< -> disabled by `disable()`
  reset,             ///< -> closed by `reset()` (closed -> closed too)
  fleet,             ///< adopted from other processes sharing the breaker (reserved for the fleet integration)
};

/// The enumerator's name: "counter_tripped", "probe_failed", ...
[[nodiscard]] constexpr std::string_view to_string(transition_cause c) noexcept {
  switch (c) {
    case transition_cause::counter_tripped: return "counter_tripped";
    case transition_cause::probe_failed: return "probe_failed";
    case transition_cause::probe_timed_out: return "probe_timed_out";
    case transition_cause::probes_succeeded: return "probes_succeeded";
    case transition_cause::open_elapsed: return "open_elapsed";
    case transition_cause::tripped: return "tripped";
    case transition_cause::isolated: return "isolated";
    case transition_cause::disabled: return "disabled";
    case transition_cause::reset: return "reset";
    case transition_cause::fleet: return "fleet";
  }
  return "unknown";
}

/// Prints `to_string(c)`.
inline std::ostream& operator<<(std::ostream& out, transition_cause c) { return out << to_string(c); }

/// One event, passed to listeners by const reference; the views it holds
/// are valid only during the call. Events are delivered on the thread that
/// caused them, in causal order on that thread (an outcome before the state
/// change it causes). Events caused on different threads at the same time
/// may reach a listener in either order; a breaker's state changes are
/// totally ordered by `generation` whatever thread announces them.
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
  /// The breaker's generation (`metrics().generation`). An outcome: the
  /// generation its call was admitted in (older than the breaker's for a
  /// stale outcome). A `state_change`: the generation it starts. A
  /// rejection: the generation that refused.
  std::uint64_t generation = 0;
  /// Why the state changed (`state_change` only).
  std::optional<transition_cause> cause = {};
  /// A change to open: how long it will stay open (empty otherwise, and
  /// for isolated, which lasts until `reset()`).
  std::optional<std::chrono::nanoseconds> open_for = {};
  /// The breaker clock's reading, since its epoch: on every `state_change`;
  /// on other events when the breaker read the clock for them anyway (a
  /// failure, an open-state rejection, a timed call).
  std::optional<std::chrono::nanoseconds> time = {};
  /// From admission to settlement, for outcomes of timed calls
  /// (`options::slow_call` or `options::time_calls` set).
  std::optional<std::chrono::nanoseconds> elapsed = {};
  /// A failure decided on the call's returned value (`error` is empty then).
  bool from_result = false;
};

/// Which kinds of event a listener takes (`on_event(listener, filter)`).
/// A listener that does not take `success` costs the closed-state success
/// path nothing. Thread-safe (a value).
class event_filter {
 public:
  /// The kinds listed: `event_filter{event_kind::failure, event_kind::rejected}`.
  constexpr event_filter(std::initializer_list<event_kind> kinds) noexcept {
    for (const auto k : kinds) bits_ |= bit(k);
  }

  /// Every kind (the default of `on_event`).
  static const event_filter all;
  /// `state_change` only.
  static const event_filter state_changes;
  /// The outcome events: `success`, `failure` and `ignored`.
  static const event_filter outcomes;

  /// True when the filter takes events of kind `k`.
  [[nodiscard]] constexpr bool contains(event_kind k) const noexcept { return (bits_ & bit(k)) != 0; }
  /// One bit per kind, bit `static_cast<int>(kind)`.
  [[nodiscard]] constexpr std::uint8_t bits() const noexcept { return bits_; }
  /// A bit mask with the bit of `k` set.
  [[nodiscard]] static constexpr std::uint8_t bit(event_kind k) noexcept {
    return static_cast<std::uint8_t>(1u << static_cast<unsigned>(k));
  }

  friend constexpr bool operator==(event_filter, event_filter) noexcept = default;

 private:
  std::uint8_t bits_ = 0;
};

inline constexpr event_filter event_filter::all{event_kind::success, event_kind::failure, event_kind::rejected,
                                                event_kind::state_change, event_kind::ignored};
inline constexpr event_filter event_filter::state_changes{event_kind::state_change};
inline constexpr event_filter event_filter::outcomes{event_kind::success, event_kind::failure, event_kind::ignored};

}  // namespace circuit
