// co_call (<circuit/asio.hpp>) against co_await of the same awaitable, on
// an io_context run by the benchmark's thread. The operation is complete as
// soon as it starts (`co_return value`), so what is left is the cost of
// going through the breaker: the co_call coroutine's frame, admission and
// settlement, two reads of the coroutine's cancellation state.
//
// Every benchmark also reports `allocs/op`: global operator new calls per
// iteration, counted by the replacement below. Asio recycles coroutine
// frames per thread, so a figure of 0 means neither co_call nor Asio went
// to the heap.

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <new>

#include <asio.hpp>
#include <asio/experimental/parallel_group.hpp>
#include <circuit/asio.hpp>
#include <circuit/circuit_breaker.hpp>
#include <circuit/circuit_breaker_set.hpp>

#include "bench_common.hpp"

// ---- Counting operator new ------------------------------------------------------

namespace {
thread_local std::uint64_t thread_allocations = 0;

void* counted(std::size_t n, std::size_t alignment) {
  ++thread_allocations;
  if (n == 0) n = 1;
  void* p = alignment <= alignof(std::max_align_t)
                ? std::malloc(n)
                : std::aligned_alloc(alignment, (n + alignment - 1) / alignment * alignment);
  if (p == nullptr) throw std::bad_alloc();
  return p;
}
}  // namespace

void* operator new(std::size_t n) { return counted(n, 0); }
void* operator new[](std::size_t n) { return counted(n, 0); }
void* operator new(std::size_t n, std::align_val_t a) { return counted(n, static_cast<std::size_t>(a)); }
void* operator new[](std::size_t n, std::align_val_t a) { return counted(n, static_cast<std::size_t>(a)); }
void operator delete(void* p) noexcept { std::free(p); }
void operator delete[](void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t) noexcept { std::free(p); }
void operator delete(void* p, std::align_val_t) noexcept { std::free(p); }
void operator delete[](void* p, std::align_val_t) noexcept { std::free(p); }
void operator delete(void* p, std::size_t, std::align_val_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t, std::align_val_t) noexcept { std::free(p); }

// ---- The operation and the driver ------------------------------------------------

namespace {

using namespace std::chrono_literals;

// Complete as soon as it starts.
asio::awaitable<int> ready(int value) { co_return value; }

// Runs `loop(state)` as a coroutine on a fresh io_context on this thread,
// after `warmup` untimed rounds of the same body; reports allocs/op.
template <class Body>
void run(benchmark::State& state, Body body) {
  asio::io_context ioc(1);
  asio::co_spawn(
      ioc,
      [&]() -> asio::awaitable<void> {
        int i = 0;
        for (int w = 0; w < 100; ++w) benchmark::DoNotOptimize(co_await body(i++));
        const auto before = thread_allocations;
        for (auto _ : state) benchmark::DoNotOptimize(co_await body(i++));
        state.counters["allocs/op"] = benchmark::Counter(static_cast<double>(thread_allocations - before),
                                                         benchmark::Counter::kAvgIterations);
      },
      asio::detached);
  ioc.run();
}

}  // namespace

/// Baseline: the operation awaited directly.
static void BM_asio_co_await(benchmark::State& state) {
  run(state, [](int i) { return ready(i); });
}
BENCHMARK(BM_asio_co_await);

/// Baseline: a coroutine that only awaits the operation, the floor for any
/// wrapper that is itself an asio::awaitable (one more frame).
static asio::awaitable<int> forward(asio::awaitable<int> operation) { co_return co_await std::move(operation); }

static void BM_asio_co_await_forwarded(benchmark::State& state) {
  run(state, [](int i) { return forward(ready(i)); });
}
BENCHMARK(BM_asio_co_await_forwarded);

/// The same operation through a closed breaker, no deadline.
static void BM_asio_co_call(benchmark::State& state) {
  circuit::circuit_breaker<> b;
  run(state, [&](int i) { return circuit::co_call(b, ready(i)); });
}
BENCHMARK(BM_asio_co_call);

/// The callable form: the operation made only once admitted.
static void BM_asio_co_call_callable(benchmark::State& state) {
  circuit::circuit_breaker<> b;
  run(state, [&](int i) { return circuit::co_call(b, [i] { return ready(i); }); });
}
BENCHMARK(BM_asio_co_call_callable);

/// Through one peer of a set (lookup, pin, permit).
static void BM_asio_co_call_set(benchmark::State& state) {
  circuit::circuit_breaker_set<> peers;
  run(state, [&](int i) { return circuit::co_call(peers, "db-1", ready(i)); });
}
BENCHMARK(BM_asio_co_call_set);

/// Baseline for the deadline: Asio's own race of the operation against a
/// timer (a strand, a spawned coroutine, a timer and a parallel group), as
/// co_call builds it, without a breaker.
static void BM_asio_race_against_timer(benchmark::State& state) {
  run(state, [](int i) -> asio::awaitable<int> {
    const auto strand = asio::make_strand(co_await asio::this_coro::executor);
    asio::basic_waitable_timer<std::chrono::steady_clock, asio::wait_traits<std::chrono::steady_clock>,
                               decltype(strand)>
        timer(strand, 1s);
    const auto [order, error, value, timer_error] =
        co_await asio::experimental::make_parallel_group(
            asio::bind_executor(strand,
                                [&](auto token) {
                                  return asio::co_spawn(asio::any_io_executor(strand), ready(i), std::move(token));
                                }),
            asio::bind_executor(strand, [&](auto token) { return timer.async_wait(std::move(token)); }))
            .async_wait(asio::experimental::wait_for_one(), asio::use_awaitable);
    (void)order;
    (void)error;
    (void)timer_error;
    co_return value;
  });
}
BENCHMARK(BM_asio_race_against_timer);

/// co_call with a deadline that does not fire.
static void BM_asio_co_call_deadline(benchmark::State& state) {
  circuit::circuit_breaker<> b;
  run(state, [&](int i) { return circuit::co_call(b, ready(i), 1s); });
}
BENCHMARK(BM_asio_co_call_deadline);
