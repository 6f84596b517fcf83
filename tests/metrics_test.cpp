// metrics(): exact call counts, generations and times.

#include "catch.hpp"

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <circuit/circuit_breaker.hpp>
#include <circuit/consecutive_failures.hpp>
#include <circuit/manual_clock.hpp>
#include <circuit/metrics.hpp>
#include <circuit/sliding_window.hpp>
#include <circuit/state.hpp>

using namespace std::chrono_literals;

namespace {

using breaker = circuit::circuit_breaker<circuit::manual_clock, circuit::consecutive_failures>;
using windowed_breaker = circuit::circuit_breaker<circuit::manual_clock, circuit::sliding_window>;

template <class B>
void settle(B& b, int successes, int failures, int ignored) {
  for (int i = 0; i < successes; ++i) b.try_guard().success();
  for (int i = 0; i < failures; ++i) b.try_guard().failure();
  for (int i = 0; i < ignored; ++i) b.try_guard().ignore();
}

}  // namespace

TEST_CASE("a new breaker reports nothing but its closed state", "[metrics]") {
  circuit::manual_clock clock(circuit::manual_clock::time_point{100s});
  breaker b({}, {}, clock);
  const auto m = b.metrics();
  CHECK(m.state == circuit::state::closed);
  CHECK(m.generation == 0);
  CHECK(m.total == circuit::call_counts{});
  CHECK(m.since_transition == circuit::call_counts{});
  CHECK(m.window.failures == 0);
  CHECK(m.stale_outcomes == 0);
  CHECK(m.listener_errors == 0);
  CHECK(m.last_transition == circuit::manual_clock::time_point{100s});  // construction counts
  CHECK_FALSE(m.open_until);
}

TEST_CASE("totals and counts since the last transition are exact", "[metrics]") {
  circuit::manual_clock clock;
  windowed_breaker b(circuit::sliding_window{.max_failures = 2, .window = 60s}, {.open_for = circuit::fixed{10s}},
                     clock);

  settle(b, 3, 2, 1);
  auto m = b.metrics();
  CHECK(m.total == circuit::call_counts{.successes = 3, .failures = 2, .ignored = 1, .rejections = 0});
  CHECK(m.since_transition == m.total);
  CHECK(m.window.failures == 2);

  settle(b, 0, 1, 0);  // the third failure trips
  m = b.metrics();
  REQUIRE(m.state == circuit::state::open);
  CHECK(m.total == circuit::call_counts{.successes = 3, .failures = 3, .ignored = 1, .rejections = 0});
  CHECK(m.since_transition == circuit::call_counts{});

  CHECK_FALSE(b.try_guard());
  CHECK_FALSE(b.try_guard());
  m = b.metrics();
  CHECK(m.total.rejections == 2);
  CHECK(m.since_transition == circuit::call_counts{.rejections = 2});

  clock.advance(10s);
  REQUIRE(b.current_state() == circuit::state::half_open);
  m = b.metrics();
  CHECK(m.since_transition == circuit::call_counts{});
  CHECK(m.total.rejections == 2);

  auto probe = b.try_guard();
  CHECK_FALSE(b.try_guard());  // the one probe slot is taken
  CHECK(b.metrics().since_transition == circuit::call_counts{.rejections = 1});
  probe.success();
  m = b.metrics();
  REQUIRE(m.state == circuit::state::closed);
  CHECK(m.since_transition == circuit::call_counts{});
  CHECK(m.total == circuit::call_counts{.successes = 4, .failures = 3, .ignored = 1, .rejections = 3});
  CHECK(m.window.failures == 0);

  settle(b, 2, 1, 0);
  m = b.metrics();
  CHECK(m.since_transition == circuit::call_counts{.successes = 2, .failures = 1});
  CHECK(m.total == circuit::call_counts{.successes = 6, .failures = 4, .ignored = 1, .rejections = 3});
}

TEST_CASE("reset() starts counting since_transition anew but keeps the totals", "[metrics]") {
  circuit::manual_clock clock;
  breaker b({}, {}, clock);
  settle(b, 2, 1, 1);
  b.reset();
  const auto m = b.metrics();
  CHECK(m.since_transition == circuit::call_counts{});
  CHECK(m.total == circuit::call_counts{.successes = 2, .failures = 1, .ignored = 1});
}

