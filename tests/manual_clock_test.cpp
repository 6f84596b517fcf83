// Tests of circuit/manual_clock.hpp: the fake clock that only moves when a
// test moves it, shared by its copies.

#include <chrono>
#include <thread>
#include <type_traits>
#include <vector>

#include <circuit/circuit_breaker.hpp>
#include <circuit/clock.hpp>
#include <circuit/manual_clock.hpp>

#include "catch.hpp"

using namespace std::chrono_literals;

namespace {
using tp = circuit::manual_clock::time_point;
}  // namespace

TEST_CASE("a manual clock satisfies the clock concept and says it is not steady", "[manual_clock]") {
  STATIC_REQUIRE(circuit::clock<circuit::manual_clock>);
  STATIC_REQUIRE(circuit::clock<std::chrono::steady_clock>);
  STATIC_REQUIRE(circuit::clock<std::chrono::system_clock>);
  STATIC_REQUIRE_FALSE(circuit::manual_clock::is_steady);
  STATIC_REQUIRE(std::is_same_v<circuit::manual_clock::duration, std::chrono::nanoseconds>);
}

TEST_CASE("a manual clock starts at its epoch and stands still", "[manual_clock]") {
  const circuit::manual_clock clock;
  CHECK(clock.now() == tp{});
  CHECK(clock.now() == clock.now());
}

TEST_CASE("a manual clock starts where it is told", "[manual_clock]") {
  const circuit::manual_clock clock(tp(-5s));
  CHECK(clock.now().time_since_epoch() == -5s);
}

TEST_CASE("advance moves the time forward and backward", "[manual_clock]") {
  circuit::manual_clock clock;
  clock.advance(1500ms);
  CHECK(clock.now() == tp(1500ms));
  clock.advance(1ns);
  CHECK(clock.now() == tp(1500ms + 1ns));
  clock.advance(-2s);
  CHECK(clock.now() == tp(-500ms + 1ns));
}

TEST_CASE("set puts the time anywhere, even backwards", "[manual_clock]") {
  circuit::manual_clock clock;
  clock.set(tp(1h));
  CHECK(clock.now() == tp(1h));
  clock.set(tp(-1h));
  CHECK(clock.now() == tp(-1h));
  clock.set(tp::max());
  CHECK(clock.now() == tp::max());
  clock.set(tp::min());
  CHECK(clock.now() == tp::min());
}

TEST_CASE("copies of a manual clock share one timeline", "[manual_clock]") {
  circuit::manual_clock clock;
  const circuit::manual_clock copy = clock;
  circuit::manual_clock assigned(tp(99s));
  assigned = copy;
  clock.advance(3s);
  CHECK(copy.now() == tp(3s));
  CHECK(assigned.now() == tp(3s));
  assigned.set(tp(10s));
  CHECK(clock.now() == tp(10s));

  const circuit::manual_clock separate;
  CHECK(separate.now() == tp{});
}

TEST_CASE("a breaker sees the time of the copy its test keeps", "[manual_clock]") {
  circuit::manual_clock clock;
  circuit::circuit_breaker<circuit::manual_clock> b(circuit::sliding_window{.max_failures = 0, .window = 1min},
                                                    {.open_for = circuit::fixed{10s}}, clock);
  b.try_guard().failure();
  REQUIRE(b.current_state() == circuit::state::open);
  CHECK(*b.metrics().open_until == tp(10s));
  CHECK(b.metrics().last_transition == tp{});
  clock.advance(10s - 1ns);
  CHECK(b.current_state() == circuit::state::open);
  clock.advance(1ns);
  CHECK(b.current_state() == circuit::state::half_open);
  CHECK(b.metrics().last_transition == tp(10s));
}

TEST_CASE("advances from several threads all land", "[manual_clock][threads]") {
  constexpr int threads = 4;
  constexpr int per_thread = 10000;
  circuit::manual_clock clock;
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t) {
    pool.emplace_back([copy = clock]() mutable {
      for (int i = 0; i < per_thread; ++i) copy.advance(1ns);
    });
  }
  for (auto& t : pool) t.join();
  CHECK(clock.now() == tp(std::chrono::nanoseconds(threads * per_thread)));
}
