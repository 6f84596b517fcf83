// Tests of circuit/sliding_window.hpp: the default Counter, on its own and
// inside a breaker driven by a manual_clock.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <stdexcept>
#include <string>

#include <circuit/circuit_breaker.hpp>
#include <circuit/manual_clock.hpp>
#include <circuit/sliding_window.hpp>

#include "catch.hpp"

using namespace std::chrono_literals;

namespace {

using ns = std::chrono::nanoseconds;
using window_breaker = circuit::circuit_breaker<circuit::manual_clock, circuit::sliding_window>;

void fail_once(window_breaker& b) {
  auto g = b.try_guard();
  REQUIRE(g);
  g.failure();
}

void succeed_once(window_breaker& b) {
  auto g = b.try_guard();
  REQUIRE(g);
  g.success();
}

}  // namespace

TEST_CASE("the recorder trips on the fourth failure inside the default window", "[sliding_window]") {
  circuit::sliding_window::recorder r(circuit::sliding_window{});
  CHECK_FALSE(r.on_failure(ns(0)));
  CHECK_FALSE(r.on_failure(ns(20s)));
  CHECK_FALSE(r.on_failure(ns(40s)));
  CHECK(r.on_failure(ns(60s) - 1ns));
}

TEST_CASE("the recorder trips on the failure after max_failures within the window", "[sliding_window]") {
  circuit::sliding_window::recorder r(circuit::sliding_window{.max_failures = 5, .window = 10s});
  for (int i = 0; i < 5; ++i) CHECK_FALSE(r.on_failure(ns(1s) * i));
  CHECK(r.on_failure(5s));
}

TEST_CASE("a breaker with the default window opens on the fourth failure within 60 seconds", "[sliding_window]") {
  circuit::manual_clock clock;
  window_breaker b(circuit::sliding_window{}, {}, clock);
  fail_once(b);
  clock.advance(20s);
  fail_once(b);
  clock.advance(20s);
  fail_once(b);
  CHECK(b.current_state() == circuit::state::closed);
  CHECK(b.metrics().window.failures == 3);
  clock.advance(19s);
  fail_once(b);
  CHECK(b.current_state() == circuit::state::open);
}

TEST_CASE("a failure exactly one window old no longer counts", "[sliding_window]") {
  circuit::manual_clock clock;
  window_breaker b(circuit::sliding_window{.max_failures = 3, .window = 60s}, {}, clock);
  fail_once(b);
  clock.advance(60s);
  CHECK(b.metrics().window.failures == 0);
  fail_once(b);
  fail_once(b);
  fail_once(b);
  CHECK(b.current_state() == circuit::state::closed);
  CHECK(b.metrics().window.failures == 3);
}

TEST_CASE("a failure one nanosecond younger than the window still counts", "[sliding_window]") {
  circuit::manual_clock clock;
  window_breaker b(circuit::sliding_window{.max_failures = 3, .window = 60s}, {}, clock);
  fail_once(b);
  clock.advance(60s - 1ns);
  CHECK(b.metrics().window.failures == 1);
  fail_once(b);
  fail_once(b);
  CHECK(b.current_state() == circuit::state::closed);
  fail_once(b);
  CHECK(b.current_state() == circuit::state::open);
}

TEST_CASE("the recorder draws the window boundary at exactly one window", "[sliding_window]") {
  const circuit::sliding_window settings{.max_failures = 1, .window = 1s};
  circuit::sliding_window::recorder left(settings);
  CHECK_FALSE(left.on_failure(ns(0)));
  CHECK_FALSE(left.on_failure(ns(1s)));

  circuit::sliding_window::recorder kept(settings);
  CHECK_FALSE(kept.on_failure(ns(0)));
  CHECK(kept.on_failure(ns(1s) - 1ns));
}

TEST_CASE("max_failures of zero trips on the first failure", "[sliding_window]") {
  circuit::sliding_window::recorder r(circuit::sliding_window{.max_failures = 0, .window = 60s});
  CHECK(r.on_failure(ns(0)));

  circuit::manual_clock clock;
  window_breaker b(circuit::sliding_window{.max_failures = 0, .window = 60s}, {}, clock);
  succeed_once(b);
  CHECK(b.current_state() == circuit::state::closed);
  fail_once(b);
  CHECK(b.current_state() == circuit::state::open);
}

