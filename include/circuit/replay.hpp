#pragma once
// Replays a recorded trace of calls against one breaker configuration, to
// see what it would have done: when it would have tripped, how long it would
// have stayed open, which calls it would have refused.
//
//     std::vector<circuit::recorded_call> calls = ...;   // from an access log
//     circuit::replay_report r = circuit::replay(calls, circuit::sliding_window{.max_failures = 5},
//                                                circuit::options{.open_for = circuit::fixed{30s}});
//
// Not included by <circuit/circuit.hpp>. The `circuit-tune` program (in
// examples/circuit-tune/) reads a CSV trace, replays several configurations
// and draws what each did.

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <limits>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <type_traits>
#include <unordered_map>
#include <utility>
#include <vector>

#include <circuit/circuit_breaker.hpp>
#include <circuit/consecutive_failures.hpp>
#include <circuit/event.hpp>
#include <circuit/failure_rate_last_calls.hpp>
#include <circuit/failure_rate_window.hpp>
#include <circuit/manual_clock.hpp>
#include <circuit/net_failures.hpp>
#include <circuit/options.hpp>
#include <circuit/outcome.hpp>
#include <circuit/sliding_window.hpp>
#include <circuit/state.hpp>

namespace circuit {

/// One call of a recorded trace (a row of an access log). A value.
struct recorded_call {
  /// When the call started: since the Unix epoch, or any fixed origin.
  std::chrono::nanoseconds at{};
  /// How long it took (at least 0).
  std::chrono::nanoseconds latency{};
  /// How it went: success, failure or ignored.
  circuit::outcome result = outcome::success;
  /// The peer it went to; empty for a single breaker.
  std::string peer = {};
};

/// A stretch of time one peer's breaker spent in one state. A value.
struct replay_span {
  /// The peer ("" for a single breaker).
  std::string peer;
  circuit::state state = state::closed;
  /// Seconds since the first call's start.
  double from = 0;
  double to = 0;
};

/// What one configuration did over a trace (or over one peer's calls). A value.
struct replay_figures {
  /// Rows of the trace.
  std::uint64_t calls = 0;
  /// Changes from closed to open.
  std::uint64_t trips = 0;
  /// Changes from half_open back to open.
  std::uint64_t reopens = 0;
  /// Summed over every open spell: from the change to open to its
  /// open-until, cut at `last_settlement`.
  double open_seconds = 0;
  /// Calls the breaker refused (they never ran).
  std::uint64_t refused = 0;
  /// Refused calls whose outcome in the trace is `success`: the cost.
  std::uint64_t refused_would_have_succeeded = 0;
  /// Refused calls whose outcome in the trace is `failure`: the benefit (a
  /// refused `ignored` call is only in `refused`).
  std::uint64_t failures_kept_off = 0;
  /// One entry per trip, in time order: from the start of the earliest
  /// failure the counter still counted when it tripped, to the trip.
  std::vector<double> time_to_trip_seconds;
  /// The state spans, peer by peer (peers in name order), each peer's in
  /// time order from 0 to `last_settlement`. An open span ends at its
  /// open-until, where half_open starts (the breaker makes that change
  /// lazily, at the next call).
  std::vector<replay_span> timeline;
  /// Seconds since the first call's start of the latest `at + latency` of
  /// these calls (refused ones included): where open spells and spans are cut.
  double last_settlement = 0;
};

/// What `replay()` returns: the figures over every peer, and per peer. A value.
struct replay_report : replay_figures {
  /// When the trace has peers (a row with a non-empty peer): the figures of
  /// each peer's breaker, keyed by peer.
  std::map<std::string, replay_figures, std::less<>> peers;
  /// The first call's start (`recorded_call::at`): the origin of every `from` and `to`.
  std::chrono::nanoseconds origin{};
  /// The calls the breaker refused, as indexes into the trace's calls, in
  /// the order they were refused.
  std::vector<std::size_t> refused_calls;
};

class replay_trace;
/// Replays `trace` against one configuration (defined below, after `replay_trace`).
template <class Counter>
[[nodiscard]] replay_report replay(const replay_trace& trace, const Counter& counter, const options& settings = {});

/// A trace put into its replay order once, so that several configurations
/// replay it without sorting it again. Immutable once made: `replay()` of one
/// trace may run on several threads at once.
///
/// The order: admissions at `at`, settlements at `at + latency`; at the same
/// instant settlements come before admissions; calls that start at the same
/// instant are admitted in the trace's order, and settlements at the same
/// instant run in the trace's order too. A call of latency 0 is settled
/// right after its own admission, before the next call is admitted.
class replay_trace {
 public:
  /// An empty trace.
  replay_trace() = default;

