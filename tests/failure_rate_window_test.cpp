// Tests of circuit/failure_rate_window.hpp: the failed share of the calls in
// a bucketed time window (resilience4j, Polly, Hystrix).

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <latch>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>
#include <type_traits>
#include <utility>
#include <vector>

#include <circuit/circuit_breaker.hpp>
#include <circuit/detail/thread_lane.hpp>
#include <circuit/failure_rate_window.hpp>
#include <circuit/manual_clock.hpp>

#include "catch.hpp"
#include "instrumented_clock.hpp"

using namespace std::chrono_literals;

namespace {

using ns = std::chrono::nanoseconds;
using tp = circuit::manual_clock::time_point;
using rate_breaker = circuit::circuit_breaker<circuit::manual_clock, circuit::failure_rate_window>;

void succeed(rate_breaker& b, int n = 1) {
  for (int i = 0; i < n; ++i) {
    auto g = b.try_guard();
    REQUIRE(g);
    g.success();
  }
}

// A success context whose call went stale: a reset() came after the
// breaker's check.
struct stale_at {
  ns t;
  ns operator()() const noexcept { return t; }
  static bool current() noexcept { return false; }
};

void fail(rate_breaker& b, int n = 1) {
  for (int i = 0; i < n; ++i) {
    auto g = b.try_guard();
    REQUIRE(g);
    g.failure();
  }
}

}  // namespace

TEST_CASE("fewer than minimum_calls calls never trip, however many fail", "[failure_rate_window]") {
  circuit::failure_rate_window::recorder r(
      circuit::failure_rate_window{.failure_rate = 0.5, .minimum_calls = 10, .window = 10s, .buckets = 10});
  for (int i = 0; i < 9; ++i) CHECK_FALSE(r.on_failure(1s));
  CHECK(r.on_failure(1s));

  circuit::manual_clock clock;
  rate_breaker b(circuit::failure_rate_window{.failure_rate = 0.5, .minimum_calls = 10, .window = 10s, .buckets = 10},
                 {}, clock);
  fail(b, 9);
  CHECK(b.current_state() == circuit::state::closed);
  CHECK(b.metrics().window.failures == 9);
  fail(b);
  CHECK(b.current_state() == circuit::state::open);
}

TEST_CASE("a failed share exactly at failure_rate trips and one failure fewer does not", "[failure_rate_window]") {
  const circuit::failure_rate_window settings{.failure_rate = 0.5, .minimum_calls = 10, .window = 10s, .buckets = 10};

  circuit::failure_rate_window::recorder at(settings);
  for (int i = 0; i < 5; ++i) at.on_success(1s);
  for (int i = 0; i < 4; ++i) CHECK_FALSE(at.on_failure(1s));
  CHECK(at.on_failure(1s));  // 5 of 10

  circuit::failure_rate_window::recorder below(settings);
  for (int i = 0; i < 6; ++i) below.on_success(1s);
  for (int i = 0; i < 4; ++i) CHECK_FALSE(below.on_failure(1s));  // 4 of 10
  CHECK(below.figures(1s).failures == 4);
  CHECK(below.figures(1s).successes == 6);

  circuit::manual_clock clock;
  rate_breaker b(settings, {}, clock);
  succeed(b, 5);
  fail(b, 4);
  CHECK(b.current_state() == circuit::state::closed);
  fail(b);
  CHECK(b.current_state() == circuit::state::open);
}

TEST_CASE("a failed share equal to the rate trips despite floating point", "[failure_rate_window]") {
  // 0.1 * 30 is 3.0000000000000004 in double: a rule written as
  // `failures >= rate * calls` would miss these.
  for (const double rate : {0.1, 0.2, 0.3, 0.6, 0.7, 0.9}) {
    CAPTURE(rate);
    const int failures = static_cast<int>(rate * 30 + 0.5);
    const circuit::failure_rate_window settings{
        .failure_rate = rate, .minimum_calls = 30, .window = 10s, .buckets = 10};

    circuit::failure_rate_window::recorder at(settings);
    for (int i = 0; i < 30 - failures; ++i) at.on_success(0ns);
    for (int i = 1; i < failures; ++i) CHECK_FALSE(at.on_failure(0ns));
    CHECK(at.on_failure(0ns));

    circuit::failure_rate_window::recorder below(settings);
    for (int i = 0; i < 31 - failures; ++i) below.on_success(0ns);
    for (int i = 1; i < failures; ++i) CHECK_FALSE(below.on_failure(0ns));
  }
}

TEST_CASE("three failures in thirty calls trip a 0.1 rate through the breaker", "[failure_rate_window]") {
  circuit::manual_clock clock;
  rate_breaker b(circuit::failure_rate_window{.failure_rate = 0.1, .minimum_calls = 30, .window = 10s, .buckets = 10},
                 {}, clock);
  succeed(b, 27);
  fail(b, 2);
  CHECK(b.current_state() == circuit::state::closed);
  fail(b);
  CHECK(b.current_state() == circuit::state::open);
}

TEST_CASE("a slice leaves the window once now minus its start reaches the window", "[failure_rate_window]") {
  // Slices of 1 s: slice j covers [j s, j+1 s) and counts while now - j s < 10 s.
  circuit::manual_clock clock(tp(500ms));
  rate_breaker b(circuit::failure_rate_window{.failure_rate = 0.5, .minimum_calls = 100, .window = 10s, .buckets = 10},
                 {}, clock);
  succeed(b, 3);
  fail(b, 2);
  clock.set(tp(1999ms));
  succeed(b, 1);
  fail(b, 1);

  clock.set(tp(10s - 1ns));
  CHECK(b.metrics().window.successes == 4);
  CHECK(b.metrics().window.failures == 3);
  // The calls at 0.5 s are only 9.5 s old, but their slice started 10 s ago.
  clock.set(tp(10s));
  CHECK(b.metrics().window.successes == 1);
  CHECK(b.metrics().window.failures == 1);
  clock.set(tp(11s - 1ns));
  CHECK(b.metrics().window.successes == 1);
  clock.set(tp(11s));
  CHECK(b.metrics().window.successes == 0);
  CHECK(b.metrics().window.failures == 0);
}

TEST_CASE("failures that left the window no longer weigh in the rule", "[failure_rate_window]") {
  const circuit::failure_rate_window settings{.failure_rate = 0.5, .minimum_calls = 4, .window = 10s, .buckets = 10};

  SECTION("one window later the old failures are gone") {
    circuit::manual_clock clock;
    rate_breaker b(settings, {}, clock);
    fail(b, 3);
    clock.advance(10s);
    fail(b);
    CHECK(b.current_state() == circuit::state::closed);
    CHECK(b.metrics().window.failures == 1);
  }
  SECTION("one nanosecond earlier they still count") {
    circuit::manual_clock clock;
    rate_breaker b(settings, {}, clock);
    fail(b, 3);
    clock.advance(10s - 1ns);
    fail(b);
    CHECK(b.current_state() == circuit::state::open);
  }
  SECTION("the recorder sees the same boundary") {
    circuit::failure_rate_window::recorder gone(settings);
    for (int i = 0; i < 3; ++i) CHECK_FALSE(gone.on_failure(0ns));
    CHECK_FALSE(gone.on_failure(10s));
    CHECK(gone.figures(10s).failures == 1);

    circuit::failure_rate_window::recorder kept(settings);
    for (int i = 0; i < 3; ++i) CHECK_FALSE(kept.on_failure(0ns));
    CHECK(kept.on_failure(10s - 1ns));
  }
}

TEST_CASE("successes from several threads are all counted", "[failure_rate_window][threads]") {
  constexpr int per_thread = 20000;
  const int threads = GENERATE(4, 12);
  CAPTURE(threads);
  circuit::manual_clock clock(tp(3s));
  rate_breaker b(circuit::failure_rate_window{.failure_rate = 0.5, .minimum_calls = 10, .window = 10s, .buckets = 10},
                 {}, clock);
  {
    std::vector<std::thread> pool;
    for (int t = 0; t < threads; ++t) {
      pool.emplace_back([&b, t] {
        // Every other thread as one that found every lane taken: those
        // share the recorder's shared lane.
        if (t % 2 == 1) circuit::detail::this_lane = circuit::detail::overflow_lane;
        for (int i = 0; i < per_thread; ++i) b.try_guard().success();
      });
    }
    for (auto& t : pool) t.join();
  }
  const auto expected = static_cast<std::uint64_t>(threads) * per_thread;
  const auto m = b.metrics();
  CHECK(m.window.successes == expected);
  CHECK(m.window.failures == 0);
  CHECK(m.total.successes == expected);
  CHECK(m.state == circuit::state::closed);
}

