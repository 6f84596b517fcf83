// Permits: the generation they carry, the probe slot they hold, and how
// they are settled exactly once.

#include "catch.hpp"

#include <chrono>
#include <cstdint>
#include <exception>
#include <stdexcept>
#include <thread>
#include <utility>
#include <vector>

#include <circuit/circuit_breaker.hpp>
#include <circuit/consecutive_failures.hpp>
#include <circuit/event.hpp>
#include <circuit/exception_predicates.hpp>
#include <circuit/manual_clock.hpp>
#include <circuit/permit.hpp>
#include <circuit/state.hpp>

using namespace std::chrono_literals;

namespace {

struct business_error : std::runtime_error {
  business_error() : std::runtime_error("business") {}
};

using breaker = circuit::circuit_breaker<circuit::manual_clock, circuit::consecutive_failures>;
// Exceptions derived from business_error count as successes.
using lenient_breaker = circuit::circuit_breaker<circuit::manual_clock, circuit::consecutive_failures,
                                                 circuit::failure_except<business_error>>;

// A breaker in half_open with `slots` probe slots that successes never close
// (so that a settled probe only gives its slot back).
template <class B = breaker>
struct half_open_fixture {
  explicit half_open_fixture(std::uint32_t slots)
      : b(circuit::consecutive_failures{.threshold = 1},
          {.open_for = circuit::fixed{10s}, .half_open_max_calls = slots, .success_threshold = 1000}, clock) {
    b.trip();
    clock.advance(10s);
    REQUIRE(b.current_state() == circuit::state::half_open);
  }
  circuit::manual_clock clock;
  B b;
};

}  // namespace

TEST_CASE("a call admitted while closed that settles after the breaker went half_open is not a probe",
          "[permit]") {
  circuit::manual_clock clock;
  breaker b(circuit::consecutive_failures{.threshold = 1}, {.open_for = circuit::fixed{10s}}, clock);
  std::vector<circuit::event> events;
  auto sub = b.on_event([&](const circuit::event& e) { events.push_back(e); });

  auto slow = b.try_guard();  // admitted while closed, still running
  REQUIRE(slow);
  {
    auto other = b.try_guard();
    other.failure();  // trips
  }
  REQUIRE(b.current_state() == circuit::state::open);
  clock.advance(10s);
  REQUIRE(b.current_state() == circuit::state::half_open);
  const auto before = b.metrics();
  events.clear();

  SECTION("its success does not close the circuit") {
    slow.success();
    CHECK(b.current_state() == circuit::state::half_open);
    const auto after = b.metrics();
    CHECK(after.generation == before.generation);
    CHECK(after.stale_outcomes == before.stale_outcomes + 1);
    CHECK(after.total.successes == before.total.successes + 1);
    REQUIRE(events.size() == 1);
    CHECK(events[0].kind == circuit::event_kind::success);
    CHECK(events[0].from == circuit::state::closed);  // the state it was admitted in (event.hpp)
    CHECK(events[0].to == circuit::state::closed);
  }
  SECTION("its failure does not re-open the circuit") {
    slow.failure();
    CHECK(b.current_state() == circuit::state::half_open);
    const auto after = b.metrics();
    CHECK(after.generation == before.generation);
    CHECK(after.stale_outcomes == before.stale_outcomes + 1);
    CHECK(after.total.failures == before.total.failures + 1);
    REQUIRE(events.size() == 1);
    CHECK(events[0].kind == circuit::event_kind::failure);
  }
  // Either way, it held no probe slot: the one slot is still free, and the
  // real probe decides.
  auto probe = b.try_guard();
  REQUIRE(probe);
  probe.success();
  CHECK(b.current_state() == circuit::state::closed);
}

TEST_CASE("a probe settling after the breaker re-opened and went half_open again holds no slot of the new spell",
          "[permit]") {
  half_open_fixture f(2);
  auto old_probe = f.b.try_guard();
  auto failing = f.b.try_guard();
  REQUIRE(old_probe);
  REQUIRE(failing);
  failing.failure();
  REQUIRE(f.b.current_state() == circuit::state::open);
  f.clock.advance(10s);

  auto a = f.b.try_guard();
  auto c = f.b.try_guard();
  REQUIRE(a);
  REQUIRE(c);
  CHECK_FALSE(f.b.try_guard());

  old_probe.success();  // stale: frees nothing in this spell
  CHECK_FALSE(f.b.try_guard());
  CHECK(f.b.metrics().stale_outcomes == 1);
  a.success();
  c.success();
}