  /// Copies what the replay needs of `calls` (which need not be sorted).
  /// Throws `std::invalid_argument` naming the call (its index) for a
  /// negative latency, or one whose end does not fit in nanoseconds.
  explicit replay_trace(std::span<const recorded_call> calls) {
    const auto n = calls.size();
    if (n > std::numeric_limits<std::uint32_t>::max() - 1) {
      throw std::invalid_argument("replay_trace: at most 4294967294 calls");
    }
    at_.resize(n);
    end_.resize(n);
    result_.resize(n);
    peer_.resize(n);
    std::unordered_map<std::string_view, std::uint32_t> ids;
    std::vector<std::string_view> names;
    std::uint32_t last_id = 0;
    std::string_view last_name;
    bool any = false;
    for (std::size_t i = 0; i < n; ++i) {
      const auto& c = calls[i];
      const auto at = c.at.count(), latency = c.latency.count();
      if (latency < 0) {
        throw std::invalid_argument("recorded_call.latency must not be negative (call " + std::to_string(i) + ")");
      }
      if (at > std::numeric_limits<std::int64_t>::max() - latency) {
        throw std::invalid_argument("recorded_call.at + latency does not fit in nanoseconds (call " +
                                    std::to_string(i) + ")");
      }
      at_[i] = at;
      end_[i] = at + latency;
      result_[i] = c.result;
      if (!any || c.peer != last_name) {  // runs of one peer skip the hash
        auto [it, fresh] = ids.try_emplace(c.peer, static_cast<std::uint32_t>(names.size()));
        if (fresh) names.push_back(c.peer);
        last_id = it->second;
        last_name = c.peer;
        any = true;
      }
      peer_[i] = last_id;
      if (!c.peer.empty()) has_peers_ = true;
    }
    // Peers in name order, whatever order they came in.
    std::vector<std::uint32_t> order(names.size());
    for (std::uint32_t i = 0; i < order.size(); ++i) order[i] = i;
    std::sort(order.begin(), order.end(), [&](auto a, auto b) { return names[a] < names[b]; });
    std::vector<std::uint32_t> rank(names.size());
    for (std::uint32_t r = 0; r < order.size(); ++r) {
      rank[order[r]] = r;
      peer_names_.emplace_back(names[order[r]]);
    }
    for (auto& p : peer_) p = rank[p];
    schedule();
  }

  /// Rows of the trace.
  [[nodiscard]] std::size_t size() const noexcept { return at_.size(); }
  /// True when a row names a peer: the replay then reports per peer.
  [[nodiscard]] bool has_peers() const noexcept { return has_peers_; }
  /// The peers in name order ("" alone for a single breaker).
  [[nodiscard]] const std::vector<std::string>& peers() const noexcept { return peer_names_; }
  /// Row `i`'s start, end (`at + latency`), outcome and peer (an index into `peers()`).
  [[nodiscard]] std::chrono::nanoseconds start_of(std::size_t i) const { return std::chrono::nanoseconds(at_[i]); }
  [[nodiscard]] std::chrono::nanoseconds end_of(std::size_t i) const { return std::chrono::nanoseconds(end_[i]); }
  [[nodiscard]] outcome result_of(std::size_t i) const { return result_[i]; }
  [[nodiscard]] std::uint32_t peer_of(std::size_t i) const { return peer_[i]; }
  /// The first start, and the latest end, of every row (0 for an empty trace).
  [[nodiscard]] std::chrono::nanoseconds first_start() const noexcept { return std::chrono::nanoseconds(first_); }
  [[nodiscard]] std::chrono::nanoseconds last_end() const noexcept { return std::chrono::nanoseconds(last_); }