TEST_CASE("64 threads recording at once get their own lanes and lose no success", "[failure_rate_window][threads]") {
  constexpr int threads = 64;
  constexpr int per_thread = 2000;
  const circuit::failure_rate_window settings{.failure_rate = 0.5, .minimum_calls = 10, .window = 10s, .buckets = 10};
  circuit::manual_clock clock(tp(3s));
  rate_breaker b(settings, {}, clock);
  circuit::failure_rate_window::recorder r(settings);
  std::vector<std::size_t> lanes(threads);
  {
    std::latch start(threads);
    std::vector<std::thread> pool;
    for (int t = 0; t < threads; ++t) {
      pool.emplace_back([&, t] {
        // Each claims its lane before any can exit and give one back.
        lanes[static_cast<std::size_t>(t)] = circuit::detail::thread_lane();
        start.arrive_and_wait();
        for (int i = 0; i < per_thread; ++i) {
          b.try_guard().success();
          // Moving through four slices, a slice entry every 500 successes.
          r.on_success(3s + ns(1s) * (i / 500));
        }
      });
    }
    for (auto& t : pool) t.join();
  }
  const auto expected = std::uint64_t{threads} * per_thread;
  CHECK(b.metrics().window.successes == expected);
  CHECK(b.metrics().total.successes == expected);
  CHECK(r.figures(6s).successes == expected);
  CHECK(r.figures(13s).successes == expected / 4 * 3);  // the slice at 3 s has left
  CHECK(r.figures(13s).failures == 0);

  // Distinct lanes, but for the threads that found every lane taken (the
  // main thread may hold one); each lane with its own slices here.
  std::vector<std::size_t> owned;
  for (const auto lane : lanes) {
    if (lane < circuit::detail::max_lanes()) owned.push_back(lane);
  }
  std::sort(owned.begin(), owned.end());
  CHECK(std::adjacent_find(owned.begin(), owned.end()) == owned.end());
  CHECK(owned.size() + 1 >= std::min<std::size_t>(threads, circuit::detail::max_lanes()));
  CHECK(r.slice_bytes() == (2 + owned.size()) * 128);
}

TEST_CASE("a thread without a lane counts in the shared lane, with the same rules", "[failure_rate_window][threads]") {
  const circuit::failure_rate_window settings{.failure_rate = 0.5, .minimum_calls = 4, .window = 4s, .buckets = 4};
  circuit::failure_rate_window::recorder r(settings);
  CHECK(r.slice_bytes() == 2 * 64);  // (4 + 1 + 1) words: one line per lane
  std::thread([&r] {
    circuit::detail::this_lane = circuit::detail::overflow_lane;
    for (const auto t : {0s, 1s, 1s, 2s}) r.on_success(t);
    CHECK(r.figures(2s).successes == 4);
    CHECK(r.figures(4s).successes == 3);  // slice 0 left
    // A stale success is dropped, from the shared lane too.
    CHECK_FALSE(r.on_success(stale_at{2s}));
    CHECK(r.figures(2s).successes == 4);
    r.reset();
    CHECK(r.figures(2s).successes == 0);
    r.on_success(2s);
    CHECK(r.figures(2s).successes == 1);
    CHECK_FALSE(r.on_failure(2s));
    CHECK_FALSE(r.on_failure(2s));
    CHECK(r.on_failure(3s));  // 3 of 4
    // Many slices later, the shared lane's old slots are not read again.
    r.on_success(ns(1s) * (std::int64_t{1} << 26));
    CHECK(r.figures(ns(1s) * (std::int64_t{1} << 26)).successes == 1);
    CHECK(r.figures(ns(1s) * (std::int64_t{1} << 26)).failures == 0);
  }).join();
  CHECK(r.slice_bytes() == 2 * 64);  // it took no lane of its own
}

TEST_CASE("a first success found stale records nothing and leaves no slices behind", "[failure_rate_window]") {
  const circuit::failure_rate_window settings{.failure_rate = 0.5, .minimum_calls = 100, .window = 10s, .buckets = 10};
  circuit::failure_rate_window::recorder r(settings);
  std::thread([&r] {
    CHECK_FALSE(r.on_success(stale_at{1s}));
    CHECK(r.figures(1s).successes == 0);
    CHECK(r.slice_bytes() == 2 * 128);
    r.on_success(1s);
    CHECK(r.figures(1s).successes == 1);
    CHECK(r.slice_bytes() == 3 * 128);
  }).join();
}

TEST_CASE("a success never trips, whatever the failed share", "[failure_rate_window]") {
  STATIC_REQUIRE(std::is_void_v<decltype(std::declval<circuit::failure_rate_window::recorder&>().on_success(0ns))>);
  circuit::manual_clock clock;
  rate_breaker b(circuit::failure_rate_window{.failure_rate = 0.5, .minimum_calls = 10, .window = 10s, .buckets = 10},
                 {}, clock);
  fail(b, 9);
  succeed(b);  // 10 calls, 90 % failed: the rule holds, but only a failure checks it
  CHECK(b.current_state() == circuit::state::closed);
  CHECK(b.metrics().window.failures == 9);
  CHECK(b.metrics().window.successes == 1);
  fail(b);
  CHECK(b.current_state() == circuit::state::open);
}

TEST_CASE("a single bucket spans the whole window", "[failure_rate_window]") {
  circuit::failure_rate_window::recorder r(
      circuit::failure_rate_window{.failure_rate = 0.5, .minimum_calls = 3, .window = 10s, .buckets = 1});
  r.on_success(0ns);
  CHECK_FALSE(r.on_failure(9s));
  CHECK(r.figures(10s - 1ns).successes == 1);
  CHECK(r.figures(10s - 1ns).failures == 1);
  CHECK(r.figures(10s).successes == 0);
  CHECK(r.figures(10s).failures == 0);
  CHECK_FALSE(r.on_failure(10s));  // the first slice has left: 1 call
  r.on_success(12s);
  CHECK(r.on_failure(19s));  // 2 of 3
}

TEST_CASE("a window that is not a multiple of the bucket count still slides slice by slice", "[failure_rate_window]") {
  // 10 s in 3 buckets: slices of 3333333333 ns.
  constexpr ns w(3333333333);
  circuit::failure_rate_window::recorder r(
      circuit::failure_rate_window{.failure_rate = 0.5, .minimum_calls = 100, .window = 10s, .buckets = 3});
  r.on_success(0ns);          // slice 0
  r.on_success(w);            // slice 1
  r.on_success(3 * w - 1ns);  // slice 2
  r.on_success(3 * w);        // slice 3
  CHECK(r.figures(3 * w).successes == 4);
  CHECK(r.figures(ns(10s) - 1ns).successes == 4);
  CHECK(r.figures(ns(10s)).successes == 3);
  CHECK(r.figures(w + 10s - 1ns).successes == 3);
  CHECK(r.figures(w + 10s).successes == 2);
  CHECK(r.figures(2 * w + 10s).successes == 1);
  CHECK(r.figures(3 * w + 10s - 1ns).successes == 1);
  CHECK(r.figures(3 * w + 10s).successes == 0);

  circuit::failure_rate_window::recorder trips(
      circuit::failure_rate_window{.failure_rate = 0.5, .minimum_calls = 4, .window = 10s, .buckets = 3});
  CHECK_FALSE(trips.on_failure(0ns));
  CHECK_FALSE(trips.on_failure(w));
  CHECK_FALSE(trips.on_failure(2 * w));
  CHECK(trips.on_failure(3 * w));
}

