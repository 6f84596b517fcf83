// The breaker fed bad input: listeners and predicates that throw, clocks
// that go backwards or sit at the ends of their range, and durations at the
// limits of std::chrono::nanoseconds. Run under ASan+UBSan in CI: the
// point is as much "no undefined behaviour" as the checks themselves. After
// every abuse the breaker must still work: reset() closes it, and with the
// clock moving normally it opens and recovers as usual ("no wedge").

#include <chrono>
#include <cstdint>
#include <exception>
#include <limits>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <vector>

#include <circuit/circuit_breaker.hpp>
#include <circuit/consecutive_failures.hpp>
#include <circuit/failure_rate_window.hpp>
#include <circuit/manual_clock.hpp>
#include <circuit/net_failures.hpp>
#include <circuit/open_circuit_error.hpp>
#include <circuit/sliding_window.hpp>

#include "catch.hpp"

using namespace std::chrono_literals;

namespace {

using ns = std::chrono::nanoseconds;
using tp = circuit::manual_clock::time_point;
using circuit::state;

struct boom : std::runtime_error {
  boom() : std::runtime_error("boom") {}
};

// Three failures in a row trip each of these, whatever the clock reads.
circuit::sliding_window trips_at_three(circuit::sliding_window) { return {.max_failures = 2, .window = 10s}; }
circuit::consecutive_failures trips_at_three(circuit::consecutive_failures) { return {.threshold = 3}; }
circuit::net_failures trips_at_three(circuit::net_failures) { return {.threshold = 3}; }
circuit::failure_rate_window trips_at_three(circuit::failure_rate_window) {
  return {.failure_rate = 0.5, .minimum_calls = 3, .window = 10s, .buckets = 10};
}

template <class Counter>
using breaker_of = circuit::circuit_breaker<circuit::manual_clock, Counter>;

template <class B>
void fail(B& b, int n) {
  for (int i = 0; i < n; ++i) {
    auto g = b.try_guard();
    REQUIRE(g);
    g.failure();
  }
}

// Not wedged: reset() closes it; then, with the clock moving forward from
// wherever it is, three failures open it, open_for later it is half_open,
// and a probe's success closes it.
template <class B>
void check_recovers(B& b, circuit::manual_clock& clock, ns open_for) {
  b.reset();
  REQUIRE(b.current_state() == state::closed);
  const auto gen = b.metrics().generation;
  fail(b, 2);
  CHECK(b.current_state() == state::closed);
  fail(b, 1);
  REQUIRE(b.current_state() == state::open);
  CHECK(b.metrics().generation == gen + 1);
  CHECK_FALSE(b.try_guard());
  clock.advance(open_for - 1ns);
  CHECK(b.current_state() == state::open);
  clock.advance(1ns);
  REQUIRE(b.current_state() == state::half_open);
  b.try_guard().success();
  CHECK(b.current_state() == state::closed);
}

}  // namespace

// ---- Listeners and predicates that throw ------------------------------------

TEST_CASE("listeners throwing on every event change nothing the caller sees", "[bad_input]") {
  circuit::manual_clock clock;
  circuit::circuit_breaker<circuit::manual_clock, circuit::consecutive_failures> b({.threshold = 2}, {}, clock);
  std::vector<circuit::event_kind> heard;
  auto a = b.on_event([](const circuit::event&) { throw std::runtime_error("listener"); });
  auto c = b.on_event([&](const circuit::event& e) { heard.push_back(e.kind); });
  auto d = b.on_event([](const circuit::event&) { throw 42; });  // not even a std::exception

  // Each call returns, or throws, what it would without listeners.
  CHECK(b.call([] { return 7; }) == 7);
  CHECK_THROWS_AS(b.call([]() -> int { throw boom(); }), boom);
  CHECK_THROWS_AS(b.call([]() -> int { throw boom(); }), boom);  // trips: still the call's own exception
  CHECK(b.current_state() == state::open);
  CHECK_THROWS_AS(b.guard(), circuit::open_circuit_error);
  CHECK_FALSE(b.try_guard());
  clock.advance(10s);
  CHECK(b.current_state() == state::half_open);  // a state_change that both throwing listeners throw on
  b.try_guard().success();
  CHECK(b.current_state() == state::closed);
  b.trip();
  b.isolate();
  b.reset();

  using k = circuit::event_kind;
  const std::vector<k> expected{k::success,      k::failure,  k::failure, k::state_change, k::rejected,
                                k::rejected,     k::state_change, k::success, k::state_change, k::state_change,
                                k::state_change, k::state_change};
  CHECK(heard == expected);
  const auto m = b.metrics();
  CHECK(m.listener_errors == 2 * expected.size());
  CHECK(m.total.successes == 2);
  CHECK(m.total.failures == 2);
  CHECK(m.total.rejections == 2);
  CHECK(m.state == state::closed);
}

