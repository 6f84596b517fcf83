// Events and subscriptions: what a breaker tells its listeners, in which
// order, and how listeners come and go.

#include "catch.hpp"

#include <atomic>
#include <chrono>
#include <cstdint>
#include <exception>
#include <memory>
#include <optional>
#include <ostream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <circuit/circuit_breaker.hpp>
#include <circuit/consecutive_failures.hpp>
#include <circuit/event.hpp>
#include <circuit/exception_predicates.hpp>
#include <circuit/manual_clock.hpp>
#include <circuit/state.hpp>
#include <circuit/subscription.hpp>

using namespace std::chrono_literals;
using circuit::event_kind;
using circuit::state;

namespace {

using breaker = circuit::circuit_breaker<circuit::manual_clock, circuit::consecutive_failures>;

// An event without its error, comparable in one CHECK.
struct seen {
  event_kind kind;
  state from, to;
  friend bool operator==(const seen&, const seen&) = default;
};

std::ostream& operator<<(std::ostream& os, const seen& s) {
  return os << '{' << circuit::to_string(s.kind) << ' ' << circuit::to_string(s.from) << "->"
            << circuit::to_string(s.to) << '}';
}

// Collects what a breaker emits.
struct recorder {
  std::vector<seen> events;
  std::vector<std::exception_ptr> errors;
  std::vector<std::string> names;
  void operator()(const circuit::event& e) {
    events.push_back({e.kind, e.from, e.to});
    errors.push_back(e.error);
    names.emplace_back(e.name);
  }
  void clear() {
    events.clear();
    errors.clear();
    names.clear();
  }
};

void fail_once(breaker& b) {
  auto p = b.try_guard();
  REQUIRE(p);
  p.failure();
}

}  // namespace

TEST_CASE("a trip emits the failure, then closed to open", "[event]") {
  circuit::manual_clock clock;
  breaker b(circuit::consecutive_failures{.threshold = 2}, {.name = "db"}, clock);
  recorder r;
  auto sub = b.on_event([&](const circuit::event& e) { r(e); });

  fail_once(b);
  fail_once(b);

  const std::vector<seen> expected{
      {event_kind::failure, state::closed, state::closed},
      {event_kind::failure, state::closed, state::closed},
      {event_kind::state_change, state::closed, state::open},
  };
  CHECK(r.events == expected);
  for (const auto& n : r.names) CHECK(n == "db");
}

TEST_CASE("the lazy change to half_open comes before the probe's outcome, then half_open to closed", "[event]") {
  circuit::manual_clock clock;
  breaker b(circuit::consecutive_failures{.threshold = 1}, {.open_for = circuit::fixed{10s}}, clock);
  recorder r;
  auto sub = b.on_event([&](const circuit::event& e) { r(e); });
  fail_once(b);
  r.clear();

  clock.advance(10s);
  b.call([] {});

  const std::vector<seen> expected{
      {event_kind::state_change, state::open, state::half_open},
      {event_kind::success, state::half_open, state::half_open},
      {event_kind::state_change, state::half_open, state::closed},
  };
  CHECK(r.events == expected);
}

TEST_CASE("a failed probe emits its failure, then half_open to open", "[event]") {
  circuit::manual_clock clock;
  breaker b(circuit::consecutive_failures{.threshold = 1}, {.open_for = circuit::fixed{10s}}, clock);
  recorder r;
  auto sub = b.on_event([&](const circuit::event& e) { r(e); });
  fail_once(b);
  clock.advance(10s);
  REQUIRE(b.current_state() == state::half_open);
  r.clear();

  fail_once(b);
  const std::vector<seen> expected{
      {event_kind::failure, state::half_open, state::half_open},
      {event_kind::state_change, state::half_open, state::open},
  };
  CHECK(r.events == expected);
}

TEST_CASE("a refused call emits a rejected event in the state that refused it", "[event]") {
  circuit::manual_clock clock;
  breaker b(circuit::consecutive_failures{.threshold = 1}, {.open_for = circuit::fixed{10s}}, clock);
  recorder r;
  auto sub = b.on_event([&](const circuit::event& e) { r(e); });

  b.trip();
  r.clear();
  CHECK_FALSE(b.try_guard());
  CHECK_THROWS_AS(b.call([] {}), circuit::open_circuit_error);
  CHECK(r.events == std::vector<seen>{{event_kind::rejected, state::open, state::open},
                                      {event_kind::rejected, state::open, state::open}});

  b.isolate();
  r.clear();
  CHECK_FALSE(b.try_guard());
  CHECK(r.events == std::vector<seen>{{event_kind::rejected, state::isolated, state::isolated}});
}