TEST_CASE("times before the clock's epoch fall in the right slices", "[failure_rate_window]") {
  circuit::manual_clock clock(tp(-30s));
  rate_breaker b(circuit::failure_rate_window{.failure_rate = 0.5, .minimum_calls = 4, .window = 10s, .buckets = 10},
                 {}, clock);
  succeed(b);
  fail(b, 2);
  CHECK(b.current_state() == circuit::state::closed);
  CHECK(b.metrics().window.successes == 1);
  CHECK(b.metrics().window.failures == 2);
  fail(b);
  CHECK(b.current_state() == circuit::state::open);

  // -1 ns lies in slice [-1 s, 0), which leaves at 9 s (not at 10 s, as
  // rounding towards zero would have it).
  circuit::failure_rate_window::recorder r(
      circuit::failure_rate_window{.failure_rate = 0.5, .minimum_calls = 100, .window = 10s, .buckets = 10});
  r.on_success(-1ns);
  r.on_success(-5s);  // slice [-5 s, -4 s)
  CHECK(r.figures(0ns).successes == 2);
  CHECK(r.figures(5s - 1ns).successes == 2);
  CHECK(r.figures(5s).successes == 1);
  CHECK(r.figures(9s - 1ns).successes == 1);
  CHECK(r.figures(9s).successes == 0);
}

TEST_CASE("calls at the limits of nanoseconds do not overflow the window", "[failure_rate_window]") {
  circuit::failure_rate_window::recorder r(
      circuit::failure_rate_window{.failure_rate = 0.5, .minimum_calls = 2, .window = 10s, .buckets = 10});
  CHECK_FALSE(r.on_failure(ns::min()));
  CHECK(r.figures(ns::min()).failures == 1);
  CHECK(r.on_failure(ns::min() + 1s));
  CHECK(r.figures(ns::max()).failures == 0);
  r.on_success(ns::max());
  CHECK(r.figures(ns::max()).successes == 1);
  CHECK(r.on_failure(ns::max()));

  // Slices of 1 ns: the newest slice index is the largest int64_t.
  circuit::failure_rate_window::recorder fine(
      circuit::failure_rate_window{.failure_rate = 0.5, .minimum_calls = 2, .window = 10ns, .buckets = 10});
  CHECK_FALSE(fine.on_failure(ns::min()));
  CHECK(fine.on_failure(ns::min() + 9ns));
  CHECK(fine.figures(ns::min() + 10ns).failures == 1);
  fine.on_success(ns::max() - 1ns);
  CHECK(fine.on_failure(ns::max()));  // 1 of 2: the failures at min are long gone
  CHECK(fine.figures(ns::max()).failures == 1);
  CHECK(fine.figures(ns::max()).successes == 1);
}

TEST_CASE("a slice many windows later is not mistaken for an old one in the same slot", "[failure_rate_window]") {
  // 2 slices of 1 s: slice 3 * 2^24 falls in slice 0's slot, and a tag of the
  // slice index's low bits alone could not tell them apart.
  const circuit::failure_rate_window settings{.failure_rate = 0.5, .minimum_calls = 3, .window = 2s, .buckets = 2};
  const auto later = ns(1s) * (std::int64_t{3} << 24);
  for (const std::int64_t multiple : {1, 2, 5}) {
    CAPTURE(multiple);
    circuit::failure_rate_window::recorder r(settings);
    r.on_success(0ns);
    CHECK_FALSE(r.on_failure(0ns));
    r.on_success(later * multiple);
    CHECK(r.figures(later * multiple).successes == 1);
    CHECK(r.figures(later * multiple).failures == 0);
    CHECK_FALSE(r.on_failure(later * multiple));  // 2 calls, not 4
    CHECK(r.figures(later * multiple).failures == 1);
  }

  circuit::manual_clock clock;
  rate_breaker b(settings, {}, clock);
  succeed(b);
  fail(b);
  clock.advance(later);
  succeed(b);
  CHECK(b.metrics().window.successes == 1);
  CHECK(b.metrics().window.failures == 0);
  fail(b);
  CHECK(b.current_state() == circuit::state::closed);
}

