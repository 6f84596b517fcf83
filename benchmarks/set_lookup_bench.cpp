// What the set's lookup adds to a call: `peers.call(std::string_view{
// "10.1.7.42:443"}, noop)` against the same peer's breaker's own `call()`
// in the same run, with sets of 1, 1,000 and 100,000 peers (keys
// "10.a.b.c:443", one success each). `runtime_id`: the same id held in a
// std::string the compiler cannot see into, hashed on every call as an id
// from a request is. `rotating`: the same over 1,024
// peers spread over the set, one after the other (the lookups then miss
// the caches as a proxy's do), against their breakers' own calls in the
// same order.

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <circuit/circuit.hpp>
#include <circuit/circuit_breaker_set.hpp>

#include "bench_common.hpp"

namespace {

using set_type = circuit::circuit_breaker_set<>;

// Peer i's key: "10.a.b.c:443"; peer 0 is "10.1.7.42:443". snprintf: GCC
// 12 at -O3 warns falsely (-Wrestrict) on the concatenation of std::strings.
std::string key(std::size_t i) {
  const std::size_t n = (i + ((1u << 16) | (7u << 8) | 42u)) & 0xffffff;
  char text[32];
  const int len = std::snprintf(text, sizeof text, "10.%zu.%zu.%zu:443", n >> 16, (n >> 8) & 0xff, n & 0xff);
  return std::string(text, static_cast<std::size_t>(len));
}

constexpr std::size_t rotation = 1024;

struct fixture {
  explicit fixture(std::size_t peers) {
    for (std::size_t i = 0; i < peers; ++i) set.call(key(i), bench::noop);
    // The rotating peers: spread over the set, in a fixed order.
    const std::size_t step = peers / rotation;
    if (step != 0) {
      for (std::size_t r = 0; r < rotation; ++r) keys.push_back(key(r * step));
      for (const auto& k : keys) breakers.push_back(&set.get(k));
    }
    one = &set.get(std::string_view{"10.1.7.42:443"});
  }
  set_type set;
  circuit::circuit_breaker<>* one = nullptr;
  std::vector<std::string> keys;
  std::vector<circuit::circuit_breaker<>*> breakers;
};

fixture& with(std::size_t peers) {
  static std::map<std::size_t, std::unique_ptr<fixture>> made;
  auto& f = made[peers];
  if (!f) f = std::make_unique<fixture>(peers);
  return *f;
}

void report(benchmark::State& state, const fixture& f) {
  state.counters["peers"] = static_cast<double>(f.set.size());
}

void BM_set_call(benchmark::State& state) {
  auto& f = with(static_cast<std::size_t>(state.range(0)));
  for (auto _ : state) f.set.call(std::string_view{"10.1.7.42:443"}, bench::noop);
  report(state, f);
}

// The same id, unknown to the compiler: hashed on every call, as an id
// read from a request is (the literal above lets GCC fold part of it).
void BM_set_call_runtime_id(benchmark::State& state) {
  auto& f = with(static_cast<std::size_t>(state.range(0)));
  const std::string id = key(0);
  for (auto _ : state) {
    std::string_view peer = id;
    benchmark::DoNotOptimize(peer);
    f.set.call(peer, bench::noop);
  }
  report(state, f);
}

void BM_breaker_call(benchmark::State& state) {
  auto& f = with(static_cast<std::size_t>(state.range(0)));
  auto& b = *f.one;
  for (auto _ : state) b.call(bench::noop);
  report(state, f);
}

void BM_set_call_rotating(benchmark::State& state) {
  auto& f = with(static_cast<std::size_t>(state.range(0)));
  std::vector<std::string_view> keys(f.keys.begin(), f.keys.end());
  std::size_t r = 0;
  for (auto _ : state) {
    f.set.call(keys[r], bench::noop);
    r = (r + 1) & (rotation - 1);
  }
  report(state, f);
}

void BM_breaker_call_rotating(benchmark::State& state) {
  auto& f = with(static_cast<std::size_t>(state.range(0)));
  std::size_t r = 0;
  for (auto _ : state) {
    f.breakers[r]->call(bench::noop);
    r = (r + 1) & (rotation - 1);
  }
  report(state, f);
}

}  // namespace

BENCHMARK(BM_set_call)->Name("lookup/set_call")->Arg(1)->Arg(1000)->Arg(100000)->ArgName("peers");
BENCHMARK(BM_set_call_runtime_id)->Name("lookup/set_call_runtime_id")->Arg(1)->Arg(1000)->Arg(100000)->ArgName("peers");
BENCHMARK(BM_breaker_call)->Name("lookup/breaker_call")->Arg(1)->Arg(1000)->Arg(100000)->ArgName("peers");
BENCHMARK(BM_set_call_rotating)->Name("lookup/set_call_rotating")->Arg(100000)->ArgName("peers");
BENCHMARK(BM_breaker_call_rotating)->Name("lookup/breaker_call_rotating")->Arg(100000)->ArgName("peers");