TEST_CASE("trip, isolate and reset emit their state changes", "[event]") {
  circuit::manual_clock clock;
  breaker b({}, {}, clock);
  recorder r;
  auto sub = b.on_event([&](const circuit::event& e) { r(e); });

  b.trip();
  b.trip();  // already open: restarts the duration, no change
  b.isolate();
  b.trip();  // isolated: nothing
  b.reset();
  b.reset();  // already closed: a new generation, announced as closed -> closed
  const std::vector<seen> expected{
      {event_kind::state_change, state::closed, state::open},
      {event_kind::state_change, state::open, state::isolated},
      {event_kind::state_change, state::isolated, state::closed},
      {event_kind::state_change, state::closed, state::closed},
  };
  CHECK(r.events == expected);
}

TEST_CASE("every admitted call yields exactly one outcome event, even settled after a state change", "[event]") {
  circuit::manual_clock clock;
  breaker b(circuit::consecutive_failures{.threshold = 1},
            {.open_for = circuit::fixed{10s}, .half_open_max_calls = 2, .success_threshold = 2}, clock);
  recorder r;
  auto sub = b.on_event([&](const circuit::event& e) { r(e); });

  auto admitted_closed = b.try_guard();
  b.trip();
  clock.advance(10s);
  auto probe_1 = b.try_guard();
  auto probe_2 = b.try_guard();
  REQUIRE(probe_1);
  REQUIRE(probe_2);
  probe_1.failure();  // re-opens; probe_2 is now of an older generation
  r.clear();

  admitted_closed.success();
  probe_2.success();
  admitted_closed.success();  // settled already: no second event
  probe_2.failure();

  const std::vector<seen> expected{
      {event_kind::success, state::closed, state::closed},
      {event_kind::success, state::half_open, state::half_open},
  };
  CHECK(r.events == expected);
  CHECK(b.current_state() == state::open);
  CHECK(b.metrics().stale_outcomes == 2);
}

TEST_CASE("ignored outcomes emit an ignored event each", "[event]") {
  struct not_our_problem : std::runtime_error {
    not_our_problem() : std::runtime_error("ignored") {}
  };
  circuit::manual_clock clock;
  circuit::circuit_breaker<circuit::manual_clock, circuit::consecutive_failures,
                           circuit::ignore_exceptions<not_our_problem>>
      b({}, {}, clock);
  recorder r;
  auto sub = b.on_event([&](const circuit::event& e) { r(e); });

  auto p = b.try_guard();
  p.ignore();
  CHECK_THROWS_AS(b.call([] { throw not_our_problem(); }), not_our_problem);
  const std::vector<seen> expected{
      {event_kind::ignored, state::closed, state::closed},
      {event_kind::ignored, state::closed, state::closed},
  };
  CHECK(r.events == expected);
  CHECK(b.metrics().total.ignored == 2);
}

TEST_CASE("a failure event carries the exception, other events carry none", "[event]") {
  circuit::manual_clock clock;
  breaker b(circuit::consecutive_failures{.threshold = 5}, {}, clock);
  recorder r;
  auto sub = b.on_event([&](const circuit::event& e) { r(e); });

  CHECK_THROWS(b.call([] { throw std::runtime_error("disk on fire"); }));
  b.call([] {});
  fail_once(b);  // a failure not raised as an exception

  REQUIRE(r.events.size() == 3);
  CHECK(r.events[0].kind == event_kind::failure);
  REQUIRE(r.errors[0]);
  CHECK_THROWS_WITH(std::rethrow_exception(r.errors[0]), "disk on fire");
  CHECK(r.events[1].kind == event_kind::success);
  CHECK_FALSE(r.errors[1]);
  CHECK(r.events[2].kind == event_kind::failure);
  CHECK_FALSE(r.errors[2]);
}

