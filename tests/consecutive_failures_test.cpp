// Tests of circuit/consecutive_failures.hpp: a run of failures trips, a
// success ends the run (pybreaker fail_max, pycircuitbreaker SINGLE_RESET).

#include <chrono>
#include <stdexcept>

#include <circuit/circuit_breaker.hpp>
#include <circuit/consecutive_failures.hpp>
#include <circuit/manual_clock.hpp>
#include <circuit/open_circuit_error.hpp>

#include "catch.hpp"
#include "interleaving.hpp"

using namespace std::chrono_literals;

namespace {

using run_breaker = circuit::circuit_breaker<circuit::manual_clock, circuit::consecutive_failures>;

// Not an open_circuit_error (which is a std::runtime_error too).
struct db_error : std::runtime_error {
  db_error() : std::runtime_error("db down") {}
};

int failing_call() { throw db_error(); }
int working_call() { return 42; }

}  // namespace

TEST_CASE("the threshold-th failure in a row trips", "[consecutive_failures]") {
  circuit::consecutive_failures::recorder r(circuit::consecutive_failures{.threshold = 3});
  CHECK_FALSE(r.on_failure(0ns));
  CHECK_FALSE(r.on_failure(0ns));
  CHECK(r.figures(0ns).failures == 2);
  CHECK(r.on_failure(0ns));
}

TEST_CASE("a threshold of one trips on the first failure", "[consecutive_failures]") {
  circuit::consecutive_failures::recorder r(circuit::consecutive_failures{.threshold = 1});
  CHECK(r.on_failure(0ns));
}

TEST_CASE("a success ends the run of failures", "[consecutive_failures]") {
  circuit::consecutive_failures::recorder r(circuit::consecutive_failures{.threshold = 3});
  CHECK_FALSE(r.on_failure(0ns));
  CHECK_FALSE(r.on_failure(0ns));
  r.on_success();
  CHECK(r.figures(0ns).failures == 0);
  CHECK(r.figures(0ns).successes == 0);
  CHECK_FALSE(r.on_failure(0ns));
  CHECK_FALSE(r.on_failure(0ns));
  CHECK(r.on_failure(0ns));
}

TEST_CASE("reset ends the run of failures", "[consecutive_failures]") {
  circuit::consecutive_failures::recorder r(circuit::consecutive_failures{.threshold = 2});
  CHECK_FALSE(r.on_failure(0ns));
  r.reset();
  CHECK(r.figures(0ns).failures == 0);
  CHECK_FALSE(r.on_failure(0ns));
  CHECK(r.on_failure(0ns));
}

TEST_CASE("the run does not depend on time", "[consecutive_failures]") {
  circuit::consecutive_failures::recorder r(circuit::consecutive_failures{.threshold = 2});
  CHECK_FALSE(r.on_failure(0ns));
  CHECK(r.on_failure(std::chrono::hours(24 * 365)));
}

TEST_CASE("pybreaker's fail_max of 5: five failures in a row open the circuit", "[consecutive_failures]") {
  circuit::manual_clock clock;
  run_breaker b(circuit::consecutive_failures{.threshold = 5}, {.name = "db"}, clock);
  for (int i = 0; i < 4; ++i) {
    CHECK_THROWS_AS(b.call(failing_call), db_error);
    CHECK(b.current_state() == circuit::state::closed);
  }
  CHECK(b.metrics().window.failures == 4);
  // The call that trips rethrows its own exception.
  CHECK_THROWS_AS(b.call(failing_call), db_error);
  CHECK(b.current_state() == circuit::state::open);
  CHECK_THROWS_AS(b.call(working_call), circuit::open_circuit_error);
  CHECK(b.metrics().total.failures == 5);
  CHECK(b.metrics().total.rejections == 1);
}

TEST_CASE("pybreaker's fail_max of 5: a success in between resets the count", "[consecutive_failures]") {
  circuit::manual_clock clock;
  run_breaker b(circuit::consecutive_failures{.threshold = 5}, {.name = "db"}, clock);
  for (int i = 0; i < 4; ++i) CHECK_THROWS_AS(b.call(failing_call), db_error);
  CHECK(b.call(working_call) == 42);
  CHECK(b.metrics().window.failures == 0);
  for (int i = 0; i < 4; ++i) CHECK_THROWS_AS(b.call(failing_call), db_error);
  CHECK(b.current_state() == circuit::state::closed);
  CHECK(b.metrics().window.failures == 4);
  CHECK_THROWS_AS(b.call(failing_call), db_error);
  CHECK(b.current_state() == circuit::state::open);
}

TEST_CASE("closing after a probe starts a fresh run", "[consecutive_failures]") {
  circuit::manual_clock clock;
  run_breaker b(circuit::consecutive_failures{.threshold = 2}, {.open_for = circuit::fixed{5s}}, clock);
  CHECK_THROWS_AS(b.call(failing_call), db_error);
  CHECK_THROWS_AS(b.call(failing_call), db_error);
  REQUIRE(b.current_state() == circuit::state::open);
  clock.advance(5s);
  CHECK(b.call(working_call) == 42);
  REQUIRE(b.current_state() == circuit::state::closed);
  CHECK(b.metrics().window.failures == 0);
  CHECK_THROWS_AS(b.call(failing_call), db_error);
  CHECK(b.current_state() == circuit::state::closed);
}

TEST_CASE("a success that is no longer current leaves the run alone", "[consecutive_failures]") {
  circuit::consecutive_failures::recorder r(circuit::consecutive_failures{.threshold = 5});
  CHECK_FALSE(r.on_failure(0ns));
  CHECK_FALSE(r.on_failure(0ns));
  const test::interleaving stale{[](int) { return false; }};
  r.on_success(stale);
  CHECK(stale.asked == 1);
  CHECK(r.figures(0ns).failures == 2);
}

TEST_CASE("a success racing a reset never ends the next generation's run", "[consecutive_failures]") {
  // The success loads run 1; before it writes, a reset() and one failure of
  // the next generation bring the run back to 1. A count alone could not
  // tell the two runs apart; the epoch makes the write fail, and the retry
  // finds the call stale.
  circuit::consecutive_failures::recorder r(circuit::consecutive_failures{.threshold = 5});
  CHECK_FALSE(r.on_failure(0ns));
  const test::interleaving racing{[&r](int asked) {
    if (asked == 1) {
      r.reset();
      CHECK_FALSE(r.on_failure(0ns));
      return true;  // the breaker's word was still the old one when asked
    }
    return false;  // by the retry it has moved
  }};
  r.on_success(racing);
  CHECK(racing.asked == 2);
  CHECK(r.figures(0ns).failures == 1);
  CHECK_FALSE(r.on_failure(0ns));
  CHECK(r.figures(0ns).failures == 2);
}
