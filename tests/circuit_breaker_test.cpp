// The breaker's state machine: closed -> open -> half_open -> closed, the
// manual steering (trip, isolate, reset), open_circuit_error, and calling
// through it with call() and wrap().

#include "catch.hpp"

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include <circuit/circuit_breaker.hpp>
#include <circuit/consecutive_failures.hpp>
#include <circuit/detect_results.hpp>
#include <circuit/event.hpp>
#include <circuit/manual_clock.hpp>
#include <circuit/open_circuit_error.hpp>
#include <circuit/options.hpp>
#include <circuit/sliding_window.hpp>
#include <circuit/state.hpp>

using namespace std::chrono_literals;

namespace {

using breaker = circuit::circuit_breaker<circuit::manual_clock, circuit::consecutive_failures>;
using windowed_breaker = circuit::circuit_breaker<circuit::manual_clock, circuit::sliding_window>;

struct boom : std::runtime_error {
  boom() : std::runtime_error("boom") {}
};

// Records one failure through the permit API.
template <class B>
void fail_once(B& b) {
  auto p = b.try_guard();
  REQUIRE(p);
  p.failure();
}

// Records one success through the permit API.
template <class B>
void succeed_once(B& b) {
  auto p = b.try_guard();
  REQUIRE(p);
  p.success();
}

// The open_circuit_error a refused guard() throws.
template <class B>
circuit::open_circuit_error refusal_of(B& b) {
  try {
    auto g = b.guard();
  } catch (const circuit::open_circuit_error& e) {
    return e;
  }
  FAIL("guard() was admitted");
  throw std::logic_error("unreachable");
}

}  // namespace

TEST_CASE("a breaker goes from closed to open to half_open and back to closed", "[circuit_breaker]") {
  circuit::manual_clock clock;
  breaker b(circuit::consecutive_failures{.threshold = 2}, {.name = "db", .open_for = circuit::fixed{10s}}, clock);
  REQUIRE(b.current_state() == circuit::state::closed);

  fail_once(b);
  CHECK(b.current_state() == circuit::state::closed);
  fail_once(b);
  CHECK(b.current_state() == circuit::state::open);
  CHECK_FALSE(b.try_guard());

  clock.advance(10s);
  CHECK(b.current_state() == circuit::state::half_open);

  succeed_once(b);
  CHECK(b.current_state() == circuit::state::closed);
  CHECK(b.try_guard());
}

TEST_CASE("open turns half_open exactly when the open duration has passed", "[circuit_breaker]") {
  circuit::manual_clock clock;
  breaker b(circuit::consecutive_failures{.threshold = 1}, {.open_for = circuit::fixed{10s}}, clock);
  fail_once(b);
  REQUIRE(b.metrics().state == circuit::state::open);

  SECTION("one nanosecond early the call is refused") {
    clock.advance(10s - 1ns);
    CHECK_FALSE(b.try_guard());
    CHECK(b.metrics().state == circuit::state::open);
  }
  SECTION("at exactly the open duration the call is admitted as a probe") {
    clock.advance(10s);
    auto probe = b.try_guard();
    CHECK(probe);
    CHECK(b.metrics().state == circuit::state::half_open);
  }
}

TEST_CASE("the change to half_open is lazy and current_state() performs it", "[circuit_breaker]") {
  circuit::manual_clock clock;
  breaker b(circuit::consecutive_failures{.threshold = 1}, {.open_for = circuit::fixed{10s}}, clock);
  fail_once(b);
  std::vector<std::pair<circuit::state, circuit::state>> changes;
  auto sub = b.on_event([&](const circuit::event& e) {
    if (e.kind == circuit::event_kind::state_change) changes.emplace_back(e.from, e.to);
  });

  clock.advance(1h);
  // Nobody asked yet: no thread of the breaker's own moved it.
  CHECK(changes.empty());

  const breaker& view = b;  // a const breaker moves too: reading the state is what moves it
  CHECK(view.current_state() == circuit::state::half_open);
  CHECK(changes == std::vector<std::pair<circuit::state, circuit::state>>{
                       {circuit::state::open, circuit::state::half_open}});
  CHECK(b.current_state() == circuit::state::half_open);
  CHECK(changes.size() == 1);
}