TEST_CASE("a throwing listener leaves the breaker consistent and the other listeners called", "[event]") {
  circuit::manual_clock clock;
  breaker b(circuit::consecutive_failures{.threshold = 2}, {}, clock);
  std::uint64_t before = 0, after = 0;
  auto first = b.on_event([&](const circuit::event&) { ++before; });
  auto thrower = b.on_event([](const circuit::event&) { throw std::runtime_error("listener bug"); });
  auto last = b.on_event([&](const circuit::event&) { ++after; });

  // The function's own exception reaches the caller, not the listener's.
  CHECK_THROWS_WITH(b.call([] { throw std::logic_error("call failed"); }), "call failed");
  fail_once(b);  // failure + closed->open
  CHECK_THROWS_AS(b.call([] {}), circuit::open_circuit_error);  // rejected

  CHECK(b.current_state() == state::open);
  CHECK(before == 4);
  CHECK(after == 4);
  const auto m = b.metrics();
  CHECK(m.listener_errors == 4);
  CHECK(m.total.failures == 2);
  CHECK(m.total.rejections == 1);
}

TEST_CASE("destroying the subscription unsubscribes the listener", "[event]") {
  circuit::manual_clock clock;
  breaker b({}, {}, clock);
  int calls = 0;
  {
    auto sub = b.on_event([&](const circuit::event&) { ++calls; });
    CHECK(sub);
    b.call([] {});
    CHECK(calls == 1);
  }
  b.call([] {});
  CHECK(calls == 1);

  auto sub = b.on_event([&](const circuit::event&) { ++calls; });
  sub.reset();
  CHECK_FALSE(sub);
  b.call([] {});
  CHECK(calls == 1);
  sub.reset();  // a second reset is harmless
}

TEST_CASE("a moved subscription keeps the listener subscribed", "[event]") {
  circuit::manual_clock clock;
  breaker b({}, {}, clock);
  int calls = 0;
  circuit::subscription kept;
  {
    auto sub = b.on_event([&](const circuit::event&) { ++calls; });
    kept = std::move(sub);
    CHECK_FALSE(sub);
  }
  b.call([] {});
  CHECK(calls == 1);

  // Assigning over a live subscription unsubscribes its listener.
  int other = 0;
  kept = b.on_event([&](const circuit::event&) { ++other; });
  b.call([] {});
  CHECK(calls == 1);
  CHECK(other == 1);
}

TEST_CASE("a subscription may outlive its breaker", "[event]") {
  circuit::manual_clock clock;
  int calls = 0;
  circuit::subscription sub;
  {
    auto b = std::make_unique<breaker>(circuit::consecutive_failures{}, circuit::options{}, clock);
    sub = b->on_event([&](const circuit::event&) { ++calls; });
    b->call([] {});
  }
  CHECK(calls == 1);
  CHECK(sub);
  sub.reset();
  CHECK_FALSE(sub);
}

TEST_CASE("a listener may unsubscribe itself and subscribe another from inside its call", "[event]") {
  circuit::manual_clock clock;
  breaker b({}, {}, clock);
  int first_calls = 0, second_calls = 0;
  circuit::subscription first, second;
  first = b.on_event([&](const circuit::event&) {
    ++first_calls;
    first.reset();
    second = b.on_event([&](const circuit::event&) { ++second_calls; });
  });

  b.call([] {});
  CHECK(first_calls == 1);
  CHECK(second_calls == 0);  // subscribed during this event: sees the next ones
  CHECK_FALSE(first);
  CHECK(second);

  b.call([] {});
  b.call([] {});
  CHECK(first_calls == 1);
  CHECK(second_calls == 2);
}

TEST_CASE("listeners run outside the lock: they may query and steer the breaker", "[event]") {
  circuit::manual_clock clock;
  breaker b(circuit::consecutive_failures{.threshold = 5}, {.open_for = circuit::fixed{10s}}, clock);
  std::vector<seen> events;
  std::optional<circuit::call_counts> totals_in_listener;
  std::optional<state> state_in_listener;
  bool tripped = false;
  auto sub = b.on_event([&](const circuit::event& e) {
    events.push_back({e.kind, e.from, e.to});
    const auto m = b.metrics();
    state_in_listener = b.current_state();
    if (e.kind == event_kind::failure && !tripped) {
      tripped = true;
      totals_in_listener = m.total;
      b.trip();  // emits closed->open from inside this listener
      state_in_listener = b.current_state();
    }
  });

  CHECK_THROWS_AS(b.call([] { throw std::runtime_error("down"); }), std::runtime_error);

  CHECK(b.current_state() == state::open);
  REQUIRE(totals_in_listener);
  CHECK(totals_in_listener->failures == 1);  // recorded before listeners run
  CHECK(state_in_listener == state::open);
  const std::vector<seen> expected{
      {event_kind::failure, state::closed, state::closed},
      {event_kind::state_change, state::closed, state::open},
  };
  CHECK(events == expected);

  // The lazy change to half_open, performed by current_state() inside a
  // listener of that very change.
  clock.advance(10s);
  CHECK(b.current_state() == state::half_open);
  CHECK(events.back() == seen{event_kind::state_change, state::open, state::half_open});
}

