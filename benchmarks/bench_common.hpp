#pragma once
// What every benchmark binary shares: the guarded work, and the baselines
// that each binary runs so that its figures read as ratios taken in the
// same run on the same (shared, noisy) machine.
//
// Thread counts: a benchmark registered with ->Threads(2)->UseRealTime()
// reports wall time divided by the iterations of all threads together, i.e.
// wall ns per operation; perfect scaling on two free cores halves it.

#include <benchmark/benchmark.h>

#include <chrono>

#include <circuit/coarse_steady_clock.hpp>

namespace bench {

/// The guarded work: an out-of-line call that does nothing. The empty asm
/// keeps the compiler from proving it pure and dropping the call.
[[gnu::noinline]] inline void noop() noexcept { asm volatile(""); }

}  // namespace bench

/// Baseline: the same no-op called directly.
inline void BM_direct_noop(benchmark::State& state) {
  for (auto _ : state) bench::noop();
}
BENCHMARK(BM_direct_noop);
BENCHMARK(BM_direct_noop)->Threads(2)->UseRealTime();

/// Baseline: one read of each clock a breaker may use.
inline void BM_steady_clock_now(benchmark::State& state) {
  for (auto _ : state) benchmark::DoNotOptimize(std::chrono::steady_clock::now());
}
BENCHMARK(BM_steady_clock_now);

inline void BM_coarse_steady_clock_now(benchmark::State& state) {
  for (auto _ : state) benchmark::DoNotOptimize(circuit::coarse_steady_clock::now());
}
BENCHMARK(BM_coarse_steady_clock_now);
