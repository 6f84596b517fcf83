// Tests of circuit/open_circuit_error.hpp: the exception thrown instead of a
// refused call, made by hand and as the breaker throws it from each state
// that refuses (open, half_open with its probe slots taken, isolated).

#include "catch.hpp"

#include <chrono>
#include <exception>
#include <optional>
#include <stdexcept>
#include <string>
#include <type_traits>

#include <circuit/circuit_breaker.hpp>
#include <circuit/manual_clock.hpp>
#include <circuit/open_circuit_error.hpp>
#include <circuit/sliding_window.hpp>
#include <circuit/state.hpp>

using namespace std::chrono_literals;
using circuit::state;

namespace {

using breaker = circuit::circuit_breaker<circuit::manual_clock, circuit::sliding_window>;

std::string message_of(const std::exception_ptr& e) {
  try {
    std::rethrow_exception(e);
  } catch (const std::exception& x) {
    return x.what();
  }
}

// The error `b.call()` throws; fails the test when it throws none.
circuit::open_circuit_error refusal_of(breaker& b) {
  try {
    b.call([] {});
  } catch (const circuit::open_circuit_error& e) {
    return e;
  }
  FAIL("call() was admitted");
  throw std::logic_error("unreachable");
}

}  // namespace

TEST_CASE("open_circuit_error is a std::runtime_error", "[open_circuit_error]") {
  STATIC_REQUIRE(std::is_base_of_v<std::runtime_error, circuit::open_circuit_error>);
}

TEST_CASE("open_circuit_error keeps what it was made with, and what() names the breaker and state",
          "[open_circuit_error]") {
  const auto cause = std::make_exception_ptr(std::runtime_error("connection refused"));
  const circuit::open_circuit_error e("payments", state::open, 1500ms, cause);
  CHECK(e.name() == "payments");
  CHECK(e.state() == state::open);
  CHECK(e.retry_after() == std::optional<std::chrono::nanoseconds>(1500ms));
  CHECK(e.last_failure() == cause);
  CHECK(std::string(e.what()) == "circuit 'payments' is open: call not attempted");
}

TEST_CASE("open_circuit_error without a retry time or a last failure", "[open_circuit_error]") {
  const circuit::open_circuit_error e("db", state::isolated, std::nullopt);
  CHECK(e.name() == "db");
  CHECK(e.state() == state::isolated);
  CHECK_FALSE(e.retry_after().has_value());
  CHECK(e.last_failure() == nullptr);
  CHECK(std::string(e.what()) == "circuit 'db' is isolated: call not attempted");
}

TEST_CASE("a copy of open_circuit_error has the same members and message", "[open_circuit_error]") {
  const auto cause = std::make_exception_ptr(std::runtime_error("boom"));
  const circuit::open_circuit_error e("x", state::half_open, 0ns, cause);
  const circuit::open_circuit_error copy = e;  // NOLINT(performance-unnecessary-copy-initialization)
  CHECK(copy.name() == "x");
  CHECK(copy.state() == state::half_open);
  CHECK(copy.retry_after() == std::optional<std::chrono::nanoseconds>(0ns));
  CHECK(copy.last_failure() == cause);
  CHECK(std::string(copy.what()) == e.what());
}

TEST_CASE("an open breaker throws open_circuit_error with its name, the time left and the tripping failure",
          "[open_circuit_error]") {
  circuit::manual_clock clock;
  breaker b(circuit::sliding_window{.max_failures = 1, .window = 60s},
            {.name = "inventory", .open_for = circuit::fixed{10s}}, clock);
  // Two failures in the window: the second is the one that trips.
  CHECK_THROWS_AS(b.call([] { throw std::runtime_error("first"); }), std::runtime_error);
  CHECK_THROWS_AS(b.call([] { throw std::runtime_error("second"); }), std::runtime_error);
  REQUIRE(b.current_state() == state::open);

  clock.advance(3s);
  const auto e = refusal_of(b);
  CHECK(e.name() == "inventory");
  CHECK(e.state() == state::open);
  CHECK(e.retry_after() == std::optional<std::chrono::nanoseconds>(7s));
  REQUIRE(e.last_failure() != nullptr);
  CHECK(message_of(e.last_failure()) == "second");
  CHECK(std::string(e.what()) == "circuit 'inventory' is open: call not attempted");
}

TEST_CASE("trip() and isolate() leave open_circuit_error without a last failure", "[open_circuit_error]") {
  circuit::manual_clock clock;
  breaker b({}, {.name = "n", .open_for = circuit::fixed{5s}}, clock);
  b.trip();
  auto e = refusal_of(b);
  CHECK(e.state() == state::open);
  CHECK(e.retry_after() == std::optional<std::chrono::nanoseconds>(5s));
  CHECK(e.last_failure() == nullptr);

  b.isolate();
  e = refusal_of(b);
  CHECK(e.state() == state::isolated);
  CHECK_FALSE(e.retry_after().has_value());  // only reset() ends isolation
  CHECK(e.last_failure() == nullptr);
  CHECK(std::string(e.what()) == "circuit 'n' is isolated: call not attempted");
}

TEST_CASE("a half_open breaker with its probe slot taken throws open_circuit_error with no wait",
          "[open_circuit_error]") {
  circuit::manual_clock clock;
  breaker b({}, {.name = "probe", .open_for = circuit::fixed{1s}, .half_open_max_calls = 1}, clock);
  b.trip();
  clock.advance(1s);
  auto probe = b.guard();  // takes the one probe slot
  REQUIRE(b.current_state() == state::half_open);
  const auto e = refusal_of(b);
  CHECK(e.name() == "probe");
  CHECK(e.state() == state::half_open);
  CHECK(e.retry_after() == std::optional<std::chrono::nanoseconds>(0ns));
  probe.success();
}