TEST_CASE("successes never move the sliding window", "[sliding_window]") {
  circuit::sliding_window::recorder r(circuit::sliding_window{.max_failures = 2, .window = 60s});
  CHECK_FALSE(r.on_failure(ns(0)));
  for (int i = 0; i < 100; ++i) r.on_success();
  CHECK_FALSE(r.on_failure(ns(1s)));
  r.on_success();
  CHECK(r.figures(ns(1s)).failures == 2);
  CHECK(r.figures(ns(1s)).successes == 0);
  CHECK(r.on_failure(ns(2s)));

  circuit::manual_clock clock;
  window_breaker b(circuit::sliding_window{.max_failures = 3, .window = 60s}, {}, clock);
  fail_once(b);
  fail_once(b);
  fail_once(b);
  for (int i = 0; i < 100; ++i) succeed_once(b);
  CHECK(b.metrics().window.failures == 3);
  CHECK(b.metrics().window.successes == 0);
  CHECK(b.current_state() == circuit::state::closed);
  fail_once(b);
  CHECK(b.current_state() == circuit::state::open);
}

TEST_CASE("reset clears the recorded failures", "[sliding_window]") {
  circuit::sliding_window::recorder r(circuit::sliding_window{.max_failures = 2, .window = 60s});
  CHECK_FALSE(r.on_failure(ns(0)));
  CHECK_FALSE(r.on_failure(ns(1s)));
  r.reset();
  CHECK(r.figures(ns(2s)).failures == 0);
  CHECK_FALSE(r.on_failure(ns(2s)));
  CHECK_FALSE(r.on_failure(ns(3s)));
  CHECK(r.on_failure(ns(4s)));

  circuit::manual_clock clock;
  window_breaker b(circuit::sliding_window{.max_failures = 3, .window = 60s}, {}, clock);
  fail_once(b);
  fail_once(b);
  fail_once(b);
  b.reset();
  CHECK(b.metrics().window.failures == 0);
  fail_once(b);
  fail_once(b);
  fail_once(b);
  CHECK(b.current_state() == circuit::state::closed);
}

TEST_CASE("figures report the failures still inside the window", "[sliding_window]") {
  circuit::sliding_window::recorder r(circuit::sliding_window{.max_failures = 5, .window = 60s});
  (void)r.on_failure(ns(0));
  (void)r.on_failure(ns(10s));
  (void)r.on_failure(ns(20s));
  CHECK(r.figures(ns(30s)).failures == 3);
  CHECK(r.figures(ns(60s) - 1ns).failures == 3);
  CHECK(r.figures(ns(60s)).failures == 2);
  CHECK(r.figures(ns(75s)).failures == 1);
  CHECK(r.figures(ns(80s)).failures == 0);

  circuit::manual_clock clock;
  window_breaker b(circuit::sliding_window{.max_failures = 5, .window = 60s}, {}, clock);
  fail_once(b);
  clock.advance(10s);
  fail_once(b);
  clock.advance(55s);
  CHECK(b.metrics().window.failures == 1);
  clock.advance(5s);
  CHECK(b.metrics().window.failures == 0);
}

TEST_CASE("a clock that goes backwards counts the earlier failure as recent", "[sliding_window]") {
  circuit::sliding_window::recorder r(circuit::sliding_window{.max_failures = 1, .window = 60s});
  CHECK_FALSE(r.on_failure(ns(100s)));
  CHECK(r.figures(ns(50s)).failures == 1);
  CHECK(r.on_failure(ns(50s)));

  circuit::manual_clock clock(circuit::manual_clock::time_point(100s));
  window_breaker b(circuit::sliding_window{.max_failures = 3, .window = 60s}, {}, clock);
  fail_once(b);
  clock.set(circuit::manual_clock::time_point(10s));
  CHECK(b.metrics().window.failures == 1);
  fail_once(b);
  fail_once(b);
  CHECK(b.current_state() == circuit::state::closed);
  fail_once(b);
  CHECK(b.current_state() == circuit::state::open);
}