 private:
  template <class Counter>
  friend replay_report replay(const replay_trace&, const Counter&, const options&);

  void schedule() {
    const auto n = at_.size();
    admissions_.resize(n);
    for (std::uint32_t i = 0; i < n; ++i) admissions_[i] = i;
    // Ties keep the trace's order; an access log is mostly sorted already.
    if (!std::is_sorted(admissions_.begin(), admissions_.end(), [&](auto a, auto b) { return at_[a] < at_[b]; })) {
      std::stable_sort(admissions_.begin(), admissions_.end(), [&](auto a, auto b) { return at_[a] < at_[b]; });
    }
    settlements_.reserve(n);
    for (std::uint32_t i = 0; i < n; ++i) {
      if (end_[i] != at_[i]) settlements_.push_back(i);
    }
    std::stable_sort(settlements_.begin(), settlements_.end(), [&](auto a, auto b) { return end_[a] < end_[b]; });
    if (n != 0) {
      first_ = *std::min_element(at_.begin(), at_.end());
      last_ = *std::max_element(end_.begin(), end_.end());
    }
    peer_last_.assign(peer_names_.size(), std::numeric_limits<std::int64_t>::min());
    peer_calls_.assign(peer_names_.size(), 0);
    for (std::size_t i = 0; i < n; ++i) {
      peer_last_[peer_[i]] = std::max(peer_last_[peer_[i]], end_[i]);
      ++peer_calls_[peer_[i]];
    }
  }

  std::vector<std::int64_t> at_, end_;
  std::vector<outcome> result_;
  std::vector<std::uint32_t> peer_;
  std::vector<std::string> peer_names_;
  std::vector<std::uint32_t> admissions_;   // rows by (at, row)
  std::vector<std::uint32_t> settlements_;  // rows of latency > 0 by (at + latency, row)
  std::vector<std::int64_t> peer_last_;     // each peer's latest end
  std::vector<std::uint64_t> peer_calls_;
  std::int64_t first_ = 0, last_ = 0;
  bool has_peers_ = false;
};

namespace detail {

// Which failures a counter still counts, mirrored from the failures and
// successes the replay fed it (counters do not expose their failure times):
// `earliest(now)` is the earliest start among them when it trips at `now`.
// The general rule, for a counter not known here: every failure since the
// counter was last cleared.
template <class Counter>
class counted_failures {
 public:
  explicit counted_failures(const Counter&) {}
  void on_failure(std::int64_t start, std::int64_t) noexcept { earliest_ = std::min(earliest_, start); }
  void on_success(std::int64_t) noexcept {}
  void reset() noexcept { earliest_ = none; }
  [[nodiscard]] std::int64_t earliest(std::int64_t) const noexcept { return earliest_; }

