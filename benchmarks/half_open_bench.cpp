// Half_open: a probe's admission and settlement.
// - probe/give_back: success_threshold is out of reach, so the breaker stays
//   half_open and every probe success gives its slot back (admission CAS,
//   clock read, lock, release): the steady-state cost of one probe.
// - cycle/trip_probe_close: trip(), then a probe that is admitted (the lazy
//   open -> half_open transition) and closes the circuit: three transitions.
//   cycle/trip_reset (trip() + reset(), two transitions) is for reference.

#include <chrono>
#include <cstdint>
#include <limits>

#include <circuit/circuit.hpp>

#include "bench_common.hpp"

namespace {

using steady = std::chrono::steady_clock;
using coarse = circuit::coarse_steady_clock;

template <class Clock>
void BM_probe_give_back(benchmark::State& state) {
  static circuit::circuit_breaker<Clock> b(
      {}, {.open_for = circuit::fixed{std::chrono::nanoseconds(1)},
           .half_open_max_calls = 16,
           .success_threshold = std::numeric_limits<std::uint32_t>::max()});
  if (state.thread_index() == 0) {
    b.reset();
    b.trip();
    // The open duration ends at the clock's next step (a tick for the coarse clock).
    while (b.current_state() != circuit::state::half_open) {
    }
  }
  for (auto _ : state) {
    auto g = b.try_guard();
    if (!g) {
      state.SkipWithError("probe refused");
      break;
    }
    bench::noop();
    g.success();
  }
  if (b.current_state() != circuit::state::half_open) state.SkipWithError("the breaker left half_open");
}

void BM_cycle_trip_probe_close(benchmark::State& state) {
  circuit::circuit_breaker<steady> b({}, {.open_for = circuit::fixed{std::chrono::nanoseconds(1)}});
  for (auto _ : state) {
    b.trip();
    auto g = b.try_guard();
    if (!g) {
      state.SkipWithError("probe refused");
      break;
    }
    bench::noop();
    g.success();
  }
  if (b.current_state() != circuit::state::closed) state.SkipWithError("the probe did not close the circuit");
}

void BM_cycle_trip_reset(benchmark::State& state) {
  circuit::circuit_breaker<steady> b;
  for (auto _ : state) {
    b.trip();
    b.reset();
  }
}

}  // namespace

BENCHMARK_TEMPLATE(BM_probe_give_back, steady)->Name("half_open/probe/give_back/steady");
BENCHMARK_TEMPLATE(BM_probe_give_back, steady)->Name("half_open/probe/give_back/steady")->Threads(2)->UseRealTime();
BENCHMARK_TEMPLATE(BM_probe_give_back, coarse)->Name("half_open/probe/give_back/coarse");
BENCHMARK(BM_cycle_trip_probe_close)->Name("half_open/cycle/trip_probe_close/steady");
BENCHMARK(BM_cycle_trip_reset)->Name("half_open/cycle/trip_reset/steady");

