// Open state: rejection through try_guard() (no exception), guard() and
// call() (open_circuit_error), with steady_clock and coarse_steady_clock.
// The clock reads in bench_common.hpp give the "one clock read + 2 ns" mark.

#include <chrono>
#include <optional>

#if defined(__linux__)
#include <time.h>
#endif

#include <circuit/circuit.hpp>

#include "bench_common.hpp"

namespace {

using steady = std::chrono::steady_clock;
using coarse = circuit::coarse_steady_clock;
using namespace std::chrono_literals;

// Open for a day: every call in the benchmark is refused.
template <class Clock>
circuit::circuit_breaker<Clock>& open_breaker() {
  static auto& b = []() -> circuit::circuit_breaker<Clock>& {
    static circuit::circuit_breaker<Clock> made({}, {.name = "peer", .open_for = circuit::fixed{24h}});
    made.trip();
    return made;
  }();
  return b;
}

template <class Breaker>
void check_open(benchmark::State& state, Breaker& b) {
  if (b.current_state() != circuit::state::open) state.SkipWithError("the breaker is not open");
}

template <class Clock>
void BM_open_try_guard(benchmark::State& state) {
  auto& b = open_breaker<Clock>();
  check_open(state, b);
  for (auto _ : state) {
    auto g = b.try_guard();
    benchmark::DoNotOptimize(static_cast<bool>(g));
  }
}

template <class Clock>
void BM_open_guard(benchmark::State& state) {
  auto& b = open_breaker<Clock>();
  check_open(state, b);
  for (auto _ : state) {
    try {
      auto g = b.guard();
      benchmark::DoNotOptimize(static_cast<bool>(g));
    } catch (const circuit::open_circuit_error& e) {
      benchmark::DoNotOptimize(&e);
    }
  }
}

template <class Clock>
void BM_open_call(benchmark::State& state) {
  auto& b = open_breaker<Clock>();
  check_open(state, b);
  for (auto _ : state) {
    try {
      b.call(bench::noop);
    } catch (const circuit::open_circuit_error& e) {
      benchmark::DoNotOptimize(&e);
    }
  }
}

// What the exception alone costs: the same error made and thrown directly.
[[gnu::noinline]] void throw_open() { throw circuit::open_circuit_error("peer", circuit::state::open, 1s); }

void BM_direct_throw_open_circuit_error(benchmark::State& state) {
  for (auto _ : state) {
    try {
      throw_open();
    } catch (const circuit::open_circuit_error& e) {
      benchmark::DoNotOptimize(&e);
    }
  }
}

#if defined(__linux__)
// The coarse clock read through the C library's clock_gettime(), which
// coarse_steady_clock skips by calling the vDSO directly.
void BM_libc_clock_gettime_coarse(benchmark::State& state) {
  for (auto _ : state) {
    timespec ts{};
    ::clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
    benchmark::DoNotOptimize(ts);
  }
}
BENCHMARK(BM_libc_clock_gettime_coarse);
#endif

}  // namespace

BENCHMARK_TEMPLATE(BM_open_try_guard, steady)->Name("open/try_guard/steady");
BENCHMARK_TEMPLATE(BM_open_try_guard, steady)->Name("open/try_guard/steady")->Threads(2)->UseRealTime();
BENCHMARK_TEMPLATE(BM_open_try_guard, coarse)->Name("open/try_guard/coarse");
BENCHMARK_TEMPLATE(BM_open_try_guard, coarse)->Name("open/try_guard/coarse")->Threads(2)->UseRealTime();
BENCHMARK_TEMPLATE(BM_open_guard, steady)->Name("open/guard/steady");
BENCHMARK_TEMPLATE(BM_open_guard, coarse)->Name("open/guard/coarse");
BENCHMARK_TEMPLATE(BM_open_call, steady)->Name("open/call/steady");
BENCHMARK_TEMPLATE(BM_open_call, coarse)->Name("open/call/coarse");
BENCHMARK(BM_direct_throw_open_circuit_error);