 private:
  static constexpr std::int64_t none = std::numeric_limits<std::int64_t>::max();
  std::int64_t earliest_ = none;
};

// sliding_window: the newest max_failures + 1 failures that lie within the
// window (all of them, when it trips: it would have tripped earlier otherwise).
template <>
class counted_failures<sliding_window> {
 public:
  explicit counted_failures(const sliding_window& s)
      : window_(s.window.count()), capacity_(s.max_failures + std::size_t{1}) {}
  void on_failure(std::int64_t start, std::int64_t now) {
    if (kept_.size() == capacity_) kept_.pop_front();
    kept_.push_back({now, start});
  }
  void on_success(std::int64_t) noexcept {}
  void reset() noexcept { kept_.clear(); }
  [[nodiscard]] std::int64_t earliest(std::int64_t now) const noexcept {
    auto e = std::numeric_limits<std::int64_t>::max();
    for (const auto& [at, start] : kept_) {
      // As the counter: a failure exactly `window` old has left the window.
      if (at > now || static_cast<std::uint64_t>(now) - static_cast<std::uint64_t>(at) <
                          static_cast<std::uint64_t>(window_)) {
        e = std::min(e, start);
      }
    }
    return e;
  }

 private:
  std::int64_t window_;
  std::size_t capacity_;
  std::deque<std::pair<std::int64_t, std::int64_t>> kept_;  // (recorded at, start)
};

// consecutive_failures: the current run (a success ends it).
template <>
class counted_failures<consecutive_failures> {
 public:
  explicit counted_failures(const consecutive_failures&) {}
  void on_failure(std::int64_t start, std::int64_t) noexcept { earliest_ = std::min(earliest_, start); }
  void on_success(std::int64_t) noexcept { reset(); }
  void reset() noexcept { earliest_ = std::numeric_limits<std::int64_t>::max(); }
  [[nodiscard]] std::int64_t earliest(std::int64_t) const noexcept { return earliest_; }

 private:
  std::int64_t earliest_ = std::numeric_limits<std::int64_t>::max();
};

// net_failures: the failures since the one that lifted the count off zero.
template <>
class counted_failures<net_failures> {
 public:
  explicit counted_failures(const net_failures&) {}
  void on_failure(std::int64_t start, std::int64_t) noexcept {
    earliest_ = net_ == 0 ? start : std::min(earliest_, start);
    ++net_;
  }
  void on_success(std::int64_t) noexcept {
    if (net_ > 0) --net_;
  }
  void reset() noexcept { net_ = 0; }
  [[nodiscard]] std::int64_t earliest(std::int64_t) const noexcept { return earliest_; }

 private:
  std::uint64_t net_ = 0;
  std::int64_t earliest_ = std::numeric_limits<std::int64_t>::max();
};

// failure_rate_window: the failures in the live slices, sliced as the
// counter does (slice j = [j*w, (j+1)*w), w = window / buckets, live while
// now - j*w < window).
template <>
class counted_failures<failure_rate_window> {
 public:
  explicit counted_failures(const failure_rate_window& s)
      : window_(s.window.count()), width_(s.window.count() / s.buckets) {}
  void on_failure(std::int64_t start, std::int64_t now) {
    kept_.push_back({slice_of(now), start});
    forget(now);
  }
  void on_success(std::int64_t) noexcept {}
  void reset() noexcept { kept_.clear(); }
  [[nodiscard]] std::int64_t earliest(std::int64_t now) const noexcept {
    const auto oldest_live = slice_of(now - window_) + 1;
    auto e = std::numeric_limits<std::int64_t>::max();
    for (const auto& [slice, start] : kept_) {
      if (slice >= oldest_live) e = std::min(e, start);
    }
    return e;
  }

 private:
  [[nodiscard]] std::int64_t slice_of(std::int64_t t) const noexcept {
    const auto q = t / width_;
    return (t % width_ < 0) ? q - 1 : q;
  }
  void forget(std::int64_t now) {
    const auto oldest_live = slice_of(now - window_) + 1;
    while (!kept_.empty() && kept_.front().first < oldest_live) kept_.pop_front();
  }

