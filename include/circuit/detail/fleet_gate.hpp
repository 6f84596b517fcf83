#pragma once
// What a breaker shared with a fleet (<circuit/redis.hpp>, or any fleet
// backend) asks of the fleet: whether a probe may start, and how it ended.
//
// The breaker holds no reference to the fleet otherwise: the fleet watches
// the breaker through its public events and metrics, and changes it
// through detail::breaker_access::adopt_fleet_state() (cause `fleet`).

#include <circuit/outcome.hpp>

namespace circuit::detail {

/// Attached to one breaker with detail::breaker_access::attach_fleet().
/// While attached, a half_open breaker admits a probe only when
/// `take_probe()` says the fleet has a reservation for it, and the fleet,
/// not the breaker, closes it after enough probe successes (it counts them
/// fleet-wide): a local probe success gives its slot back and is reported
/// here. A probe failure still re-opens the breaker at once.
class fleet_gate {
 public:
  virtual ~fleet_gate() = default;

  /// A call wants to probe: true to let it (one local reservation used).
  /// On the caller's thread, without the breaker's lock; must not block.
  virtual bool take_probe() noexcept = 0;

  /// A probe admitted through `take_probe()` settled with `o` (`ignored`
  /// also for a probe of a spell that ended meanwhile). On the settling
  /// thread, after the breaker's lock is released; must not block.
  virtual void probe_settled(outcome o) noexcept = 0;

 protected:
  fleet_gate() = default;
  fleet_gate(const fleet_gate&) = default;
  fleet_gate& operator=(const fleet_gate&) = default;
};

}  // namespace circuit::detail