TEST_CASE("a half_open probe gives its slot back exactly once", "[permit]") {
  half_open_fixture f(1);
  auto p = f.b.try_guard();
  REQUIRE(p);
  REQUIRE_FALSE(f.b.try_guard());

  SECTION("on success()") {
    p.success();
    CHECK(f.b.metrics().total.successes == 1);
  }
  SECTION("on ignore()") {
    p.ignore();
    CHECK(f.b.metrics().total.ignored == 1);
  }
  SECTION("when destroyed unsettled") {
    auto gone = std::move(p);
    { auto dropped = std::move(gone); }
    CHECK(f.b.metrics().total.successes == 1);
  }
  CHECK(f.b.current_state() == circuit::state::half_open);
  CHECK_FALSE(p);

  // The one slot is free again, and only that one.
  auto next = f.b.try_guard();
  CHECK(next);
  CHECK_FALSE(f.b.try_guard());

  // Settling the old permit again frees nothing more.
  p.success();
  p.ignore();
  CHECK_FALSE(f.b.try_guard());
  next.ignore();
}

TEST_CASE("a half_open probe's failure re-opens and the next spell has every slot", "[permit]") {
  half_open_fixture f(2);
  auto p = f.b.try_guard();
  auto q = f.b.try_guard();
  REQUIRE(p);
  REQUIRE(q);
  p.failure();
  CHECK(f.b.current_state() == circuit::state::open);
  p.failure();  // a no-op, not a second failure
  CHECK(f.b.metrics().total.failures == 1);

  f.clock.advance(10s);
  auto a = f.b.try_guard();
  auto c = f.b.try_guard();
  CHECK(a);
  CHECK(c);
  CHECK_FALSE(f.b.try_guard());
  q.success();  // stale
  CHECK_FALSE(f.b.try_guard());
  a.ignore();
  c.ignore();
}

TEST_CASE("a probe settled with the exception it caught gives its slot back", "[permit]") {
  SECTION("an exception the predicate does not count is a success") {
    half_open_fixture<lenient_breaker> f(1);
    auto p = f.b.try_guard();
    REQUIRE(p);
    try {
      throw business_error();
    } catch (...) {
      p.failure(std::current_exception());
    }
    CHECK_FALSE(p);
    CHECK(f.b.current_state() == circuit::state::half_open);
    CHECK(f.b.metrics().total.successes == 1);
    auto next = f.b.try_guard();
    CHECK(next);
    CHECK_FALSE(f.b.try_guard());
    next.ignore();
  }
  SECTION("an exception the predicate counts is a failure and re-opens") {
    half_open_fixture<lenient_breaker> f(1);
    auto p = f.b.try_guard();
    REQUIRE(p);
    try {
      throw std::runtime_error("down");
    } catch (...) {
      p.failure(std::current_exception());
    }
    CHECK(f.b.current_state() == circuit::state::open);
    CHECK(f.b.metrics().total.failures == 1);
  }
}

TEST_CASE("moving a permit does not release its slot", "[permit]") {
  half_open_fixture f(1);
  auto p = f.b.try_guard();
  REQUIRE(p);

  auto q = std::move(p);
  CHECK_FALSE(p);
  CHECK(q);
  CHECK_FALSE(f.b.try_guard());

  p.success();  // moved-from: nothing to settle
  CHECK(f.b.metrics().total.successes == 0);
  CHECK_FALSE(f.b.try_guard());

  q.success();
  CHECK(f.b.metrics().total.successes == 1);
  auto r = f.b.try_guard();
  CHECK(r);
  r.ignore();
}

TEST_CASE("assigning over an unsettled permit settles it first", "[permit]") {
  half_open_fixture f(2);
  auto a = f.b.try_guard();
  auto c = f.b.try_guard();
  REQUIRE(a);
  REQUIRE(c);
  REQUIRE_FALSE(f.b.try_guard());

  a = std::move(c);  // a's own probe settles (as a success) and frees its slot
  CHECK(a);
  CHECK_FALSE(c);
  CHECK(f.b.metrics().total.successes == 1);

  auto d = f.b.try_guard();
  CHECK(d);
  CHECK_FALSE(f.b.try_guard());  // a (formerly c) and d hold the two slots
  a.ignore();
  d.ignore();
  CHECK(f.b.metrics().total.ignored == 2);
}

TEST_CASE("assigning a refused permit over an unsettled one settles it", "[permit]") {
  half_open_fixture f(1);
  auto a = f.b.try_guard();
  REQUIRE(a);
  auto refused = f.b.try_guard();
  REQUIRE_FALSE(refused);
  a = std::move(refused);
  CHECK_FALSE(a);
  CHECK(f.b.metrics().total.successes == 1);
  auto next = f.b.try_guard();
  CHECK(next);
  next.ignore();
}