TEST_CASE("failures at the extremes of nanoseconds do not overflow", "[sliding_window]") {
  constexpr auto top = ns::max();
  constexpr auto bottom = ns::min();
  circuit::sliding_window::recorder r(circuit::sliding_window{.max_failures = 1, .window = 60s});

  // The oldest possible failure is far outside the window of the newest time.
  CHECK_FALSE(r.on_failure(bottom));
  CHECK(r.figures(top).failures == 0);
  CHECK_FALSE(r.on_failure(top));
  CHECK(r.figures(top).failures == 1);
  // Seen from the bottom, a failure at the top lies in the future: recent.
  CHECK(r.figures(bottom).failures == 2);

  r.reset();
  CHECK_FALSE(r.on_failure(top - ns(60s)));
  CHECK(r.figures(top).failures == 0);
  CHECK(r.figures(top - 1ns).failures == 1);
  CHECK_FALSE(r.on_failure(top));  // the one a window earlier has left
  CHECK(r.on_failure(top));

  // The widest window there is: bottom and top are 2^64 - 1 ns apart, more
  // than any window, while two failures at the bottom are not.
  circuit::sliding_window::recorder wide(circuit::sliding_window{.max_failures = 1, .window = ns::max()});
  CHECK_FALSE(wide.on_failure(bottom));
  CHECK_FALSE(wide.on_failure(top));
  wide.reset();
  CHECK_FALSE(wide.on_failure(bottom));
  CHECK(wide.on_failure(bottom + ns::max() - 1ns));
}

TEST_CASE("a breaker near the end of time saturates its open deadline", "[sliding_window]") {
  using tp = circuit::manual_clock::time_point;
  // Made at the epoch: at max - 5s, its 10 s open_for would be rejected as
  // too long for the clock.
  circuit::manual_clock clock(tp{});
  window_breaker b(circuit::sliding_window{.max_failures = 0, .window = ns::max()}, {}, clock);
  clock.set(tp::max() - 5s);
  fail_once(b);
  REQUIRE(b.current_state() == circuit::state::open);
  const auto m = b.metrics();
  REQUIRE(m.open_until.has_value());
  CHECK(*m.open_until == tp::max());
  clock.advance(5s);
  CHECK(b.current_state() == circuit::state::half_open);
  succeed_once(b);
  CHECK(b.current_state() == circuit::state::closed);

  clock.set(tp::min());
  CHECK(b.metrics().window.failures == 0);
  fail_once(b);
  CHECK(b.current_state() == circuit::state::open);
  CHECK(*b.metrics().open_until == tp::min() + 10s);
  clock.advance(10s);
  CHECK(b.current_state() == circuit::state::half_open);
}

// ---- Memory limit: a breaker holds at most 1 MiB ---------------------------

namespace {

std::string sliding_window_refusal(std::uint32_t max_failures) {
  try {
    circuit::sliding_window{.max_failures = max_failures}.validate();
  } catch (const std::invalid_argument& e) {
    return e.what();
  }
  return "<no exception>";
}

}  // namespace

TEST_CASE("max_failures is capped so that the ring of time stamps stays within 512 KiB", "[sliding_window][limits]") {
  constexpr auto largest = circuit::sliding_window::max_max_failures;
  STATIC_REQUIRE(largest == 65535);
  STATIC_REQUIRE((largest + std::size_t{1}) * sizeof(std::chrono::nanoseconds) == 512 * 1024);
  CHECK(sliding_window_refusal(largest + 1) ==
        "sliding_window.max_failures must be at most 65535 (use failure_rate_window)");
  CHECK(sliding_window_refusal(std::numeric_limits<std::uint32_t>::max()).rfind("sliding_window.max_failures ", 0) ==
        0);
  CHECK_THROWS_AS(window_breaker(circuit::sliding_window{.max_failures = largest + 1}, {}, circuit::manual_clock{}),
                  std::invalid_argument);
  CHECK(sliding_window_refusal(largest) == "<no exception>");

  // The largest ring works: the (largest + 1)-th failure in the window trips.
  circuit::manual_clock clock;
  window_breaker b(circuit::sliding_window{.max_failures = largest, .window = 60s}, {}, clock);
  for (std::uint32_t i = 0; i < largest; ++i) fail_once(b);
  CHECK(b.current_state() == circuit::state::closed);
  CHECK(b.metrics().window.failures == largest);
  fail_once(b);
  CHECK(b.current_state() == circuit::state::open);
}
