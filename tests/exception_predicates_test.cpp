// Tests of circuit/exception_predicates.hpp: which exceptions count as
// failures, which count as successes and which are ignored.

#include <chrono>
#include <exception>
#include <stdexcept>
#include <string>
#include <vector>

#include <circuit/circuit_breaker.hpp>
#include <circuit/consecutive_failures.hpp>
#include <circuit/event.hpp>
#include <circuit/exception_predicates.hpp>
#include <circuit/manual_clock.hpp>

#include "catch.hpp"

using namespace std::chrono_literals;

namespace {

// A system failure and a business outcome, as in pybreaker's documentation.
struct db_error : std::runtime_error {
  explicit db_error(const std::string& what) : std::runtime_error(what) {}
};
struct db_timeout : db_error {
  db_timeout() : db_error("timeout") {}
};
struct customer_validation_error : std::invalid_argument {
  explicit customer_validation_error(int id) : std::invalid_argument("invalid customer"), customer(id) {}
  int customer;
};
struct bad_customer_name : customer_validation_error {
  bad_customer_name() : customer_validation_error(7) {}
};
struct rate_limited : std::runtime_error {
  rate_limited() : std::runtime_error("429") {}
};

template <class E, class... Args>
std::exception_ptr ptr(Args&&... args) {
  return std::make_exception_ptr(E(std::forward<Args>(args)...));
}

template <class Predicate>
using breaker = circuit::circuit_breaker<circuit::manual_clock, circuit::consecutive_failures, Predicate>;

}  // namespace

TEST_CASE("any_exception counts every exception and nothing else as a failure", "[exception_predicates]") {
  const circuit::any_exception p;
  CHECK(p(ptr<std::runtime_error>("x")));
  CHECK(p(ptr<customer_validation_error>(1)));
  CHECK(p(std::make_exception_ptr(42)));
  CHECK_FALSE(p(std::exception_ptr{}));
  STATIC_REQUIRE(circuit::error_predicate<circuit::any_exception>);
}

TEST_CASE("failure_on matches the listed exceptions and those derived from them", "[exception_predicates]") {
  const circuit::failure_on<db_error, std::out_of_range> p;
  CHECK(p(ptr<db_error>("x")));
  CHECK(p(ptr<db_timeout>()));
  CHECK(p(ptr<std::out_of_range>("x")));
  CHECK_FALSE(p(ptr<std::runtime_error>("base of db_error")));
  CHECK_FALSE(p(ptr<std::invalid_argument>("x")));
  CHECK_FALSE(p(std::make_exception_ptr(42)));
  CHECK_FALSE(p(std::exception_ptr{}));
}

TEST_CASE("through call, an exception failure_on does not list is rethrown unchanged and counts as a success",
          "[exception_predicates]") {
  circuit::manual_clock clock;
  breaker<circuit::failure_on<db_error>> b(circuit::consecutive_failures{.threshold = 1}, {}, clock);

  try {
    b.call([] { throw customer_validation_error(123); });
    FAIL("call() swallowed the exception");
  } catch (const customer_validation_error& e) {
    CHECK(e.customer == 123);
    CHECK(std::string(e.what()) == "invalid customer");
  }
  CHECK(b.current_state() == circuit::state::closed);
  CHECK(b.metrics().total.successes == 1);
  CHECK(b.metrics().total.failures == 0);

  CHECK_THROWS_AS(b.call([] { throw db_timeout(); }), db_timeout);
  CHECK(b.metrics().total.failures == 1);
  CHECK(b.current_state() == circuit::state::open);
}

TEST_CASE("call rethrows the very exception object it caught", "[exception_predicates]") {
  circuit::manual_clock clock;
  breaker<circuit::failure_on<db_error>> b(circuit::consecutive_failures{.threshold = 5}, {}, clock);
  const auto original = ptr<customer_validation_error>(5);
  const void* address = nullptr;
  try {
    std::rethrow_exception(original);
  } catch (const customer_validation_error& e) {
    address = &e;
  }
  const void* rethrown = nullptr;
  try {
    b.call([&] { std::rethrow_exception(original); });
  } catch (const customer_validation_error& e) {
    rethrown = &e;
  }
  CHECK(rethrown == address);
  CHECK(b.metrics().total.successes == 1);
}

TEST_CASE("a permit classifies an exception_ptr with the breaker's predicate", "[exception_predicates]") {
  circuit::manual_clock clock;
  breaker<circuit::failure_on<db_error>> b(circuit::consecutive_failures{.threshold = 2}, {}, clock);
  b.try_guard().failure(ptr<std::logic_error>("not ours"));
  CHECK(b.metrics().total.successes == 1);
  b.try_guard().failure(ptr<db_timeout>());
  b.try_guard().failure(ptr<db_error>("down"));
  CHECK(b.metrics().total.failures == 2);
  CHECK(b.current_state() == circuit::state::open);
}

