// Lanes that scale with the machine (detail/thread_lane.hpp): live threads
// get distinct lanes, give them back when they exit, and an object holds a
// cell only for the lanes that touched it; totals stay exact with 64
// threads and with threads that found no lane. And the set's reader gate
// (detail/reader_gate.hpp): a writer waits for a reader inside.

#include "catch.hpp"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <latch>
#include <set>
#include <thread>
#include <vector>

#include <circuit/circuit_breaker.hpp>
#include <circuit/detail/reader_gate.hpp>
#include <circuit/detail/thread_lane.hpp>

namespace {

using circuit::detail::lane_cells;
using circuit::detail::max_lanes;
using circuit::detail::striped_counters;

// Runs `body(i)` on `n` threads that are all alive at once while they run it.
template <class Body>
void on_live_threads(int n, Body body) {
  std::latch started(n);
  std::vector<std::thread> threads;
  for (int i = 0; i < n; ++i) {
    threads.emplace_back([&, i] {
      body(i);
      started.count_down();
      started.wait();  // every thread holds its lane until all have one
    });
  }
  for (auto& t : threads) t.join();
}

std::size_t cells_of(const lane_cells<2>& c) {
  std::size_t n = 0;
  c.for_each([&](const auto&) { ++n; });
  return n;
}

}  // namespace

TEST_CASE("there are at least 64 lanes, and at least the hardware threads", "[lanes]") {
  CHECK(max_lanes() >= 64);
  CHECK(max_lanes() >= std::thread::hardware_concurrency());
  CHECK(max_lanes() % 64 == 0);
}

TEST_CASE("64 live threads get 64 distinct lanes, and give them back when they exit", "[lanes]") {
  constexpr int threads = 64;
  std::vector<std::size_t> lanes(threads);
  on_live_threads(threads, [&](int i) { lanes[i] = circuit::detail::thread_lane(); });
  const std::set<std::size_t> distinct(lanes.begin(), lanes.end());
  CHECK(distinct.size() == threads);
  CHECK(*distinct.rbegin() < max_lanes());

  // They exited: the next 64 threads find lanes again, the lowest free
  // ones, so no more lanes are in use than before.
  std::vector<std::size_t> again(threads);
  on_live_threads(threads, [&](int i) { again[i] = circuit::detail::thread_lane(); });
  const std::set<std::size_t> reused(again.begin(), again.end());
  CHECK(reused.size() == threads);
  CHECK(*reused.rbegin() <= *distinct.rbegin());
}

TEST_CASE("an object holds a cell only for the lanes that touched it", "[lanes]") {
  striped_counters<2> untouched;
  CHECK(untouched.sum(0) == 0);

  lane_cells<2> cells;
  CHECK(cells_of(cells) == 0);
  CHECK(cells.mine() == nullptr);
  bool overflow = true;
  auto& mine = cells.mine_or_overflow(overflow);
  CHECK_FALSE(overflow);
  CHECK(cells.mine() == &mine);
  CHECK(cells_of(cells) == 1);
  on_live_threads(3, [&](int) {
    bool o = true;
    (void)cells.mine_or_overflow(o);
  });
  CHECK(cells_of(cells) == 4);
}

TEST_CASE("64 threads on one breaker leave exact totals", "[lanes]") {
  constexpr int threads = 64;
  constexpr int calls = 2000;
  circuit::circuit_breaker<> b;
  on_live_threads(threads, [&](int) {
    for (int i = 0; i < calls; ++i) b.call([] {});
  });
  CHECK(b.metrics().total.successes == std::uint64_t{threads} * calls);

  b.trip();
  on_live_threads(threads, [&](int) {
    for (int i = 0; i < calls; ++i) (void)b.try_guard();
  });
  CHECK(b.metrics().total.rejections == std::uint64_t{threads} * calls);
}

TEST_CASE("threads without a lane share the overflow cell, and totals stay exact", "[lanes]") {
  constexpr int calls = 20000;
  circuit::circuit_breaker<> b;
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      // Half of them as threads that found every lane taken.
      if (t % 2 == 0) circuit::detail::this_lane = circuit::detail::overflow_lane;
      for (int i = 0; i < calls; ++i) b.call([] {});
    });
  }
  for (auto& t : threads) t.join();
  CHECK(b.metrics().total.successes == 4 * calls);
}

TEST_CASE("a lane's counts outlive its thread and carry on with the next owner", "[lanes]") {
  circuit::circuit_breaker<> b;
  for (int round = 1; round <= 3; ++round) {
    std::thread([&] {
      for (int i = 0; i < 100; ++i) b.call([] {});
    }).join();
    CHECK(b.metrics().total.successes == std::uint64_t(100 * round));
  }
}

TEST_CASE("a writer waits for the reader inside a section, and only for it", "[reader_gate]") {
  circuit::detail::reader_gate gate;
  std::atomic<bool> waited{false};
  std::latch inside(1), leave(1);
  std::thread reader([&] {
    const auto s = gate.enter();
    inside.count_down();
    leave.wait();
    gate.leave(s);
  });
  inside.wait();
  std::thread writer([&] {
    gate.wait_for_readers();
    waited = true;
  });
  // The writer cannot finish while the reader is inside (checked for a
  // while: a wrong gate would let it through at once).
  for (int i = 0; i < 200 && !waited; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  CHECK_FALSE(waited);
  leave.count_down();
  writer.join();
  reader.join();
  CHECK(waited);
  gate.wait_for_readers();  // and with nobody inside it returns at once
}