namespace {
// Throws on exceptions, and on negative results; 0 or more is no failure.
struct throwing_predicate {
  bool operator()(const std::exception_ptr&) const { throw std::logic_error("predicate"); }
  bool operator()(int result) const {
    if (result < 0) throw std::logic_error("result predicate");
    return false;
  }
};
}  // namespace

TEST_CASE("a predicate that throws: the call counts as a failure and the caller gets the predicate's exception",
          "[bad_input]") {
  // As permit.hpp documents for failure(std::exception_ptr) and record():
  // "the call counts as a failure and the predicate's exception propagates".
  // Through call(), the predicate's exception replaces the function's own.
  circuit::manual_clock clock;
  circuit::circuit_breaker<circuit::manual_clock, circuit::consecutive_failures, throwing_predicate> b(
      {.threshold = 3}, {.half_open_max_calls = 1}, clock);
  std::exception_ptr carried;
  auto sub = b.on_event([&](const circuit::event& e) {
    if (e.kind == circuit::event_kind::failure) carried = e.error;
  });

  {
    auto g = b.try_guard();
    REQUIRE(g);
    CHECK_THROWS_WITH(g.failure(std::make_exception_ptr(boom())), "predicate");
    CHECK_FALSE(g);  // settled, once
  }
  CHECK(b.metrics().total.failures == 1);
  // The failure event carries the exception that was being classified.
  REQUIRE(carried);
  CHECK_THROWS_AS(std::rethrow_exception(carried), boom);

  CHECK_THROWS_WITH(b.call([]() -> int { throw boom(); }), "predicate");
  CHECK(b.metrics().total.failures == 2);
  CHECK(b.call([] { return 1; }) == 1);  // results the predicate accepts are successes
  CHECK(b.metrics().total.successes == 1);
  CHECK_THROWS_WITH(b.call([] { return -1; }), "result predicate");
  CHECK(b.metrics().total.failures == 3);
  CHECK(b.current_state() == state::closed);  // the success broke the run: 1 in a row

  // Counted failures trip it as any failures would.
  CHECK_THROWS_WITH(b.call([]() -> int { throw boom(); }), "predicate");
  CHECK_THROWS_WITH(b.call([]() -> int { throw boom(); }), "predicate");
  REQUIRE(b.current_state() == state::open);

  // A probe whose predicate throws is a failed probe: re-open, slot released.
  clock.advance(10s);
  {
    auto probe = b.try_guard();
    REQUIRE(probe);
    CHECK_FALSE(b.try_guard());  // the one slot is taken
    CHECK_THROWS_WITH(probe.record(-5), "result predicate");
  }
  CHECK(b.current_state() == state::open);
  clock.advance(10s);
  CHECK(b.current_state() == state::half_open);
  CHECK(b.try_guard());  // the next spell has its slot
  const auto m = b.metrics();
  CHECK(m.total.failures == 6);
  CHECK(m.listener_errors == 0);
}

// ---- Clocks that misbehave ---------------------------------------------------

