// circuit::replay: timelines and figures checked against hand-computed
// expectations (times in the comments are seconds since the first call).

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <random>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <circuit/replay.hpp>

#include "catch.hpp"

namespace {

using namespace std::chrono_literals;
using circuit::outcome;
using circuit::state;
using ms = std::chrono::milliseconds;

constexpr auto S = outcome::success;
constexpr auto F = outcome::failure;
constexpr auto I = outcome::ignored;

// A call at `at_ms` taking `latency_ms`, from a fixed origin far from 0.
circuit::recorded_call call(std::int64_t at_ms, std::int64_t latency_ms, outcome o, std::string peer = "") {
  const auto origin = std::chrono::nanoseconds(1'700'000'000'000'000'000);
  return {origin + ms(at_ms), ms(latency_ms), o, std::move(peer)};
}

struct span {
  std::string peer;
  state s;
  double from, to;
  friend bool operator==(const span&, const span&) = default;
};

std::vector<span> spans(const std::vector<circuit::replay_span>& timeline) {
  std::vector<span> out;
  for (const auto& s : timeline) out.push_back({s.peer, s.state, s.from, s.to});
  return out;
}

std::ostream& operator<<(std::ostream& o, const span& s) {
  return o << "{" << s.peer << " " << s.s << " " << s.from << " " << s.to << "}";
}

const circuit::sliding_window four_in_60s{.max_failures = 3, .window = 60s};
const circuit::options open_10s{.open_for = circuit::fixed{10s}};

// Four failures within 60 s trip it at 42 s (the 4th settles then); open
// until 52 s; three calls refused meanwhile; the probe at 55 s closes it.
std::vector<circuit::recorded_call> trip_then_probe(outcome probe) {
  return {
      call(0, 1000, F),      // settles at 1
      call(10'000, 1000, F),  // 11
      call(20'000, 1000, S),  // 21: sliding_window does not weigh successes
      call(30'000, 1000, F),  // 31
      call(40'000, 2000, F),  // 42: the 4th failure within 60 s: trips, open until 52
      call(45'000, 1000, S),  // refused, would have succeeded
      call(50'000, 1000, F),  // refused, a failure kept off
      call(51'000, 500, I),   // refused, neither
      call(55'000, 1000, probe),  // half_open since 52: the probe, settles at 56
      call(60'000, 1000, S),      // settles at 61: the last settlement
  };
}

}  // namespace

TEST_CASE("replay: a trip at the 4th failure in 60 s, 10 s open, then a probe that closes") {
  const auto r = circuit::replay(trip_then_probe(S), four_in_60s, open_10s);
  CHECK(r.calls == 10);
  CHECK(r.trips == 1);
  CHECK(r.reopens == 0);
  CHECK(r.open_seconds == 10.0);
  CHECK(r.refused == 3);
  CHECK(r.refused_would_have_succeeded == 1);
  CHECK(r.failures_kept_off == 1);
  // From the start of the earliest counted failure (0 s) to the trip (42 s).
  CHECK(r.time_to_trip_seconds == std::vector<double>{42.0});
  CHECK(r.last_settlement == 61.0);
  CHECK(r.peers.empty());
  CHECK(r.refused_calls == std::vector<std::size_t>{5, 6, 7});
  CHECK(spans(r.timeline) == std::vector<span>{{"", state::closed, 0, 42},
                                               {"", state::open, 42, 52},
                                               {"", state::half_open, 52, 56},
                                               {"", state::closed, 56, 61}});
}

TEST_CASE("replay: a failed probe reopens, the next probe closes") {
  auto calls = trip_then_probe(F);
  calls.pop_back();
  calls.push_back(call(60'000, 1000, S));  // open until 66: refused
  calls.push_back(call(70'000, 500, S));   // the probe: closes at 70.5
  const auto r = circuit::replay(calls, four_in_60s, open_10s);
  CHECK(r.trips == 1);
  CHECK(r.reopens == 1);
  CHECK(r.open_seconds == 20.0);
  CHECK(r.refused == 4);
  CHECK(r.refused_would_have_succeeded == 2);
  CHECK(spans(r.timeline) == std::vector<span>{{"", state::closed, 0, 42},
                                               {"", state::open, 42, 52},
                                               {"", state::half_open, 52, 56},
                                               {"", state::open, 56, 66},
                                               {"", state::half_open, 66, 70.5},
                                               {"", state::closed, 70.5, 70.5}});
}

TEST_CASE("replay: an exponential open duration doubles on the reopen") {
  auto calls = trip_then_probe(F);
  calls.pop_back();
  calls.push_back(call(80'000, 1000, S));  // open 56..76 (20 s), then the probe closes at 81
  const auto r = circuit::replay(
      calls, four_in_60s,
      circuit::options{.open_for = circuit::exponential{.initial = 10s, .multiplier = 2, .max = 60s, .seed = 1}});
  CHECK(r.open_seconds == 30.0);
  CHECK(spans(r.timeline)[3] == span{"", state::open, 56, 76});
}

TEST_CASE("replay: open spells are cut at the last settlement") {
  auto calls = trip_then_probe(S);
  calls.resize(6);  // the last settles at 46
  const auto r = circuit::replay(calls, four_in_60s, circuit::options{.open_for = circuit::fixed{100s}});
  CHECK(r.open_seconds == 4.0);
  CHECK(spans(r.timeline).back() == span{"", state::open, 42, 46});
}

TEST_CASE("replay: at one instant, settlements come before admissions") {
  auto calls = trip_then_probe(S);
  calls.resize(5);
  calls.push_back(call(42'000, 1000, S));  // starts as the trip happens: refused
  const auto r = circuit::replay(calls, four_in_60s, open_10s);
  CHECK(r.trips == 1);
  CHECK(r.refused == 1);
  CHECK(r.refused_calls == std::vector<std::size_t>{5});
}

TEST_CASE("replay: calls that start at one instant are admitted in the trace's order") {
  auto base = trip_then_probe(S);
  base.resize(5);
  SECTION("the success first: it is the probe, and closes") {
    auto calls = base;
    calls.push_back(call(52'000, 1000, S));
    calls.push_back(call(52'000, 1000, F));  // no second probe: refused
    const auto r = circuit::replay(calls, four_in_60s, open_10s);
    CHECK(r.reopens == 0);
    CHECK(r.failures_kept_off == 1);
    CHECK(r.refused_would_have_succeeded == 0);
    CHECK(spans(r.timeline) == std::vector<span>{{"", state::closed, 0, 42},
                                                 {"", state::open, 42, 52},
                                                 {"", state::half_open, 52, 53},
                                                 {"", state::closed, 53, 53}});
  }
  SECTION("the failure first: it is the probe, and reopens") {
    auto calls = base;
    calls.push_back(call(52'000, 1000, F));
    calls.push_back(call(52'000, 1000, S));
    const auto r = circuit::replay(calls, four_in_60s, open_10s);
    CHECK(r.reopens == 1);
    CHECK(r.failures_kept_off == 0);
    CHECK(r.refused_would_have_succeeded == 1);
  }
  SECTION("a call of latency 0 settles before the next one is admitted") {
    auto calls = base;
    calls.push_back(call(52'000, 0, F));     // the probe fails at once: open again until 62
    calls.push_back(call(52'000, 1000, S));  // refused
    const auto r = circuit::replay(calls, four_in_60s, open_10s);
    CHECK(r.reopens == 1);
    CHECK(r.refused_would_have_succeeded == 1);
    CHECK(spans(r.timeline) == std::vector<span>{{"", state::closed, 0, 42},
                                                 {"", state::open, 42, 52},
                                                 {"", state::half_open, 52, 52},
                                                 {"", state::open, 52, 53}});
  }
}

TEST_CASE("replay: a probe out for longer than probe_timeout counts as failed at the next call") {
  auto calls = trip_then_probe(S);
  calls.resize(8);
  calls.push_back(call(55'000, 100'000, S));  // the probe, answered only at 155 (stale by then)
  calls.push_back(call(58'000, 1000, S));     // 58 >= 55 + 2: reopens (until 68), refused
  calls.push_back(call(70'000, 1000, S));     // a new probe: closes at 71
  const auto r = circuit::replay(calls, four_in_60s,
                                 circuit::options{.open_for = circuit::fixed{10s}, .probe_timeout = 2s});
  CHECK(r.reopens == 1);
  CHECK(r.refused == 4);
  CHECK(r.open_seconds == 20.0);
  CHECK(spans(r.timeline) == std::vector<span>{{"", state::closed, 0, 42},
                                               {"", state::open, 42, 52},
                                               {"", state::half_open, 52, 58},
                                               {"", state::open, 58, 68},
                                               {"", state::half_open, 68, 71},
                                               {"", state::closed, 71, 155}});
}

TEST_CASE("replay: slow successes count as failures, with slow_call") {
  const std::vector<circuit::recorded_call> calls = {
      call(0, 2000, S),     // slow: a failure at 2
      call(1000, 2000, S),  // 3
      call(2000, 2000, S),  // 4: the third in a row trips; open until 9
      call(10'000, 1000, S),  // the probe takes exactly slow_call: not slow, closes at 11
      call(12'000, 1500, S),  // slow: one failure of a new run
  };
  const auto r = circuit::replay(calls, circuit::consecutive_failures{.threshold = 3},
                                 circuit::options{.open_for = circuit::fixed{5s}, .slow_call = 1s});
  CHECK(r.trips == 1);
  CHECK(r.reopens == 0);
  CHECK(r.time_to_trip_seconds == std::vector<double>{4.0});
  CHECK(spans(r.timeline) == std::vector<span>{{"", state::closed, 0, 4},
                                               {"", state::open, 4, 9},
                                               {"", state::half_open, 9, 11},
                                               {"", state::closed, 11, 13.5}});
  // Without slow_call nothing trips.
  CHECK(circuit::replay(calls, circuit::consecutive_failures{.threshold = 3}, open_10s).trips == 0);
}

TEST_CASE("replay: time to trip starts at the earliest failure each counter still counts") {
  SECTION("consecutive_failures: the run since the last success; earliest to start") {
    const std::vector<circuit::recorded_call> calls = {
        call(0, 1000, F),  // 1
        call(2000, 1000, S),  // 3: ends the run
        call(10'000, 5000, F),  // settles at 15, but started first
        call(11'000, 1000, F),  // 12
    };
    const auto r = circuit::replay(calls, circuit::consecutive_failures{.threshold = 2}, open_10s);
    CHECK(r.time_to_trip_seconds == std::vector<double>{5.0});  // 10 -> 15
  }
  SECTION("net_failures: since the failure that lifted the count off zero") {
    const std::vector<circuit::recorded_call> calls = {
        call(0, 1000, F),     // 1: count 1
        call(1000, 1000, S),  // 2: count 0
        call(3000, 1000, F),  // 4: 1, lifts it off zero
        call(5000, 1000, F),  // 6: 2
        call(7000, 1000, F),  // 8: 3, trips
    };
    const auto r = circuit::replay(calls, circuit::net_failures{.threshold = 3}, open_10s);
    CHECK(r.time_to_trip_seconds == std::vector<double>{5.0});  // 3 -> 8
  }
  SECTION("sliding_window: the oldest failure within the window") {
    const std::vector<circuit::recorded_call> calls = {
        call(0, 0, F),  // leaves the window before the trip
        call(61'000, 0, F), call(62'000, 0, F), call(63'000, 0, F), call(64'000, 0, F),  // trips at 64
    };
    const auto r = circuit::replay(calls, four_in_60s, open_10s);
    CHECK(r.time_to_trip_seconds == std::vector<double>{3.0});  // 61 -> 64
  }
  SECTION("failure_rate_window: the failures in the live slices") {
    const std::vector<circuit::recorded_call> calls = {
        call(500, 0, F),  // slice 0: not live at the trip
        call(3000, 0, S), call(4000, 0, S), call(5000, 0, S),
        call(12'500, 0, F),  // slices 3..12 live: 4 calls, 1 failed
        call(13'500, 0, F),  // slices 4..13 live: 4 calls, 2 failed: trips
    };
    const auto r = circuit::replay(
        calls, circuit::failure_rate_window{.failure_rate = 0.5, .minimum_calls = 4, .window = 10s, .buckets = 10},
        open_10s);
    CHECK(r.trips == 1);
    CHECK(r.time_to_trip_seconds == std::vector<double>{1.0});  // 12.5 -> 13.5
    CHECK(spans(r.timeline).front() == span{"", state::closed, 0, 13});  // the origin is the first call, at 0.5
  }
  SECTION("failure_rate_last_calls: the failures among the last calls") {
    const std::vector<circuit::recorded_call> calls = {
        call(0, 0, F),  // pushed out of the last 4 by the time it trips
        call(1000, 0, S), call(2000, 0, I), call(2500, 0, S), call(3000, 0, S),
        call(4000, 0, F),  // last 4: S S S F
        call(5000, 0, F),  // last 4: S S F F: trips
    };
    const auto r = circuit::replay(
        calls, circuit::failure_rate_last_calls{.failure_rate = 0.5, .minimum_calls = 4, .calls = 4}, open_10s);
    CHECK(r.trips == 1);
    CHECK(r.time_to_trip_seconds == std::vector<double>{1.0});  // 4 -> 5
  }
}

TEST_CASE("replay: one breaker per peer, figures per peer and over all") {
  const std::vector<circuit::recorded_call> calls = {
      call(0, 500, F, "a"),    call(1000, 500, F, "a"), call(2000, 500, F, "a"),
      call(3000, 500, F, "a"),  // settles at 3.5: a trips, open until 13.5
      call(5000, 1000, S, "a"),  // refused; a's last settlement is 6
      call(0, 100, S, "b"),    call(2000, 100, S, "b"), call(4000, 100, S, "b"),
      call(20'000, 100, S, "b"),  // the trace's last settlement: 20.1
  };
  const auto r = circuit::replay(calls, four_in_60s, open_10s);
  CHECK(r.calls == 9);
  CHECK(r.trips == 1);
  CHECK(r.refused == 1);
  CHECK(r.refused_would_have_succeeded == 1);
  REQUIRE(r.peers.size() == 2);
  const auto& a = r.peers.at("a");
  const auto& b = r.peers.at("b");
  CHECK(a.calls == 5);
  CHECK(b.calls == 4);
  CHECK(a.trips == 1);
  CHECK(b.trips == 0);
  CHECK(a.refused == 1);
  CHECK(b.refused == 0);
  CHECK(a.time_to_trip_seconds == std::vector<double>{3.5});
  // Cut at each one's last settlement: a's at 6, the whole trace's at 20.1.
  CHECK(a.open_seconds == Approx(2.5));
  CHECK(r.open_seconds == Approx(10.0));
  CHECK(a.last_settlement == 6.0);
  CHECK(r.last_settlement == Approx(20.1));
  CHECK(spans(a.timeline) == std::vector<span>{{"a", state::closed, 0, 3.5}, {"a", state::open, 3.5, 6}});
  CHECK(spans(b.timeline).size() == 1);
  const auto all = spans(r.timeline);
  REQUIRE(all.size() == 4);
  CHECK(all[0] == span{"a", state::closed, 0, 3.5});
  CHECK(all[1] == span{"a", state::open, 3.5, 13.5});
  CHECK(all[2].peer == "a");
  CHECK(all[2].s == state::half_open);
  CHECK(all[2].from == 13.5);
  CHECK(all[2].to == Approx(20.1));
  CHECK(all[3].peer == "b");
  CHECK(all[3].s == state::closed);
}

namespace {

// A random trace: two peers, bursts of failures, overlapping calls, starts
// on whole milliseconds, all distinct.
std::vector<circuit::recorded_call> random_trace(std::uint64_t seed, std::size_t n) {
  std::mt19937_64 g(seed);
  std::vector<circuit::recorded_call> calls;
  std::int64_t t = 0;
  for (std::size_t i = 0; i < n; ++i) {
    t += 1 + static_cast<std::int64_t>(g() % 400);
    const bool bad = (t / 20'000) % 3 == 1;  // 20 s of trouble every minute
    const auto roll = g() % 100;
    const auto o = roll < (bad ? 70u : 3u) ? F : (roll > 97 ? I : S);
    calls.push_back(call(t, static_cast<std::int64_t>(g() % 3000), o, (g() & 1) != 0 ? "a" : "b"));
  }
  return calls;
}

void check_same(const circuit::replay_figures& x, const circuit::replay_figures& y) {
  CHECK(x.calls == y.calls);
  CHECK(x.trips == y.trips);
  CHECK(x.reopens == y.reopens);
  CHECK(x.open_seconds == y.open_seconds);
  CHECK(x.refused == y.refused);
  CHECK(x.refused_would_have_succeeded == y.refused_would_have_succeeded);
  CHECK(x.failures_kept_off == y.failures_kept_off);
  CHECK(x.time_to_trip_seconds == y.time_to_trip_seconds);
  CHECK(spans(x.timeline) == spans(y.timeline));
  CHECK(x.last_settlement == y.last_settlement);
}

}  // namespace

TEST_CASE("replay: the same trace shuffled gives the same figures") {
  const auto calls = random_trace(7, 5000);
  auto shuffled = calls;
  std::shuffle(shuffled.begin(), shuffled.end(), std::mt19937_64(11));
  const circuit::options o{.open_for = circuit::fixed{5s}, .half_open_max_calls = 2, .slow_call = 2500ms};
  const auto x = circuit::replay(calls, circuit::sliding_window{.max_failures = 4, .window = 10s}, o);
  const auto y = circuit::replay(shuffled, circuit::sliding_window{.max_failures = 4, .window = 10s}, o);
  REQUIRE(x.trips > 5);  // the trace does exercise the breaker
  REQUIRE(x.reopens > 0);
  check_same(x, y);
  REQUIRE(x.peers.size() == 2);
  for (const auto& [peer, f] : x.peers) check_same(f, y.peers.at(peer));
}

TEST_CASE("replay: invariants of the figures on a random trace") {
  const auto calls = random_trace(3, 4000);
  const circuit::replay_trace trace(calls);
  const auto r = circuit::replay(
      trace, circuit::failure_rate_window{.failure_rate = 0.5, .minimum_calls = 5, .window = 10s, .buckets = 5},
      circuit::options{.open_for = circuit::exponential{.initial = 2s, .multiplier = 2, .max = 20s, .seed = 3}});
  REQUIRE(r.trips > 0);
  CHECK(r.time_to_trip_seconds.size() == r.trips);
  CHECK(r.refused == r.refused_calls.size());
  CHECK(r.refused >= r.refused_would_have_succeeded + r.failures_kept_off);
  for (const auto& f : {static_cast<const circuit::replay_figures&>(r), r.peers.at("a"), r.peers.at("b")}) {
    double open = 0;
    for (const auto& s : f.timeline) {
      CHECK(s.from <= s.to);
      if (s.state == state::open) open += s.to - s.from;
    }
    CHECK(open == Approx(f.open_seconds));
  }
  std::uint64_t trips = 0;
  for (const auto& [peer, f] : r.peers) trips += f.trips;
  CHECK(trips == r.trips);
  // Spans of one peer are contiguous from 0 to the end.
  for (const auto& peer : {"a", "b"}) {
    double at = 0;
    for (const auto& s : r.timeline) {
      if (s.peer != peer) continue;
      CHECK(s.from == at);
      at = s.to;
    }
    CHECK(at == r.last_settlement);
  }
  // Replaying the same trace again gives the same report.
  const auto again = circuit::replay(
      trace, circuit::failure_rate_window{.failure_rate = 0.5, .minimum_calls = 5, .window = 10s, .buckets = 5},
      circuit::options{.open_for = circuit::exponential{.initial = 2s, .multiplier = 2, .max = 20s, .seed = 3}});
  check_same(r, again);
}

TEST_CASE("replay: bad input") {
  CHECK_THROWS_WITH(circuit::replay(std::vector<circuit::recorded_call>{call(0, -1, S)}, four_in_60s),
                    Catch::Contains("latency must not be negative"));
  CHECK_THROWS_WITH(circuit::replay(std::vector<circuit::recorded_call>{call(0, 1, S)},
                                    circuit::sliding_window{.window = 0s}),
                    Catch::Contains("sliding_window.window"));
  CHECK_THROWS_WITH(circuit::replay(std::vector<circuit::recorded_call>{call(0, 1, S)}, four_in_60s,
                                    circuit::options{.half_open_max_calls = 0}),
                    Catch::Contains("half_open_max_calls"));
}

TEST_CASE("replay: an empty trace") {
  const auto r = circuit::replay(std::vector<circuit::recorded_call>{}, four_in_60s);
  CHECK(r.calls == 0);
  CHECK(r.timeline.empty());
  CHECK(r.time_to_trip_seconds.empty());
}

TEST_CASE("replay: one trace replayed on two threads at once") {
  const circuit::replay_trace trace(random_trace(5, 3000));
  const auto config = circuit::net_failures{.threshold = 3};
  const circuit::options o{.open_for = circuit::fixed{2s}, .slow_call = 2s};
  const auto expected = circuit::replay(trace, config, o);
  REQUIRE(expected.trips > 0);
  circuit::replay_report a, b;
  std::thread t([&] { a = circuit::replay(trace, config, o); });
  b = circuit::replay(trace, config, o);
  t.join();
  check_same(a, expected);
  check_same(b, expected);
}
