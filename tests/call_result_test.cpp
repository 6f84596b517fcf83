// try_call() and call_result: calling without an exception for refusal,
// with a fallback (Polly Fallback, resilience4j withFallback).

#include "catch.hpp"

#include <chrono>
#include <exception>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>

#include <circuit/call_result.hpp>
#include <circuit/circuit_breaker.hpp>
#include <circuit/consecutive_failures.hpp>
#include <circuit/detect_results.hpp>
#include <circuit/exception_predicates.hpp>
#include <circuit/manual_clock.hpp>
#include <circuit/open_circuit_error.hpp>

using namespace std::chrono_literals;
using circuit::state;

namespace {

using breaker = circuit::circuit_breaker<circuit::manual_clock, circuit::consecutive_failures>;

struct timeout_error : std::runtime_error {
  timeout_error() : std::runtime_error("timeout") {}
};

}  // namespace

TEST_CASE("try_call of a callable that returns gives its value and counts a success", "[try_call]") {
  breaker b({}, {.name = "db"}, circuit::manual_clock());
  auto r = b.try_call([](int x) { return x * 2; }, 21);
  CHECK_FALSE(r.refused());
  CHECK_FALSE(r.failed());
  REQUIRE(r.has_value());
  CHECK(r.value() == 42);
  CHECK(r.value_or(0) == 42);
  CHECK_FALSE(r.error());
  CHECK(b.metrics().total.successes == 1);
}

TEST_CASE("a refused try_call does not run the callable, throws nothing, and falls back", "[try_call]") {
  breaker b({}, {.name = "db", .open_for = circuit::fixed{10s}}, circuit::manual_clock());
  b.trip();
  bool ran = false;
  auto r = b.try_call([&] {
    ran = true;
    return std::string("fresh");
  });
  CHECK_FALSE(ran);
  CHECK(r.refused());
  CHECK_FALSE(r.failed());
  CHECK_FALSE(r.has_value());
  CHECK(r.refused_in() == state::open);
  CHECK(r.retry_after() == std::chrono::nanoseconds(10s));
  CHECK(r.value_or("cached") == "cached");
  CHECK_THROWS_AS(r.value(), circuit::open_circuit_error);
  try {
    (void)r.value();
  } catch (const circuit::open_circuit_error& e) {
    CHECK(e.name() == "db");
    CHECK(e.state() == state::open);
  }
  CHECK(b.metrics().total.rejections == 1);
}

TEST_CASE("a try_call whose callable throws a failure holds the exception and counts it", "[try_call]") {
  breaker b({.threshold = 1}, {}, circuit::manual_clock());
  auto r = b.try_call([]() -> int { throw timeout_error(); });
  CHECK(r.failed());
  CHECK_FALSE(r.has_value());
  REQUIRE(r.error());
  CHECK_THROWS_AS(r.value(), timeout_error);
  CHECK(r.value_or(-1) == -1);
  CHECK(b.current_state() == state::open);
  // Refused now, and never throws open_circuit_error.
  CHECK(b.try_call([] { return 1; }).refused());
}

TEST_CASE("an exception the predicate does not count is held, not failed, and not a value", "[try_call]") {
  circuit::circuit_breaker<circuit::manual_clock, circuit::consecutive_failures, circuit::failure_on<timeout_error>> b(
      {.threshold = 1}, {}, circuit::manual_clock());
  auto r = b.try_call([]() -> int { throw std::invalid_argument("bad request"); });
  CHECK_FALSE(r.failed());
  CHECK(r.error());
  CHECK(r.value_or(7) == 7);  // fn threw: the fallback
  CHECK_THROWS_AS(r.value(), std::invalid_argument);
  CHECK(b.metrics().total.successes == 1);
  CHECK(b.current_state() == state::closed);
}

TEST_CASE("a result counted as a failure is failed() but still the value", "[try_call]") {
  const auto is_5xx = circuit::detect_results([](int status) { return status >= 500; });
  circuit::circuit_breaker<circuit::manual_clock, circuit::consecutive_failures, decltype(is_5xx)> b(
      {.threshold = 2}, {}, circuit::manual_clock(), is_5xx);
  auto r = b.try_call([] { return 503; });
  CHECK(r.failed());
  REQUIRE(r.has_value());
  CHECK(r.value() == 503);
  CHECK(r.value_or(200) == 200);
  CHECK(b.metrics().total.failures == 1);
}