namespace {

// A manual clock that runs a hook (once) on its n-th reading from now: how a
// test puts "another thread" between two steps of the breaker.
struct hooked_clock {
  using rep = std::int64_t;
  using period = std::nano;
  using duration = std::chrono::nanoseconds;
  using time_point = std::chrono::time_point<hooked_clock, duration>;
  static constexpr bool is_steady = false;

  struct hook {
    int countdown = 0;
    std::function<void()> fn;
  };

  time_point now() const {
    if (hook_->countdown > 0 && --hook_->countdown == 0) std::exchange(hook_->fn, nullptr)();
    return time_point{inner.now().time_since_epoch()};
  }
  // Runs `fn` inside the n-th call of now() from here on.
  void on_reading(int n, std::function<void()> fn) const { *hook_ = {n, std::move(fn)}; }

  circuit::manual_clock inner;
  std::shared_ptr<hook> hook_ = std::make_shared<hook>();
};

}  // namespace

TEST_CASE("a trip() that lands between the open check and the change to half_open keeps the circuit open",
          "[circuit_breaker]") {
  hooked_clock clock;
  circuit::circuit_breaker<hooked_clock, circuit::consecutive_failures> b(circuit::consecutive_failures{.threshold = 1},
                                                                           {.open_for = circuit::fixed{10s}}, clock);
  b.trip();
  clock.inner.advance(10s);
  // The breaker reads the clock to see that open is over, then again to
  // change to half_open: the trip comes in between.
  clock.on_reading(2, [&] { b.trip(); });

  SECTION("through current_state()") { CHECK(b.current_state() == circuit::state::open); }
  SECTION("through a call") { CHECK_FALSE(b.try_guard()); }
  const auto m = b.metrics();
  CHECK(m.state == circuit::state::open);
  CHECK(m.open_until == clock.now() + 10s);
}

TEST_CASE("half_open admits at most half_open_max_calls probes at once", "[circuit_breaker]") {
  circuit::manual_clock clock;
  breaker b(circuit::consecutive_failures{.threshold = 1},
            {.open_for = circuit::fixed{10s}, .half_open_max_calls = 2, .success_threshold = 2}, clock);
  fail_once(b);
  clock.advance(10s);

  auto first = b.try_guard();
  auto second = b.try_guard();
  auto third = b.try_guard();
  CHECK(first);
  CHECK(second);
  CHECK_FALSE(third);
  CHECK(b.current_state() == circuit::state::half_open);

  // One probe done (not yet enough to close): its slot is free again.
  first.success();
  CHECK(b.current_state() == circuit::state::half_open);
  auto fourth = b.try_guard();
  CHECK(fourth);
  CHECK_FALSE(b.try_guard());
  second.success();
  fourth.success();
}

TEST_CASE("success_threshold probe successes close the circuit", "[circuit_breaker]") {
  circuit::manual_clock clock;
  breaker b(circuit::consecutive_failures{.threshold = 1}, {.open_for = circuit::fixed{10s}, .success_threshold = 3},
            clock);
  fail_once(b);
  clock.advance(10s);

  succeed_once(b);
  CHECK(b.current_state() == circuit::state::half_open);
  succeed_once(b);
  CHECK(b.current_state() == circuit::state::half_open);
  succeed_once(b);
  CHECK(b.current_state() == circuit::state::closed);
}

TEST_CASE("closing resets the counter, so one failure after closing does not re-open", "[circuit_breaker]") {
  circuit::manual_clock clock;
  windowed_breaker b(circuit::sliding_window{.max_failures = 1, .window = 60s}, {.open_for = circuit::fixed{10s}},
                     clock);
  fail_once(b);
  fail_once(b);
  REQUIRE(b.current_state() == circuit::state::open);

  clock.advance(10s);
  succeed_once(b);
  REQUIRE(b.current_state() == circuit::state::closed);
  CHECK(b.metrics().window.failures == 0);

  // Both earlier failures are still inside the 60 s window: only the reset
  // keeps this one from making two.
  fail_once(b);
  CHECK(b.current_state() == circuit::state::closed);
  CHECK(b.metrics().window.failures == 1);
  fail_once(b);
  CHECK(b.current_state() == circuit::state::open);
}