TEST_CASE("failure_except leaves out pybreaker's excluded business exceptions", "[exception_predicates]") {
  const circuit::failure_except<customer_validation_error> p;
  CHECK_FALSE(p(ptr<customer_validation_error>(1)));
  CHECK_FALSE(p(ptr<bad_customer_name>()));
  CHECK(p(ptr<std::invalid_argument>("base of the excluded one")));
  CHECK(p(ptr<db_error>("x")));
  CHECK(p(std::make_exception_ptr(42)));
  CHECK_FALSE(p(std::exception_ptr{}));

  circuit::manual_clock clock;
  breaker<circuit::failure_except<customer_validation_error>> b(circuit::consecutive_failures{.threshold = 2},
                                                                {.name = "db"}, clock);
  CHECK_THROWS_AS(b.call([] { throw db_error("down"); }), db_error);
  // A business error in between is a success: it even ends the failure run.
  CHECK_THROWS_AS(b.call([] { throw bad_customer_name(); }), bad_customer_name);
  CHECK(b.metrics().window.failures == 0);
  CHECK_THROWS_AS(b.call([] { throw customer_validation_error(3); }), customer_validation_error);
  CHECK(b.current_state() == circuit::state::closed);
  CHECK(b.metrics().total.successes == 2);
  CHECK(b.metrics().total.failures == 1);
  CHECK_THROWS_AS(b.call([] { throw db_error("down"); }), db_error);
  CHECK_THROWS_AS(b.call([] { throw db_error("down"); }), db_error);
  CHECK(b.current_state() == circuit::state::open);
}

TEST_CASE("ignore_exceptions says ignored for the listed exceptions and failure for the rest",
          "[exception_predicates]") {
  const circuit::ignore_exceptions<rate_limited, customer_validation_error> p;
  CHECK(p(ptr<rate_limited>()) == circuit::outcome::ignored);
  CHECK(p(ptr<bad_customer_name>()) == circuit::outcome::ignored);
  CHECK(p(ptr<db_error>("x")) == circuit::outcome::failure);
  CHECK(p(ptr<std::runtime_error>("base of rate_limited")) == circuit::outcome::failure);
  CHECK(p(std::exception_ptr{}) == circuit::outcome::success);
  STATIC_REQUIRE(circuit::error_predicate<circuit::ignore_exceptions<rate_limited>>);
}

TEST_CASE("an ignored exception counts neither way", "[exception_predicates]") {
  circuit::manual_clock clock;
  breaker<circuit::ignore_exceptions<rate_limited>> b(circuit::consecutive_failures{.threshold = 3}, {}, clock);
  std::vector<circuit::event_kind> events;
  const auto sub = b.on_event([&](const circuit::event& e) { events.push_back(e.kind); });

  CHECK_THROWS_AS(b.call([] { throw db_error("down"); }), db_error);
  CHECK_THROWS_AS(b.call([] { throw db_error("down"); }), db_error);
  CHECK_THROWS_AS(b.call([] { throw rate_limited(); }), rate_limited);
  // Not a success: the run of failures goes on.
  CHECK(b.metrics().window.failures == 2);
  CHECK(b.metrics().total.ignored == 1);
  CHECK(b.metrics().total.successes == 0);
  CHECK(b.metrics().total.failures == 2);
  CHECK(events ==
        std::vector{circuit::event_kind::failure, circuit::event_kind::failure, circuit::event_kind::ignored});
  // Not a failure either: the breaker is still closed.
  CHECK(b.current_state() == circuit::state::closed);
  CHECK_THROWS_AS(b.call([] { throw db_error("down"); }), db_error);
  CHECK(b.current_state() == circuit::state::open);
}

TEST_CASE("an ignored exception in half_open gives the probe slot back", "[exception_predicates]") {
  circuit::manual_clock clock;
  breaker<circuit::ignore_exceptions<rate_limited>> b(
      circuit::consecutive_failures{.threshold = 1},
      {.open_for = circuit::fixed{5s}, .half_open_max_calls = 1, .success_threshold = 1}, clock);
  CHECK_THROWS_AS(b.call([] { throw db_error("down"); }), db_error);
  clock.advance(5s);
  REQUIRE(b.current_state() == circuit::state::half_open);

  {
    auto probe = b.try_guard();
    REQUIRE(probe);
    CHECK_FALSE(b.try_guard());  // the one slot is taken
    probe.failure(ptr<rate_limited>());
  }
  CHECK(b.current_state() == circuit::state::half_open);

  CHECK_THROWS_AS(b.call([] { throw rate_limited(); }), rate_limited);
  CHECK(b.current_state() == circuit::state::half_open);
  CHECK(b.metrics().total.ignored == 2);

  // The slot is free again: a probe is admitted and its success closes.
  CHECK(b.call([] { return 1; }) == 1);
  CHECK(b.current_state() == circuit::state::closed);
}
