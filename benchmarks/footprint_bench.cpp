// What a peer costs in memory. Each benchmark runs once (Iterations(1)) and
// reports counters; the label carries the exact figures.
//
// - footprint/idle_peers: a circuit_breaker_set<> of 200,000 peers with keys
//   "10.a.b.c:443", each called once (a success) from this thread. RSS
//   growth (/proc/self/statm after malloc_trim(0), before and after) and
//   heap growth (mallinfo2(): uordblks + hblkhd) over the peers, per peer.
// - footprint/busy_peers: 20,000 peers, each called once by 4 threads
//   (alive, parked, while RSS is read), per peer.
// - footprint/sizeof: sizeof of each breaker type.

#include <malloc.h>
#include <unistd.h>

#include <barrier>
#include <chrono>
#include <cstddef>
#include <cstdio>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <circuit/circuit.hpp>
#include <circuit/circuit_breaker_set.hpp>

#include "bench_common.hpp"

namespace {

using steady = std::chrono::steady_clock;

// Peer i's key: "10.a.b.c:443" (at most 15 bytes: within std::string's own
// buffer). snprintf: GCC 12 at -O3 warns falsely (-Wrestrict) on the
// concatenation of std::strings.
std::string key(std::size_t i) {
  char text[32];
  const int n = std::snprintf(text, sizeof text, "10.%zu.%zu.%zu:443", (i >> 16) & 0xff, (i >> 8) & 0xff, i & 0xff);
  return std::string(text, static_cast<std::size_t>(n));
}

struct memory {
  long long rss = 0;   // resident bytes
  long long heap = 0;  // bytes malloc handed out and not freed
};

memory now() {
  ::malloc_trim(0);
  memory m;
  if (std::FILE* f = std::fopen("/proc/self/statm", "r")) {
    long long size = 0;
    long long resident = 0;
    if (std::fscanf(f, "%lld %lld", &size, &resident) == 2) m.rss = resident * ::sysconf(_SC_PAGESIZE);
    std::fclose(f);
  }
  const auto info = ::mallinfo2();
  m.heap = static_cast<long long>(info.uordblks + info.hblkhd);  // small blocks + mmapped ones
  return m;
}

void report(benchmark::State& state, const memory& before, const memory& after, std::size_t peers) {
  const double rss = static_cast<double>(after.rss - before.rss) / static_cast<double>(peers);
  const double heap = static_cast<double>(after.heap - before.heap) / static_cast<double>(peers);
  state.counters["rss_B_per_peer"] = rss;
  state.counters["heap_B_per_peer"] = heap;
  char label[160];
  std::snprintf(label, sizeof label, "%zu peers: RSS +%.1f MB = %.0f B/peer, heap +%.1f MB = %.0f B/peer", peers,
                static_cast<double>(after.rss - before.rss) / 1e6, rss,
                static_cast<double>(after.heap - before.heap) / 1e6, heap);
  state.SetLabel(label);
}

void BM_idle_peers(benchmark::State& state) {
  const auto peers = static_cast<std::size_t>(state.range(0));
  for (auto _ : state) {
    const auto before = now();
    auto set = std::make_unique<circuit::circuit_breaker_set<>>();
    for (std::size_t i = 0; i < peers; ++i) set->call(key(i), bench::noop);
    const auto after = now();
    if (set->size() != peers) state.SkipWithError("not every peer was made");
    report(state, before, after, peers);
  }
}

void BM_busy_peers(benchmark::State& state) {
  const auto peers = static_cast<std::size_t>(state.range(0));
  const auto callers = static_cast<std::size_t>(state.range(1));
  for (auto _ : state) {
    std::vector<std::string> keys;
    keys.reserve(peers);
    for (std::size_t i = 0; i < peers; ++i) keys.push_back(key(i));
    std::barrier sync(static_cast<std::ptrdiff_t>(callers + 1));
    const auto before = now();
    auto set = std::make_unique<circuit::circuit_breaker_set<>>();
    for (const auto& k : keys) set->call(k, bench::noop);
    std::vector<std::thread> threads;
    for (std::size_t t = 0; t < callers; ++t) {
      threads.emplace_back([&] {
        for (const auto& k : keys) set->call(std::string_view(k), bench::noop);
        sync.arrive_and_wait();  // called every peer
        sync.arrive_and_wait();  // measured: may exit
      });
    }
    sync.arrive_and_wait();
    const auto after = now();
    sync.arrive_and_wait();
    for (auto& t : threads) t.join();
    if (set->metrics(keys[0])->total.successes != callers + 1) state.SkipWithError("calls lost");
    report(state, before, after, peers);
  }
}

void BM_sizeof(benchmark::State& state) {
  for (auto _ : state) {
  }
  const std::size_t sizes[] = {
      sizeof(circuit::circuit_breaker<>),
      sizeof(circuit::circuit_breaker<steady, circuit::consecutive_failures>),
      sizeof(circuit::circuit_breaker<steady, circuit::net_failures>),
      sizeof(circuit::circuit_breaker<steady, circuit::failure_rate_window>),
      sizeof(circuit::circuit_breaker<steady, circuit::failure_rate_last_calls>),
  };
  const char* names[] = {"sliding_window", "consecutive_failures", "net_failures", "failure_rate_window",
                         "failure_rate_last_calls"};
  for (std::size_t i = 0; i < 5; ++i) state.counters[names[i]] = static_cast<double>(sizes[i]);
  char label[200];
  std::snprintf(label, sizeof label, "sizeof circuit_breaker<steady_clock, X>: %s=%zu %s=%zu %s=%zu %s=%zu %s=%zu",
                names[0], sizes[0], names[1], sizes[1], names[2], sizes[2], names[3], sizes[3], names[4], sizes[4]);
  state.SetLabel(label);
}

}  // namespace

BENCHMARK(BM_sizeof)->Name("footprint/sizeof")->Iterations(1);
BENCHMARK(BM_idle_peers)->Name("footprint/idle_peers")->Arg(200000)->ArgName("peers")->Iterations(1)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_busy_peers)
    ->Name("footprint/busy_peers")
    ->Args({20000, 4})
    ->ArgNames({"peers", "threads"})
    ->Iterations(1)
    ->Unit(benchmark::kMillisecond);