TEST_CASE("any probe failure re-opens the circuit", "[circuit_breaker]") {
  circuit::manual_clock clock;
  breaker b(circuit::consecutive_failures{.threshold = 1},
            {.open_for = circuit::fixed{10s}, .half_open_max_calls = 2, .success_threshold = 3}, clock);
  fail_once(b);
  clock.advance(10s);

  succeed_once(b);
  succeed_once(b);
  REQUIRE(b.current_state() == circuit::state::half_open);
  fail_once(b);
  CHECK(b.current_state() == circuit::state::open);
  CHECK(b.metrics().open_until == clock.now() + 10s);

  // The new half_open spell counts its successes from zero.
  clock.advance(10s);
  succeed_once(b);
  succeed_once(b);
  CHECK(b.current_state() == circuit::state::half_open);
  succeed_once(b);
  CHECK(b.current_state() == circuit::state::closed);
}

TEST_CASE("trip() opens a closed circuit now for the open duration", "[circuit_breaker]") {
  circuit::manual_clock clock;
  breaker b({}, {.open_for = circuit::fixed{10s}}, clock);
  b.trip();
  CHECK(b.current_state() == circuit::state::open);
  CHECK_FALSE(b.try_guard());
  clock.advance(10s);
  CHECK(b.current_state() == circuit::state::half_open);
}

TEST_CASE("trip() while open restarts the open duration", "[circuit_breaker]") {
  circuit::manual_clock clock;
  breaker b({}, {.open_for = circuit::fixed{10s}}, clock);
  b.trip();
  clock.advance(6s);
  b.trip();
  CHECK(b.metrics().open_until == clock.now() + 10s);

  clock.advance(6s);  // 12 s after the first trip, 6 s after the second
  CHECK(b.current_state() == circuit::state::open);
  CHECK(refusal_of(b).retry_after() == std::optional<std::chrono::nanoseconds>(4s));
  clock.advance(4s);
  CHECK(b.current_state() == circuit::state::half_open);
}

TEST_CASE("trip() in half_open opens the circuit again", "[circuit_breaker]") {
  circuit::manual_clock clock;
  breaker b({}, {.open_for = circuit::fixed{10s}}, clock);
  b.trip();
  clock.advance(10s);
  REQUIRE(b.current_state() == circuit::state::half_open);
  b.trip();
  CHECK(b.current_state() == circuit::state::open);
  CHECK_FALSE(b.try_guard());
}

TEST_CASE("trip() does nothing while isolated", "[circuit_breaker]") {
  circuit::manual_clock clock;
  breaker b({}, {.open_for = circuit::fixed{10s}}, clock);
  b.isolate();
  const auto before = b.metrics();
  b.trip();
  CHECK(b.current_state() == circuit::state::isolated);
  CHECK(b.metrics().generation == before.generation);
  clock.advance(1h);
  CHECK(b.current_state() == circuit::state::isolated);
}

TEST_CASE("isolate() holds the circuit open across any time until reset()", "[circuit_breaker]") {
  circuit::manual_clock clock;
  breaker b({}, {.open_for = circuit::fixed{10s}}, clock);
  b.isolate();
  CHECK(b.current_state() == circuit::state::isolated);
  CHECK_FALSE(b.try_guard());

  clock.advance(24h);
  CHECK(b.current_state() == circuit::state::isolated);
  CHECK_FALSE(b.try_guard());

  b.reset();
  CHECK(b.current_state() == circuit::state::closed);
  CHECK(b.try_guard());
}

TEST_CASE("isolate() takes over an open circuit", "[circuit_breaker]") {
  circuit::manual_clock clock;
  breaker b({}, {.open_for = circuit::fixed{10s}}, clock);
  b.trip();
  b.isolate();
  clock.advance(10s);
  CHECK(b.current_state() == circuit::state::isolated);
  CHECK_FALSE(b.try_guard());
}