TEMPLATE_TEST_CASE("a clock that goes backwards neither breaks nor wedges the breaker", "[bad_input]",
                   circuit::sliding_window, circuit::consecutive_failures, circuit::net_failures,
                   circuit::failure_rate_window) {
  circuit::manual_clock clock(tp(100s));
  breaker_of<TestType> b(trips_at_three(TestType{}), {.open_for = circuit::fixed{10s}, .slow_call = 1s}, clock);

  SECTION("while closed: failures stamped in the future still count, except in a rate window's slices") {
    fail(b, 2);
    clock.set(tp(0s));
    fail(b, 1);
    if constexpr (std::is_same_v<TestType, circuit::failure_rate_window>) {
      // Slices are indexed by time: the two later ones are not among the
      // slices of the last 10 s before 0 s.
      CHECK(b.current_state() == state::closed);
      CHECK(b.metrics().window.failures == 1);
    } else {
      CHECK(b.current_state() == state::open);
      CHECK(b.metrics().window.failures == 3);
    }
  }
  SECTION("while open: it stays open, the retry time grows by the step back") {
    fail(b, 3);
    REQUIRE(b.current_state() == state::open);
    clock.set(tp(-1h));
    CHECK(b.current_state() == state::open);
    try {
      auto g = b.guard();
      FAIL("admitted");
    } catch (const circuit::open_circuit_error& e) {
      REQUIRE(e.retry_after());
      CHECK(*e.retry_after() == 1h + 110s);
    }
  }
  SECTION("while half_open: a probe settled before it was admitted is no slow call") {
    fail(b, 3);
    clock.advance(10s);
    REQUIRE(b.current_state() == state::half_open);
    auto probe = b.try_guard();
    REQUIRE(probe);
    clock.set(tp(-5s));
    probe.success();
    CHECK(b.current_state() == state::closed);
  }
  SECTION("jumping back to the earliest time and forward to the latest") {
    fail(b, 1);
    clock.set(tp(ns::min()));
    fail(b, 1);
    clock.set(tp(ns::max()));
    (void)b.metrics();
    clock.set(tp(0s));
    (void)b.current_state();
  }
  check_recovers(b, clock, 10s);
}

TEST_CASE("a slow call is measured across a clock that stepped back as not slow", "[bad_input]") {
  circuit::manual_clock clock(tp(50s));
  breaker_of<circuit::consecutive_failures> b({.threshold = 1}, {.slow_call = 1s}, clock);
  auto g = b.try_guard();
  clock.set(tp(0s));
  g.success();
  CHECK(b.metrics().total.successes == 1);
  CHECK(b.current_state() == state::closed);
}

TEMPLATE_TEST_CASE("a clock at the ends of its range opens and recovers the breaker as usual", "[bad_input]",
                   circuit::sliding_window, circuit::consecutive_failures, circuit::net_failures,
                   circuit::failure_rate_window) {
  SECTION("just before nanoseconds::max(): open_until saturates, and max itself ends the open spell") {
    // Made earlier: at max - 1s, a 10 s open_for would be rejected as too
    // long for the clock.
    circuit::manual_clock clock(tp(0s));
    breaker_of<TestType> b(trips_at_three(TestType{}), {.open_for = circuit::fixed{10s}}, clock);
    clock.set(tp(ns::max() - 1s));
    fail(b, 3);
    REQUIRE(b.current_state() == state::open);
    const auto m = b.metrics();
    REQUIRE(m.open_until);
    CHECK(*m.open_until == tp(ns::max()));
    clock.set(tp(ns::max() - 1ns));
    CHECK(b.current_state() == state::open);
    clock.set(tp(ns::max()));
    CHECK(b.current_state() == state::half_open);
    b.try_guard().success();
    CHECK(b.current_state() == state::closed);
    b.reset();
    CHECK(b.current_state() == state::closed);
  }
  SECTION("at nanoseconds::min()") {
    circuit::manual_clock clock(tp(ns::min()));
    breaker_of<TestType> b(trips_at_three(TestType{}), {.open_for = circuit::fixed{10s}}, clock);
    b.try_guard().success();
    check_recovers(b, clock, 10s);
  }
  SECTION("jumping from the earliest time to the latest with calls in flight") {
    circuit::manual_clock clock(tp(ns::min()));
    breaker_of<TestType> b(trips_at_three(TestType{}), {.open_for = circuit::fixed{10s}, .slow_call = 1s}, clock);
    auto slow = b.try_guard();
    auto failed = b.try_guard();
    failed.failure();
    clock.set(tp(ns::max()));
    slow.success();  // ~584 years later: slow, so a failure
    CHECK(b.metrics().total.failures == 2);
    b.try_guard().success();  // admitted and settled at the same instant
    CHECK(b.metrics().total.successes == 1);
  }
  SECTION("a far jump forward while open: the next call is a probe") {
    circuit::manual_clock clock(tp(0s));
    breaker_of<TestType> b(trips_at_three(TestType{}), {.open_for = circuit::fixed{10s}}, clock);
    fail(b, 3);
    clock.set(tp(ns::max() / 2));
    auto probe = b.try_guard();
    REQUIRE(probe);
    CHECK(b.metrics().state == state::half_open);
    probe.success();
    check_recovers(b, clock, 10s);
  }
}

