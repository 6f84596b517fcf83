// The same call from many call sites: a real program calls a breaker from
// dozens of places, and whether GCC inlines `call()` depends on how many
// call sites the translation unit has and how big it already is. Each kind
// below is instantiated at `site_count` distinct call sites (one benchmark
// function each, whose timed loop is the call site), beside the direct call
// of the same no-op at as many sites, all in one binary and one run:
//
//   direct/site:N          bench::noop() directly (the baseline)
//   closed/call/site:N     b.call(bench::noop): one instantiation of call(), many callers
//   closed/lambda/site:N   b.call([] { bench::noop(); }): a distinct callable per site
//   open/try_guard/site:N  refusal without an exception (steady_clock)
//   open/try_call/site:N   refusal as a call_result
//   open/call/site:N       refusal as open_circuit_error, caught at the site
//   set/call/site:N        circuit_breaker_set call by std::string_view
//
// Baselines at one site: BM_direct_noop, the clock reads (bench_common.hpp)
// and BM_direct_throw_open_circuit_error (the exception alone).
//
// Every site's loop is the same code; the site number, stored in a counter
// after the loop, keeps GCC's identical-code folding (-fipa-icf, on at -O2)
// from merging the sites back into one. Summarise with benchmarks/call_sites_summary.py (median,
// min and max over the sites of each kind); which sites GCC inlined is read
// from the binary (see README.md, "Scale (issue 11)").

#include <chrono>
#include <cstddef>
#include <string>
#include <string_view>
#include <utility>

#include <circuit/circuit.hpp>
#include <circuit/circuit_breaker_set.hpp>

#include "bench_common.hpp"

namespace {

using namespace std::chrono_literals;
using namespace std::string_view_literals;

/// Call sites per kind.
constexpr std::size_t site_count = 64;
/// Each site runs this long per repetition: 7 kinds x 64 sites stay under
/// 15 s a repetition.
constexpr double site_min_time = 0.02;

circuit::circuit_breaker<>& closed_breaker() {
  static circuit::circuit_breaker<> b;
  return b;
}

// Open for a day: every call is refused.
circuit::circuit_breaker<>& open_breaker() {
  static auto& b = []() -> circuit::circuit_breaker<>& {
    static circuit::circuit_breaker<> made({}, {.name = "peer", .open_for = circuit::fixed{24h}});
    made.trip();
    return made;
  }();
  return b;
}

// 64 peers, as in set_bench.
circuit::circuit_breaker_set<>& peers() {
  static auto& set = []() -> circuit::circuit_breaker_set<>& {
    static circuit::circuit_breaker_set<> made;
    for (int i = 0; i < 64; ++i) (void)made.try_call("peer-" + std::to_string(i), bench::noop);
    return made;
  }();
  return set;
}

template <std::size_t Site>
void tag(benchmark::State& state) {
  state.counters["site"] = static_cast<double>(Site);
}

template <std::size_t Site>
void BM_direct(benchmark::State& state) {
  for (auto _ : state) bench::noop();
  tag<Site>(state);
}

template <std::size_t Site>
void BM_closed_call(benchmark::State& state) {
  auto& b = closed_breaker();
  for (auto _ : state) b.call(bench::noop);
  tag<Site>(state);
}

template <std::size_t Site>
void BM_closed_lambda(benchmark::State& state) {
  auto& b = closed_breaker();
  // A closure type of its own in each instantiation: as many call()s. The
  // empty asm (no instruction) makes each closure's body differ, as real
  // callables do, so that identical-code folding does not merge them.
  for (auto _ : state)
    b.call([] {
      bench::noop();
      asm volatile("" ::"i"(Site));
    });
  tag<Site>(state);
}

template <std::size_t Site>
void BM_open_try_guard(benchmark::State& state) {
  auto& b = open_breaker();
  for (auto _ : state) {
    auto g = b.try_guard();
    benchmark::DoNotOptimize(static_cast<bool>(g));
  }
  tag<Site>(state);
}

template <std::size_t Site>
void BM_open_try_call(benchmark::State& state) {
  auto& b = open_breaker();
  for (auto _ : state) {
    auto r = b.try_call(bench::noop);
    benchmark::DoNotOptimize(r.refused());
  }
  tag<Site>(state);
}

template <std::size_t Site>
void BM_open_call(benchmark::State& state) {
  auto& b = open_breaker();
  for (auto _ : state) {
    try {
      b.call(bench::noop);
    } catch (const circuit::open_circuit_error& e) {
      benchmark::DoNotOptimize(&e);
    }
  }
  tag<Site>(state);
}

template <std::size_t Site>
void BM_set_call(benchmark::State& state) {
  auto& set = peers();
  for (auto _ : state) set.call("peer-42"sv, bench::noop);
  tag<Site>(state);
}

// What the exception alone costs: the same error made and thrown from a
// frame of its own, caught by the caller (open_bench's baseline).
[[gnu::noinline]] void throw_open() { throw circuit::open_circuit_error("peer", circuit::state::open, 1s); }

void BM_direct_throw_open_circuit_error(benchmark::State& state) {
  for (auto _ : state) {
    try {
      throw_open();
    } catch (const circuit::open_circuit_error& e) {
      benchmark::DoNotOptimize(&e);
    }
  }
}

void check(benchmark::State& state) {
  if (closed_breaker().current_state() != circuit::state::closed) state.SkipWithError("closed breaker left closed");
  if (open_breaker().current_state() != circuit::state::open) state.SkipWithError("open breaker is not open");
  for (auto _ : state) benchmark::DoNotOptimize(peers().state("peer-42"sv));
}

template <void (*Fn)(benchmark::State&)>
void add(const char* kind, std::size_t site) {
  const auto name = std::string(kind) + "/site:" + std::to_string(site);
  benchmark::RegisterBenchmark(name.c_str(), Fn)->MinTime(site_min_time);
}

template <std::size_t... S>
bool register_sites(std::index_sequence<S...>) {
  benchmark::RegisterBenchmark("check/states", check)->Iterations(1);
  benchmark::RegisterBenchmark("BM_direct_throw_open_circuit_error", BM_direct_throw_open_circuit_error);
  (add<BM_direct<S>>("direct", S), ...);
  (add<BM_closed_call<S>>("closed/call", S), ...);
  (add<BM_closed_lambda<S>>("closed/lambda", S), ...);
  (add<BM_open_try_guard<S>>("open/try_guard", S), ...);
  (add<BM_open_try_call<S>>("open/try_call", S), ...);
  (add<BM_open_call<S>>("open/call", S), ...);
  (add<BM_set_call<S>>("set/call", S), ...);
  return true;
}

[[maybe_unused]] const bool registered = register_sites(std::make_index_sequence<site_count>{});

}  // namespace
