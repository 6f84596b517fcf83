// Closed state: a guarded no-op through call(), guard() and try_guard(), for
// every counter; successes, and failures that do not trip; one thread and
// two threads sharing one breaker. See README.md for the figures.

#include <atomic>
#include <chrono>
#include <cstdint>
#include <exception>
#include <limits>
#include <memory>
#include <type_traits>

#include <circuit/circuit.hpp>
#include <circuit/detail/uncaught_exceptions.hpp>

#include "bench_common.hpp"

namespace {

using steady = std::chrono::steady_clock;
using coarse = circuit::coarse_steady_clock;
constexpr auto never = std::numeric_limits<std::uint32_t>::max();

// The breaker a benchmark's threads share: one per (Clock, Counter, Kind).
struct succeeding {};
struct failing {};

// Default settings: what a success costs as users configure it.
template <class Counter>
Counter settings(succeeding) {
  return Counter{};
}
// Settings under which failures never trip, so the benchmark measures a
// failure counted in closed state. The code path is the default one; only
// the numbers keep the rule from firing.
template <class Counter>
Counter settings(failing) {
  if constexpr (std::is_same_v<Counter, circuit::sliding_window>) {
    return {.max_failures = 3, .window = std::chrono::nanoseconds(1)};  // 4 failures in 1 ns: never
  } else if constexpr (std::is_same_v<Counter, circuit::failure_rate_window>) {
    return {.failure_rate = 1.0, .minimum_calls = never, .window = std::chrono::seconds(10), .buckets = 10};
  } else {
    return {.threshold = never};
  }
}

template <class Clock, class Counter, class Kind>
circuit::circuit_breaker<Clock, Counter>& shared_breaker() {
  static circuit::circuit_breaker<Clock, Counter> b(settings<Counter>(Kind{}));
  return b;
}

// Before the timed loop (which the threads enter together): a fresh start.
template <class Breaker>
void prepare(benchmark::State& state, Breaker& b) {
  if (state.thread_index() == 0) b.reset();
}

// The failure benchmarks' breakers can still trip with two threads: a
// failure's time is read before the breaker's lock is taken, so a thread
// held up in between (waiting for the lock while the other thread records
// several failures, or preempted) records an older time after newer ones,
// and sliding_window counts a time ahead of `now` as recent. Such a trip is undone here (in the timed loop: it is rare) and
// reported in the "resets" counter.
template <class Breaker>
[[gnu::noinline]] void reopen(Breaker& b, std::int64_t& resets) {
  b.reset();
  ++resets;
}

inline void report_resets(benchmark::State& state, std::int64_t resets) {
  state.counters["resets"] = benchmark::Counter(static_cast<double>(resets));
}

template <class Breaker>
void check_closed(benchmark::State& state, Breaker& b) {
  if (b.current_state() != circuit::state::closed) state.SkipWithError("the breaker left the closed state");
}

template <class Clock, class Counter>
void BM_call_success(benchmark::State& state) {
  auto& b = shared_breaker<Clock, Counter, succeeding>();
  prepare(state, b);
  for (auto _ : state) b.call(bench::noop);
  check_closed(state, b);
}

template <class Clock, class Counter>
void BM_guard_success(benchmark::State& state) {
  auto& b = shared_breaker<Clock, Counter, succeeding>();
  prepare(state, b);
  for (auto _ : state) {
    auto g = b.guard();
    bench::noop();
    g.success();
  }
  check_closed(state, b);
}

template <class Clock, class Counter>
void BM_try_guard_success(benchmark::State& state) {
  auto& b = shared_breaker<Clock, Counter, succeeding>();
  prepare(state, b);
  for (auto _ : state) {
    if (auto g = b.try_guard()) {
      bench::noop();
      g.success();
    }
  }
  check_closed(state, b);
}

template <class Clock, class Counter>
void BM_try_guard_failure(benchmark::State& state) {
  auto& b = shared_breaker<Clock, Counter, failing>();
  prepare(state, b);
  std::int64_t resets = 0;
  for (auto _ : state) {
    if (auto g = b.try_guard()) {
      bench::noop();
      g.failure();
    } else {
      reopen(b, resets);
    }
  }
  report_resets(state, resets);
}

template <class Clock, class Counter>
void BM_guard_failure(benchmark::State& state) {
  auto& b = shared_breaker<Clock, Counter, failing>();
  prepare(state, b);
  std::int64_t resets = 0;
  for (auto _ : state) {
    try {
      auto g = b.guard();
      bench::noop();
      g.failure();
    } catch (const circuit::open_circuit_error&) {
      reopen(b, resets);
    }
  }
  report_resets(state, resets);
}

// A failure reported by an exception through call(): the breaker catches,
// classifies and rethrows. Compare with BM_direct_throw.
struct down {};
[[gnu::noinline]] void throw_down() { throw down{}; }

void BM_direct_throw(benchmark::State& state) {
  for (auto _ : state) {
    try {
      throw_down();
    } catch (const down&) {
      benchmark::ClobberMemory();
    }
  }
}

template <class Clock, class Counter>
void BM_call_throw(benchmark::State& state) {
  auto& b = shared_breaker<Clock, Counter, failing>();
  prepare(state, b);
  std::int64_t resets = 0;
  for (auto _ : state) {
    try {
      b.call(throw_down);
    } catch (const down&) {
      benchmark::ClobberMemory();
    } catch (const circuit::open_circuit_error&) {
      reopen(b, resets);
    }
  }
  report_resets(state, resets);
}

// Control for the two-thread figures: a guarded no-op that does what the
// breaker avoids, one shared read-modify-write per call. When both threads
// really run at once its two-thread figure rises well above one thread's.
std::atomic<std::uint64_t> shared_count{0};

void BM_shared_fetch_add(benchmark::State& state) {
  for (auto _ : state) {
    bench::noop();
    shared_count.fetch_add(1, std::memory_order_relaxed);
  }
}

// The floor under call(): the work its semantics need, hand-inlined. One
// load to admit, the no-op, a tally in this thread's lane, the re-load of
// the word (a transition in between makes the success stale) and the
// no-listener check (the breaker's list and its set's, each behind a
// pointer). call() does this on that path, and nothing else.
struct floor_listeners {
  std::atomic<const void*> current{nullptr};
};
struct floor_breaker {
  std::atomic<std::uint64_t> word{0};
  std::shared_ptr<floor_listeners> listeners = std::make_shared<floor_listeners>();
  std::shared_ptr<floor_listeners> set_listeners;
  circuit::detail::striped_counters<1> tallies;
};

void BM_floor_hand_inlined(benchmark::State& state) {
  static floor_breaker b;
  for (auto _ : state) {
    const auto w = b.word.load(std::memory_order_acquire);
    if ((w & 0xff) != 0) continue;
    bench::noop();
    b.tallies.add(0);
    if (b.word.load(std::memory_order_acquire) != w) benchmark::DoNotOptimize(w);
    if (b.listeners->current.load(std::memory_order_relaxed) != nullptr ||
        (b.set_listeners != nullptr && b.set_listeners->current.load(std::memory_order_relaxed) != nullptr)) {
      benchmark::DoNotOptimize(w);
    }
  }
}

// What guard() and try_guard() would pay, through the standard function,
// so that a permit left unsettled can tell whether its scope was left by an
// exception; and what they pay (detail/uncaught_exceptions.hpp).
void BM_uncaught_exceptions(benchmark::State& state) {
  for (auto _ : state) benchmark::DoNotOptimize(std::uncaught_exceptions());
}

void BM_uncaught_exceptions_cached(benchmark::State& state) {
  for (auto _ : state) benchmark::DoNotOptimize(circuit::detail::uncaught_exceptions());
}

}  // namespace

