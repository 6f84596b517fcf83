// circuit-tune's throughput: a trace of 1,000,000 rows (a CSV file written
// once, in the temporary directory) replayed against 4 configurations,
// CSV parsing included, against the baseline of just reading the file.
// Target: at least 2,000,000 rows x configurations per second.
//
//   build/bench/benchmarks/replay_bench --benchmark_min_time=2

#include <benchmark/benchmark.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "../examples/circuit-tune/tune.hpp"

namespace {

constexpr std::size_t rows = 1'000'000;

// Three peers, calls every ~30 ms, a few minutes-long outages and slow
// spells: trips, reopens and refusals happen all along.
const std::string& trace_file() {
  static const std::string path = [] {
    const auto p = std::filesystem::temp_directory_path() / "circuit_replay_bench_1m.csv";
    std::ofstream out(p, std::ios::binary);
    out << "timestamp,outcome,latency_ms,peer\n";
    std::uint64_t x = 42;
    const auto next = [&x] {
      x ^= x << 13;
      x ^= x >> 7;
      x ^= x << 17;
      return x;
    };
    std::int64_t t_ms = 1'796'342'400'000;  // 2026-12-04T00:00:00Z
    const char* peers[] = {"api", "db", "search"};
    char line[96];
    for (std::size_t i = 0; i < rows; ++i) {
      t_ms += 1 + static_cast<std::int64_t>(next() % 60);
      const auto minute = (t_ms / 60'000) % 30;
      const bool outage = minute < 3, slow = minute >= 10 && minute < 12;
      const auto roll = next() % 1000;
      const int status = roll < (outage ? 800u : 5u) ? 503 : 200;
      const auto latency_us = (slow ? 1'500'000 : 2'000) + static_cast<std::int64_t>(next() % 50'000);
      std::snprintf(line, sizeof line, "%lld.%03lld,%d,%lld.%03lld,%s\n", static_cast<long long>(t_ms / 1000),
                    static_cast<long long>(t_ms % 1000), status, static_cast<long long>(latency_us / 1000),
                    static_cast<long long>(latency_us % 1000), peers[next() % 3]);
      out << line;
    }
    return p.string();
  }();
  return path;
}

const std::vector<std::string> configs = {
    "sliding_window max_failures=3 window=60s open_for=10s",
    "consecutive_failures threshold=5 open_for=30s",
    "failure_rate_window failure_rate=0.5 minimum_calls=20 window=10s open_for=5s slow_call=1s",
    "failure_rate_last_calls failure_rate=0.5 minimum_calls=10 calls=50 open_for=5s multiplier=2 open_for_max=1min",
};

// As read_trace() reads it: the size, then one read.
std::string read_whole(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  in.seekg(0, std::ios::end);
  std::string text(static_cast<std::size_t>(in.tellg()), '\0');
  in.seekg(0);
  in.read(text.data(), static_cast<std::streamsize>(text.size()));
  return text;
}

// The baseline: reading the file into memory.
void read_file(benchmark::State& state) {
  const auto& path = trace_file();
  for (auto _ : state) {
    auto text = read_whole(path);
    benchmark::DoNotOptimize(text.data());
  }
  state.counters["rows/s"] = benchmark::Counter(static_cast<double>(rows), benchmark::Counter::kIsIterationInvariantRate);
}
BENCHMARK(read_file)->Unit(benchmark::kMillisecond)->UseRealTime();

// Reading and parsing the CSV.
void parse_csv(benchmark::State& state) {
  const auto& path = trace_file();
  for (auto _ : state) {
    auto calls = circuit_tune::read_trace(path);
    benchmark::DoNotOptimize(calls.data());
  }
  state.counters["rows/s"] = benchmark::Counter(static_cast<double>(rows), benchmark::Counter::kIsIterationInvariantRate);
}
BENCHMARK(parse_csv)->Unit(benchmark::kMillisecond)->UseRealTime();

// One configuration over a prepared trace (no parsing).
void replay_one(benchmark::State& state) {
  static const circuit::replay_trace trace(circuit_tune::read_trace(trace_file()));
  const auto c = circuit_tune::parse_config(configs[static_cast<std::size_t>(state.range(0))]);
  std::uint64_t trips = 0;
  for (auto _ : state) {
    const auto r = circuit_tune::run(trace, c);
    trips = r.trips;
    benchmark::DoNotOptimize(r.refused);
  }
  state.SetLabel(c.text);
  state.counters["trips"] = static_cast<double>(trips);
  state.counters["rows/s"] = benchmark::Counter(static_cast<double>(rows), benchmark::Counter::kIsIterationInvariantRate);
}
BENCHMARK(replay_one)->DenseRange(0, 3)->Unit(benchmark::kMillisecond)->UseRealTime();

// What circuit-tune does for its figures: read, parse, order, 4 replays.
void tune_1m_rows_4_configs(benchmark::State& state) {
  const auto& path = trace_file();
  std::vector<circuit_tune::config> parsed;
  for (const auto& t : configs) parsed.push_back(circuit_tune::parse_config(t));
  for (auto _ : state) {
    const circuit::replay_trace trace(circuit_tune::read_trace(path));
    for (const auto& c : parsed) {
      const auto r = circuit_tune::run(trace, c);
      benchmark::DoNotOptimize(r.trips);
    }
  }
  state.counters["rows*configs/s"] = benchmark::Counter(static_cast<double>(rows * configs.size()),
                                                        benchmark::Counter::kIsIterationInvariantRate);
}
BENCHMARK(tune_1m_rows_4_configs)->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace
