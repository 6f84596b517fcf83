// Zero allocations per call: the closed-state paths (call(), guard(),
// try_guard(); success, and failures that do not trip) for every counter,
// open-state rejection through try_guard(), and half_open probes.
//
// Counted: the calling thread's allocations through the global operator new
// (allocation_counter.hpp). Each test makes one call first: a thread's
// first call on any breaker claims its lane (detail/thread_lane.hpp), which
// registers a thread_local destructor once per thread; the C++ runtime may
// allocate for that registration (glibc's does, with calloc, which operator
// new does not see). A test asserts on the calls after that one. A thrown
// exception's object is likewise made by the runtime, not operator new.

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <limits>
#include <thread>

#include <circuit/circuit_breaker.hpp>
#include <circuit/consecutive_failures.hpp>
#include <circuit/failure_rate_window.hpp>
#include <circuit/manual_clock.hpp>
#include <circuit/net_failures.hpp>
#include <circuit/sliding_window.hpp>

#include "allocation_counter.hpp"
#include "catch.hpp"

using namespace std::chrono_literals;

namespace {

constexpr int calls = 100;

// Settings under which `calls` failures (plus the warm-up) do not trip.
circuit::sliding_window quiet(circuit::sliding_window) { return {.max_failures = 1000, .window = 60s}; }
circuit::consecutive_failures quiet(circuit::consecutive_failures) { return {.threshold = 1000}; }
circuit::net_failures quiet(circuit::net_failures) { return {.threshold = 1000}; }
circuit::failure_rate_window quiet(circuit::failure_rate_window) {
  return {.failure_rate = 1.0, .minimum_calls = 1000, .window = 10s, .buckets = 10};
}

template <class Counter>
using breaker_of = circuit::circuit_breaker<std::chrono::steady_clock, Counter>;

[[gnu::noinline]] void noop() {}
// No message: std::runtime_error's would be an allocation of the caller's.
struct down {};
[[gnu::noinline]] void throws() { throw down{}; }

template <class F>
std::uint64_t allocations_in_calls(F&& one_call) {
  return circuit_test::allocations_in([&] {
    for (int i = 0; i < calls; ++i) one_call();
  });
}

}  // namespace

TEST_CASE("the allocation counter sees this thread's allocations through operator new") {
  // Escaped, so the compiler cannot drop the new/delete pair.
  const auto escape = [](void* p) { asm volatile("" : : "g"(p) : "memory"); };
  CHECK(circuit_test::allocations_in([&] {
          auto* p = new int(1);
          escape(p);
          delete p;
        }) == 1);
  CHECK(circuit_test::allocations_in([&] {
          std::function<std::size_t()> f([big = std::array<char, 100>{}] { return big.size(); });
          escape(&f);
        }) == 1);
}

TEMPLATE_TEST_CASE("a closed breaker allocates nothing for a successful call", "", circuit::sliding_window,
                   circuit::consecutive_failures, circuit::net_failures, circuit::failure_rate_window) {
  breaker_of<TestType> b(quiet(TestType{}));
  b.call(noop);  // warm-up: this thread's lane

  CHECK(allocations_in_calls([&] { b.call(noop); }) == 0);
  CHECK(allocations_in_calls([&] { b.guard().success(); }) == 0);
  CHECK(allocations_in_calls([&] { b.try_guard().success(); }) == 0);
  CHECK(allocations_in_calls([&] { auto g = b.try_guard(); }) == 0);  // settled as a success on scope exit
  CHECK(b.metrics().total.successes == 1 + 4 * calls);
}

TEMPLATE_TEST_CASE("a closed breaker allocates nothing for a failure that does not trip it", "",
                   circuit::sliding_window, circuit::consecutive_failures, circuit::net_failures,
                   circuit::failure_rate_window) {
  breaker_of<TestType> b(quiet(TestType{}));
  b.try_guard().failure();  // warm-up

  CHECK(allocations_in_calls([&] { b.try_guard().failure(); }) == 0);
  CHECK(allocations_in_calls([&] { b.guard().failure(); }) == 0);
  CHECK(allocations_in_calls([&] {
          try {
            b.call(throws);
          } catch (const down&) {
          }
        }) == 0);
  CHECK(b.current_state() == circuit::state::closed);
  CHECK(b.metrics().total.failures == 1 + 3 * calls);
}

TEST_CASE("a closed breaker timing slow calls allocates nothing per call") {
  circuit::circuit_breaker<> b({}, {.slow_call = 1h});
  b.call(noop);

  CHECK(allocations_in_calls([&] { b.call(noop); }) == 0);
  CHECK(b.metrics().total.successes == 1 + calls);
}

TEST_CASE("an open breaker allocates nothing to refuse through try_guard") {
  circuit::circuit_breaker<> b;
  b.call(noop);
  b.trip();
  int admitted = 0;

  CHECK(allocations_in_calls([&] { admitted += b.try_guard() ? 1 : 0; }) == 0);
  CHECK(admitted == 0);
  CHECK(b.metrics().total.rejections == calls);
}

TEST_CASE("a half_open breaker allocates nothing for a probe that neither closes nor opens it") {
  circuit::manual_clock clock;
  circuit::circuit_breaker<circuit::manual_clock> b(
      {}, {.open_for = circuit::fixed{1s}, .success_threshold = std::numeric_limits<std::uint32_t>::max()}, clock);
  b.trip();
  clock.advance(1s);
  b.try_guard().success();  // warm-up: also the lazy open -> half_open change
  REQUIRE(b.current_state() == circuit::state::half_open);
  int admitted = 0;

  CHECK(allocations_in_calls([&] {
          if (auto g = b.try_guard()) {
            ++admitted;
            g.success();
          }
        }) == 0);
  CHECK(allocations_in_calls([&] {
          if (auto g = b.try_guard()) {
            ++admitted;
            g.ignore();
          }
        }) == 0);
  CHECK(admitted == 2 * calls);
  CHECK(b.current_state() == circuit::state::half_open);
}

TEST_CASE("a probe that closes the circuit, and one that reopens it, allocate nothing") {
  circuit::manual_clock clock;
  circuit::circuit_breaker<circuit::manual_clock> b({}, {.open_for = circuit::fixed{1s}}, clock);
  b.call(noop);
  std::uint64_t allocated = 0;
  int closed = 0, reopened = 0;

  for (int i = 0; i < calls; ++i) {
    b.trip();
    clock.advance(1s);
    allocated += circuit_test::allocations_in([&] {
      if (auto g = b.try_guard()) (i % 2 == 0) ? g.success() : g.failure();
    });
    const auto s = b.current_state();
    closed += s == circuit::state::closed ? 1 : 0;
    reopened += s == circuit::state::open ? 1 : 0;
  }
  CHECK(allocated == 0);
  CHECK(closed == calls / 2);
  CHECK(reopened == calls / 2);
}

TEST_CASE("a new thread's calls allocate nothing once its first call has claimed a lane") {
  breaker_of<circuit::failure_rate_window> b(quiet(circuit::failure_rate_window{}));
  b.try_guard().failure();  // the breaker's first failure makes its bookkeeping
  std::uint64_t first = 0, after = 0;

  std::thread([&] {
    first = circuit_test::allocations_in([&] { b.call(noop); });
    after = allocations_in_calls([&] {
      b.call(noop);
      b.try_guard().failure();
    });
  }).join();
  // A few, once: the thread-exit hook (if the runtime allocates it through
  // operator new), the breaker's and the counter's cell directories (and
  // their growth to this lane), the lane's first chunk of cells of each
  // size, and the counter's slices for this lane (failure_rate_window).
  CHECK(first <= 10);
  CHECK(after == 0);
  CHECK(b.metrics().total.successes == 1 + calls);
}
