// Tests of circuit/subscription.hpp: the handle that keeps a listener
// subscribed. Destroying it or reset() unsubscribes, after which no thread
// is inside the listener; it may outlive the breaker or set it came from.
// (event_test.cpp covers what the listeners are told.)

#include "catch.hpp"

#include <atomic>
#include <chrono>
#include <memory>
#include <string>
#include <thread>
#include <type_traits>
#include <utility>

#include <circuit/circuit_breaker.hpp>
#include <circuit/circuit_breaker_set.hpp>
#include <circuit/event.hpp>
#include <circuit/manual_clock.hpp>
#include <circuit/sliding_window.hpp>
#include <circuit/subscription.hpp>

using namespace std::chrono_literals;

namespace {

using breaker = circuit::circuit_breaker<circuit::manual_clock, circuit::sliding_window>;
using peer_set = circuit::circuit_breaker_set<breaker>;

}  // namespace

TEST_CASE("a subscription is move-only", "[subscription]") {
  STATIC_REQUIRE_FALSE(std::is_copy_constructible_v<circuit::subscription>);
  STATIC_REQUIRE_FALSE(std::is_copy_assignable_v<circuit::subscription>);
  STATIC_REQUIRE(std::is_nothrow_move_constructible_v<circuit::subscription>);
  STATIC_REQUIRE(std::is_nothrow_move_assignable_v<circuit::subscription>);
}

TEST_CASE("an empty subscription is false and resetting it does nothing", "[subscription]") {
  circuit::subscription sub;
  CHECK_FALSE(sub);
  sub.reset();
  CHECK_FALSE(sub);
}

TEST_CASE("reset() unsubscribes: the listener is not called again", "[subscription]") {
  circuit::manual_clock clock;
  breaker b({}, {}, clock);
  int calls = 0;
  auto sub = b.on_event([&](const circuit::event&) { ++calls; });
  REQUIRE(sub);
  b.call([] {});
  REQUIRE(calls == 1);

  sub.reset();
  CHECK_FALSE(sub);
  b.call([] {});
  b.trip();
  b.reset();
  CHECK(calls == 1);
}

TEST_CASE("reset() on one subscription leaves the breaker's other listeners subscribed", "[subscription]") {
  circuit::manual_clock clock;
  breaker b({}, {}, clock);
  int first = 0, second = 0;
  auto a = b.on_event([&](const circuit::event&) { ++first; });
  auto c = b.on_event([&](const circuit::event&) { ++second; });
  a.reset();
  b.call([] {});
  CHECK(first == 0);
  CHECK(second == 1);
  CHECK(c);
}

TEST_CASE("a subscription outlives its breaker: it stays true, and reset() and destruction are safe",
          "[subscription]") {
  circuit::manual_clock clock;
  int calls = 0;
  circuit::subscription reset_later, destroyed_later;
  {
    auto b = std::make_unique<breaker>(circuit::sliding_window{}, circuit::options{}, clock);
    reset_later = b->on_event([&](const circuit::event&) { ++calls; });
    destroyed_later = b->on_event([&](const circuit::event&) { ++calls; });
    b->call([] {});
  }
  CHECK(calls == 2);
  CHECK(reset_later);
  reset_later.reset();  // the breaker's list is gone: nothing to remove from
  CHECK_FALSE(reset_later);
  CHECK(destroyed_later);
  // destroyed_later is destroyed at the end of the test, after the breaker.
}

TEST_CASE("a set's subscription outlives the set", "[subscription]") {
  circuit::manual_clock clock;
  int calls = 0;
  circuit::subscription sub;
  {
    auto peers = std::make_unique<peer_set>(circuit::sliding_window{}, circuit::options{}, clock);
    sub = peers->on_event([&](const circuit::event&) { ++calls; });
    peers->call("a", [] {});
  }
  CHECK(calls == 1);
  CHECK(sub);
  sub.reset();
  CHECK_FALSE(sub);
}

TEST_CASE("a set's subscription, reset, no longer hears any peer", "[subscription]") {
  circuit::manual_clock clock;
  peer_set peers(circuit::sliding_window{}, circuit::options{}, clock);
  int calls = 0;
  auto sub = peers.on_event([&](const circuit::event&) { ++calls; });
  peers.call("a", [] {});
  REQUIRE(calls == 1);
  sub.reset();
  peers.call("a", [] {});
  peers.call("b", [] {});
  CHECK(calls == 1);
}

TEST_CASE("moving a subscription moves the listener's lifetime with it", "[subscription]") {
  circuit::manual_clock clock;
  breaker b({}, {}, clock);
  int calls = 0;
  auto sub = b.on_event([&](const circuit::event&) { ++calls; });
  circuit::subscription moved(std::move(sub));
  CHECK_FALSE(sub);  // NOLINT(bugprone-use-after-move): a moved-from subscription is empty
  CHECK(moved);
  sub.reset();  // resetting the moved-from one unsubscribes nothing
  b.call([] {});
  CHECK(calls == 1);
  moved.reset();
  b.call([] {});
  CHECK(calls == 1);
}

TEST_CASE("after reset() returns, no other thread is inside the listener", "[subscription]") {
  circuit::manual_clock clock;
  breaker b({}, {}, clock);
  std::atomic<int> inside{0};
  std::atomic<int> calls{0};
  std::atomic<bool> stop{false};
  auto sub = b.on_event(
      [&](const circuit::event&) {
        inside.fetch_add(1);
        calls.fetch_add(1);
        std::this_thread::yield();  // widen the window for a racing reset()
        inside.fetch_sub(1);
      },
      circuit::event_filter{circuit::event_kind::success});

  std::thread caller([&] {
    while (!stop.load()) b.call([] {});
  });
  while (calls.load() < 100) std::this_thread::yield();
  sub.reset();
  const int inside_after_reset = inside.load();
  const int calls_after_reset = calls.load();
  // The caller keeps calling: none of those calls reaches the listener.
  const auto successes = b.metrics().total.successes;
  while (b.metrics().total.successes < successes + 100) std::this_thread::yield();
  stop.store(true);
  caller.join();

  CHECK(inside_after_reset == 0);
  CHECK(calls.load() == calls_after_reset);
}
