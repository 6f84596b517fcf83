// Closed state, by Counter: a successful call() of a no-op with the default
// counter (sliding_window), with failure_rate_window and with
// failure_rate_last_calls, beside the direct call of the same no-op
// (BM_direct_noop, bench_common.hpp); one thread and two threads sharing
// one breaker. See README.md for the figures.

#include <atomic>
#include <chrono>
#include <cstdint>

#include <circuit/circuit.hpp>

#include "bench_common.hpp"

namespace {

using steady = std::chrono::steady_clock;

// The breaker a benchmark's threads share, with the counter's default
// settings: what a success costs as users configure it.
template <class Counter>
circuit::circuit_breaker<steady, Counter>& shared_breaker() {
  static circuit::circuit_breaker<steady, Counter> b{Counter{}};
  return b;
}

template <class Counter>
void BM_call_success(benchmark::State& state) {
  auto& b = shared_breaker<Counter>();
  if (state.thread_index() == 0) b.reset();  // a fresh start before the threads enter the loop together
  for (auto _ : state) b.call(bench::noop);
  if (b.current_state() != circuit::state::closed) state.SkipWithError("the breaker left the closed state");
}

// Control for the two-thread figures: what a counter that orders calls
// with one shared position (a ring of slots and an atomic index) would add,
// one shared read-modify-write per call. When both threads really run at
// once its two-thread figure rises well above one thread's.
std::atomic<std::uint64_t> shared_position{0};

void BM_shared_fetch_add(benchmark::State& state) {
  for (auto _ : state) {
    bench::noop();
    shared_position.fetch_add(1, std::memory_order_relaxed);
  }
}

}  // namespace

#define COUNTER_BENCH(counter, label)                                           \
  BENCHMARK_TEMPLATE(BM_call_success, counter)->Name("call/success/" label); \
  BENCHMARK_TEMPLATE(BM_call_success, counter)->Name("call/success/" label)->Threads(2)->UseRealTime()

COUNTER_BENCH(circuit::sliding_window, "sliding_window");
COUNTER_BENCH(circuit::failure_rate_window, "failure_rate_window");
COUNTER_BENCH(circuit::failure_rate_last_calls, "failure_rate_last_calls");

BENCHMARK(BM_shared_fetch_add);
BENCHMARK(BM_shared_fetch_add)->Threads(2)->UseRealTime();
