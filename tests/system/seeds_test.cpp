// The scenarios the seed libraries document (python-circuit, pybreaker,
// pycircuitbreaker), replayed in C++ with a manual clock. Where the README says we
// differ on purpose, the test says so.

#include "catch.hpp"

#include <chrono>
#include <cstdint>
#include <exception>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include <circuit/circuit_breaker.hpp>
#include <circuit/consecutive_failures.hpp>
#include <circuit/detect_results.hpp>
#include <circuit/event.hpp>
#include <circuit/exception_predicates.hpp>
#include <circuit/manual_clock.hpp>
#include <circuit/net_failures.hpp>
#include <circuit/open_circuit_error.hpp>
#include <circuit/sliding_window.hpp>
#include <circuit/state.hpp>

using namespace std::chrono_literals;
using circuit::state;

namespace {

// Python's exception types, as C++ exceptions.
struct value_error : std::invalid_argument {
  explicit value_error(const std::string& what) : std::invalid_argument(what) {}
};
struct key_error : std::runtime_error {
  explicit key_error(const std::string& what) : std::runtime_error(what) {}
};

}  // namespace

// ---- python-circuit --------------------------------------------------------

namespace {

// circuit_breaker.handle_error(ValueError), python-circuit's defaults: 3
// failures allowed within 60 s, open for 10 s (reset_timeout).
using python_circuit_breaker =
    circuit::circuit_breaker<circuit::manual_clock, circuit::sliding_window, circuit::failure_on<value_error>>;

python_circuit_breaker make_python_circuit_breaker(const circuit::manual_clock& clock) {
  return python_circuit_breaker(circuit::sliding_window{.max_failures = 3, .window = 60s},
                                {.name = "my-remote-peer", .open_for = circuit::fixed{10s}}, clock);
}

// The README's fn: a call that raises ValueError('oh no'). Returns true
// when the circuit was open, so the call was not even attempted.
bool readme_fn(python_circuit_breaker& b) {
  try {
    b.call([] { throw value_error("oh no"); });
  } catch (const circuit::open_circuit_error&) {
    return true;
  } catch (const value_error&) {
    return false;
  }
  FAIL("the call neither failed nor was refused");
  return false;
}

}  // namespace

TEST_CASE("python-circuit: calling fn often enough opens the circuit and raises CircuitOpenError", "[seeds]") {
  circuit::manual_clock clock;
  auto b = make_python_circuit_breaker(clock);

  int calls_until_open = 0;
  while (!readme_fn(b)) {
    ++calls_until_open;
    REQUIRE(calls_until_open <= 10);
  }
  // maxfail = 3 failures are allowed; the 4th within the time unit opens it.
  CHECK(calls_until_open == 4);
  CHECK(b.current_state() == state::open);

  // While open the peer is not even tried.
  int attempts = 0;
  CHECK_THROWS_AS(b.call([&] { ++attempts; }), circuit::open_circuit_error);
  CHECK(attempts == 0);
}

TEST_CASE("python-circuit: failures are sampled over time_unit seconds", "[seeds]") {
  circuit::manual_clock clock;
  auto b = make_python_circuit_breaker(clock);

  CHECK_FALSE(readme_fn(b));
  CHECK_FALSE(readme_fn(b));
  CHECK_FALSE(readme_fn(b));
  clock.advance(60s);  // those three have left the 60 s time unit
  CHECK_FALSE(readme_fn(b));
  CHECK(b.current_state() == state::closed);
  CHECK_FALSE(readme_fn(b));
  CHECK_FALSE(readme_fn(b));
  CHECK_FALSE(readme_fn(b));  // the 4th within 60 s
  CHECK(b.current_state() == state::open);
}

TEST_CASE("python-circuit: only the handled error types count", "[seeds]") {
  circuit::manual_clock clock;
  auto b = make_python_circuit_breaker(clock);

  for (int i = 0; i < 10; ++i) {
    CHECK_THROWS_AS(b.call([] { throw key_error("not handled"); }), key_error);
  }
  CHECK(b.current_state() == state::closed);
  CHECK(b.metrics().total.failures == 0);

  // Where python-circuit matches exact types, we match by inheritance.
  struct strict_value_error : value_error {
    strict_value_error() : value_error("derived") {}
  };
  for (int i = 0; i < 4; ++i) {
    CHECK_THROWS_AS(b.call([] { throw strict_value_error(); }), strict_value_error);
  }
  CHECK(b.current_state() == state::open);
}