  std::int64_t window_, width_;
  std::deque<std::pair<std::int64_t, std::int64_t>> kept_;  // (slice, start), recorded in time order
};

// failure_rate_last_calls: the failures among the last `calls` calls
// (ignored calls take no slot).
template <>
class counted_failures<failure_rate_last_calls> {
 public:
  explicit counted_failures(const failure_rate_last_calls& s) : capacity_(s.calls) {}
  void on_failure(std::int64_t start, std::int64_t) { push(start, true); }
  void on_success(std::int64_t start) { push(start, false); }
  void reset() noexcept { kept_.clear(); }
  [[nodiscard]] std::int64_t earliest(std::int64_t) const noexcept {
    auto e = std::numeric_limits<std::int64_t>::max();
    for (const auto& [start, failed] : kept_) {
      if (failed) e = std::min(e, start);
    }
    return e;
  }

 private:
  void push(std::int64_t start, bool failed) {
    if (kept_.size() == capacity_) kept_.pop_front();
    kept_.push_back({start, failed});
  }
  std::size_t capacity_;
  std::deque<std::pair<std::int64_t, bool>> kept_;  // (start, failed)
};

// A point where a peer's state changed, and each open spell.
struct state_point {
  std::int64_t at;
  state to;
};
struct open_spell {
  std::int64_t from, until;
};

// The spans of one peer's points, from `origin` to `end`.
inline void add_spans(std::vector<replay_span>& out, const std::string& peer, const std::vector<state_point>& points,
                      std::int64_t origin, std::int64_t end) {
  const auto seconds = [origin](std::int64_t t) { return static_cast<double>(t - origin) / 1e9; };
  for (std::size_t i = 0; i < points.size(); ++i) {
    const auto from = points[i].at;
    if (from > end) break;
    const auto to = i + 1 < points.size() ? std::min(points[i + 1].at, end) : end;
    out.push_back({peer, points[i].to, seconds(from), seconds(to)});
  }
}

inline double open_seconds(const std::vector<open_spell>& spells, std::int64_t end) {
  std::int64_t ns = 0;
  for (const auto& s : spells) ns += std::max<std::int64_t>(0, std::min(s.until, end) - s.from);
  return static_cast<double>(ns) / 1e9;
}

}  // namespace detail

/// Replays `trace` against one configuration: the library's own breaker
/// (`circuit_breaker<manual_clock, Counter>`), one per peer as a
/// `circuit_breaker_set` would make them (each named by its peer), on a
/// `manual_clock` that reads the trace's times. A call is admitted at its
/// `at` (`try_guard()`) and settled at `at + latency` with its recorded
/// outcome, so overlapping calls, `slow_call` and `probe_timeout` are exact.
/// The order of events at one instant is `replay_trace`'s.
///
/// `time_to_trip_seconds` needs the start of the earliest failure the
/// counter still counted when it tripped; counters do not expose their
/// failure times, so the replay mirrors each provided counter's rule over
/// the failures and successes it fed it (the breaker's failure events tell
/// which outcomes reached the counter): `sliding_window` the failures within
/// the window, `consecutive_failures` the current run, `net_failures` those
/// since the failure that lifted the count off zero, `failure_rate_window`
/// those in the live slices, `failure_rate_last_calls` those among the last
/// `calls` calls; any other counter, every failure since it was last cleared.
///
/// Throws `std::invalid_argument` (naming the field) for invalid settings.
/// Thread-safe: replays share nothing but the (immutable) trace.
template <class Counter>
replay_report replay(const replay_trace& trace, const Counter& counter, const options& settings) {
  using breaker_type = circuit_breaker<manual_clock, Counter>;
  using permit_type = typename breaker_type::guard_type;
  using ns = std::chrono::nanoseconds;

  const auto n = trace.size();
  const auto peer_count = trace.peer_names_.size();
  manual_clock clock(manual_clock::time_point(ns(trace.first_)));
  std::int64_t now = trace.first_;

  // What the listener needs to know about the call being settled.
  struct settling {
    std::int64_t start = 0;
    bool fed = false;   // admitted in closed, and its generation is current
    bool failed = false;  // the breaker heard a failure from it
  };

  struct peer_run {
    std::unique_ptr<breaker_type> breaker;
    subscription sub;
    state current = state::closed;
    std::uint64_t generation = 0;  // state changes seen
    std::int64_t open_until = 0;
    std::vector<detail::state_point> points;
    std::vector<detail::open_spell> spells;
    std::vector<std::pair<std::int64_t, double>> trips;  // (trip time, time to trip)
    replay_figures figures;
    detail::counted_failures<Counter> counted;
    settling call;
    explicit peer_run(const Counter& c) : counted(c) {}
  };

  std::vector<std::unique_ptr<peer_run>> peers;
  peers.reserve(peer_count);
  for (std::size_t p = 0; p < peer_count; ++p) {
    auto run = std::make_unique<peer_run>(counter);
    auto o = settings;
    if (trace.has_peers_) o.name = trace.peer_names_[p];
    run->breaker = std::make_unique<breaker_type>(counter, std::move(o), clock);
    run->points.push_back({trace.first_, state::closed});
    auto* r = run.get();
    run->sub = r->breaker->on_event(
        [r, &now](const event& e) {
          if (e.kind == event_kind::failure) {
            r->call.failed = true;
            if (r->call.fed) r->counted.on_failure(r->call.start, now);
            return;
          }
          if (e.kind != event_kind::state_change) return;
          ++r->generation;
          r->current = e.to;
          if (e.to == state::open) {
            if (e.from == state::closed) {
              ++r->figures.trips;
              const auto earliest = r->counted.earliest(now);
              const auto ttt = earliest <= now ? static_cast<double>(now - earliest) / 1e9 : 0.0;
              r->trips.emplace_back(now, ttt);
            } else if (e.from == state::half_open) {
              ++r->figures.reopens;
            }
            ns open_for = e.open_for.value_or(ns::zero());
            if (!e.open_for) {
              const auto m = r->breaker->metrics();
              if (m.open_until) open_for = m.open_until->time_since_epoch() - ns(now);
            }
            r->open_until = now + open_for.count();
            r->spells.push_back({now, r->open_until});
            r->points.push_back({now, state::open});
          } else if (e.to == state::half_open && e.from == state::open) {
            // Half_open from the open-until on: the breaker makes the change
            // lazily, at the next call, but would have admitted a probe from then.
            r->points.push_back({std::min(r->open_until, now), state::half_open});
          } else {
            if (e.to == state::closed) r->counted.reset();
            r->points.push_back({now, e.to});
          }
        },
        event_filter{event_kind::failure, event_kind::state_change});
    peers.push_back(std::move(run));
  }

  // Settings are checked even when there is no call to make a breaker for.
  if (peer_count == 0) (void)breaker_type(counter, settings, clock);

  replay_report report;
  report.origin = ns(trace.first_);

  // Permits of calls in flight, in slots reused as calls settle.
  struct in_flight {
    permit_type permit;
    std::uint64_t generation = 0;
    bool closed = false;
  };
  constexpr auto no_slot = std::numeric_limits<std::uint32_t>::max();
  std::vector<in_flight> slots;
  std::vector<std::uint32_t> free_slots;
  std::vector<std::uint32_t> slot_of(n, no_slot);

  const auto move_to = [&](std::int64_t t) {
    if (t != now) {
      now = t;
      clock.set(manual_clock::time_point(ns(t)));
    }
  };

  const auto settle = [&](std::uint32_t row) {
    const auto s = slot_of[row];
    if (s == no_slot) return;  // refused: it never ran
    auto& f = slots[s];
    auto& r = *peers[trace.peer_[row]];
    r.call = {trace.at_[row], f.closed && f.generation == r.generation, false};
    switch (trace.result_[row]) {
      case outcome::success: f.permit.success(); break;
      case outcome::failure: f.permit.failure(); break;
      case outcome::ignored: f.permit.ignore(); break;
    }
    // A success that reached the counter (not slow, not stale).
    if (trace.result_[row] == outcome::success && !r.call.failed && r.call.fed && f.generation == r.generation) {
      r.counted.on_success(trace.at_[row]);
    }
    free_slots.push_back(s);
  };

  const auto admit = [&](std::uint32_t row) {
    auto& r = *peers[trace.peer_[row]];
    auto g = r.breaker->try_guard();
    if (!g) {
      ++r.figures.refused;
      if (trace.result_[row] == outcome::success) ++r.figures.refused_would_have_succeeded;
      if (trace.result_[row] == outcome::failure) ++r.figures.failures_kept_off;
      report.refused_calls.push_back(row);
      return;
    }
    std::uint32_t s;
    if (free_slots.empty()) {
      s = static_cast<std::uint32_t>(slots.size());
      slots.emplace_back();
    } else {
      s = free_slots.back();
      free_slots.pop_back();
    }
    // After try_guard(): a lazy change it made has been heard already.
    slots[s] = {std::move(g), r.generation, r.current == state::closed};
    slot_of[row] = s;
  };

  const auto& adm = trace.admissions_;
  const auto& stl = trace.settlements_;
  std::size_t a = 0, b = 0;
  while (a < adm.size() || b < stl.size()) {
    if (b < stl.size() && (a == adm.size() || trace.end_[stl[b]] <= trace.at_[adm[a]])) {
      const auto row = stl[b++];
      move_to(trace.end_[row]);
      settle(row);
    } else {
      const auto row = adm[a++];
      move_to(trace.at_[row]);
      admit(row);
      if (trace.end_[row] == trace.at_[row]) settle(row);
    }
  }

  // The figures, per peer and over all of them.
  std::vector<std::pair<std::int64_t, double>> trips;
  for (std::size_t p = 0; p < peer_count; ++p) {
    auto& r = *peers[p];
    // Still open after its last call: half_open from the open-until on, as
    // a state query would have said (spans starting past the end are cut).
    if (r.current == state::open) r.points.push_back({r.open_until, state::half_open});
    auto& f = r.figures;
    const auto& name = trace.peer_names_[p];
    f.calls = trace.peer_calls_[p];
    f.last_settlement = static_cast<double>(trace.peer_last_[p] - trace.first_) / 1e9;
    f.open_seconds = detail::open_seconds(r.spells, trace.peer_last_[p]);
    for (const auto& t : r.trips) f.time_to_trip_seconds.push_back(t.second);
    trips.insert(trips.end(), r.trips.begin(), r.trips.end());
    report.calls += f.calls;
    report.trips += f.trips;
    report.reopens += f.reopens;
    report.refused += f.refused;
    report.refused_would_have_succeeded += f.refused_would_have_succeeded;
    report.failures_kept_off += f.failures_kept_off;
    report.open_seconds += detail::open_seconds(r.spells, trace.last_);
    detail::add_spans(report.timeline, name, r.points, trace.first_, trace.last_);
    if (trace.has_peers_) {
      detail::add_spans(f.timeline, name, r.points, trace.first_, trace.peer_last_[p]);
      report.peers.emplace(name, std::move(f));
    }
  }
  // In time order; trips at one instant in peer order (stable).
  std::stable_sort(trips.begin(), trips.end(), [](const auto& x, const auto& y) { return x.first < y.first; });
  for (const auto& t : trips) report.time_to_trip_seconds.push_back(t.second);
  report.last_settlement = static_cast<double>(trace.last_ - trace.first_) / 1e9;
  return report;
}

/// `replay(replay_trace(calls), counter, settings)`: for one configuration.
/// To replay several, make the `replay_trace` once.
template <class Counter>
[[nodiscard]] replay_report replay(std::span<const recorded_call> calls, const Counter& counter,
                                   const options& settings = {}) {
  return replay(replay_trace(calls), counter, settings);
}

}  // namespace circuit