TEST_CASE("the generation increments on each state change and on each reset", "[metrics]") {
  circuit::manual_clock clock;
  breaker b(circuit::consecutive_failures{.threshold = 1}, {.open_for = circuit::fixed{10s}}, clock);
  CHECK(b.metrics().generation == 0);

  b.try_guard().failure();  // closed -> open
  CHECK(b.metrics().generation == 1);
  clock.advance(10s);
  REQUIRE(b.current_state() == circuit::state::half_open);
  CHECK(b.metrics().generation == 2);
  b.try_guard().success();  // half_open -> closed
  CHECK(b.metrics().generation == 3);
  b.reset();  // already closed: still a new generation
  CHECK(b.metrics().generation == 4);
  b.isolate();
  CHECK(b.metrics().generation == 5);
  b.trip();  // isolated: nothing
  CHECK(b.metrics().generation == 5);
  b.reset();
  CHECK(b.metrics().generation == 6);

  // Outcomes and rejections do not change it.
  b.try_guard().success();
  b.try_guard().ignore();
  CHECK(b.metrics().generation == 6);
}

TEST_CASE("last_transition and open_until follow the clock", "[metrics]") {
  circuit::manual_clock clock(circuit::manual_clock::time_point{1000s});
  breaker b(circuit::consecutive_failures{.threshold = 1}, {.open_for = circuit::fixed{30s}}, clock);

  clock.advance(5s);
  b.try_guard().failure();  // opens at 1005 s
  auto m = b.metrics();
  CHECK(m.state == circuit::state::open);
  CHECK(m.last_transition == circuit::manual_clock::time_point{1005s});
  REQUIRE(m.open_until);
  CHECK(*m.open_until == circuit::manual_clock::time_point{1035s});

  clock.advance(7s);
  b.trip();  // restarts the open duration at 1012 s
  m = b.metrics();
  REQUIRE(m.open_until);
  CHECK(*m.open_until == circuit::manual_clock::time_point{1042s});

  clock.advance(30s);
  REQUIRE(b.current_state() == circuit::state::half_open);
  m = b.metrics();
  CHECK(m.last_transition == circuit::manual_clock::time_point{1042s});
  CHECK_FALSE(m.open_until);

  clock.advance(1s);
  b.try_guard().success();
  m = b.metrics();
  CHECK(m.state == circuit::state::closed);
  CHECK(m.last_transition == circuit::manual_clock::time_point{1043s});
  CHECK_FALSE(m.open_until);

  clock.advance(2s);
  b.isolate();
  m = b.metrics();
  CHECK(m.last_transition == circuit::manual_clock::time_point{1045s});
  CHECK_FALSE(m.open_until);  // no time ends isolation
}

TEST_CASE("the window figures are what the counter holds", "[metrics]") {
  circuit::manual_clock clock;
  windowed_breaker b(circuit::sliding_window{.max_failures = 5, .window = 60s}, {}, clock);
  b.try_guard().failure();
  clock.advance(30s);
  b.try_guard().failure();
  b.try_guard().failure();
  CHECK(b.metrics().window.failures == 3);
  clock.advance(30s);  // the first failure is exactly one window old
  CHECK(b.metrics().window.failures == 2);
  CHECK(b.metrics().total.failures == 3);
}

TEST_CASE("listener errors are counted", "[metrics]") {
  circuit::manual_clock clock;
  breaker b({}, {}, clock);
  auto sub = b.on_event([](const circuit::event&) { throw std::runtime_error("listener"); });
  b.try_guard().success();
  b.try_guard().failure();
  CHECK(b.metrics().listener_errors == 2);
}

