// prometheus_writer: the text for 10,000 peers, against formatting integers
// into a string; and calls on another thread while the text is written.

#include <benchmark/benchmark.h>

#include <atomic>
#include <charconv>
#include <cstdint>
#include <sstream>
#include <string>
#include <thread>

#include <circuit/circuit.hpp>
#include <circuit/prometheus.hpp>

#include "bench_common.hpp"

namespace {

using set_type = circuit::circuit_breaker_set<circuit::circuit_breaker<>>;

constexpr int peer_count = 10'000;

// 10,000 peers, a few calls each; every 10th open (a probe is due).
set_type& peers() {
  static set_type* const made = [] {
    auto* s = new set_type(circuit::sliding_window{.max_failures = 3});
    for (int i = 0; i < peer_count; ++i) {
      auto& b = s->get("peer-" + std::to_string(i));
      for (int k = 0; k < i % 7; ++k) {
        if (auto p = b.try_guard()) p.success();
      }
      if (i % 10 == 0) b.trip();
    }
    return s;
  }();
  return *made;
}

// How many values (sample lines) the text for the set has.
std::size_t values_in_text() {
  std::ostringstream out;
  circuit::prometheus_writer(out).add(peers());
  std::size_t lines = 0;
  for (const char c : out.str()) lines += c == '\n';
  return lines - 2 * 8;  // less each family's HELP and TYPE
}

}  // namespace

/// The whole text for 10,000 peers: snapshots, formatting, one write.
static void BM_prometheus_text_10000_peers(benchmark::State& state) {
  auto& set = peers();
  std::ostringstream out;
  std::size_t bytes = 0;
  for (auto _ : state) {
    out.str({});
    circuit::prometheus_writer w(out);
    w.add(set);
    w.finish();
    bytes = static_cast<std::size_t>(out.tellp());
  }
  state.counters["bytes"] = static_cast<double>(bytes);
}
BENCHMARK(BM_prometheus_text_10000_peers)->Unit(benchmark::kMillisecond);

/// Baseline: `state.range(0)` integers (like those the text holds) appended
/// to a string with std::to_chars, and the string written to a stream.
static void BM_format_integers(benchmark::State& state) {
  const auto n = static_cast<std::uint64_t>(state.range(0));
  std::ostringstream out;
  for (auto _ : state) {
    out.str({});
    std::string text;
    text.reserve(n * 8);
    char buf[24];
    for (std::uint64_t i = 0; i < n; ++i) {
      const auto r = std::to_chars(buf, buf + sizeof buf, i * 7919 % 100000);
      text.append(buf, r.ptr);
      text += '\n';
    }
    out.write(text.data(), static_cast<std::streamsize>(text.size()));
    benchmark::DoNotOptimize(out);
  }
}
BENCHMARK(BM_format_integers)->Arg(peer_count)->Arg(static_cast<std::int64_t>(values_in_text()))
    ->Unit(benchmark::kMicrosecond);

/// A call through the set (lookup by string_view, guard, success) on this
/// thread. With writer:1 another thread writes the text for the set over
/// and over meanwhile (the counter `texts` says how many it wrote); with
/// writer:2, the control, another thread only spins on a local counter: it
/// takes a CPU as the writer does, and touches nothing the caller uses.
static void BM_set_call_while_writing(benchmark::State& state) {
  auto& set = peers();
  std::atomic<bool> stop{false};
  std::atomic<std::uint64_t> texts{0};
  std::thread other;
  if (state.range(0) == 1) {
    other = std::thread([&] {
      std::ostringstream out;
      while (!stop.load(std::memory_order_relaxed)) {
        out.str({});
        circuit::prometheus_writer(out).add(set);
        texts.fetch_add(1, std::memory_order_relaxed);
      }
    });
  } else if (state.range(0) == 2) {
    other = std::thread([&] {
      for (std::uint64_t spins = 0; !stop.load(std::memory_order_relaxed); ++spins) benchmark::DoNotOptimize(spins);
    });
  }
  const std::string_view peer = "peer-1";
  for (auto _ : state) {
    if (auto p = set.try_guard(peer)) {
      bench::noop();
      p.success();
    }
  }
  stop = true;
  if (other.joinable()) other.join();
  state.counters["texts"] = static_cast<double>(texts.load());
}
BENCHMARK(BM_set_call_while_writing)->ArgName("writer")->Arg(0)->Arg(1)->Arg(2)->UseRealTime();