TEST_CASE("a throwing predicate makes try_call failed, with the predicate's exception", "[try_call]") {
  struct picky {
    bool operator()(const std::exception_ptr&) const { return true; }
    bool operator()(int) const { throw std::logic_error("cannot classify"); }
  };
  circuit::circuit_breaker<circuit::manual_clock, circuit::consecutive_failures, picky> b(
      {.threshold = 5}, {}, circuit::manual_clock());
  auto r = b.try_call([] { return 1; });
  CHECK(r.failed());
  CHECK(r.has_value());
  REQUIRE(r.error());
  CHECK_THROWS_AS(r.value(), std::logic_error);
  CHECK(r.value_or(0) == 0);
  CHECK(b.metrics().total.failures == 1);
}

TEST_CASE("a slow success is failed() in try_call", "[try_call]") {
  circuit::manual_clock clock;
  breaker b({.threshold = 5}, {.slow_call = 100ms}, clock);
  auto r = b.try_call([&] {
    clock.advance(150ms);
    return 1;
  });
  CHECK(r.failed());
  CHECK(r.value() == 1);
  CHECK(b.metrics().total.slow == 1);
}

TEST_CASE("try_call works for void callables and move-only results", "[try_call]") {
  breaker b({.threshold = 1}, {}, circuit::manual_clock());
  int calls = 0;
  auto v = b.try_call([&] { ++calls; });
  CHECK(v.has_value());
  CHECK_FALSE(v.failed());
  CHECK_NOTHROW(v.value());
  auto p = b.try_call([] { return std::make_unique<int>(5); });
  REQUIRE(p.has_value());
  auto owned = std::move(p).value();
  CHECK(*owned == 5);
  auto fallback = b.try_call([]() -> std::unique_ptr<int> { throw timeout_error(); });
  CHECK(*std::move(fallback).value_or(std::make_unique<int>(9)) == 9);
  b.trip();
  auto refused = b.try_call([&] { ++calls; });
  CHECK(refused.refused());
  CHECK(calls == 1);
  CHECK_THROWS_AS(refused.value(), circuit::open_circuit_error);
}

TEST_CASE("try_call admits a half_open probe and settles it", "[try_call]") {
  circuit::manual_clock clock;
  breaker b({.threshold = 1}, {.open_for = circuit::fixed{10s}}, clock);
  b.trip();
  clock.advance(10s);
  CHECK(b.try_call([] { return 1; }).value() == 1);
  CHECK(b.current_state() == state::closed);
}

TEST_CASE("a result whose move throws after the call settled is not settled twice", "[try_call]") {
  struct fragile {
    int value;
    int* moves;
    fragile(int v, int* m) : value(v), moves(m) {}
    fragile(fragile&& other) : value(other.value), moves(other.moves) {
      if (++*moves == 2) throw std::runtime_error("move failed");  // the move into the call_result
    }
  };
  breaker b({.threshold = 5}, {}, circuit::manual_clock());
  int moves = 0;
  CHECK_THROWS_AS(b.try_call([&] { return fragile(1, &moves); }), std::runtime_error);
  const auto m = b.metrics();
  CHECK(m.total.successes + m.total.failures == 1);
  CHECK(m.total.successes == 1);
}

TEST_CASE("call_result::refusal takes any duration, an optional one, or none", "[try_call]") {
  using result = circuit::call_result<int>;
  const auto in_ns = result::refusal("a", state::open, std::chrono::nanoseconds(7), nullptr);
  const auto in_ms = result::refusal("b", state::open, 5ms, nullptr);
  const auto in_s = result::refusal("c", state::half_open, std::chrono::seconds{1}, nullptr);
  const auto none = result::refusal("d", state::isolated, {}, nullptr);
  const auto optional = result::refusal("e", state::open, std::optional<std::chrono::nanoseconds>(3ns), nullptr);
  CHECK(in_ns.retry_after() == std::optional<std::chrono::nanoseconds>(7ns));
  CHECK(in_ms.retry_after() == std::optional<std::chrono::nanoseconds>(5ms));
  CHECK(in_s.retry_after() == std::optional<std::chrono::nanoseconds>(1s));
  CHECK_FALSE(none.retry_after().has_value());
  CHECK(optional.retry_after() == std::optional<std::chrono::nanoseconds>(3ns));
  CHECK(in_s.refused_in() == state::half_open);
  CHECK(none.refused());
}