TEST_CASE("successes after reset() in the slice cached before it are counted", "[failure_rate_window]") {
  // A thread's successes in the slice it last entered skip the slice lookup.
  // reset() must make the next one enter afresh, or it would land in a
  // cleared lane that the window no longer reads.
  const circuit::failure_rate_window settings{.failure_rate = 0.5, .minimum_calls = 100, .window = 10s, .buckets = 10};
  circuit::failure_rate_window::recorder r(settings);
  r.on_success(5s);
  r.on_success(5s + 1ns);
  CHECK(r.figures(5s).successes == 2);
  r.reset();
  CHECK(r.figures(5s).successes == 0);
  r.on_success(5s + 2ns);
  CHECK(r.figures(5s + 2ns).successes == 1);
  r.on_success(5s + 3ns);
  CHECK(r.figures(5s + 3ns).successes == 2);

  // The same through a breaker: reset() between successes at one time.
  circuit::manual_clock clock;
  rate_breaker b(settings, {}, clock);
  succeed(b, 3);
  b.reset();
  succeed(b, 2);
  CHECK(b.metrics().window.successes == 2);
  CHECK(b.metrics().total.successes == 5);
}

TEST_CASE("a success reads the time through the breaker's context, once per call", "[failure_rate_window]") {
  static_assert(circuit::detail::takes_success_context<circuit::failure_rate_window>);
  const circuit::failure_rate_window settings{.failure_rate = 0.5, .minimum_calls = 100, .window = 10s, .buckets = 10};
  circuit::failure_rate_window::recorder r(settings);
  int reads = 0;
  const auto succeed_at = [&](ns t) {
    r.on_success([&reads, t]() noexcept {
      ++reads;
      return t;
    });
  };
  for (const auto t : {1s, 1s, 2s}) succeed_at(t);
  CHECK(reads == 3);
  CHECK(r.figures(2s).successes == 3);
  succeed_at(15s);
  CHECK(reads == 4);
  CHECK(r.figures(15s).successes == 1);  // slices 1 and 2 left the window at 11 s and 12 s
}

TEST_CASE("successes move from slice to slice as the clock does, in each thread", "[failure_rate_window][threads]") {
  // Each thread's slice cache follows the time it is given.
  const circuit::failure_rate_window settings{.failure_rate = 0.5, .minimum_calls = 100, .window = 4s, .buckets = 4};
  circuit::failure_rate_window::recorder r(settings);
  std::vector<std::thread> threads;
  for (int i = 0; i < 4; ++i) {
    threads.emplace_back([&r] {
      for (const auto t : {0s, 1s, 1s, 2s, 3s, 3s, 3s}) r.on_success(t);
    });
  }
  for (auto& t : threads) t.join();
  CHECK(r.figures(3s).successes == 4 * 7);
  CHECK(r.figures(4s).successes == 4 * 6);  // slice 0 left
  CHECK(r.figures(6s).successes == 4 * 3);  // only slice 3
}

namespace {
// The hook puts a transition between the breaker's check of a success
// and the counter's write, which another thread's reset() could do.
using hooked_clock = test::instrumented_clock;
template <class Breaker>
void fail_once_in(Breaker& b) {
  auto g = b.try_guard();
  REQUIRE(g);
  g.failure();
}
}  // namespace

TEST_CASE("a success that a reset() overtakes does not count in the next generation's window",
          "[failure_rate_window]") {
  // One failure in a window of one call trips: a stale success counted in
  // the new window would hold the rate at 0.5 and keep it closed.
  hooked_clock clock;
  circuit::circuit_breaker<hooked_clock, circuit::failure_rate_window> b(
      circuit::failure_rate_window{.failure_rate = 1.0, .minimum_calls = 1, .window = 10s, .buckets = 10}, {},
      clock);
  auto g = b.try_guard();
  REQUIRE(g);
  // The success's clock read (inside the counter, after the breaker found
  // the call current) runs a reset(): a new generation begins.
  *clock.hook = [&b] { b.reset(); };
  g.success();
  const auto m = b.metrics();
  CHECK(m.window.successes == 0);
  CHECK(m.stale_outcomes == 1);
  CHECK(m.total.successes == 1);
  fail_once_in(b);
  CHECK(b.current_state() == circuit::state::open);
}

