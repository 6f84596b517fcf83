// A breaker's memory stays what construction made it, however many calls
// fail: a million failures in closed (for every counter, with the clock
// moving so that windows roll over), a million refusals while open and
// while isolated, a million stale failures, and a million failed probes
// allocate nothing at all. (allocation_test.cpp covers single calls; this
// covers volume, where a growing container would show.)
//
// Counted: the calling thread's global operator new calls
// (allocation_counter.hpp). Each breaker is used once before counting, so
// that the thread's lane is claimed (see allocation_counter.hpp).

#include <chrono>
#include <cstdint>
#include <initializer_list>
#include <string>
#include <type_traits>
#include <vector>

#include <circuit/circuit_breaker.hpp>
#include <circuit/circuit_breaker_set.hpp>
#include <circuit/consecutive_failures.hpp>
#include <circuit/failure_rate_last_calls.hpp>
#include <circuit/failure_rate_window.hpp>
#include <circuit/manual_clock.hpp>
#include <circuit/net_failures.hpp>
#include <circuit/sliding_window.hpp>

#include "allocation_counter.hpp"
#include "catch.hpp"

using namespace std::chrono_literals;

namespace {

// A million; a fifth of it under ThreadSanitizer, which slows every lock
// tenfold and has nothing to check in these single-threaded tests.
#if defined(__SANITIZE_THREAD__)
constexpr int million = 200'000;
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
constexpr int million = 200'000;
#else
constexpr int million = 1'000'000;
#endif
#else
constexpr int million = 1'000'000;
#endif

using circuit::state;
template <class Counter>
using breaker_of = circuit::circuit_breaker<circuit::manual_clock, Counter>;

// Settings that a million failures, one every 10 ns, never trip.
circuit::sliding_window untripped(circuit::sliding_window) { return {.max_failures = 3, .window = 10ns}; }
circuit::consecutive_failures untripped(circuit::consecutive_failures) { return {.threshold = 4'000'000'000u}; }
circuit::net_failures untripped(circuit::net_failures) { return {.threshold = 4'000'000'000u}; }
circuit::failure_rate_window untripped(circuit::failure_rate_window) {
  return {.failure_rate = 1.0, .minimum_calls = 4'000'000'000u, .window = 100ns, .buckets = 10};
}
circuit::failure_rate_last_calls untripped(circuit::failure_rate_last_calls) {
  return {.failure_rate = 1.0, .minimum_calls = 100, .calls = 100};  // 1 in 5 succeeds: never all failed
}

// Some successes too: they keep the window's success lanes rolling.
[[gnu::noinline]] void fail_and_succeed(auto& b, circuit::manual_clock& clock, int n) {
  for (int i = 0; i < n; ++i) {
    clock.advance(10ns);
    b.try_guard().failure();
    if (i % 4 == 0) b.try_guard().success();
  }
}

}  // namespace

TEMPLATE_TEST_CASE("a million failures in closed allocate nothing, for every counter", "[footprint]",
                   circuit::sliding_window, circuit::consecutive_failures, circuit::net_failures,
                   circuit::failure_rate_window, circuit::failure_rate_last_calls) {
  circuit::manual_clock clock;
  breaker_of<TestType> b(untripped(TestType{}), {}, clock);
  std::uint64_t events = 0;
  auto sub = b.on_event([&](const circuit::event&) { ++events; });
  fail_and_succeed(b, clock, 1);  // warm-up

  CHECK(circuit_test::allocations_in([&] { fail_and_succeed(b, clock, million); }) == 0);
  const auto m = b.metrics();
  CHECK(m.state == state::closed);
  CHECK(m.total.failures == million + 1);
  CHECK(events == m.total.failures + m.total.successes);
  // What the counter holds is bounded by its settings, not by the volume.
  if constexpr (std::is_same_v<TestType, circuit::sliding_window>) {
    CHECK(m.window.failures <= 1);
  } else if constexpr (std::is_same_v<TestType, circuit::failure_rate_window>) {
    CHECK(m.window.failures <= 10);
  }
}

TEST_CASE("a million refusals while open and while isolated allocate nothing", "[footprint]") {
  circuit::manual_clock clock;
  breaker_of<circuit::sliding_window> b({}, {.open_for = circuit::fixed{1h}}, clock);
  b.trip();
  (void)b.try_guard();  // warm-up
  auto refuse = [&] {
    for (int i = 0; i < million; ++i) {
      if (b.try_guard()) return;
      clock.advance(1ns);
    }
  };
  CHECK(circuit_test::allocations_in(refuse) == 0);
  CHECK(b.current_state() == state::open);
  b.isolate();
  CHECK(circuit_test::allocations_in(refuse) == 0);
  CHECK(b.current_state() == state::isolated);
  CHECK(b.metrics().total.rejections == 2 * million + 1);
}

TEST_CASE("a million stale failures allocate nothing and move nothing", "[footprint]") {
  circuit::manual_clock clock;
  breaker_of<circuit::consecutive_failures> b({.threshold = 1}, {.open_for = circuit::fixed{1h}}, clock);
  std::vector<breaker_of<circuit::consecutive_failures>::guard_type> permits;
  permits.reserve(million);
  b.try_guard().success();  // warm-up
  for (int i = 0; i < million; ++i) permits.push_back(b.try_guard());
  b.trip();
  const auto before = b.metrics();
  CHECK(circuit_test::allocations_in([&] {
          for (auto& p : permits) p.failure();
        }) == 0);
  const auto after = b.metrics();
  CHECK(after.state == state::open);
  CHECK(after.generation == before.generation);
  CHECK(after.open_until == before.open_until);
  CHECK(after.stale_outcomes == million);
  CHECK(after.total.failures == million);
}

TEST_CASE("a million failed half_open probes allocate nothing", "[footprint]") {
  circuit::manual_clock clock;
  breaker_of<circuit::consecutive_failures> b(
      {.threshold = 1},
      {.open_for = circuit::exponential{.initial = 1ns, .multiplier = 2.0, .max = 1ms, .jitter = 0.5, .seed = 7},
       .half_open_max_calls = 2},
      clock);
  b.trip();
  auto probe_and_fail = [&](int n) {
    for (int i = 0; i < n; ++i) {
      clock.advance(1ms);
      auto probe = b.try_guard();
      if (!probe) return;
      probe.failure();
    }
  };
  probe_and_fail(1);  // warm-up
  CHECK(circuit_test::allocations_in([&] { probe_and_fail(million); }) == 0);
  const auto m = b.metrics();
  CHECK(m.state == state::open);
  CHECK(m.total.failures == million + 1);
  CHECK(m.generation == 2 * (million + 1) + 1);  // trip, then each probe: to half_open and back
}

TEST_CASE("a breaker's own size is fixed by its type, and small", "[footprint]") {
  // Everything that grows with use would be on the heap, and the tests
  // above show nothing is allocated after warming up. What the object
  // itself takes, per Counter: no lanes (they are cells of the threads
  // that call it, made on their first call), no copy of the options (a
  // set's peers share one), nothing a breaker needs only once it failed.
  const auto sizes = {sizeof(circuit::circuit_breaker<>),
                      sizeof(circuit::circuit_breaker<std::chrono::steady_clock, circuit::consecutive_failures>),
                      sizeof(circuit::circuit_breaker<std::chrono::steady_clock, circuit::net_failures>),
                      sizeof(circuit::circuit_breaker<std::chrono::steady_clock, circuit::failure_rate_window>),
                      sizeof(circuit::circuit_breaker<std::chrono::steady_clock, circuit::failure_rate_last_calls>)};
  CHECK(*sizes.begin() <= 160);  // the default breaker, what a set of a million peers holds a million of
  for (const auto size : sizes) CHECK(size <= 256);
  WARN("sizeof(circuit_breaker<...>) for sliding_window, consecutive_failures, net_failures, failure_rate_window, "
       "failure_rate_last_calls: "
       << *sizes.begin() << ", " << *(sizes.begin() + 1) << ", " << *(sizes.begin() + 2) << ", "
       << *(sizes.begin() + 3) << ", " << *(sizes.begin() + 4) << " bytes");
}

namespace {

// "10.a.b.c:443", distinct for each i below 2^24.
std::string peer_id(int i) {
  return "10." + std::to_string((i >> 16) & 255) + "." + std::to_string((i >> 8) & 255) + "." +
         std::to_string(i & 255) + ":443";
}

}  // namespace

TEST_CASE("an idle peer of a set costs at most 384 bytes of heap", "[footprint]") {
  // A proxy keyed by upstream host holds many peers that were called once
  // and are quiet since: their node, key, breaker, table link and bucket,
  // and the calling thread's tally cell are all they may hold.
  circuit::circuit_breaker_set<> peers;
  peers.call("warm-up", [] {});
  constexpr int n = 20'000;
  const auto before = circuit_test::heap_bytes();
  for (int i = 0; i < n; ++i) peers.call(peer_id(i), [] {});
  const auto per_peer = static_cast<double>(circuit_test::heap_bytes() - before) / n;
  CHECK(per_peer <= 384.0);
  CHECK(peers.size() == n + 1);
  WARN("heap per idle peer: " << per_peer << " bytes");

  // A busy peer (failed once, so its bookkeeping is made) costs more, once.
  const auto busy_before = circuit_test::heap_bytes();
  for (int i = 0; i < 1000; ++i) peers.get(peer_id(i)).try_guard().failure();
  WARN("heap per peer that failed once: " << per_peer + static_cast<double>(circuit_test::heap_bytes() - busy_before) / 1000
                                          << " bytes");
}
