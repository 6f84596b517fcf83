// Tests of circuit/net_failures.hpp: failures minus successes, never below
// zero (pycircuitbreaker NET_ERROR).

#include <chrono>
#include <stdexcept>

#include <circuit/circuit_breaker.hpp>
#include <circuit/consecutive_failures.hpp>
#include <circuit/manual_clock.hpp>
#include <circuit/net_failures.hpp>

#include "catch.hpp"
#include "interleaving.hpp"

using namespace std::chrono_literals;

namespace {
struct timeout_error : std::runtime_error {
  timeout_error() : std::runtime_error("timeout") {}
};
}  // namespace

TEST_CASE("the net count reaching the threshold trips", "[net_failures]") {
  circuit::net_failures::recorder r(circuit::net_failures{.threshold = 3});
  CHECK_FALSE(r.on_failure(0ns));
  CHECK_FALSE(r.on_failure(0ns));
  CHECK(r.on_failure(0ns));
}

TEST_CASE("a success takes one failure off the net count", "[net_failures]") {
  circuit::net_failures::recorder r(circuit::net_failures{.threshold = 3});
  CHECK_FALSE(r.on_failure(0ns));
  CHECK_FALSE(r.on_failure(0ns));
  r.on_success();
  CHECK(r.figures(0ns).failures == 1);
  CHECK_FALSE(r.on_failure(0ns));
  CHECK(r.on_failure(0ns));
}

TEST_CASE("the net count never goes below zero", "[net_failures]") {
  circuit::net_failures::recorder r(circuit::net_failures{.threshold = 2});
  for (int i = 0; i < 10; ++i) r.on_success();
  CHECK(r.figures(0ns).failures == 0);
  CHECK(r.figures(0ns).successes == 0);
  // Banked successes would let ten failures pass; the floor lets only one.
  CHECK_FALSE(r.on_failure(0ns));
  CHECK(r.on_failure(0ns));
}

TEST_CASE("reset clears the net count", "[net_failures]") {
  circuit::net_failures::recorder r(circuit::net_failures{.threshold = 2});
  CHECK_FALSE(r.on_failure(0ns));
  r.reset();
  CHECK(r.figures(0ns).failures == 0);
  CHECK_FALSE(r.on_failure(0ns));
  CHECK(r.on_failure(0ns));
}

TEST_CASE("four failures out of five calls never trip a consecutive counter but add up under net_failures",
          "[net_failures][consecutive_failures]") {
  circuit::manual_clock clock;
  circuit::circuit_breaker<circuit::manual_clock, circuit::consecutive_failures> consecutive(
      circuit::consecutive_failures{.threshold = 5}, {.name = "consecutive"}, clock);
  circuit::circuit_breaker<circuit::manual_clock, circuit::net_failures> net(circuit::net_failures{.threshold = 5},
                                                                             {.name = "net"}, clock);
  const auto flaky = [](int i) -> int {
    if (i % 5 != 4) throw timeout_error();
    return 200;
  };

  // Runs one call of the pattern through `b`; true when the call failed.
  const auto run = [&](auto& b, int i) {
    try {
      const int status = b.call(flaky, i);
      CHECK(status == 200);
      return false;
    } catch (const timeout_error&) {
      return true;
    }
  };

  int net_opened_at = -1;
  for (int i = 0; i < 20; ++i) {
    CHECK(run(consecutive, i) == (i % 5 != 4));
    CHECK(consecutive.current_state() == circuit::state::closed);
    if (net.current_state() == circuit::state::closed) {
      CHECK(run(net, i) == (i % 5 != 4));
      if (net.current_state() == circuit::state::open) net_opened_at = i;
    }
  }
  // Round one: 4 - 1 = 3; round two: 3 + 1 + 1 = 5 on the 7th call (index 6).
  CHECK(net_opened_at == 6);
  CHECK(net.current_state() == circuit::state::open);
  CHECK(consecutive.current_state() == circuit::state::closed);
  CHECK(consecutive.metrics().total.failures == 16);
  CHECK(consecutive.metrics().total.successes == 4);
}

TEST_CASE("a success racing a reset never lowers the next generation's count", "[net_failures]") {
  circuit::net_failures::recorder r(circuit::net_failures{.threshold = 5});
  CHECK_FALSE(r.on_failure(0ns));
  CHECK_FALSE(r.on_failure(0ns));
  const test::interleaving racing{[&r](int asked) {
    if (asked == 1) {  // between the load (2) and the write (1)
      r.reset();
      CHECK_FALSE(r.on_failure(0ns));
      CHECK_FALSE(r.on_failure(0ns));  // 2 again, in the next epoch
      return true;
    }
    return false;
  }};
  r.on_success(racing);
  CHECK(racing.asked == 2);
  CHECK(r.figures(0ns).failures == 2);

  // A current success lowers it by one.
  r.on_success(circuit::detail::always_current{});
  CHECK(r.figures(0ns).failures == 1);
}