// ---- Memory limit: a breaker holds at most 1 MiB ---------------------------

namespace {

std::string buckets_refusal(std::uint32_t buckets) {
  try {
    circuit::failure_rate_window{.window = 10s, .buckets = buckets}.validate();
  } catch (const std::invalid_argument& e) {
    return e.what();
  }
  return "<no exception>";
}

}  // namespace

TEST_CASE("buckets is capped so that the slices stay within 656 KB", "[failure_rate_window][limits]") {
  constexpr auto largest = circuit::failure_rate_window::max_buckets;
  STATIC_REQUIRE(largest == 4096);
  // The most slots a lane keeps: 2 x buckets, with one nanosecond per
  // bucket and a window just under two per bucket; a lane is (slots + 1)
  // words, rounded up to cache lines. The recorder holds two lanes from the
  // start (failures, threads without a lane) and one per thread lane that
  // recorded a success, as long as all of them stay within 10 lanes' worth.
  constexpr std::size_t lane_bytes = (2 * std::size_t{largest} + 1 + 7) / 8 * 8 * sizeof(std::uint64_t);
  STATIC_REQUIRE(lane_bytes == 65600);
  constexpr std::size_t heap = 10 * lane_bytes;
  STATIC_REQUIRE(heap == 656000);
  STATIC_REQUIRE(heap + sizeof(circuit::circuit_breaker<circuit::manual_clock, circuit::failure_rate_window>) <
                 1024 * 1024);
  const circuit::failure_rate_window most{.failure_rate = 0.5, .minimum_calls = 4, .window = 8191ns, .buckets = largest};
  {
    circuit::failure_rate_window::recorder idle(most);
    CHECK(idle.slice_bytes() == 2 * lane_bytes);
    CHECK(idle.figures(0ns).successes == 0);
  }
  {
    // 12 busy threads at once: the first 8 lanes get slices of their own,
    // the others count in the shared lane; no success is lost either way.
    constexpr int threads = 12;
    constexpr int per_thread = 3000;
    circuit::failure_rate_window::recorder r(most);
    std::latch start(threads);
    std::vector<std::thread> pool;
    for (int t = 0; t < threads; ++t) {
      pool.emplace_back([&] {
        (void)circuit::detail::thread_lane();
        start.arrive_and_wait();
        for (int i = 0; i < per_thread; ++i) r.on_success(ns(i % 3));  // slices 0 to 2
      });
    }
    for (auto& t : pool) t.join();
    CHECK(r.slice_bytes() == heap);
    CHECK(r.figures(2ns).successes == std::uint64_t{threads} * per_thread);
    CHECK(r.figures(8191ns).successes == std::uint64_t{threads} * per_thread / 3 * 2);  // slice 0 left
    r.reset();
    CHECK(r.figures(2ns).successes == 0);
    r.on_success(5ns);
    CHECK(r.figures(5ns).successes == 1);
  }
  CHECK(buckets_refusal(largest + 1) == "failure_rate_window.buckets must be between 1 and 4096");
  CHECK_THROWS_AS(rate_breaker(circuit::failure_rate_window{.window = 10s, .buckets = largest + 1}, {},
                               circuit::manual_clock{}),
                  std::invalid_argument);
  CHECK(buckets_refusal(largest) == "<no exception>");

  // The largest setting, with the window that needs the most slots, works:
  // calls a window apart do not add up, calls inside it do.
  circuit::manual_clock clock(tp(0ns));
  rate_breaker b(circuit::failure_rate_window{.failure_rate = 0.5, .minimum_calls = 4, .window = 8191ns,
                                              .buckets = largest},
                 {}, clock);
  succeed(b, 2);
  fail(b);
  clock.advance(8191ns);  // slice 0 has left
  fail(b);
  CHECK(b.metrics().window.failures == 1);
  CHECK(b.metrics().window.successes == 0);
  clock.advance(8190ns);
  succeed(b);
  fail(b);
  CHECK(b.current_state() == circuit::state::closed);  // 2 of 3: below minimum_calls
  fail(b);  // 3 of 4
  CHECK(b.current_state() == circuit::state::open);
}
