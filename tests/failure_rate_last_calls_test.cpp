// Tests of circuit/failure_rate_last_calls.hpp: the failed share of the
// last N calls (resilience4j COUNT_BASED).

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <limits>
#include <stdexcept>
#include <string>
#include <thread>
#include <type_traits>
#include <utility>
#include <vector>

#include <circuit/circuit_breaker.hpp>
#include <circuit/detail/thread_lane.hpp>
#include <circuit/failure_rate_last_calls.hpp>
#include <circuit/manual_clock.hpp>
#include <circuit/open_circuit_error.hpp>

#include "allocation_counter.hpp"
#include "catch.hpp"
#include "interleaving.hpp"

using namespace std::chrono_literals;

namespace {

using last_calls = circuit::failure_rate_last_calls;
using recorder = last_calls::recorder;
using last_calls_breaker = circuit::circuit_breaker<circuit::manual_clock, last_calls>;

void succeed(recorder& r, int n = 1) {
  for (int i = 0; i < n; ++i) r.on_success();
}

// Failures that must not trip.
void fail(recorder& r, int n = 1) {
  for (int i = 0; i < n; ++i) REQUIRE_FALSE(r.on_failure(0ns));
}

void succeed(last_calls_breaker& b, int n = 1) {
  for (int i = 0; i < n; ++i) {
    auto g = b.try_guard();
    REQUIRE(g);
    g.success();
  }
}

void fail(last_calls_breaker& b, int n = 1) {
  for (int i = 0; i < n; ++i) {
    auto g = b.try_guard();
    REQUIRE(g);
    g.failure();
  }
}

bool same(const circuit::counter_figures& f, std::uint64_t failures, std::uint64_t successes) {
  return f.failures == failures && f.successes == successes;
}

std::string refusal(const std::function<void()>& fn) {
  try {
    fn();
  } catch (const std::invalid_argument& e) {
    return e.what();
  }
  return "<no exception>";
}

struct db_error : std::runtime_error {
  db_error() : std::runtime_error("db down") {}
};
int failing_call() { throw db_error(); }
int working_call() { return 42; }

}  // namespace

TEST_CASE("failure_rate_last_calls is a counter that reads no clock on success", "[failure_rate_last_calls]") {
  STATIC_REQUIRE(circuit::counter<last_calls>);
  STATIC_REQUIRE_FALSE(circuit::reads_clock_on_success<last_calls>);
  STATIC_REQUIRE(circuit::detail::takes_success_context<last_calls>);
  const last_calls defaults;
  CHECK(defaults.failure_rate == 0.5);
  CHECK(defaults.minimum_calls == 20);
  CHECK(defaults.calls == 100);
}

TEST_CASE("invalid settings are refused naming the field", "[failure_rate_last_calls]") {
  const auto field_of = [](const last_calls& s) {
    const auto by_validate = refusal([&] { s.validate(); });
    const auto by_breaker = refusal([&] { last_calls_breaker(s, {}, circuit::manual_clock{}); });
    CHECK(by_validate == by_breaker);
    return by_validate.substr(0, by_validate.find(' '));
  };
  CHECK(field_of({.failure_rate = 0.0}) == "failure_rate_last_calls.failure_rate");
  CHECK(field_of({.failure_rate = -0.5}) == "failure_rate_last_calls.failure_rate");
  CHECK(field_of({.failure_rate = 1.0000001}) == "failure_rate_last_calls.failure_rate");
  CHECK(field_of({.failure_rate = std::numeric_limits<double>::quiet_NaN()}) ==
        "failure_rate_last_calls.failure_rate");
  CHECK(field_of({.minimum_calls = 0}) == "failure_rate_last_calls.minimum_calls");
  CHECK(field_of({.minimum_calls = 1, .calls = 0}) == "failure_rate_last_calls.calls");
  CHECK(field_of({.minimum_calls = 101, .calls = 100}) == "failure_rate_last_calls.minimum_calls");
  CHECK(refusal([] { last_calls{.minimum_calls = 101, .calls = 100}.validate(); }) ==
        "failure_rate_last_calls.minimum_calls must not be above calls");
}