TEST_CASE("python-circuit: after reset_timeout one request probes; success closes, failure re-opens", "[seeds]") {
  circuit::manual_clock clock;
  auto b = make_python_circuit_breaker(clock);
  while (!readme_fn(b)) {
  }
  REQUIRE(b.current_state() == state::open);

  clock.advance(9s);
  CHECK(readme_fn(b));  // still open

  clock.advance(1s);  // reset_timeout = 10 s after opening
  SECTION("the probe fails: the circuit opens again") {
    CHECK_FALSE(readme_fn(b));
    CHECK(b.current_state() == state::open);
    CHECK(readme_fn(b));
  }
  SECTION("the probe succeeds: the circuit closes") {
    CHECK(b.call([] { return std::string("pong"); }) == "pong");
    CHECK(b.current_state() == state::closed);
    // Closing forgot the error history (python-circuit keeps it): one error
    // does not trip it again.
    CHECK_FALSE(readme_fn(b));
    CHECK(b.current_state() == state::closed);
  }
}

TEST_CASE("python-circuit: the context manager form, with the error classified", "[seeds]") {
  circuit::manual_clock clock;
  auto b = make_python_circuit_breaker(clock);

  // with circuit_breaker.context('my-remote-peer'): raise ValueError('oh no')
  const auto context_fn = [&] {
    auto g = b.guard();
    try {
      throw value_error("oh no");
    } catch (...) {
      g.failure(std::current_exception());
      throw;
    }
  };
  for (int i = 0; i < 4; ++i) CHECK_THROWS_AS(context_fn(), value_error);
  CHECK_THROWS_AS(context_fn(), circuit::open_circuit_error);
  try {
    context_fn();
  } catch (const circuit::open_circuit_error& e) {
    CHECK(e.name() == "my-remote-peer");
    CHECK(std::string(e.what()).find("my-remote-peer") != std::string::npos);
  }
}

// ---- pybreaker -------------------------------------------------------------

namespace {

struct customer_validation_error : std::runtime_error {
  customer_validation_error() : std::runtime_error("invalid customer") {}
};
struct missing_field_error : customer_validation_error {};
struct db_error : std::runtime_error {
  db_error() : std::runtime_error("db down") {}
};

// db_breaker = pybreaker.CircuitBreaker(fail_max=5, reset_timeout=60,
//                                       exclude=[CustomerValidationError])
using pybreaker =
    circuit::circuit_breaker<circuit::manual_clock, circuit::consecutive_failures,
                             circuit::failure_except<customer_validation_error>>;

pybreaker make_db_breaker(const circuit::manual_clock& clock) {
  return pybreaker(circuit::consecutive_failures{.threshold = 5}, {.name = "db", .open_for = circuit::fixed{60s}},
                   clock);
}

int update_customer(int customer) { return customer + 1; }

void failing_update() { throw db_error(); }

}  // namespace

TEST_CASE("pybreaker: 5 consecutive failures open the circuit", "[seeds]") {
  circuit::manual_clock clock;
  auto db_breaker = make_db_breaker(clock);

  CHECK(db_breaker.call(update_customer, 41) == 42);
  for (int i = 0; i < 4; ++i) CHECK_THROWS_AS(db_breaker.call(failing_update), db_error);
  CHECK(db_breaker.metrics().window.failures == 4);  // fail_counter
  CHECK(db_breaker.call(update_customer, 1) == 2);    // a success ends the run
  CHECK(db_breaker.metrics().window.failures == 0);
  for (int i = 0; i < 4; ++i) CHECK_THROWS_AS(db_breaker.call(failing_update), db_error);
  CHECK(db_breaker.current_state() == state::closed);

  // The 5th in a row raises its own error (pybreaker would raise
  // CircuitBreakerError here) and opens the circuit.
  CHECK_THROWS_AS(db_breaker.call(failing_update), db_error);
  CHECK(db_breaker.current_state() == state::open);
  CHECK_THROWS_AS(db_breaker.call(update_customer, 1), circuit::open_circuit_error);
}

