#pragma once
// What a fleet backend is: the one store that several processes share a
// breaker through (Redis in <circuit/redis.hpp>, or the in-process backend
// the tests use), and the messages the fleet engine exchanges with it.
//
// The engine (fleet/engine.hpp) never talks to a database itself. Once per
// sync it hands the backend one `sync_request` per shared breaker and gets
// one `sync_reply` back for each; the backend applies every request as one
// atomic read-decide-write on the server, with the server's clock, by the
// rules of fleet/server_rule.hpp (the Redis backend runs the same rules as
// a Lua script). So a backend for another database has to provide exactly
// two things, stated by the `circuit::fleet::backend` concept below:
//
//   sync(store_id, requests, replies) -> sync_outcome
//       Applies each request atomically, in order, and fills one reply per
//       request. A request that cannot be applied (its record is corrupt,
//       or of the wrong type) gets a reply with `usable == false` and does
//       not disturb the others. A sync that failed as a whole says whether
//       anything may have been written (`maybe_applied`): evidence is then
//       sent again with the same batch ids, and the backend must count each
//       batch id once per (breaker, store_id).
//   up() -> bool
//       Whether the last exchange with the server worked.
//
// Change notifications are optional: a backend that can tell when another
// process changed a record (Redis pub/sub) calls the engine's
// `remote_change()`; without them the engine polls every sync.

#include <chrono>
#include <concepts>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <circuit/state.hpp>

namespace circuit::fleet {

/// How the fleet decides on evidence for one breaker: the Counter's own rule
/// applied to the outcomes of every process (sliding_window,
/// failure_rate_window), or none: the state is shared and the evidence stays
/// local (consecutive_failures, net_failures, failure_rate_last_calls).
enum class rule_kind : std::uint8_t { state_only = 0, failure_count = 1, failure_rate = 2 };

/// The fleet-wide settings of one breaker, sent with every request so that
/// the backend needs no configuration of its own. Durations in nanoseconds
/// of the server's clock.
struct breaker_rule {
  rule_kind kind = rule_kind::state_only;
  std::uint32_t max_failures = 0;    ///< failure_count: trips when more than this many failures are in the window
  double failure_rate = 1.0;         ///< failure_rate: trips at this failed share ...
  std::uint32_t minimum_calls = 1;   ///< ... of at least this many calls in the window
  std::int64_t window_ns = 0;        ///< the Counter's window (0 for state_only)
  std::int64_t bucket_ns = 1;        ///< evidence is bucketed by server time at this resolution
  std::int64_t open_initial_ns = 0;  ///< open duration of a spell (fixed: every spell) ...
  double open_multiplier = 1.0;      ///< ... times this per consecutive failed probe ...
  std::int64_t open_max_ns = 0;      ///< ... capped at this
  std::uint32_t half_open_max_calls = 1;  ///< probes in flight fleet-wide
  std::uint32_t success_threshold = 1;    ///< probe successes, fleet-wide, that close it
  std::int64_t probe_lease_ns = 0;        ///< a probe reservation expires after this
  std::int64_t idle_ttl_ns = 0;           ///< a record nobody syncs goes away after this (not while isolated or disabled)
};

/// A local state change a process asks the fleet to make.
enum class change_kind : std::uint8_t {
  none = 0,
  counter_tripped = 1,  ///< the local counter tripped (closed -> open)
  reopened = 2,         ///< a probe failed or timed out (half_open -> open), the backoff grows
  tripped = 3,          ///< trip()
  isolated = 4,         ///< isolate()
  disabled = 5,         ///< disable()
  reset = 6,            ///< reset()
};

/// What one process has to tell the fleet about one breaker since its last
/// acknowledged sync. Counted exactly once per (breaker, store) by `id`.
struct evidence_batch {
  std::uint64_t id = 0;                  ///< increasing per store; the backend counts a batch id once
  std::int64_t age_ns = 0;               ///< how long ago (local time) it was gathered: placed at server now - age
  std::uint64_t failures = 0;            ///< outcomes in the local totals since the previous batch
  std::uint64_t successes = 0;
  std::uint64_t probe_successes = 0;     ///< fleet probes that succeeded ...
  std::uint64_t probe_generation = 0;    ///< ... in this fleet generation
  change_kind change = change_kind::none;  ///< a state change made locally
  std::uint64_t change_generation = 0;   ///< the fleet generation the change was made in
};

/// One breaker's part of a sync.
struct sync_request {
  std::string name;  ///< the breaker's name (the backend makes its key from it)
  breaker_rule rule;
  std::vector<evidence_batch> batches;  ///< unacknowledged, oldest first (may be empty: a poll)
  std::uint32_t probes_held = 0;        ///< probe slots this store wants to hold after the sync
  state local_state = state::closed;    ///< to re-create a record that was lost ...
  std::int64_t local_open_left_ns = 0;  ///< ... (an open breaker is re-published, not closed)
};

/// The fleet's state of one breaker after a request, with the server's time.
struct sync_reply {
  bool usable = true;   ///< false: the record could not be used (wrong type, corrupt); see `error`
  std::string error;
  state fleet_state = state::closed;  ///< half_open when open and due
  std::uint64_t generation = 0;       ///< bumped by every fleet state change
  std::int64_t open_left_ns = 0;      ///< while open: server time until a probe is due (0 when due)
  bool backoff_grew = false;          ///< the current open spell followed a failed probe
  bool by_requester = false;          ///< the current state was made by this store's request
  std::uint32_t probes_granted = 0;   ///< slots this store holds now
  std::uint64_t acknowledged = 0;     ///< the highest batch id of this store counted so far
  std::uint64_t total_failures = 0;   ///< every process's outcomes, ever (while the record lives)
  std::uint64_t total_successes = 0;
  std::uint64_t window_failures = 0;  ///< in the fleet's window now (rule kinds with evidence)
  std::uint64_t window_successes = 0;
};

/// How a whole sync went.
struct sync_outcome {
  bool ok = true;
  bool maybe_applied = false;  ///< when !ok: requests may have been applied (a timeout after sending)
  std::string error;
  std::int64_t server_time_ns = 0;
};

/// A fleet backend (see the top of this file). Thread-safety: the engine
/// calls `sync()` from one thread at a time; `up()` from any thread.
template <class B>
concept backend = requires(B& b, const B& cb, std::string_view store_id, std::span<const sync_request> requests,
                           std::vector<sync_reply>& replies) {
  { b.sync(store_id, requests, replies) } -> std::same_as<sync_outcome>;
  { cb.up() } -> std::convertible_to<bool>;
};

}  // namespace circuit::fleet
