// Tests of circuit/clock.hpp: which types are Clocks, and that a breaker
// needs nothing of its clock beyond what the concept names (a hand-written
// clock with only `duration`, `time_point` and `now()` drives one).

#include "catch.hpp"

#include <chrono>
#include <cstdint>
#include <memory>

#include <circuit/circuit_breaker.hpp>
#include <circuit/clock.hpp>
#include <circuit/manual_clock.hpp>
#include <circuit/sliding_window.hpp>
#include <circuit/state.hpp>

using namespace std::chrono_literals;

namespace {

// The least a Clock can be: two types and now(), nothing else (no rep,
// period or is_steady). Its time is a shared tick count, in milliseconds.
struct tick_clock {
  using duration = std::chrono::milliseconds;
  using time_point = std::chrono::time_point<tick_clock, duration>;
  std::shared_ptr<std::int64_t> ticks = std::make_shared<std::int64_t>(0);
  time_point now() const { return time_point(duration(*ticks)); }
};

struct no_now {
  using duration = std::chrono::nanoseconds;
  using time_point = std::chrono::time_point<std::chrono::steady_clock>;
};

struct no_time_point {
  using duration = std::chrono::nanoseconds;
  int now() const { return 0; }
};

struct wrong_now {
  using duration = std::chrono::nanoseconds;
  using time_point = std::chrono::time_point<std::chrono::steady_clock>;
  int now() const { return 0; }
};

// now() must be callable on a const clock: the breaker reads it from const members.
struct mutable_now {
  using duration = std::chrono::nanoseconds;
  using time_point = std::chrono::time_point<std::chrono::steady_clock>;
  time_point now() { return {}; }
};

}  // namespace

TEST_CASE("the std::chrono clocks and manual_clock are Clocks", "[clock]") {
  STATIC_REQUIRE(circuit::clock<std::chrono::steady_clock>);
  STATIC_REQUIRE(circuit::clock<std::chrono::system_clock>);
  STATIC_REQUIRE(circuit::clock<std::chrono::high_resolution_clock>);
  STATIC_REQUIRE(circuit::clock<circuit::manual_clock>);
  STATIC_REQUIRE(circuit::clock<tick_clock>);
}

TEST_CASE("a type without duration, time_point or a const now() returning a time_point is not a Clock", "[clock]") {
  STATIC_REQUIRE_FALSE(circuit::clock<int>);
  STATIC_REQUIRE_FALSE(circuit::clock<no_now>);
  STATIC_REQUIRE_FALSE(circuit::clock<no_time_point>);
  STATIC_REQUIRE_FALSE(circuit::clock<wrong_now>);
  STATIC_REQUIRE_FALSE(circuit::clock<mutable_now>);
}

TEST_CASE("a breaker measures its open duration on its own clock", "[clock]") {
  tick_clock clock;
  circuit::circuit_breaker<tick_clock> b(circuit::sliding_window{.max_failures = 0, .window = 60s},
                                         {.open_for = circuit::fixed{2s}}, clock);
  CHECK_THROWS_AS(b.call([] { throw 1; }), int);
  REQUIRE(b.current_state() == circuit::state::open);

  *clock.ticks = 1999;
  CHECK(b.current_state() == circuit::state::open);
  *clock.ticks = 2000;
  CHECK(b.current_state() == circuit::state::half_open);
  b.call([] {});
  CHECK(b.current_state() == circuit::state::closed);
}
