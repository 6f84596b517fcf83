// What a set-wide listener costs a closed-state call through the set: none,
// one that takes state changes only (event_filter::state_changes, e.g. a
// logger of every peer's transitions), and one that takes every event; one
// thread, and two threads on the same peer or on one peer each. A set
// listener that takes no successes should cost nothing: each peer's breaker
// reads the set list's "kinds wanted" byte and dispatches nothing. The
// figures are in benchmarks/README.md ("Set listeners").

#include <atomic>
#include <cstdint>
#include <string>
#include <string_view>

#include <circuit/circuit.hpp>
#include <circuit/circuit_breaker_set.hpp>

#include "bench_common.hpp"

namespace {

using namespace std::string_view_literals;

enum class listening { none, state_changes, everything };

// 64 peers, as a service might talk to; one set per kind of listener.
template <listening L>
circuit::circuit_breaker_set<>& peers() {
  static auto& set = []() -> circuit::circuit_breaker_set<>& {
    static circuit::circuit_breaker_set<> made;
    for (int i = 0; i < 64; ++i) (void)made.get("peer-" + std::to_string(i));
    return made;
  }();
  static std::atomic<std::uint64_t> heard{0};
  static const circuit::subscription sub = [] {
    auto count = [](const circuit::event&) { heard.fetch_add(1, std::memory_order_relaxed); };
    if constexpr (L == listening::state_changes) return set.on_event(count, circuit::event_filter::state_changes);
    if constexpr (L == listening::everything) return set.on_event(count);
    return circuit::subscription{};
  }();
  (void)sub;
  return set;
}

std::string_view same_peer(const benchmark::State&) { return "peer-42"sv; }
std::string_view own_peer(const benchmark::State& state) { return state.thread_index() == 0 ? "peer-42"sv : "peer-7"sv; }

template <listening L, std::string_view (*Peer)(const benchmark::State&)>
void BM_set_call(benchmark::State& state) {
  auto& set = peers<L>();
  const auto peer = Peer(state);
  for (auto _ : state) set.call(peer, bench::noop);
}

template <listening L, std::string_view (*Peer)(const benchmark::State&)>
void BM_set_try_call(benchmark::State& state) {
  auto& set = peers<L>();
  const auto peer = Peer(state);
  for (auto _ : state) benchmark::DoNotOptimize(set.try_call(peer, bench::noop).has_value());
}

}  // namespace

BENCHMARK(BM_set_call<listening::none, same_peer>)->Name("set/call/no_listener");
BENCHMARK(BM_set_call<listening::state_changes, same_peer>)->Name("set/call/state_change_listener");
BENCHMARK(BM_set_call<listening::everything, same_peer>)->Name("set/call/listener_for_all_events");
BENCHMARK(BM_set_call<listening::none, same_peer>)->Name("set/call/no_listener/same_peer")->Threads(2)->UseRealTime();
BENCHMARK(BM_set_call<listening::state_changes, same_peer>)
    ->Name("set/call/state_change_listener/same_peer")
    ->Threads(2)
    ->UseRealTime();
BENCHMARK(BM_set_call<listening::everything, same_peer>)
    ->Name("set/call/listener_for_all_events/same_peer")
    ->Threads(2)
    ->UseRealTime();
BENCHMARK(BM_set_call<listening::none, own_peer>)->Name("set/call/no_listener/own_peer")->Threads(2)->UseRealTime();
BENCHMARK(BM_set_call<listening::state_changes, own_peer>)
    ->Name("set/call/state_change_listener/own_peer")
    ->Threads(2)
    ->UseRealTime();
BENCHMARK(BM_set_try_call<listening::none, same_peer>)->Name("set/try_call/no_listener");
BENCHMARK(BM_set_try_call<listening::state_changes, same_peer>)->Name("set/try_call/state_change_listener");
BENCHMARK(BM_set_try_call<listening::none, same_peer>)
    ->Name("set/try_call/no_listener/same_peer")
    ->Threads(2)
    ->UseRealTime();
BENCHMARK(BM_set_try_call<listening::state_changes, same_peer>)
    ->Name("set/try_call/state_change_listener/same_peer")
    ->Threads(2)
    ->UseRealTime();
