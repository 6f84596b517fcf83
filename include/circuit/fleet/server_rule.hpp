#pragma once
// The fleet's decisions, as a backend makes them on the server: one
// `apply_request()` per breaker per sync, atomically, with the server's
// clock. The in-process backend runs this C++; the Redis backend runs the
// same steps as a Lua script (redis/script.hpp), step for step, so that the
// deterministic tests of the fleet logic (tests/fleet) stand for both.
//
// The record of one breaker (one Redis hash):
//   stored state: closed, open, isolated or disabled; half_open is derived
//     (open and due: server now >= open_until).
//   generation: bumped by every fleet state change.
//   level: the exponential backoff step; grows on a failed probe, back to 0
//     on close. open_for(level) = min(initial * multiplier^level, max).
//   origin: the store whose request made the current state ("" = the fleet
//     rule on summed evidence).
//   buckets: failures (and, for a failure rate, successes) of every
//     process, by server time at `bucket_ns`, while closed; dropped once
//     out of the window.
//   batches: per store, the highest batch id counted (exactly once).
//   probes: per store, slots reserved while half_open, each with a lease.
//
// The steps of one request, in this order:
//   1. A missing (or expired) record is made from the requester's local
//      state: an open breaker is re-published open, not closed.
//   2. Each batch with an id above the store's last one: the totals, then
//      its state change (by the rules of apply_change()), then its evidence
//      (into the bucket of server now - age, while closed and within the
//      window), then its probe successes (half_open, same generation:
//      success_threshold of them close it).
//   3. The fleet rule on the summed window, if new failures came in while
//      closed: one trip (origin "", cause `fleet` everywhere).
//   4. Probe reservations (half_open only): this store holds at most what
//      the others' unexpired leases leave of half_open_max_calls.
//   5. The reply, and the expiry: none while isolated or disabled.

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <map>
#include <string>
#include <string_view>

#include <circuit/fleet/backend.hpp>
#include <circuit/state.hpp>

namespace circuit::fleet {

/// One breaker's fleet record, as a backend keeps it. Not thread-safe: the
/// backend applies requests to it one at a time.
struct fleet_record {
  /// Outcomes of every process.
  struct counts {
    std::uint64_t failures = 0, successes = 0;
  };
  /// One store's highest batch id counted, and when it last synced.
  struct batch_mark {
    std::uint64_t last_id = 0;
    std::int64_t at_ns = 0;
  };
  /// One store's probe reservation.
  struct lease {
    std::uint32_t slots = 0;
    std::int64_t expires_ns = 0;
  };

  bool exists = false;           ///< false: no record (made at the next request)
  state stored = state::closed;  ///< never half_open (derived)
  std::uint64_t generation = 0;  ///< bumped by every fleet state change
  std::int64_t open_until_ns = 0;  ///< server time a probe is due at, while open
  std::uint32_t level = 0;         ///< the exponential backoff step
  bool grew = false;               ///< the current open spell followed a failed probe
  std::string origin;              ///< the store whose request made the current state ("": the fleet rule)
  std::uint64_t probe_successes = 0;  ///< counted fleet-wide in this half_open spell
  counts total;                       ///< every process's outcomes, ever
  std::map<std::int64_t, counts> buckets;  ///< by bucket index (server time / bucket_ns)
  std::map<std::string, batch_mark, std::less<>> batches;
  std::map<std::string, lease, std::less<>> probes;
  std::int64_t expires_ns = -1;  ///< -1: never

  /// The state a process sees: half_open once an open spell is due.
  [[nodiscard]] state effective(std::int64_t now) const noexcept {
    return stored == state::open && now >= open_until_ns ? state::half_open : stored;
  }
};

namespace detail {

// Longest backoff level kept (multiplier^level is capped at open_max anyway).
inline constexpr std::uint32_t max_level = 1000;

[[nodiscard]] inline std::int64_t open_for(const breaker_rule& r, std::uint32_t level) noexcept {
  const double d = static_cast<double>(r.open_initial_ns) * std::pow(r.open_multiplier, static_cast<double>(level));
  if (!(d < static_cast<double>(r.open_max_ns))) return r.open_max_ns;
  return std::max<std::int64_t>(1, static_cast<std::int64_t>(d));
}

[[nodiscard]] inline std::int64_t saturating_add(std::int64_t a, std::int64_t b) noexcept {
  constexpr auto hi = std::numeric_limits<std::int64_t>::max();
  return b > 0 && a > hi - b ? hi : a + b;
}

// A bucket of index k counts while now - k * bucket < window.
[[nodiscard]] inline bool bucket_live(const breaker_rule& r, std::int64_t k, std::int64_t now) noexcept {
  return now - k * r.bucket_ns < r.window_ns;
}

class request_application {
 public:
  request_application(fleet_record& rec, const sync_request& q, std::string_view sid, std::int64_t now)
      : r_(rec), q_(q), sid_(sid), now_(now) {}