TEST_CASE("pybreaker: after 60 seconds the next call passes; success closes, failure re-opens", "[seeds]") {
  circuit::manual_clock clock;
  auto db_breaker = make_db_breaker(clock);
  for (int i = 0; i < 5; ++i) CHECK_THROWS_AS(db_breaker.call(failing_update), db_error);
  REQUIRE(db_breaker.current_state() == state::open);

  clock.advance(59s);
  CHECK_THROWS_AS(db_breaker.call(update_customer, 1), circuit::open_circuit_error);
  clock.advance(1s);

  SECTION("success") {
    CHECK(db_breaker.call(update_customer, 1) == 2);
    CHECK(db_breaker.current_state() == state::closed);
  }
  SECTION("failure: open until another timeout elapses") {
    CHECK_THROWS_AS(db_breaker.call(failing_update), db_error);
    CHECK(db_breaker.current_state() == state::open);
    clock.advance(59s);
    CHECK_THROWS_AS(db_breaker.call(update_customer, 1), circuit::open_circuit_error);
    clock.advance(1s);
    CHECK(db_breaker.call(update_customer, 1) == 2);
    CHECK(db_breaker.current_state() == state::closed);
  }
}

TEST_CASE("pybreaker: excluded exceptions and those derived from them are not system failures", "[seeds]") {
  circuit::manual_clock clock;
  auto db_breaker = make_db_breaker(clock);

  for (int i = 0; i < 10; ++i) {
    CHECK_THROWS_AS(db_breaker.call([] { throw customer_validation_error(); }), customer_validation_error);
    CHECK_THROWS_AS(db_breaker.call([] { throw missing_field_error(); }), missing_field_error);
  }
  CHECK(db_breaker.current_state() == state::closed);
  CHECK(db_breaker.metrics().total.failures == 0);
  CHECK(db_breaker.metrics().total.successes == 20);

  // As in pybreaker, an excluded exception counts as a success: it ends a run.
  for (int i = 0; i < 4; ++i) CHECK_THROWS_AS(db_breaker.call(failing_update), db_error);
  CHECK_THROWS_AS(db_breaker.call([] { throw customer_validation_error(); }), customer_validation_error);
  CHECK_THROWS_AS(db_breaker.call(failing_update), db_error);
  CHECK(db_breaker.current_state() == state::closed);
}

TEST_CASE("pybreaker: listeners see failures, successes and state changes", "[seeds]") {
  circuit::manual_clock clock;
  auto db_breaker = make_db_breaker(clock);

  struct db_listener {
    std::vector<std::pair<state, state>> state_changes;
    std::vector<std::string> failures;
    int successes = 0;
  } listener;
  auto sub = db_breaker.on_event([&](const circuit::event& e) {
    switch (e.kind) {
      case circuit::event_kind::state_change: listener.state_changes.emplace_back(e.from, e.to); break;
      case circuit::event_kind::failure:
        try {
          std::rethrow_exception(e.error);
        } catch (const std::exception& x) {
          listener.failures.emplace_back(x.what());
        }
        break;
      case circuit::event_kind::success: ++listener.successes; break;
      case circuit::event_kind::rejected:
      case circuit::event_kind::ignored: break;
    }
  });

  db_breaker.call(update_customer, 1);
  for (int i = 0; i < 5; ++i) CHECK_THROWS(db_breaker.call(failing_update));
  clock.advance(60s);
  db_breaker.call(update_customer, 1);

  CHECK(listener.successes == 2);
  CHECK(listener.failures == std::vector<std::string>(5, "db down"));
  CHECK(listener.state_changes == std::vector<std::pair<state, state>>{
                                      {state::closed, state::open},
                                      {state::open, state::half_open},
                                      {state::half_open, state::closed},
                                  });
}