TEST_CASE("calls is capped so that the recorder stays within half a MiB", "[failure_rate_last_calls][limits]") {
  STATIC_REQUIRE(last_calls::max_calls == 65536);
  STATIC_REQUIRE(last_calls::max_calls * sizeof(std::uint64_t) <= 512 * 1024);
  CHECK(refusal([] { last_calls{.calls = last_calls::max_calls + 1}.validate(); }) ==
        "failure_rate_last_calls.calls must be between 1 and 65536");
  CHECK(refusal([] {
          last_calls_breaker(last_calls{.calls = last_calls::max_calls + 1}, {}, circuit::manual_clock{});
        }) == "failure_rate_last_calls.calls must be between 1 and 65536");
  const last_calls largest{.failure_rate = 1.0, .minimum_calls = last_calls::max_calls, .calls = last_calls::max_calls};
  CHECK_NOTHROW(largest.validate());
  // The largest window works: every call of it weighs, one more pushes the
  // oldest out.
  recorder r(largest);
  fail(r, 10);
  succeed(r, last_calls::max_calls - 10);
  CHECK(same(r.figures(0ns), 10, last_calls::max_calls - 10));
  succeed(r);
  CHECK(same(r.figures(0ns), 9, last_calls::max_calls - 9));
  CHECK_NOTHROW(last_calls{.minimum_calls = 1, .calls = 1}.validate());
  CHECK_NOTHROW(last_calls{.failure_rate = 1.0, .minimum_calls = 100, .calls = 100}.validate());
}

TEST_CASE("fewer than minimum_calls calls never trip, however many fail", "[failure_rate_last_calls]") {
  recorder r(last_calls{.failure_rate = 0.5, .minimum_calls = 10, .calls = 100});
  fail(r, 9);
  CHECK(same(r.figures(0ns), 9, 0));
  CHECK(r.on_failure(0ns));
}

TEST_CASE("a failed share exactly at failure_rate trips and just below it does not", "[failure_rate_last_calls]") {
  recorder at(last_calls{.failure_rate = 0.5, .minimum_calls = 6, .calls = 100});
  succeed(at, 3);
  fail(at, 2);  // 2 of 5: below minimum_calls anyway
  CHECK(at.on_failure(0ns));  // 3 of 6

  recorder below(last_calls{.failure_rate = 0.5, .minimum_calls = 6, .calls = 100});
  succeed(below, 4);
  fail(below, 3);  // 3 of 7
  CHECK(same(below.figures(0ns), 3, 4));
  CHECK(below.on_failure(0ns));  // 4 of 8
}

TEST_CASE("a failed share equal to the rate trips despite floating point", "[failure_rate_last_calls]") {
  recorder r(last_calls{.failure_rate = 0.1, .minimum_calls = 30, .calls = 30});
  succeed(r, 27);
  fail(r, 2);  // 29 calls: below minimum_calls
  CHECK(r.on_failure(0ns));  // 3 of 30 == 0.1
}

TEST_CASE("only the last `calls` calls weigh in the rule", "[failure_rate_last_calls]") {
  recorder r(last_calls{.failure_rate = 0.5, .minimum_calls = 10, .calls = 10});
  fail(r, 4);      // calls 0-3
  succeed(r, 6);   // 4-9
  CHECK(same(r.figures(0ns), 4, 6));
  succeed(r);      // 10: call 0 (a failure) leaves
  CHECK(same(r.figures(0ns), 3, 7));
  fail(r);         // 11: call 1 leaves
  CHECK(same(r.figures(0ns), 3, 7));
  fail(r, 2);      // 12, 13: calls 2 and 3 leave, failures both
  CHECK(same(r.figures(0ns), 3, 7));
  fail(r);         // 14: call 4, a success, leaves: 4 of 10
  CHECK(same(r.figures(0ns), 4, 6));
  CHECK(r.on_failure(0ns));  // 15: 5 of 10
  CHECK(same(r.figures(0ns), 5, 5));
}

TEST_CASE("calls successes in a row leave no failure behind", "[failure_rate_last_calls]") {
  recorder r(last_calls{.failure_rate = 0.5, .minimum_calls = 5, .calls = 5});
  fail(r, 2);
  succeed(r, 4);
  CHECK(same(r.figures(0ns), 1, 4));
  succeed(r);
  CHECK(same(r.figures(0ns), 0, 5));
  succeed(r, 1000);
  CHECK(same(r.figures(0ns), 0, 5));
  fail(r, 2);  // 2 of 5
  CHECK(r.on_failure(0ns));
}

TEST_CASE("a window of one call trips on any failure", "[failure_rate_last_calls]") {
  recorder r(last_calls{.failure_rate = 1.0, .minimum_calls = 1, .calls = 1});
  succeed(r);
  CHECK(same(r.figures(0ns), 0, 1));
  CHECK(r.on_failure(0ns));
  CHECK(same(r.figures(0ns), 1, 0));
  CHECK(r.on_failure(0ns));
  succeed(r);
  CHECK(same(r.figures(0ns), 0, 1));
}