TEST_CASE("reset() closes the circuit and clears the counter", "[circuit_breaker]") {
  circuit::manual_clock clock;
  breaker b(circuit::consecutive_failures{.threshold = 3}, {.open_for = circuit::fixed{10s}}, clock);

  SECTION("from closed, forgetting the failures so far") {
    fail_once(b);
    fail_once(b);
    REQUIRE(b.metrics().window.failures == 2);
    b.reset();
    CHECK(b.metrics().window.failures == 0);
    fail_once(b);
    fail_once(b);
    CHECK(b.current_state() == circuit::state::closed);
    fail_once(b);
    CHECK(b.current_state() == circuit::state::open);
  }
  SECTION("from open, before the open duration is over") {
    fail_once(b);
    fail_once(b);
    fail_once(b);
    REQUIRE(b.current_state() == circuit::state::open);
    b.reset();
    CHECK(b.current_state() == circuit::state::closed);
    CHECK(b.metrics().window.failures == 0);
    CHECK(b.try_guard());
  }
  SECTION("from half_open") {
    b.trip();
    clock.advance(10s);
    REQUIRE(b.current_state() == circuit::state::half_open);
    b.reset();
    CHECK(b.current_state() == circuit::state::closed);
  }
}

TEST_CASE("open_circuit_error tells how long the circuit stays open", "[circuit_breaker]") {
  circuit::manual_clock clock;
  breaker b(circuit::consecutive_failures{.threshold = 1}, {.name = "payments", .open_for = circuit::fixed{10s}},
            clock);
  fail_once(b);
  clock.advance(3s);

  const auto e = refusal_of(b);
  CHECK(e.state() == circuit::state::open);
  CHECK(e.retry_after() == std::optional<std::chrono::nanoseconds>(7s));
  CHECK(e.name() == "payments");
  CHECK(std::string(e.what()).find("payments") != std::string::npos);
}

TEST_CASE("open_circuit_error in half_open with every probe slot taken says retry now", "[circuit_breaker]") {
  circuit::manual_clock clock;
  breaker b(circuit::consecutive_failures{.threshold = 1}, {.name = "search", .open_for = circuit::fixed{10s}}, clock);
  fail_once(b);
  clock.advance(10s);
  auto probe = b.try_guard();
  REQUIRE(probe);

  const auto e = refusal_of(b);
  CHECK(e.state() == circuit::state::half_open);
  CHECK(e.retry_after() == std::optional<std::chrono::nanoseconds>(0ns));
  CHECK(std::string(e.what()).find("search") != std::string::npos);
  probe.success();
}

TEST_CASE("open_circuit_error of an isolated circuit has no retry time", "[circuit_breaker]") {
  circuit::manual_clock clock;
  breaker b({}, {.name = "ledger"}, clock);
  b.isolate();

  const auto e = refusal_of(b);
  CHECK(e.state() == circuit::state::isolated);
  CHECK_FALSE(e.retry_after().has_value());
  CHECK(e.name() == "ledger");
  CHECK(std::string(e.what()).find("ledger") != std::string::npos);
}

TEST_CASE("call() refuses with open_circuit_error without running the function", "[circuit_breaker]") {
  circuit::manual_clock clock;
  breaker b({}, {.name = "db"}, clock);
  b.trip();
  int runs = 0;
  CHECK_THROWS_AS(b.call([&] { ++runs; }), circuit::open_circuit_error);
  CHECK(runs == 0);
}

TEST_CASE("call() returns what the function returns", "[circuit_breaker]") {
  circuit::manual_clock clock;
  breaker b({}, {}, clock);

  SECTION("a value") { CHECK(b.call([] { return 42; }) == 42); }
  SECTION("a string") { CHECK(b.call([] { return std::string("hello"); }) == "hello"); }
  SECTION("a move-only value") {
    auto p = b.call([] { return std::make_unique<int>(7); });
    REQUIRE(p);
    CHECK(*p == 7);
  }
  SECTION("an lvalue reference to the same object") {
    int x = 1;
    int& r = b.call([&]() -> int& { return x; });
    CHECK(&r == &x);
    r = 5;
    CHECK(x == 5);
  }
  SECTION("a const reference to the same object") {
    const std::string s = "kept";
    const std::string& r = b.call([&]() -> const std::string& { return s; });
    CHECK(&r == &s);
  }
  SECTION("nothing") {
    bool ran = false;
    b.call([&] { ran = true; });
    CHECK(ran);
  }
  CHECK(b.metrics().total.successes == 1);
}