// Each benchmark at 1 thread and at 2 threads sharing the breaker (wall
// ns/op, see bench_common.hpp).
#define CLOSED_BENCH(fn, clock, counter, label)                                    \
  BENCHMARK_TEMPLATE(fn, clock, counter)->Name(label);                             \
  BENCHMARK_TEMPLATE(fn, clock, counter)->Name(label)->Threads(2)->UseRealTime()

#define CLOSED_COUNTER(clock, counter, label)                                              \
  CLOSED_BENCH(BM_call_success, clock, counter, "call/success/" label);                    \
  CLOSED_BENCH(BM_guard_success, clock, counter, "guard/success/" label);                  \
  CLOSED_BENCH(BM_try_guard_success, clock, counter, "try_guard/success/" label);          \
  CLOSED_BENCH(BM_guard_failure, clock, counter, "guard/failure/" label);                  \
  CLOSED_BENCH(BM_try_guard_failure, clock, counter, "try_guard/failure/" label)

CLOSED_COUNTER(steady, circuit::sliding_window, "sliding_window");
CLOSED_COUNTER(steady, circuit::consecutive_failures, "consecutive_failures");
CLOSED_COUNTER(steady, circuit::net_failures, "net_failures");
CLOSED_COUNTER(steady, circuit::failure_rate_window, "failure_rate_window");
CLOSED_COUNTER(coarse, circuit::failure_rate_window, "failure_rate_window/coarse");

BENCHMARK(BM_floor_hand_inlined);
BENCHMARK(BM_uncaught_exceptions);
BENCHMARK(BM_uncaught_exceptions_cached);
BENCHMARK(BM_shared_fetch_add);
BENCHMARK(BM_shared_fetch_add)->Threads(2)->UseRealTime();
BENCHMARK(BM_direct_throw);
BENCHMARK_TEMPLATE(BM_call_throw, steady, circuit::sliding_window)->Name("call/throw/sliding_window");

