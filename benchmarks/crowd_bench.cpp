// The crowded process: before main() runs, 16 threads (CIRCUIT_BENCH_CROWD,
// default 16; 0 for the control without a crowd) each make calls on the
// measured breakers and on others, then stay alive, parked on a condition
// variable until the program exits, as a server's thread pool does. Then 1
// and 2 threads call the same closed breaker (wall ns/op), beside the
// direct call: without a listener, and with one subscribed for
// event_filter::state_changes. Any lane the crowd claimed is still held
// while the measured threads run.
//
//   build/h-bench/benchmarks/crowd_bench                           # 16 parked threads
//   CIRCUIT_BENCH_CROWD=0 build/h-bench/benchmarks/crowd_bench     # control: no crowd

#include <array>
#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <latch>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <circuit/circuit.hpp>

#include "bench_common.hpp"

namespace {

circuit::circuit_breaker<>& plain_breaker() {
  static circuit::circuit_breaker<> b;
  return b;
}

circuit::circuit_breaker<>& listened_breaker() {
  static circuit::circuit_breaker<> b;
  static std::atomic<std::uint64_t> heard{0};
  static const circuit::subscription sub =
      b.on_event([](const circuit::event&) { heard.fetch_add(1, std::memory_order_relaxed); },
                 circuit::event_filter::state_changes);
  (void)sub;
  return b;
}

// Breakers the crowd uses besides the measured ones.
std::array<circuit::circuit_breaker<>, 4>& other_breakers() {
  static std::array<circuit::circuit_breaker<>, 4> all;
  return all;
}

std::size_t crowd_size() {
  const char* s = std::getenv("CIRCUIT_BENCH_CROWD");
  return s != nullptr ? static_cast<std::size_t>(std::strtoul(s, nullptr, 10)) : 16;
}

// The parked threads. Made before main(); released and joined at exit,
// before the breakers they used are destroyed (those were made during this
// constructor, so they are destroyed after it).
class crowd {
 public:
  explicit crowd(std::size_t n) : ready_(static_cast<std::ptrdiff_t>(n)) {
    threads_.reserve(n);
    for (std::size_t i = 0; i < n; ++i) {
      threads_.emplace_back([this] {
        for (int k = 0; k < 100; ++k) {
          plain_breaker().call(bench::noop);
          listened_breaker().call(bench::noop);
          for (auto& b : other_breakers()) b.call(bench::noop);
        }
        ready_.count_down();
        std::unique_lock lock(m_);
        cv_.wait(lock, [this] { return done_; });
      });
    }
    ready_.wait();
  }
  crowd(const crowd&) = delete;
  crowd& operator=(const crowd&) = delete;
  ~crowd() {
    {
      std::lock_guard lock(m_);
      done_ = true;
    }
    cv_.notify_all();
    for (auto& t : threads_) t.join();
  }
  [[nodiscard]] std::size_t size() const noexcept { return threads_.size(); }

 private:
  std::latch ready_;
  std::mutex m_;
  std::condition_variable cv_;
  bool done_ = false;
  std::vector<std::thread> threads_;
};

const crowd parked(crowd_size());

void report(benchmark::State& state) {
  state.counters["crowd"] = benchmark::Counter(static_cast<double>(parked.size()), benchmark::Counter::kAvgThreads);
}

template <circuit::circuit_breaker<>& (*Breaker)()>
void BM_call(benchmark::State& state) {
  auto& b = Breaker();
  for (auto _ : state) b.call(bench::noop);
  if (b.current_state() != circuit::state::closed) state.SkipWithError("the breaker left the closed state");
  report(state);
}

void BM_crowd_direct_noop(benchmark::State& state) {
  for (auto _ : state) bench::noop();
  report(state);
}

// Control: one shared read-modify-write per call, what a shared lane costs;
// its two-thread figure rises above one thread's when both really run.
std::atomic<std::uint64_t> shared_count{0};

void BM_shared_fetch_add(benchmark::State& state) {
  for (auto _ : state) {
    bench::noop();
    shared_count.fetch_add(1, std::memory_order_relaxed);
  }
  report(state);
}

}  // namespace

BENCHMARK(BM_crowd_direct_noop)->Name("crowd/direct_noop")->Threads(1)->Threads(2)->UseRealTime();
BENCHMARK(BM_call<plain_breaker>)->Name("crowd/call/no_listener")->Threads(1)->Threads(2)->UseRealTime();
BENCHMARK(BM_call<listened_breaker>)->Name("crowd/call/state_change_listener")->Threads(1)->Threads(2)->UseRealTime();
BENCHMARK(BM_shared_fetch_add)->Name("crowd/shared_fetch_add")->Threads(1)->Threads(2)->UseRealTime();