TEST_CASE("the window does not depend on time", "[failure_rate_last_calls]") {
  recorder r(last_calls{.failure_rate = 0.5, .minimum_calls = 2, .calls = 2});
  succeed(r);
  CHECK(r.on_failure(std::chrono::hours(24 * 365)));
  CHECK(same(r.figures(-std::chrono::hours(24 * 365)), 1, 1));
}

TEST_CASE("a success never trips, whatever the failed share", "[failure_rate_last_calls]") {
  STATIC_REQUIRE(std::is_void_v<decltype(std::declval<recorder&>().on_success())>);
  circuit::manual_clock clock;
  last_calls_breaker b(last_calls{.failure_rate = 0.5, .minimum_calls = 10, .calls = 10}, {}, clock);
  fail(b, 9);
  succeed(b);  // 10 calls, 9 failed: only a failure applies the rule
  CHECK(b.current_state() == circuit::state::closed);
  fail(b);
  CHECK(b.current_state() == circuit::state::open);
}

TEST_CASE("reset forgets every call", "[failure_rate_last_calls]") {
  recorder r(last_calls{.failure_rate = 0.5, .minimum_calls = 4, .calls = 10});
  fail(r, 3);
  succeed(r, 2);
  r.reset();
  CHECK(same(r.figures(0ns), 0, 0));
  fail(r, 3);  // a fresh minimum
  CHECK(r.on_failure(0ns));
  r.reset();
  succeed(r);
  CHECK(same(r.figures(0ns), 0, 1));
}

TEST_CASE("a success that is no longer current records nothing", "[failure_rate_last_calls]") {
  recorder r(last_calls{.failure_rate = 0.5, .minimum_calls = 2, .calls = 10});
  fail(r);
  const test::interleaving stale{[](int) { return false; }};
  CHECK_FALSE(r.on_success(stale));
  CHECK(stale.asked == 1);
  CHECK(same(r.figures(0ns), 1, 0));
  CHECK(r.on_failure(0ns));  // 2 of 2: the stale success did not dilute it
}

TEST_CASE("a success racing a reset never counts in the next generation", "[failure_rate_last_calls]") {
  // The success loads the epoch and its lane; before it writes, a reset()
  // and one failure of the next generation happen, and the breaker still
  // answered "current" (its word was the old one when asked). The write
  // lands in the old epoch, which the new window does not read: one
  // failure in one call, and the next failure trips 2 of 2.
  recorder r(last_calls{.failure_rate = 1.0, .minimum_calls = 2, .calls = 10});
  succeed(r, 3);
  fail(r);
  const test::interleaving racing{[&r](int) {
    r.reset();
    REQUIRE_FALSE(r.on_failure(0ns));
    return true;
  }};
  r.on_success(racing);
  CHECK(racing.asked == 1);
  CHECK(same(r.figures(0ns), 1, 0));
  CHECK(r.on_failure(0ns));
  // A later success of the same thread counts again, in the new epoch.
  succeed(r);
  CHECK(same(r.figures(0ns), 2, 1));
}

TEST_CASE("threads beyond the lanes share one word, with the same rules", "[failure_rate_last_calls]") {
  recorder r(last_calls{.failure_rate = 1.0, .minimum_calls = 2, .calls = 10});
  fail(r);
  std::thread([&r] {
    // As a thread that found every lane taken.
    circuit::detail::this_lane = circuit::detail::overflow_lane;
    succeed(r, 3);
    CHECK(same(r.figures(0ns), 1, 3));
    const test::interleaving stale{[](int) { return false; }};
    CHECK_FALSE(r.on_success(stale));
    CHECK(same(r.figures(0ns), 1, 3));
    succeed(r, 2);
    // Racing a reset: the word is compare-exchanged after the check, so
    // the write fails and the retry finds the call stale.
    const test::interleaving racing{[&r](int asked) {
      if (asked == 1) {
        r.reset();
        REQUIRE_FALSE(r.on_failure(0ns));
        succeed(r);  // the new generation's, through the same word
        return true;
      }
      return false;
    }};
    CHECK_FALSE(r.on_success(racing));
    CHECK(racing.asked == 2);
    CHECK(same(r.figures(0ns), 1, 1));
    r.reset();
    // A success that loaded the word of an older epoch starts it afresh.
    succeed(r);
    CHECK(same(r.figures(0ns), 0, 1));
  }).join();
}