TEST_CASE("call() forwards its arguments to the function", "[circuit_breaker]") {
  circuit::manual_clock clock;
  breaker b({}, {}, clock);

  CHECK(b.call([](int a, int c) { return a - c; }, 10, 3) == 7);

  int counter = 0;
  b.call([](int& n) { ++n; }, counter);
  CHECK(counter == 1);

  auto owned = std::make_unique<int>(9);
  CHECK(b.call([](std::unique_ptr<int> p) { return *p; }, std::move(owned)) == 9);
  CHECK_FALSE(owned);

  struct doubler {
    int factor;
    int operator()(int v) const { return v * factor; }
  };
  CHECK(b.call(doubler{2}, 21) == 42);
}

TEST_CASE("call() rethrows the function's own exception and counts it", "[circuit_breaker]") {
  circuit::manual_clock clock;
  breaker b(circuit::consecutive_failures{.threshold = 2}, {}, clock);

  CHECK_THROWS_AS(b.call([]() -> int { throw boom(); }), boom);
  CHECK(b.metrics().total.failures == 1);
  CHECK(b.current_state() == circuit::state::closed);
}

TEST_CASE("the call that trips the circuit rethrows its own exception, not open_circuit_error",
          "[circuit_breaker]") {
  circuit::manual_clock clock;
  breaker b(circuit::consecutive_failures{.threshold = 1}, {}, clock);

  try {
    b.call([] { throw boom(); });
    FAIL("call() did not throw");
  } catch (const circuit::open_circuit_error&) {
    FAIL("the tripping call threw open_circuit_error");
  } catch (const boom&) {
    SUCCEED("its own exception");
  }
  CHECK(b.current_state() == circuit::state::open);
  CHECK_THROWS_AS(b.call([] { throw boom(); }), circuit::open_circuit_error);
}

TEST_CASE("wrap() makes a callable with the function's signature that goes through the breaker",
          "[circuit_breaker]") {
  circuit::manual_clock clock;
  breaker b(circuit::consecutive_failures{.threshold = 1}, {.name = "calc"}, clock);

  int runs = 0;
  auto add = b.wrap([&](int x, int y) {
    ++runs;
    return x + y;
  });
  CHECK(add(2, 3) == 5);
  CHECK(add(10, -4) == 6);
  CHECK(b.metrics().total.successes == 2);

  auto fail = b.wrap([](const std::string& why) -> int { throw std::runtime_error(why); });
  CHECK_THROWS_WITH(fail("down"), "down");
  REQUIRE(b.current_state() == circuit::state::open);

  CHECK_THROWS_AS(add(1, 1), circuit::open_circuit_error);
  CHECK(runs == 2);
}

TEST_CASE("wrap() forwards references and move-only arguments", "[circuit_breaker]") {
  circuit::manual_clock clock;
  breaker b({}, {}, clock);

  auto increment = b.wrap([](int& n) { ++n; });
  int n = 0;
  increment(n);
  increment(n);
  CHECK(n == 2);

  auto take = b.wrap([](std::unique_ptr<int> p) { return *p * 2; });
  CHECK(take(std::make_unique<int>(21)) == 42);

  int x = 0;
  auto ref = b.wrap([&]() -> int& { return x; });
  CHECK(&ref() == &x);
  CHECK(b.metrics().total.successes == 4);
}