TEST_CASE("listeners may come and go while other threads call through the breaker", "[event][threads]") {
  circuit::manual_clock clock;
  breaker b(circuit::consecutive_failures{.threshold = 1'000'000}, {}, clock);
  constexpr int workers = 2;
  constexpr int rounds = 20;

  std::atomic<std::uint64_t> permanent{0};
  auto permanent_sub = b.on_event([&](const circuit::event&) { permanent.fetch_add(1, std::memory_order_relaxed); });

  std::atomic<bool> stop{false};
  std::vector<std::thread> threads;
  for (int w = 0; w < workers; ++w) {
    threads.emplace_back([&, w] {
      for (std::uint64_t i = 0; !stop.load(std::memory_order_relaxed); ++i) {
        auto p = b.try_guard();
        if ((i + static_cast<std::uint64_t>(w)) % 4 == 0) {
          p.failure();
        } else {
          p.success();
        }
      }
    });
  }

  // Each round's listener counts into its own counter; once reset() has
  // returned, that counter must never move again.
  std::vector<std::unique_ptr<std::atomic<std::uint64_t>>> counts;
  std::vector<std::uint64_t> at_unsubscribe;
  for (int i = 0; i < rounds; ++i) counts.push_back(std::make_unique<std::atomic<std::uint64_t>>(0));
  std::thread subscriber([&] {
    for (int i = 0; i < rounds; ++i) {
      auto* count = counts[static_cast<std::size_t>(i)].get();
      auto sub = b.on_event([count](const circuit::event&) { count->fetch_add(1, std::memory_order_relaxed); });
      while (count->load(std::memory_order_relaxed) == 0) std::this_thread::yield();
      sub.reset();
      at_unsubscribe.push_back(count->load(std::memory_order_relaxed));
    }
  });
  subscriber.join();
  // Let the workers run on past the last unsubscribe.
  const auto mark = permanent.load();
  while (permanent.load() < mark + 200) std::this_thread::yield();
  stop = true;
  for (auto& t : threads) t.join();

  for (int i = 0; i < rounds; ++i) {
    const auto idx = static_cast<std::size_t>(i);
    CHECK(at_unsubscribe[idx] >= 1);
    CHECK(counts[idx]->load() == at_unsubscribe[idx]);
  }
  const auto m = b.metrics();
  CHECK(m.state == state::closed);
  CHECK(permanent.load() == m.total.successes + m.total.failures);
  CHECK(m.listener_errors == 0);
}

TEST_CASE("subscribing and unsubscribing others never copies a listener that is running, nor loses its state",
          "[event][threads]") {
  circuit::manual_clock clock;
  breaker b(circuit::consecutive_failures{.threshold = 1'000'000}, {}, clock);
  std::atomic<int> last_seen{0};
  // A stateful listener: a copy of it would count on from where the copy was made.
  auto counting = b.on_event([n = 0, &last_seen](const circuit::event&) mutable { last_seen.store(++n); });
  constexpr int calls = 4'000;
  std::atomic<bool> done{false};
  std::thread churn([&] {
    while (!done.load()) {
      auto other = b.on_event([](const circuit::event&) {});
    }
  });
  for (int i = 0; i < calls; ++i) b.try_guard().success();
  done.store(true);
  churn.join();
  CHECK(last_seen.load() == calls);
}

// ---- Second round: what events explain, and who hears which -------------------