TEST_CASE("a guard left by an exception records a failure, left normally a success", "[permit]") {
  circuit::manual_clock clock;
  breaker b(circuit::consecutive_failures{.threshold = 5}, {}, clock);

  {
    auto g = b.guard();
    REQUIRE(g);
  }
  CHECK(b.metrics().total.successes == 1);
  CHECK(b.metrics().total.failures == 0);

  try {
    auto g = b.guard();
    throw std::runtime_error("down");
  } catch (const std::runtime_error&) {
  }
  CHECK(b.metrics().total.successes == 1);
  CHECK(b.metrics().total.failures == 1);
}

TEST_CASE("a guard taken while another exception is in flight still settles as a success", "[permit]") {
  circuit::manual_clock clock;
  breaker b(circuit::consecutive_failures{.threshold = 5}, {}, clock);

  // A destructor running during unwinding takes and releases a guard: its
  // scope is left normally, whatever is unwinding around it.
  struct cleanup {
    breaker& b;
    ~cleanup() {
      auto g = b.guard();
    }
  };
  try {
    cleanup c{b};
    throw std::runtime_error("outer");
  } catch (const std::runtime_error&) {
  }
  CHECK(b.metrics().total.successes == 1);
  CHECK(b.metrics().total.failures == 0);
}

TEST_CASE("a refused permit is false and settling it does nothing", "[permit]") {
  circuit::manual_clock clock;
  breaker b({}, {}, clock);
  b.trip();
  const auto before = b.metrics();

  auto p = b.try_guard();
  CHECK_FALSE(p);
  p.success();
  p.failure();
  p.failure(std::make_exception_ptr(std::runtime_error("x")));
  p.ignore();
  p.record(503);

  const auto after = b.metrics();
  CHECK(after.state == circuit::state::open);
  CHECK(after.generation == before.generation);
  CHECK(after.total.successes == 0);
  CHECK(after.total.failures == 0);
  CHECK(after.total.ignored == 0);
  CHECK(after.total.rejections == 1);
}

TEST_CASE("a default-constructed permit is refused", "[permit]") {
  circuit::permit<breaker> p;
  CHECK_FALSE(p);
  p.success();
}

TEST_CASE("a permit is settled once: a second success() is a no-op", "[permit]") {
  circuit::manual_clock clock;
  breaker b(circuit::consecutive_failures{.threshold = 1}, {}, clock);

  auto p = b.try_guard();
  REQUIRE(p);
  p.success();
  CHECK_FALSE(p);
  p.success();
  CHECK(b.metrics().total.successes == 1);

  // Nor can a settled permit fail afterwards.
  p.failure();
  p.failure(std::make_exception_ptr(std::runtime_error("late")));
  CHECK(b.metrics().total.failures == 0);
  CHECK(b.current_state() == circuit::state::closed);
}

TEST_CASE("a permit may be settled on another thread than the one that took it", "[permit]") {
  circuit::manual_clock clock;
  breaker b(circuit::consecutive_failures{.threshold = 1}, {}, clock);
  auto p = b.try_guard();
  REQUIRE(p);
  std::thread t([q = std::move(p)]() mutable { q.failure(); });
  t.join();
  CHECK(b.metrics().total.failures == 1);
  CHECK(b.current_state() == circuit::state::open);
}

TEST_CASE("failure_unclassified records a failure carrying its exception, without the predicate", "[permit]") {
  struct deadline_passed : std::runtime_error {
    deadline_passed() : std::runtime_error("deadline passed") {}
  };
  // A predicate that would call this exception a success.
  circuit::circuit_breaker<circuit::manual_clock, circuit::consecutive_failures, circuit::failure_except<deadline_passed>>
      b({.threshold = 1}, {}, circuit::manual_clock());
  std::exception_ptr seen;
  auto sub = b.on_event([&](const circuit::event& e) { seen = e.error; }, {circuit::event_kind::failure});
  b.try_guard().failure_unclassified(std::make_exception_ptr(deadline_passed()));
  CHECK(b.metrics().total.failures == 1);
  CHECK(b.current_state() == circuit::state::open);
  REQUIRE(seen);
  const auto r = b.try_call([] { return 1; });
  REQUIRE(r.last_failure());
  CHECK_THROWS_AS(std::rethrow_exception(r.last_failure()), deadline_passed);
}