TEST_CASE("a success slower than slow_call counts as a failure", "[circuit_breaker]") {
  circuit::manual_clock clock;
  breaker b(circuit::consecutive_failures{.threshold = 1}, {.slow_call = 100ms}, clock);

  SECTION("one nanosecond over the limit") {
    const auto r = b.call([&] {
      clock.advance(100ms + 1ns);
      return 42;
    });
    CHECK(r == 42);  // the caller still gets its value
    CHECK(b.metrics().total.failures == 1);
    CHECK(b.metrics().total.successes == 0);
    CHECK(b.current_state() == circuit::state::open);
  }
  SECTION("exactly at the limit is still a success") {
    b.call([&] { clock.advance(100ms); });
    CHECK(b.metrics().total.successes == 1);
    CHECK(b.metrics().total.failures == 0);
    CHECK(b.current_state() == circuit::state::closed);
  }
  SECTION("through a guard, timed from admission to settlement") {
    auto g = b.try_guard();
    REQUIRE(g);
    clock.advance(1s);
    g.success();
    CHECK(b.metrics().total.failures == 1);
    CHECK(b.current_state() == circuit::state::open);
  }
}

TEST_CASE("a slow probe re-opens a half_open circuit", "[circuit_breaker]") {
  circuit::manual_clock clock;
  breaker b(circuit::consecutive_failures{.threshold = 1}, {.open_for = circuit::fixed{10s}, .slow_call = 100ms},
            clock);
  b.trip();
  clock.advance(10s);
  b.call([&] { clock.advance(200ms); });
  CHECK(b.current_state() == circuit::state::open);
}

TEST_CASE("name() and options() give back what the breaker was made with", "[circuit_breaker]") {
  circuit::manual_clock clock;
  breaker b(circuit::consecutive_failures{.threshold = 7}, {.name = "inventory", .half_open_max_calls = 3}, clock);
  CHECK(b.name() == "inventory");
  CHECK(b.options().half_open_max_calls == 3);
  CHECK(b.counter().threshold == 7);
}

TEST_CASE("call() whose function sees a transition settles as stale", "[circuit_breaker]") {
  // call() in closed takes no permit: it settles against the word it was
  // admitted under. A reset() inside the call starts a new generation, and
  // the call's success must not end the new generation's run of failures.
  circuit::manual_clock clock;
  breaker b(circuit::consecutive_failures{.threshold = 2}, {}, clock);
  fail_once(b);
  b.call([&] {
    b.reset();
    fail_once(b);  // the new generation's run: 1
  });
  CHECK(b.metrics().stale_outcomes == 1);
  CHECK(b.metrics().window.failures == 1);
  fail_once(b);  // 2 in a row: trips
  CHECK(b.current_state() == circuit::state::open);

  // A stale failure moves nothing either.
  b.reset();
  CHECK_THROWS_AS(b.call([&] {
    b.reset();
    throw boom();
  }),
                  boom);
  CHECK(b.metrics().window.failures == 0);
  CHECK(b.metrics().stale_outcomes == 2);
}

TEST_CASE("call() returning a value through a predicate settles once, even when the predicate throws",
          "[circuit_breaker]") {
  // The predicate flags a 503 and throws on a negative value.
  circuit::manual_clock clock;
  auto pred = circuit::detect_results([](int status) {
    if (status < 0) throw std::invalid_argument("negative status");
    return status == 503;
  });
  circuit::circuit_breaker<circuit::manual_clock, circuit::consecutive_failures, decltype(pred)> b(
      circuit::consecutive_failures{.threshold = 3}, {.open_for = circuit::fixed{1s}}, clock, pred);
  CHECK(b.call([] { return 503; }) == 503);
  CHECK_THROWS_AS(b.call([] { return -1; }), std::invalid_argument);
  CHECK(b.metrics().total.failures == 2);
  CHECK(b.call([] { return 200; }) == 200);
  CHECK(b.metrics().total.successes == 1);

  // The same in half_open: a probe whose predicate throws is settled as a
  // failure, so its slot is not lost (the circuit re-opens).
  b.trip();
  clock.advance(1s);
  CHECK_THROWS_AS(b.call([] { return -1; }), std::invalid_argument);
  CHECK(b.current_state() == circuit::state::open);
  clock.advance(1s);
  CHECK(b.call([] { return 200; }) == 200);
  CHECK(b.current_state() == circuit::state::closed);
}