TEST_CASE("state changes carry their cause, generation, time and open duration", "[event]") {
  circuit::manual_clock clock(circuit::manual_clock::time_point(100s));
  breaker b(circuit::consecutive_failures{.threshold = 1}, {.open_for = circuit::fixed{10s}}, clock);
  std::vector<circuit::event> changes;
  auto sub = b.on_event([&](const circuit::event& e) { changes.push_back(e); }, circuit::event_filter::state_changes);
  b.try_guard().failure();  // counter_tripped
  clock.advance(10s);
  b.try_guard().success();  // open_elapsed, then probes_succeeded
  b.isolate();
  b.reset();
  REQUIRE(changes.size() == 5);
  CHECK(changes[0].cause == circuit::transition_cause::counter_tripped);
  CHECK(changes[0].open_for == std::chrono::nanoseconds(10s));
  CHECK(changes[0].time == std::chrono::nanoseconds(100s));
  CHECK(changes[1].cause == circuit::transition_cause::open_elapsed);
  CHECK_FALSE(changes[1].open_for);
  CHECK(changes[1].time == std::chrono::nanoseconds(110s));
  CHECK(changes[2].cause == circuit::transition_cause::probes_succeeded);
  CHECK(changes[3].cause == circuit::transition_cause::isolated);
  CHECK_FALSE(changes[3].open_for);  // isolated lasts until reset()
  CHECK(changes[4].cause == circuit::transition_cause::reset);
  for (std::size_t i = 0; i < changes.size(); ++i) {
    CHECK(changes[i].kind == event_kind::state_change);
    CHECK(changes[i].generation == i + 1);  // totally ordered by generation
  }
  CHECK(b.metrics().generation == 5);
}

TEST_CASE("an outcome event carries its admission's generation; a rejection the one that refused", "[event]") {
  circuit::manual_clock clock;
  breaker b(circuit::consecutive_failures{.threshold = 1}, {.open_for = circuit::fixed{10s}}, clock);
  std::vector<circuit::event> seen_events;
  auto sub = b.on_event([&](const circuit::event& e) { seen_events.push_back(e); });
  auto old = b.try_guard();  // generation 0
  b.trip();                  // generation 1
  CHECK_FALSE(b.try_guard());
  old.success();
  REQUIRE(seen_events.size() == 3);
  CHECK(seen_events[1].kind == event_kind::rejected);
  CHECK(seen_events[1].generation == 1);
  CHECK(seen_events[1].time.has_value());  // the open check read the clock
  CHECK(seen_events[2].kind == event_kind::success);
  CHECK(seen_events[2].generation == 0);
}

TEST_CASE("an event_filter picks the kinds a listener takes", "[event]") {
  circuit::manual_clock clock;
  breaker b(circuit::consecutive_failures{.threshold = 2}, {}, clock);
  std::vector<event_kind> changes, outcomes, rejections, all;
  auto s1 = b.on_event([&](const circuit::event& e) { changes.push_back(e.kind); }, circuit::event_filter::state_changes);
  auto s2 = b.on_event([&](const circuit::event& e) { outcomes.push_back(e.kind); }, circuit::event_filter::outcomes);
  auto s3 = b.on_event([&](const circuit::event& e) { rejections.push_back(e.kind); }, {event_kind::rejected});
  auto s4 = b.on_event([&](const circuit::event& e) { all.push_back(e.kind); });
  b.try_guard().success();
  b.try_guard().ignore();
  b.try_guard().failure();
  b.try_guard().failure();  // trips
  CHECK_FALSE(b.try_guard());
  CHECK(changes == std::vector<event_kind>{event_kind::state_change});
  CHECK(outcomes == std::vector<event_kind>{event_kind::success, event_kind::ignored, event_kind::failure,
                                            event_kind::failure});
  CHECK(rejections == std::vector<event_kind>{event_kind::rejected});
  CHECK(all.size() == 6);
  CHECK(circuit::event_filter::all.contains(event_kind::ignored));
  CHECK_FALSE(circuit::event_filter::state_changes.contains(event_kind::success));
}

TEST_CASE("a list whose listeners take no successes does not want them, so a success dispatches nothing",
          "[event]") {
  auto list = std::make_shared<circuit::detail::listener_list>();
  CHECK_FALSE(list->wants(event_kind::success));
  auto changes = circuit::detail::subscribe(list, [](const circuit::event&) {}, circuit::event_filter::state_changes);
  CHECK(list->wants(event_kind::state_change));
  CHECK_FALSE(list->wants(event_kind::success));
  CHECK_FALSE(list->wants(event_kind::failure));
  {
    auto everything = circuit::detail::subscribe(list, [](const circuit::event&) {});
    CHECK(list->wants(event_kind::success));
  }
  CHECK_FALSE(list->wants(event_kind::success));  // narrowed again on unsubscribe
  changes.reset();
  CHECK_FALSE(list->wants(event_kind::state_change));
}
