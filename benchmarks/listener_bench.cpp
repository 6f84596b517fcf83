// What a listener costs the closed-state success path: none, one that takes
// state changes only (event_filter::state_changes, e.g. a logger), and one
// that takes every event; one thread and two threads sharing one breaker.
// A listener that does not take successes should cost nothing: the success
// path reads the lists' "kinds wanted" byte and dispatches nothing. See
// README.md for the figures.

#include <atomic>
#include <cstdint>

#include <circuit/circuit.hpp>

#include "bench_common.hpp"

namespace {

enum class listening { none, state_changes, everything };

template <listening L>
circuit::circuit_breaker<>& shared_breaker() {
  static circuit::circuit_breaker<> b;
  static std::atomic<std::uint64_t> heard{0};
  static const circuit::subscription sub = [] {
    auto count = [](const circuit::event&) { heard.fetch_add(1, std::memory_order_relaxed); };
    if constexpr (L == listening::state_changes) return b.on_event(count, circuit::event_filter::state_changes);
    if constexpr (L == listening::everything) return b.on_event(count);
    return circuit::subscription{};
  }();
  (void)sub;
  return b;
}

template <listening L>
void BM_call_success(benchmark::State& state) {
  auto& b = shared_breaker<L>();
  for (auto _ : state) b.call(bench::noop);
}

template <listening L>
void BM_guard_success(benchmark::State& state) {
  auto& b = shared_breaker<L>();
  for (auto _ : state) {
    auto g = b.guard();
    bench::noop();
  }
}

}  // namespace

BENCHMARK(BM_call_success<listening::none>)->Name("call/no_listener");
BENCHMARK(BM_call_success<listening::state_changes>)->Name("call/state_change_listener");
BENCHMARK(BM_call_success<listening::everything>)->Name("call/listener_for_all_events");
BENCHMARK(BM_call_success<listening::none>)->Name("call/no_listener")->Threads(2)->UseRealTime();
BENCHMARK(BM_call_success<listening::state_changes>)->Name("call/state_change_listener")->Threads(2)->UseRealTime();
BENCHMARK(BM_call_success<listening::everything>)->Name("call/listener_for_all_events")->Threads(2)->UseRealTime();
BENCHMARK(BM_guard_success<listening::none>)->Name("guard/no_listener");
BENCHMARK(BM_guard_success<listening::state_changes>)->Name("guard/state_change_listener");
BENCHMARK(BM_guard_success<listening::none>)->Name("guard/no_listener")->Threads(2)->UseRealTime();
BENCHMARK(BM_guard_success<listening::state_changes>)->Name("guard/state_change_listener")->Threads(2)->UseRealTime();