TEST_CASE("pybreaker: the circuit can be opened and closed by hand", "[seeds]") {
  circuit::manual_clock clock;
  auto db_breaker = make_db_breaker(clock);

  db_breaker.trip();  // db_breaker.open()
  CHECK(db_breaker.current_state() == state::open);
  CHECK_THROWS_AS(db_breaker.call(update_customer, 1), circuit::open_circuit_error);

  db_breaker.reset();  // db_breaker.close()
  CHECK(db_breaker.current_state() == state::closed);
  CHECK(db_breaker.call(update_customer, 1) == 2);

  // fail_counter starts from zero after close()
  for (int i = 0; i < 4; ++i) CHECK_THROWS(db_breaker.call(failing_update));
  db_breaker.reset();
  for (int i = 0; i < 4; ++i) CHECK_THROWS(db_breaker.call(failing_update));
  CHECK(db_breaker.current_state() == state::closed);
}

// ---- pycircuitbreaker ------------------------------------------------------

namespace {

struct disconnection_error : std::runtime_error {
  disconnection_error() : std::runtime_error("disconnected") {}
};
struct timeout_error : std::runtime_error {
  timeout_error() : std::runtime_error("timed out") {}
};
struct read_timeout : timeout_error {};
struct http_error : std::runtime_error {
  http_error() : std::runtime_error("HTTP 404") {}
};

struct response {
  int status_code = 200;
};
// def detect_500(response) -> bool: return response.status_code == 500
struct detect_500 {
  bool operator()(const response& r) const { return r.status_code == 500; }
};

// error_threshold=5, recovery_timeout=30, recovery_threshold=1
circuit::options pycircuitbreaker_options(std::uint32_t recovery_threshold = 1) {
  return {.name = "db", .open_for = circuit::fixed{30s}, .success_threshold = recovery_threshold};
}

}  // namespace

TEST_CASE("pycircuitbreaker: SINGLE_RESET never opens when 4 in 5 calls fail; NET_ERROR does", "[seeds]") {
  circuit::manual_clock clock;
  const auto four_in_five = [](auto& b) {
    for (int round = 0; round < 5; ++round) {
      for (int i = 0; i < 4; ++i) {
        try {
          b.call([] { throw timeout_error(); });
        } catch (const std::exception&) {
        }
      }
      try {
        b.call([] {});
      } catch (const circuit::open_circuit_error&) {
      }
    }
  };

  circuit::circuit_breaker<circuit::manual_clock, circuit::consecutive_failures> single_reset(
      circuit::consecutive_failures{.threshold = 5}, pycircuitbreaker_options(), clock);
  four_in_five(single_reset);
  CHECK(single_reset.current_state() == state::closed);

  circuit::circuit_breaker<circuit::manual_clock, circuit::net_failures> net_error(
      circuit::net_failures{.threshold = 5}, pycircuitbreaker_options(), clock);
  four_in_five(net_error);
  CHECK(net_error.current_state() == state::open);
  // 4 - 1 = 3 after the first five calls; the 7th call, a failure, makes 5.
  CHECK(net_error.metrics().total == circuit::call_counts{.successes = 1, .failures = 6, .rejections = 18});
}

TEST_CASE("pycircuitbreaker: detect_error counts a 500 response as an error", "[seeds]") {
  circuit::manual_clock clock;
  circuit::circuit_breaker<circuit::manual_clock, circuit::consecutive_failures,
                           circuit::result_detector<detect_500>>
      b(circuit::consecutive_failures{.threshold = 5}, pycircuitbreaker_options(), clock,
        circuit::detect_results(detect_500{}));

  CHECK(b.call([] { return response{200}; }).status_code == 200);
  CHECK(b.metrics().total.successes == 1);
  for (int i = 0; i < 4; ++i) {
    // The response is still handed back to the caller.
    CHECK(b.call([] { return response{500}; }).status_code == 500);
  }
  CHECK(b.current_state() == state::closed);
  CHECK(b.call([] { return response{500}; }).status_code == 500);
  CHECK(b.current_state() == state::open);
  CHECK(b.metrics().total.failures == 5);

  // Exceptions still count, as with no detect_error.
  b.reset();
  for (int i = 0; i < 5; ++i) CHECK_THROWS_AS(b.call([]() -> response { throw db_error(); }), db_error);
  CHECK(b.current_state() == state::open);
}

