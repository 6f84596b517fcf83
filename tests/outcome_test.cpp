// Tests of circuit/outcome.hpp: the three outcomes a predicate can give a
// call, and that a breaker counts each as what it says (ignored counts
// neither way).

#include "catch.hpp"

#include <chrono>
#include <cstdint>
#include <exception>
#include <stdexcept>
#include <type_traits>

#include <circuit/circuit_breaker.hpp>
#include <circuit/manual_clock.hpp>
#include <circuit/outcome.hpp>
#include <circuit/sliding_window.hpp>
#include <circuit/state.hpp>

using namespace std::chrono_literals;
using circuit::outcome;

namespace {

// Exceptions fail; of int results, negative fails, zero is ignored,
// positive succeeds.
struct by_outcome {
  outcome operator()(const std::exception_ptr&) const { return outcome::failure; }
  outcome operator()(int r) const {
    if (r < 0) return outcome::failure;
    return r == 0 ? outcome::ignored : outcome::success;
  }
};

using breaker = circuit::circuit_breaker<circuit::manual_clock, circuit::sliding_window, by_outcome>;

}  // namespace

TEST_CASE("outcome is a byte-sized enum of three distinct values", "[outcome]") {
  STATIC_REQUIRE(std::is_same_v<std::underlying_type_t<outcome>, std::uint8_t>);
  STATIC_REQUIRE(outcome::success != outcome::failure);
  STATIC_REQUIRE(outcome::failure != outcome::ignored);
  STATIC_REQUIRE(outcome::success != outcome::ignored);
}

TEST_CASE("a breaker counts each outcome its predicate returns as that outcome", "[outcome]") {
  circuit::manual_clock clock;
  breaker b(circuit::sliding_window{.max_failures = 5, .window = 60s}, {}, clock);
  CHECK(b.call([] { return 1; }) == 1);
  CHECK(b.call([] { return 0; }) == 0);
  CHECK(b.call([] { return -1; }) == -1);
  CHECK_THROWS_AS(b.call([]() -> int { throw std::runtime_error("x"); }), std::runtime_error);

  const auto m = b.metrics();
  CHECK(m.total.successes == 1);
  CHECK(m.total.ignored == 1);
  CHECK(m.total.failures == 2);
  CHECK(m.state == circuit::state::closed);
}

TEST_CASE("ignored results neither trip the breaker nor close it from half_open", "[outcome]") {
  circuit::manual_clock clock;
  breaker b(circuit::sliding_window{.max_failures = 0, .window = 60s}, {.open_for = circuit::fixed{1s}}, clock);
  for (int i = 0; i < 10; ++i) CHECK(b.call([] { return 0; }) == 0);
  CHECK(b.current_state() == circuit::state::closed);

  b.trip();
  clock.advance(1s);
  REQUIRE(b.current_state() == circuit::state::half_open);
  CHECK(b.call([] { return 0; }) == 0);  // an ignored probe decides nothing...
  CHECK(b.current_state() == circuit::state::half_open);
  CHECK(b.call([] { return 1; }) == 1);  // ...and gave its slot back for the next one
  CHECK(b.current_state() == circuit::state::closed);
}
