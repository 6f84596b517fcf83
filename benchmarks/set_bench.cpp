// circuit_breaker_set: lookup of an existing peer by std::string_view plus a
// guarded no-op, at 1 and 2 threads; the same through a plain breaker for
// comparison.

#include <string>
#include <string_view>

#include <circuit/circuit.hpp>
#include <circuit/circuit_breaker_set.hpp>

#include "bench_common.hpp"

namespace {

using namespace std::string_view_literals;

// 64 peers, as a service might talk to.
circuit::circuit_breaker_set<>& peers() {
  static auto& set = []() -> circuit::circuit_breaker_set<>& {
    static circuit::circuit_breaker_set<> made;
    for (int i = 0; i < 64; ++i) (void)made.get("peer-" + std::to_string(i));
    return made;
  }();
  return set;
}

circuit::circuit_breaker<>& plain_breaker() {
  static circuit::circuit_breaker<> b;
  return b;
}

// Two threads: the same peer, or one peer each.
std::string_view same_peer(const benchmark::State&) { return "peer-42"sv; }
std::string_view own_peer(const benchmark::State& state) { return state.thread_index() == 0 ? "peer-42"sv : "peer-7"sv; }

template <std::string_view (*Peer)(const benchmark::State&)>
void BM_set_call(benchmark::State& state) {
  auto& set = peers();
  const auto peer = Peer(state);
  for (auto _ : state) set.call(peer, bench::noop);
}

template <std::string_view (*Peer)(const benchmark::State&)>
void BM_set_try_guard(benchmark::State& state) {
  auto& set = peers();
  const auto peer = Peer(state);
  for (auto _ : state) {
    if (auto g = set.try_guard(peer)) {
      bench::noop();
      g.success();
    }
  }
}

void BM_set_get_then_call(benchmark::State& state) {
  auto& set = peers();
  for (auto _ : state) set.get("peer-42"sv).call(bench::noop);
}

void BM_breaker_call(benchmark::State& state) {
  auto& b = plain_breaker();
  for (auto _ : state) b.call(bench::noop);
}

void BM_breaker_try_guard(benchmark::State& state) {
  auto& b = plain_breaker();
  for (auto _ : state) {
    if (auto g = b.try_guard()) {
      bench::noop();
      g.success();
    }
  }
}

}  // namespace

BENCHMARK_TEMPLATE(BM_set_call, same_peer)->Name("set/call/same_peer");
BENCHMARK_TEMPLATE(BM_set_call, same_peer)->Name("set/call/same_peer")->Threads(2)->UseRealTime();
BENCHMARK_TEMPLATE(BM_set_call, own_peer)->Name("set/call/own_peer")->Threads(2)->UseRealTime();
BENCHMARK_TEMPLATE(BM_set_try_guard, same_peer)->Name("set/try_guard/same_peer");
BENCHMARK_TEMPLATE(BM_set_try_guard, same_peer)->Name("set/try_guard/same_peer")->Threads(2)->UseRealTime();
BENCHMARK_TEMPLATE(BM_set_try_guard, own_peer)->Name("set/try_guard/own_peer")->Threads(2)->UseRealTime();
BENCHMARK(BM_set_get_then_call)->Name("set/get_then_call/same_peer");
BENCHMARK(BM_breaker_call)->Name("breaker/call");
BENCHMARK(BM_breaker_call)->Name("breaker/call")->Threads(2)->UseRealTime();
BENCHMARK(BM_breaker_try_guard)->Name("breaker/try_guard");
BENCHMARK(BM_breaker_try_guard)->Name("breaker/try_guard")->Threads(2)->UseRealTime();