TEST_CASE("a breaker opens on the failed share of its last calls", "[failure_rate_last_calls]") {
  circuit::manual_clock clock;
  last_calls_breaker b(last_calls{.failure_rate = 0.5, .minimum_calls = 4, .calls = 6}, {.open_for = 5s}, clock);
  for (int i = 0; i < 6; ++i) CHECK(b.call(working_call) == 42);
  CHECK_THROWS_AS(b.call(failing_call), db_error);
  CHECK_THROWS_AS(b.call(failing_call), db_error);
  CHECK(same(b.metrics().window, 2, 4));
  CHECK(b.current_state() == circuit::state::closed);
  CHECK_THROWS_AS(b.call(failing_call), db_error);  // 3 of the last 6
  CHECK(b.current_state() == circuit::state::open);
  CHECK_THROWS_AS(b.call(working_call), circuit::open_circuit_error);
  const auto m = b.metrics();
  CHECK(m.total.failures == 3);
  CHECK(m.total.successes == 6);
  CHECK(m.total.rejections == 1);
}

TEST_CASE("ignored outcomes take no place among the last calls", "[failure_rate_last_calls]") {
  circuit::manual_clock clock;
  last_calls_breaker b(last_calls{.failure_rate = 0.5, .minimum_calls = 4, .calls = 4}, {}, clock);
  fail(b);
  succeed(b);
  for (int i = 0; i < 10; ++i) {
    auto g = b.try_guard();
    REQUIRE(g);
    g.ignore();
  }
  succeed(b);
  CHECK(same(b.metrics().window, 1, 2));
  CHECK(b.metrics().total.ignored == 10);
  fail(b);  // 2 of the last 4: the ignored calls pushed nothing out
  CHECK(b.current_state() == circuit::state::open);
}

TEST_CASE("closing the circuit forgets the last calls", "[failure_rate_last_calls]") {
  circuit::manual_clock clock;
  last_calls_breaker b(last_calls{.failure_rate = 0.5, .minimum_calls = 2, .calls = 10}, {.open_for = 5s}, clock);
  succeed(b, 3);
  fail(b, 3);  // 3 of 6
  REQUIRE(b.current_state() == circuit::state::open);
  clock.advance(5s);
  succeed(b);  // the probe closes it
  REQUIRE(b.current_state() == circuit::state::closed);
  CHECK(same(b.metrics().window, 0, 0));
  fail(b);  // 1 of 1: below minimum_calls
  CHECK(b.current_state() == circuit::state::closed);
  succeed(b, 2);
  b.reset();
  CHECK(same(b.metrics().window, 0, 0));
  fail(b);
  CHECK(b.current_state() == circuit::state::closed);
  fail(b);
  CHECK(b.current_state() == circuit::state::open);
}

TEST_CASE("a success admitted before a reset() is stale and leaves the window alone", "[failure_rate_last_calls]") {
  circuit::manual_clock clock;
  last_calls_breaker b(last_calls{.failure_rate = 1.0, .minimum_calls = 1, .calls = 10}, {}, clock);
  auto g = b.try_guard();
  REQUIRE(g);
  b.reset();
  g.success();
  const auto m = b.metrics();
  CHECK(same(m.window, 0, 0));
  CHECK(m.stale_outcomes == 1);
  CHECK(m.total.successes == 1);
  fail(b);  // 1 of 1
  CHECK(b.current_state() == circuit::state::open);
}

TEST_CASE("successes and failures from many threads are all counted exactly", "[failure_rate_last_calls][threads]") {
  constexpr int successes_per_thread = 5000;
  constexpr int failures_per_thread = 100;
  const int threads = GENERATE(4, 12);  // 12 is more threads than exclusive lanes
  CAPTURE(threads);
  // Everything fits in the window, and only an all-failed window would trip.
  const last_calls settings{
      .failure_rate = 1.0, .minimum_calls = last_calls::max_calls, .calls = last_calls::max_calls};
  circuit::manual_clock clock;
  last_calls_breaker b(settings, {}, clock);
  {
    std::vector<std::thread> pool;
    for (int t = 0; t < threads; ++t) {
      pool.emplace_back([&b] {
        for (int i = 0; i < successes_per_thread; ++i) b.try_guard().success();
        for (int i = 0; i < failures_per_thread; ++i) b.try_guard().failure();
      });
    }
    for (auto& t : pool) t.join();
  }
  const auto n = static_cast<std::uint64_t>(threads);
  const auto m = b.metrics();
  CHECK(m.window.successes == n * successes_per_thread);
  CHECK(m.window.failures == n * failures_per_thread);
  CHECK(m.total.successes == n * successes_per_thread);
  CHECK(m.stale_outcomes == 0);
  CHECK(m.state == circuit::state::closed);
}