// ---- Durations at the limits -------------------------------------------------

TEST_CASE("an open_for of nanoseconds::max() keeps the circuit open until the clock's end, or reset()",
          "[bad_input]") {
  // Accepted only where it still fits the clock: at its epoch.
  circuit::manual_clock clock(tp(0s));
  breaker_of<circuit::consecutive_failures> b({.threshold = 3}, {.open_for = circuit::fixed{ns::max()}}, clock);
  clock.set(tp(1h));
  b.trip();
  const auto m = b.metrics();
  REQUIRE(m.open_until);
  CHECK(*m.open_until == tp(ns::max()));  // saturated, not wrapped
  try {
    auto g = b.guard();
    FAIL("admitted");
  } catch (const circuit::open_circuit_error& e) {
    REQUIRE(e.retry_after());
    CHECK(*e.retry_after() == ns::max() - 1h);
  }
  clock.set(tp(ns::max() - 1ns));
  CHECK(b.current_state() == state::open);
  clock.set(tp(ns::max()));
  CHECK(b.current_state() == state::half_open);
  b.reset();
  CHECK(b.current_state() == state::closed);
}

TEST_CASE("an open_for that would carry the clock past its end is rejected as too long", "[bad_input]") {
  circuit::manual_clock clock(tp(1h));
  CHECK_THROWS_WITH(breaker_of<circuit::consecutive_failures>({}, {.open_for = circuit::fixed{ns::max()}}, clock),
                    "fixed.duration is too long for the breaker's clock (its time points would overflow)");
  CHECK_THROWS_WITH(breaker_of<circuit::consecutive_failures>({}, {.probe_timeout = ns::max() - 1min}, clock),
                    "options.probe_timeout is too long for the breaker's clock (its time points would overflow)");
}

TEST_CASE("an exponential backoff at the limits of nanoseconds stays within [1ns, max]", "[bad_input]") {
  const circuit::exponential specs[] = {
      {.initial = 1ns, .multiplier = 1e300, .max = ns::max(), .jitter = 0.0, .seed = 1},
      {.initial = 1ns, .multiplier = std::numeric_limits<double>::max(), .max = ns::max(), .jitter = 1.0, .seed = 2},
      {.initial = ns::max(), .multiplier = 1.0, .max = ns::max(), .jitter = 0.0, .seed = 3},
      {.initial = ns::max() - 1ns, .multiplier = 2.0, .max = ns::max(), .jitter = 0.5, .seed = 4},
      {.initial = 1ns, .multiplier = 1.0, .max = 1ns, .jitter = 1.0, .seed = 5},
  };
  for (const auto& spec : specs) {
    CAPTURE(spec.initial.count(), spec.multiplier, spec.max.count(), spec.jitter);
    circuit::manual_clock clock(tp(0s));
    breaker_of<circuit::consecutive_failures> b({.threshold = 1}, {.open_for = spec}, clock);
    for (int spell = 0; spell < 5; ++spell) {
      b.trip();
      const auto until = b.metrics().open_until;
      REQUIRE(until);
      const auto d = until->time_since_epoch() - clock.now().time_since_epoch();
      CHECK(d >= 1ns);
      CHECK(d <= spec.max);
      // Let it half-open and fail the probe: the duration grows.
      clock.set(*until);
      if (clock.now() == tp(ns::max())) break;
      auto probe = b.try_guard();
      REQUIRE(probe);
      probe.failure();
      CHECK(b.current_state() == state::open);
    }
    b.reset();
    CHECK(b.current_state() == state::closed);
  }
}