TEST_CASE("totals are exact after four threads make ten thousand calls each", "[metrics][threads]") {
  circuit::manual_clock clock;
  breaker b(circuit::consecutive_failures{.threshold = 1'000'000}, {}, clock);
  constexpr int threads = 4;
  constexpr int calls = 10'000;

  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t) {
    pool.emplace_back([&b] {
      for (int i = 0; i < calls; ++i) {
        switch (i % 10) {
          case 0:  // 1 in 10 fails by exception
            try {
              b.call([] { throw std::runtime_error("down"); });
            } catch (const std::runtime_error&) {
            }
            break;
          case 1:  // 1 in 10 fails explicitly
            b.try_guard().failure();
            break;
          case 2:  // 1 in 10 is ignored
            b.try_guard().ignore();
            break;
          default:  // 7 in 10 succeed, half of them through call()
            if (i % 2 == 0) {
              b.call([] {});
            } else {
              b.try_guard().success();
            }
        }
      }
    });
  }
  for (auto& t : pool) t.join();

  const auto m = b.metrics();
  CHECK(m.state == circuit::state::closed);
  CHECK(m.generation == 0);
  CHECK(m.total == circuit::call_counts{.successes = threads * calls / 10 * 7,
                                        .failures = threads * calls / 10 * 2,
                                        .ignored = threads * calls / 10,
                                        .rejections = 0});
  CHECK(m.since_transition == m.total);
  CHECK(m.stale_outcomes == 0);
}

TEST_CASE("rejections are exact after four threads are refused ten thousand times each", "[metrics][threads]") {
  circuit::manual_clock clock;
  breaker b({}, {}, clock);
  b.isolate();
  constexpr int threads = 4;
  constexpr int calls = 10'000;

  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t) {
    pool.emplace_back([&b] {
      for (int i = 0; i < calls; ++i) {
        if (b.try_guard()) return;  // would be a bug; the count below shows it
      }
    });
  }
  for (auto& t : pool) t.join();

  const auto m = b.metrics();
  CHECK(m.total == circuit::call_counts{.rejections = threads * calls});
  CHECK(m.since_transition.rejections == threads * calls);
}

// The failure of the reopening probe number `n`. Only the thread that
// keeps a copy looks into it, after joining: exception_ptr counts its
// owners inside libstdc++, where ThreadSanitizer cannot see them, so a
// look from a thread racing the last owner's release would be reported.
struct down {
  int n;
};

TEST_CASE("try_call refusals read the failure that opened the circuit while another thread reopens it",
          "[metrics][threads]") {
  // Refusals copy the failure behind the open circuit while probes fail and
  // replace it, and while a caller's successful probe closes it (which drops
  // it: a refusal racing that may carry none). A failure a refusal carries
  // is one of those thrown, whole; no refusal is lost from the totals.
  circuit::manual_clock clock;
  breaker b({.threshold = 1}, {.open_for = circuit::fixed{1s}}, clock);
  CHECK_THROWS_AS(b.call([]() -> int { throw down{0}; }), down);
  constexpr int threads = 3;
  constexpr int calls = 5'000;
  std::vector<std::thread> pool;
  std::atomic<int> refused{0}, ran{0}, with_failure{0};
  std::vector<std::exception_ptr> last_seen(threads);  // each thread's last failure, read after the joins
  for (int t = 0; t < threads; ++t) {
    pool.emplace_back([&, t] {
      for (int i = 0; i < calls; ++i) {
        const auto r = b.try_call([] { return 1; });
        if (!r.refused()) {
          ran.fetch_add(1);
          continue;
        }
        refused.fetch_add(1);
        if (!r.last_failure()) continue;
        with_failure.fetch_add(1);
        last_seen[static_cast<std::size_t>(t)] = r.last_failure();
      }
    });
  }
  int reopener_refused = 0;  // when a caller took the probe first
  std::thread reopener([&] {
    for (int i = 1; i <= 200; ++i) {
      clock.advance(1s);  // half_open: the next admitted call is the probe
      auto probe = b.try_guard();
      if (probe) {
        probe.failure(std::make_exception_ptr(down{i}));
      } else {
        ++reopener_refused;
      }
    }
  });
  for (auto& t : pool) t.join();
  reopener.join();
  const auto m = b.metrics();
  CHECK(m.total.rejections == static_cast<std::uint64_t>(refused.load() + reopener_refused));
  CHECK(refused.load() + ran.load() == threads * calls);
  CHECK(with_failure.load() > 0);
  for (const auto& failure : last_seen) {
    if (!failure) continue;
    try {
      std::rethrow_exception(failure);
    } catch (const down& e) {
      CHECK(e.n >= 0);
      CHECK(e.n <= 200);
    } catch (...) {
      FAIL("a refusal carried a failure that was never thrown here");
    }
  }
}