TEST_CASE("interleaved outcomes from many threads keep the window exact", "[failure_rate_last_calls][threads]") {
  // Each thread alternates 9 successes and a failure; the window then holds
  // the last `calls` of them.
  constexpr int rounds = 500;
  const int threads = GENERATE(2, 12);
  CAPTURE(threads);
  const last_calls settings{.failure_rate = 1.0, .minimum_calls = 1000, .calls = 1000};
  circuit::manual_clock clock;
  last_calls_breaker b(settings, {}, clock);
  {
    std::vector<std::thread> pool;
    for (int t = 0; t < threads; ++t) {
      pool.emplace_back([&b] {
        for (int i = 0; i < rounds; ++i) {
          for (int j = 0; j < 9; ++j) b.try_guard().success();
          b.try_guard().failure();
        }
      });
    }
    for (auto& t : pool) t.join();
  }
  const auto m = b.metrics();
  CHECK(m.window.successes + m.window.failures == 1000);
  // The order among threads varies, but a thread's successes are placed
  // before its next failure (it records them first), and after its last
  // one: so every success in the window has its round's failure there too
  // (S <= 9F, F >= 100), and between two failures of one thread lie nine of
  // its successes (1000 >= 10F - 9 * threads).
  CHECK(m.window.failures >= 100);
  CHECK(m.window.failures <= (1000 + 9 * static_cast<std::uint64_t>(threads)) / 10);
  CHECK(m.total.successes == static_cast<std::uint64_t>(threads) * rounds * 9);
  CHECK(m.total.failures == static_cast<std::uint64_t>(threads) * rounds);
  CHECK(m.state == circuit::state::closed);
  // After the threads, the order is known again: 1000 successes push every
  // failure out.
  succeed(b, 1000);
  CHECK(same(b.metrics().window, 0, 1000));
}

TEST_CASE("successes racing resets and failures keep the counts consistent", "[failure_rate_last_calls][threads]") {
  // Under ThreadSanitizer this is the race of every success path (owned
  // lanes, the shared word) with reset() and the failure path.
  constexpr int per_thread = 20000;
  const int threads = GENERATE(2, 12);
  CAPTURE(threads);
  circuit::manual_clock clock;
  last_calls_breaker b(last_calls{.failure_rate = 1.0, .minimum_calls = 100, .calls = 100}, {}, clock);
  std::atomic<int> running{threads};
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t) {
    pool.emplace_back([&b, &running] {
      for (int i = 0; i < per_thread; ++i) b.try_guard().success();
      running.fetch_sub(1);
    });
  }
  std::uint64_t resets = 0;
  while (running.load() != 0) {
    fail(b);
    const auto window = b.metrics().window;
    CHECK(window.failures + window.successes <= 100);
    CHECK(window.failures <= 1);  // the one since the reset, unless 100 successes pushed it out
    b.reset();
    ++resets;
  }
  for (auto& t : pool) t.join();
  const auto m = b.metrics();
  CHECK(m.total.successes == static_cast<std::uint64_t>(threads) * per_thread);
  CHECK(m.total.failures == resets);
  b.reset();
  CHECK(same(b.metrics().window, 0, 0));
  succeed(b, 3);
  CHECK(same(b.metrics().window, 0, 3));
}

TEST_CASE("the recorder allocates only when it is constructed", "[failure_rate_last_calls]") {
  circuit::manual_clock clock;
  last_calls_breaker b(last_calls{.failure_rate = 1.0, .minimum_calls = 100, .calls = 100}, {}, clock);
  succeed(b);                // this thread's lane cell is made
  b.try_guard().failure();   // the breaker's bookkeeping of failures is made
  const auto allocated = circuit_test::allocations_in([&b] {
    for (int i = 0; i < 100000; ++i) {
      b.try_guard().success();
      if (i % 10 == 0) b.try_guard().failure();
      if (i % 1000 == 0) (void)b.metrics();
    }
    b.reset();
  });
  CHECK(allocated == 0);
  CHECK(b.metrics().total.successes == 100001);
}