TEST_CASE("windows of nanoseconds::max() count every failure since the clock's start", "[bad_input]") {
  SECTION("sliding_window") {
    circuit::manual_clock clock(tp(ns::min()));
    breaker_of<circuit::sliding_window> b({.max_failures = 2, .window = ns::max()}, {}, clock);
    fail(b, 1);
    clock.set(tp(0s));
    fail(b, 1);
    clock.set(tp(ns::max() - 2ns));  // the first failure is 2^64 - 3 ns old: it has left
    CHECK(b.metrics().window.failures == 1);
    clock.set(tp(ns::max() - 1ns));
    CHECK(b.metrics().window.failures == 1);
    fail(b, 1);
    CHECK(b.current_state() == state::closed);
    fail(b, 1);
    CHECK(b.current_state() == state::open);
    clock.set(tp(0s));  // room to move forward
    check_recovers(b, clock, 10s);
  }
  for (const std::uint32_t buckets : {1u, 10u, 4096u}) {
    CAPTURE(buckets);
    circuit::manual_clock clock(tp(0s));
    breaker_of<circuit::failure_rate_window> b(
        {.failure_rate = 0.5, .minimum_calls = 4, .window = ns::max(), .buckets = buckets}, {}, clock);
    b.try_guard().success();
    clock.set(tp(ns::max() / 2));
    b.try_guard().success();
    fail(b, 1);
    CHECK(b.metrics().window.successes == 2);
    CHECK(b.metrics().window.failures == 1);
    CHECK(b.current_state() == state::closed);
    fail(b, 1);  // 2 of 4
    CHECK(b.current_state() == state::open);
  }
}

TEST_CASE("a slow_call of nanoseconds::max() is never exceeded within the clock's positive range",
          "[bad_input]") {
  circuit::manual_clock clock(tp(0s));
  breaker_of<circuit::consecutive_failures> b({.threshold = 1}, {.slow_call = ns::max()}, clock);
  auto g = b.try_guard();
  clock.set(tp(ns::max()));  // exactly slow_call later: not longer than it
  g.success();
  CHECK(b.metrics().total.successes == 1);
  CHECK(b.current_state() == state::closed);

  clock.set(tp(0s));
  breaker_of<circuit::consecutive_failures> one({.threshold = 1}, {.slow_call = 1ns}, clock);
  auto quick = one.try_guard();
  clock.advance(1ns);  // exactly slow_call: not slow
  quick.success();
  CHECK(one.current_state() == state::closed);
  auto slow = one.try_guard();
  clock.advance(2ns);  // longer than slow_call: a failure, which trips
  slow.success();
  CHECK(one.metrics().total.failures == 1);
  CHECK(one.current_state() == state::open);
}

TEST_CASE("a clock jump of a multiple of 2^24 slices does not bring back a rate window's old calls",
          "[bad_input]") {
  // Regression: a slot kept only the low 24 bits of its slice index, so
  // after a jump of exactly m * 2^24 slices (m a multiple of the slot count)
  // the calls of long ago passed for current ones: one success and one
  // failure tripped the breaker, counted with 18 ancient calls. 1 ns slices
  // make that a 0.18 s jump.
  for (std::int64_t m = 1; m <= 24; ++m) {
    CAPTURE(m);
    circuit::manual_clock clock(tp(0s));
    breaker_of<circuit::failure_rate_window> b(
        {.failure_rate = 0.5, .minimum_calls = 20, .window = 10ns, .buckets = 10}, {}, clock);
    for (int i = 0; i < 9; ++i) {
      clock.set(tp(ns(i)));
      b.try_guard().failure();
      b.try_guard().success();
    }
    REQUIRE(b.current_state() == state::closed);  // 9 of 18
    clock.set(tp(ns((m << 24) + 8)));
    b.try_guard().success();
    fail(b, 1);
    const auto w = b.metrics().window;
    CHECK(w.failures == 1);
    CHECK(w.successes == 1);
    CHECK(b.current_state() == state::closed);
  }
}