  sync_reply run() {
    create_if_missing();
    auto& mark = r_.batches[std::string(sid_)];
    bool new_failures = false;
    for (const auto& b : q_.batches) {
      if (b.id <= mark.last_id) continue;  // counted already (a batch sent again)
      mark.last_id = b.id;
      r_.total.failures += b.failures;
      r_.total.successes += b.successes;
      apply_change(b.change, b.change_generation);
      // Successes weigh only in a failure rate.
      const std::uint64_t weighed = q_.rule.kind == rule_kind::failure_rate ? b.successes : 0;
      if (q_.rule.kind != rule_kind::state_only && r_.stored == state::closed && b.age_ns >= 0 &&
          b.age_ns < q_.rule.window_ns && (b.failures != 0 || weighed != 0)) {
        const auto at = now_ - b.age_ns;
        auto& c = r_.buckets[floor_div(at, q_.rule.bucket_ns)];
        c.failures += b.failures;
        c.successes += weighed;
        new_failures = new_failures || b.failures != 0;
      }
      if (b.probe_successes != 0 && r_.effective(now_) == state::half_open && b.probe_generation == r_.generation) {
        r_.probe_successes += b.probe_successes;
        if (r_.probe_successes >= q_.rule.success_threshold) transition(state::closed, std::string(sid_), false);
      }
    }
    mark.at_ns = now_;
    prune();
    const auto window = window_counts();
    if (new_failures && r_.stored == state::closed && rule_met(window)) {
      transition(state::open, "", false);  // the fleet rule: cause `fleet` everywhere
    }
    reserve_probes();
    const bool lasting = r_.stored == state::isolated || r_.stored == state::disabled;
    r_.expires_ns = lasting ? -1 : saturating_add(saturating_add(now_, open_left()), q_.rule.idle_ttl_ns);
    return reply(window_counts());
  }

 private:
  static std::int64_t floor_div(std::int64_t a, std::int64_t b) noexcept {
    const auto q = a / b;
    return (a % b != 0 && ((a < 0) != (b < 0))) ? q - 1 : q;
  }

  void create_if_missing() {
    if (r_.exists && (r_.expires_ns < 0 || now_ < r_.expires_ns)) return;
    r_ = fleet_record{};
    r_.exists = true;
    r_.generation = 1;
    r_.origin = std::string(sid_);
    switch (q_.local_state) {
      case state::open:
      case state::half_open:
        r_.stored = state::open;
        r_.open_until_ns = saturating_add(now_, std::max<std::int64_t>(0, q_.local_open_left_ns));
        break;
      case state::closed:
      case state::isolated:
      case state::disabled:
        r_.stored = q_.local_state;
        break;
    }
  }

  // A state change asked for by a process, under the rules of the local
  // breaker: trip() does not end isolation and only restarts an open spell;
  // a re-open counts only for the half_open spell it was made in.
  void apply_change(change_kind c, std::uint64_t made_in) {
    const auto e = r_.effective(now_);
    const std::string by(sid_);
    switch (c) {
      case change_kind::none: return;
      case change_kind::counter_tripped:
        if (r_.stored == state::closed) transition(state::open, by, false);
        return;
      case change_kind::reopened:
        if (e == state::half_open && made_in == r_.generation) {
          r_.level = std::min(r_.level + 1, max_level);
          transition(state::open, by, true);
        }
        return;
      case change_kind::tripped:
        if (r_.stored == state::isolated) return;
        if (e == state::open) {
          r_.open_until_ns = saturating_add(now_, open_for(q_.rule, r_.level));
          return;
        }
        transition(state::open, by, false);
        return;
      case change_kind::isolated:
        if (r_.stored != state::isolated) transition(state::isolated, by, false);
        return;
      case change_kind::disabled:
        if (r_.stored != state::disabled) transition(state::disabled, by, false);
        return;
      case change_kind::reset:
        transition(state::closed, by, false);
        return;
    }
  }