TEST_CASE("pycircuitbreaker: recovery_threshold successes are needed to close", "[seeds]") {
  circuit::manual_clock clock;
  circuit::circuit_breaker<circuit::manual_clock, circuit::consecutive_failures> b(
      circuit::consecutive_failures{.threshold = 5}, pycircuitbreaker_options(3), clock);
  for (int i = 0; i < 5; ++i) CHECK_THROWS_AS(b.call([] { throw timeout_error(); }), timeout_error);
  REQUIRE(b.current_state() == state::open);

  clock.advance(30s);  // recovery_timeout
  b.call([] {});
  CHECK(b.current_state() == state::half_open);
  b.call([] {});
  CHECK(b.current_state() == state::half_open);
  b.call([] {});
  CHECK(b.current_state() == state::closed);
}

TEST_CASE("pycircuitbreaker: exception_blacklist counts only the listed errors and those derived from them",
          "[seeds]") {
  circuit::manual_clock clock;
  circuit::circuit_breaker<circuit::manual_clock, circuit::consecutive_failures,
                           circuit::failure_on<disconnection_error, timeout_error>>
      b(circuit::consecutive_failures{.threshold = 5}, pycircuitbreaker_options(), clock);

  for (int i = 0; i < 10; ++i) CHECK_THROWS_AS(b.call([] { throw http_error(); }), http_error);
  CHECK(b.current_state() == state::closed);
  CHECK(b.metrics().total.failures == 0);

  CHECK_THROWS_AS(b.call([] { throw disconnection_error(); }), disconnection_error);
  CHECK_THROWS_AS(b.call([] { throw timeout_error(); }), timeout_error);
  CHECK_THROWS_AS(b.call([] { throw read_timeout(); }), read_timeout);
  CHECK_THROWS_AS(b.call([] { throw read_timeout(); }), read_timeout);
  CHECK(b.current_state() == state::closed);
  CHECK_THROWS_AS(b.call([] { throw disconnection_error(); }), disconnection_error);
  CHECK(b.current_state() == state::open);
  CHECK(b.metrics().total.failures == 5);
}

TEST_CASE("pycircuitbreaker: exception_whitelist lets the listed errors and those derived from them through",
          "[seeds]") {
  struct not_found : http_error {};
  circuit::manual_clock clock;
  circuit::circuit_breaker<circuit::manual_clock, circuit::consecutive_failures, circuit::failure_except<http_error>>
      b(circuit::consecutive_failures{.threshold = 5}, pycircuitbreaker_options(), clock);

  for (int i = 0; i < 10; ++i) {
    CHECK_THROWS_AS(b.call([] { throw http_error(); }), http_error);
    CHECK_THROWS_AS(b.call([] { throw not_found(); }), not_found);
  }
  CHECK(b.current_state() == state::closed);
  CHECK(b.metrics().total.failures == 0);

  for (int i = 0; i < 5; ++i) CHECK_THROWS_AS(b.call([] { throw timeout_error(); }), timeout_error);
  CHECK(b.current_state() == state::open);
}

TEST_CASE("pycircuitbreaker: on_open learns the error that opened the circuit", "[seeds]") {
  circuit::manual_clock clock;
  circuit::circuit_breaker<circuit::manual_clock, circuit::consecutive_failures> b(
      circuit::consecutive_failures{.threshold = 2}, pycircuitbreaker_options(), clock);
  std::exception_ptr last_error;
  std::string opened_by;
  int closes = 0;
  auto sub = b.on_event([&](const circuit::event& e) {
    if (e.kind == circuit::event_kind::failure) last_error = e.error;
    if (e.kind == circuit::event_kind::state_change && e.to == state::open) {
      try {
        std::rethrow_exception(last_error);
      } catch (const std::exception& x) {
        opened_by = x.what();
      }
    }
    if (e.kind == circuit::event_kind::state_change && e.to == state::closed) ++closes;  // on_close
  });

  CHECK_THROWS(b.call([] { throw disconnection_error(); }));
  CHECK_THROWS(b.call([] { throw timeout_error(); }));
  CHECK(opened_by == "timed out");
  clock.advance(30s);
  b.call([] {});
  CHECK(closes == 1);
}
