#pragma once
// What an integration that follows every peer of a circuit_breaker_set
// (the fleet store's share(set)) is told as peers come and go.

namespace circuit::detail {

/// Watches the peers of one set (detail::set_access::watch()). Both calls
/// are made under the set's writer lock: they must not block and must not
/// call into the set.
template <class Breaker>
class peer_watcher {
 public:
  virtual ~peer_watcher() = default;

  /// A peer was made, or existed when watching began.
  virtual void added(Breaker& breaker) noexcept = 0;

  /// A peer's breaker is about to be destroyed (erased, evicted, or the
  /// set destroyed); no call is in flight on it.
  virtual void removing(Breaker& breaker) noexcept = 0;

 protected:
  peer_watcher() = default;
  peer_watcher(const peer_watcher&) = default;
  peer_watcher& operator=(const peer_watcher&) = default;
};

}  // namespace circuit::detail