  void transition(state to, std::string by, bool grew) {
    ++r_.generation;
    r_.stored = to;
    r_.origin = std::move(by);
    r_.probes.clear();
    r_.probe_successes = 0;
    r_.grew = grew;
    if (to == state::open) r_.open_until_ns = saturating_add(now_, open_for(q_.rule, r_.level));
    if (to == state::closed) {
      r_.buckets.clear();
      r_.level = 0;
    }
  }

  void prune() {
    if (q_.rule.kind == rule_kind::state_only) {
      r_.buckets.clear();
    } else {
      std::erase_if(r_.buckets, [&](const auto& kv) { return !bucket_live(q_.rule, kv.first, now_); });
    }
    // A store's mark outlives every batch it may still send again (those
    // are dropped once out of the window) by an hour.
    const auto keep = saturating_add(std::max(q_.rule.window_ns, q_.rule.probe_lease_ns), std::int64_t{3600} * 1000000000);
    std::erase_if(r_.batches, [&](const auto& kv) { return now_ - kv.second.at_ns > keep; });
  }

  [[nodiscard]] fleet_record::counts window_counts() const noexcept {
    fleet_record::counts c;
    for (const auto& [k, n] : r_.buckets) {
      if (!bucket_live(q_.rule, k, now_)) continue;
      c.failures += n.failures;
      c.successes += n.successes;
    }
    return c;
  }

  [[nodiscard]] bool rule_met(const fleet_record::counts& w) const noexcept {
    switch (q_.rule.kind) {
      case rule_kind::state_only: return false;
      case rule_kind::failure_count: return w.failures > q_.rule.max_failures;
      case rule_kind::failure_rate: {
        const auto calls = w.failures + w.successes;
        return calls >= q_.rule.minimum_calls &&
               static_cast<double>(w.failures) / static_cast<double>(calls) >= q_.rule.failure_rate;
      }
    }
    return false;
  }

  void reserve_probes() {
    if (r_.effective(now_) != state::half_open) {
      r_.probes.clear();
      return;
    }
    std::erase_if(r_.probes, [&](const auto& kv) { return now_ >= kv.second.expires_ns; });
    std::uint64_t others = 0;
    for (const auto& [sid, l] : r_.probes) {
      if (sid != sid_) others += l.slots;
    }
    const std::uint64_t limit = q_.rule.half_open_max_calls;
    const auto room = others >= limit ? 0 : limit - others;
    const auto want = static_cast<std::uint32_t>(std::min<std::uint64_t>(q_.probes_held, room));
    const auto mine = r_.probes.find(sid_);
    const std::uint32_t had = mine == r_.probes.end() ? 0 : mine->second.slots;
    if (want == 0) {
      if (mine != r_.probes.end()) r_.probes.erase(mine);
    } else if (want > had) {
      r_.probes[std::string(sid_)] = {want, saturating_add(now_, q_.rule.probe_lease_ns)};  // a new lease
    } else {
      mine->second.slots = want;  // fewer: the lease runs on
    }
  }

  [[nodiscard]] std::int64_t open_left() const noexcept {
    return r_.stored == state::open && now_ < r_.open_until_ns ? r_.open_until_ns - now_ : 0;
  }

  [[nodiscard]] sync_reply reply(const fleet_record::counts& window) const {
    sync_reply p;
    p.fleet_state = r_.effective(now_);
    p.generation = r_.generation;
    p.open_left_ns = open_left();
    p.backoff_grew = r_.grew;
    p.by_requester = r_.origin == sid_;
    const auto mine = r_.probes.find(sid_);
    p.probes_granted = mine == r_.probes.end() ? 0 : mine->second.slots;
    p.acknowledged = r_.batches.find(sid_)->second.last_id;
    p.total_failures = r_.total.failures;
    p.total_successes = r_.total.successes;
    p.window_failures = window.failures;
    p.window_successes = window.successes;
    return p;
  }

  fleet_record& r_;
  const sync_request& q_;
  std::string_view sid_;
  std::int64_t now_;
};

}  // namespace detail

/// Applies one request of store `store_id` to `record` at server time
/// `now_ns` (the steps at the top of this file) and returns the reply.
/// Not thread-safe: one request at a time per record.
inline sync_reply apply_request(fleet_record& record, const sync_request& request, std::string_view store_id,
                                std::int64_t now_ns) {
  return detail::request_application(record, request, store_id, now_ns).run();
}

}  // namespace circuit::fleet
