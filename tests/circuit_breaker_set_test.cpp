// circuit_breaker_set: many breakers keyed by peer id, made on first use from
// one set of defaults; lookups by any string-like key; per-peer settings;
// open_circuits() and for_each(); set-wide events; the pins that keep a peer
// in use alive through erase() and eviction; the max_peers cap; the
// lock-free lookups under concurrent creation, calls and eviction; steering
// one peer by id; try_call and wrap by id; which types a lookup takes
// (key_for) and how a custom key names its breaker (nameable_key).

#include "catch.hpp"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <latch>
#include <map>
#include <memory>
#include <optional>
#include <ostream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>

#include <circuit/call_result.hpp>
#include <circuit/circuit_breaker.hpp>
#include <circuit/circuit_breaker_set.hpp>
#include <circuit/consecutive_failures.hpp>
#include <circuit/event.hpp>
#include <circuit/manual_clock.hpp>
#include <circuit/open_circuit_error.hpp>
#include <circuit/options.hpp>
#include <circuit/peer_key.hpp>
#include <circuit/sliding_window.hpp>
#include <circuit/state.hpp>

#include "allocation_counter.hpp"

using namespace std::chrono_literals;

namespace {

using breaker = circuit::circuit_breaker<circuit::manual_clock>;
using peer_set = circuit::circuit_breaker_set<breaker>;

// Records one failure on `peer` through a set guard.
template <class K>
void fail_once(peer_set& peers, const K& peer) {
  auto g = peers.try_guard(peer);
  REQUIRE(g);
  g.failure();
}

// Opens `peer`'s circuit with the default counter (the 4th failure trips).
void trip_by_failures(peer_set& peers, const std::string& peer) {
  for (int i = 0; i < 4; ++i) fail_once(peers, peer);
  REQUIRE(peers.get(peer).current_state() == circuit::state::open);
}

std::vector<std::string> sorted(std::vector<std::string> v) {
  std::sort(v.begin(), v.end());
  return v;
}

std::string peer_name(int i) { return "peer-" + std::to_string(i); }

}  // namespace

// ---- Defaults ---------------------------------------------------------------

TEST_CASE("a set's defaults are python-circuit's: the 4th failure within 60 s opens a peer for 10 s",
          "[circuit_breaker_set]") {
  circuit::manual_clock clock;
  peer_set peers({}, {}, clock);
  auto& b = peers.get("db");
  CHECK(b.counter().max_failures == 3);
  CHECK(b.counter().window == 60s);
  REQUIRE(std::holds_alternative<circuit::fixed>(b.options().open_for));
  CHECK(std::get<circuit::fixed>(b.options().open_for).duration == 10s);

  for (int i = 0; i < 3; ++i) {
    fail_once(peers, "db");
    clock.advance(19s);  // the three failures stay within 60 s
  }
  CHECK(b.current_state() == circuit::state::closed);
  fail_once(peers, "db");
  CHECK(b.current_state() == circuit::state::open);

  clock.advance(10s - 1ns);
  CHECK(b.current_state() == circuit::state::open);
  clock.advance(1ns);
  CHECK(b.current_state() == circuit::state::half_open);
}

TEST_CASE("a set with invalid defaults throws std::invalid_argument when it is constructed",
          "[circuit_breaker_set]") {
  circuit::manual_clock clock;
  CHECK_THROWS_AS(peer_set(circuit::sliding_window{.max_failures = 3, .window = 0s}, {}, clock),
                  std::invalid_argument);
  CHECK_THROWS_AS(peer_set({}, {.half_open_max_calls = 0}, clock), std::invalid_argument);
  CHECK_THROWS_AS(peer_set({}, {.open_for = circuit::fixed{-1s}}, clock), std::invalid_argument);
  CHECK_NOTHROW(peer_set(circuit::sliding_window{.max_failures = 0, .window = 1s}, {}, clock));
}

// ---- Peers and lookups ------------------------------------------------------

TEST_CASE("tripping one peer's circuit leaves every other peer closed", "[circuit_breaker_set]") {
  circuit::manual_clock clock;
  peer_set peers({}, {}, clock);
  for (const auto* p : {"a", "c"}) {
    for (int i = 0; i < 3; ++i) fail_once(peers, p);  // one short of tripping
  }

  trip_by_failures(peers, "b");
  CHECK(peers.get("a").current_state() == circuit::state::closed);
  CHECK(peers.get("c").current_state() == circuit::state::closed);
  CHECK(peers.get("a").metrics().total.failures == 3);
  CHECK(peers.get("b").metrics().total.failures == 4);
  CHECK(peers.try_guard("a"));
  CHECK_FALSE(peers.try_guard("b"));
}

TEST_CASE("the same peer id reaches the same breaker whether given as std::string, std::string_view or const char*",
          "[circuit_breaker_set]") {
  circuit::manual_clock clock;
  peer_set peers({}, {}, clock);
  const std::string as_string = "db-1";
  const std::string_view as_view = as_string;
  const char* as_chars = as_string.c_str();

  auto& b = peers.get(as_string);
  CHECK(&peers.get(as_view) == &b);
  CHECK(&peers.get(as_chars) == &b);
  CHECK(&peers.get("db-1") == &b);

  // call(), guard() and try_guard() go to the same breaker too.
  CHECK(peers.call(as_view, [](int x) { return x + 1; }, 41) == 42);
  peers.call(as_chars, [] {});
  peers.guard(as_string).success();
  peers.guard(as_view).success();
  peers.try_guard(as_chars).success();
  peers.try_guard("db-1").success();
  CHECK(b.metrics().total.successes == 6);
  CHECK(peers.size() == 1);
  CHECK(peers.contains(as_view));
  CHECK(peers.contains(as_chars));
  CHECK(peers.contains(as_string));
}

TEST_CASE("each breaker of a set is named after its peer id", "[circuit_breaker_set]") {
  circuit::manual_clock clock;
  peer_set peers({}, {.name = "the defaults' name"}, clock);
  CHECK(peers.get("db-1").name() == "db-1");
  CHECK(peers.get(std::string_view("cache")).name() == "cache");

  trip_by_failures(peers, "db-1");
  try {
    peers.call("db-1", [] {});
    FAIL("call() was admitted");
  } catch (const circuit::open_circuit_error& e) {
    CHECK(e.name() == "db-1");
    CHECK(std::string_view(e.what()).find("db-1") != std::string_view::npos);
  }
}

TEST_CASE("try_emplace gives one peer its own settings, and leaves an existing peer unchanged",
          "[circuit_breaker_set]") {
  circuit::manual_clock clock;
  peer_set peers({}, {}, clock);

  auto [special, made] = peers.try_emplace("fragile", circuit::sliding_window{.max_failures = 0, .window = 5s},
                                           {.open_for = circuit::fixed{1s}});
  CHECK(made);
  CHECK(special.name() == "fragile");
  CHECK(special.counter().max_failures == 0);
  CHECK(std::get<circuit::fixed>(special.options().open_for).duration == 1s);
  CHECK(&peers.get("fragile") == &special);

  // Its own settings: the first failure trips it, for 1 s; other peers use the defaults.
  fail_once(peers, "fragile");
  CHECK(special.current_state() == circuit::state::open);
  fail_once(peers, "sturdy");
  CHECK(peers.get("sturdy").current_state() == circuit::state::closed);
  clock.advance(1s);
  CHECK(special.current_state() == circuit::state::half_open);

  // An existing peer, made by try_emplace or by first use, is not changed.
  auto [again, made_again] = peers.try_emplace(std::string_view("fragile"), circuit::sliding_window{}, {});
  CHECK_FALSE(made_again);
  CHECK(&again == &special);
  CHECK(again.counter().max_failures == 0);
  auto [sturdy, made_sturdy] = peers.try_emplace(std::string("sturdy"), circuit::sliding_window{.max_failures = 0}, {});
  CHECK_FALSE(made_sturdy);
  CHECK(sturdy.counter().max_failures == 3);
  CHECK(peers.size() == 2);
}

TEST_CASE("try_emplace with invalid settings throws std::invalid_argument and adds no peer",
          "[circuit_breaker_set]") {
  circuit::manual_clock clock;
  peer_set peers({}, {}, clock);
  CHECK_THROWS_AS(peers.try_emplace("bad", circuit::sliding_window{.window = 0s}, {}), std::invalid_argument);
  CHECK_THROWS_AS(peers.try_emplace("bad", circuit::sliding_window{}, {.success_threshold = 0}),
                  std::invalid_argument);
  CHECK_FALSE(peers.contains("bad"));
  CHECK(peers.size() == 0);
}

TEST_CASE("size, contains and erase track the peers, and contains makes none", "[circuit_breaker_set]") {
  circuit::manual_clock clock;
  peer_set peers({}, {}, clock);
  CHECK(peers.size() == 0);
  CHECK_FALSE(peers.contains("a"));
  CHECK(peers.size() == 0);

  (void)peers.get("a");
  (void)peers.get("b");
  peers.call("c", [] {});
  CHECK(peers.size() == 3);
  CHECK(peers.contains("a"));

  CHECK(peers.erase("a"));
  CHECK_FALSE(peers.erase(std::string_view("a")));
  CHECK_FALSE(peers.contains("a"));
  CHECK(peers.size() == 2);

  // Asked for again, an erased peer starts afresh.
  trip_by_failures(peers, "b");
  CHECK(peers.erase(std::string("b")));
  CHECK(peers.get("b").current_state() == circuit::state::closed);
  CHECK(peers.get("b").metrics().total.failures == 0);
  CHECK(peers.size() == 2);
}

TEST_CASE("a lookup of an existing peer by std::string_view does not allocate", "[circuit_breaker_set]") {
  circuit::manual_clock clock;
  peer_set peers({}, {}, clock);
  // A key too long for the small-string buffer: building a std::string from
  // it would allocate.
  const std::string id = "a-peer-id-well-beyond-the-small-string-buffer";
  const std::string_view peer = id;
  // Warm-up: makes the peer, and claims this thread's lane (a thread's first
  // use of a lane may allocate once, see allocation_counter.hpp).
  peers.call(peer, [] {});
  (void)peers.get("another-peer-for-a-longer-chain");

  bool found = false;
  CHECK(circuit_test::allocations_in([&] {
          for (int i = 0; i < 100; ++i) {
            found = peers.contains(peer);
            (void)peers.get(peer);
            peers.try_guard(peer).success();
            peers.guard(peer).success();
            peers.call(peer, [] {});
            (void)peers.try_call(peer, [] {});
            found = found && peers.state(peer) == circuit::state::closed;
          }
        }) == 0);
  CHECK(found);
  CHECK(peers.get(peer).metrics().total.successes == 1 + 400);
}

// ---- open_circuits and for_each --------------------------------------------

TEST_CASE("open_circuits() names the open and isolated peers, not half_open or recovered ones",
          "[circuit_breaker_set]") {
  circuit::manual_clock clock;
  peer_set peers({}, {}, clock);
  (void)peers.get("healthy");
  trip_by_failures(peers, "down");
  trip_by_failures(peers, "recovering");
  peers.get("maintenance").isolate();
  CHECK(sorted(peers.open_circuits()) == std::vector<std::string>{"down", "maintenance", "recovering"});

  // 10 s later "down" and "recovering" are half_open, so no longer listed;
  // "recovering" then closes with a successful probe.
  clock.advance(10s);
  peers.guard("recovering").success();
  CHECK(peers.get("recovering").current_state() == circuit::state::closed);
  CHECK(peers.get("down").current_state() == circuit::state::half_open);
  CHECK(peers.open_circuits() == std::vector<std::string>{"maintenance"});

  // A failed probe re-opens "down".
  fail_once(peers, "down");
  CHECK(sorted(peers.open_circuits()) == std::vector<std::string>{"down", "maintenance"});
  peers.get("maintenance").reset();
  CHECK(peers.open_circuits() == std::vector<std::string>{"down"});
}

TEST_CASE("for_each visits every peer exactly once", "[circuit_breaker_set]") {
  circuit::manual_clock clock;
  peer_set peers({}, {}, clock);
  constexpr int count = 100;  // several times the initial buckets: the table grows
  for (int i = 0; i < count; ++i) (void)peers.get(peer_name(i));
  for (int i = 0; i < count; i += 3) fail_once(peers, peer_name(i));

  std::map<std::string, int> visits;
  std::uint64_t failures = 0;
  peers.for_each([&](const std::string& key, const breaker& b) {
    ++visits[key];
    CHECK(b.name() == key);
    failures += b.metrics().total.failures;
  });
  REQUIRE(visits.size() == count);
  for (int i = 0; i < count; ++i) CHECK(visits[peer_name(i)] == 1);
  CHECK(failures == (count + 2) / 3);
}

// ---- Events ------------------------------------------------------------------

TEST_CASE("a set's listener hears every peer's events, named by peer id, until unsubscribed",
          "[circuit_breaker_set]") {
  circuit::manual_clock clock;
  peer_set peers({}, {}, clock);
  (void)peers.get("early");  // made before the subscription

  std::vector<circuit::event_kind> kinds;
  std::vector<std::string> names;
  std::vector<std::string> opened;
  auto sub = peers.on_event([&](const circuit::event& e) {
    kinds.push_back(e.kind);
    names.emplace_back(e.name);
    if (e.kind == circuit::event_kind::state_change && e.to == circuit::state::open) opened.emplace_back(e.name);
  });

  peers.guard("early").success();
  peers.guard("late").success();  // made after the subscription
  CHECK(kinds == std::vector<circuit::event_kind>{circuit::event_kind::success, circuit::event_kind::success});
  CHECK(names == std::vector<std::string>{"early", "late"});

  trip_by_failures(peers, "early");
  trip_by_failures(peers, "late");
  CHECK(opened == std::vector<std::string>{"early", "late"});
  CHECK_FALSE(peers.try_guard("late"));
  CHECK(kinds.back() == circuit::event_kind::rejected);
  CHECK(names.back() == "late");
  for (std::size_t i = 0; i < kinds.size(); ++i) {
    // Every event carries the name of the peer that caused it.
    CHECK((names[i] == "early" || names[i] == "late"));
  }

  sub.reset();
  const auto heard = kinds.size();
  peers.guard("other").success();
  peers.get("early").reset();
  CHECK(kinds.size() == heard);
}

// ---- Lifetimes: pins, erase, eviction --------------------------------------

TEST_CASE("a set guard keeps its peer alive through erase(), and settles on it", "[circuit_breaker_set]") {
  circuit::manual_clock clock;
  peer_set peers({}, {}, clock);
  std::vector<std::string> outcomes;
  auto sub = peers.on_event([&](const circuit::event& e) {
    if (e.kind == circuit::event_kind::failure) outcomes.emplace_back(e.name);
  });

  auto g = peers.guard("leaving");
  CHECK(peers.erase("leaving"));
  CHECK_FALSE(peers.contains("leaving"));
  CHECK(peers.size() == 0);

  // The erased breaker is still there for the guard (AddressSanitizer would
  // catch a use after free here).
  g.failure();
  CHECK(outcomes == std::vector<std::string>{"leaving"});
  { auto moved = std::move(g); }  // the pin goes with the guard
  CHECK(peers.evict_idle(0ns) == 0);  // reaps the unpinned erased breaker
  CHECK_FALSE(peers.contains("leaving"));

  // A new breaker for the same id starts afresh.
  CHECK(peers.get("leaving").metrics().total.failures == 0);
}

TEST_CASE("a guard left unsettled settles on destruction after its peer is erased", "[circuit_breaker_set]") {
  circuit::manual_clock clock;
  peer_set peers({}, {}, clock);
  int successes = 0;
  auto sub = peers.on_event([&](const circuit::event& e) {
    if (e.kind == circuit::event_kind::success && e.name == "gone") ++successes;
  });
  {
    auto g = peers.try_guard("gone");
    REQUIRE(g);
    CHECK(peers.erase("gone"));
    CHECK(peers.erase("other") == false);
  }
  CHECK(successes == 1);
  CHECK(peers.size() == 0);
}

TEST_CASE("evict_idle removes closed peers whose activity stood still across idle_for", "[circuit_breaker_set]") {
  circuit::manual_clock clock;
  peer_set peers({}, {}, clock);
  peers.call("busy", [] {});
  peers.call("quiet", [] {});

  // First look: both have been active since the set last looked.
  CHECK(peers.evict_idle(60s) == 0);
  clock.advance(30s);
  peers.call("busy", [] {});
  CHECK(peers.evict_idle(60s) == 0);
  clock.advance(30s);
  peers.call("busy", [] {});

  // 60 s after the first look, "quiet" has recorded nothing; "busy" has.
  CHECK(peers.evict_idle(60s) == 1);
  CHECK_FALSE(peers.contains("quiet"));
  CHECK(peers.contains("busy"));
  CHECK(peers.size() == 1);
}

TEST_CASE("evict_idle does not evict a peer whose idleness is shorter than idle_for", "[circuit_breaker_set]") {
  circuit::manual_clock clock;
  peer_set peers({}, {}, clock);
  peers.call("p", [] {});
  CHECK(peers.evict_idle(60s) == 0);
  clock.advance(60s - 1ns);
  CHECK(peers.evict_idle(60s) == 0);
  CHECK(peers.contains("p"));
  clock.advance(1ns);
  CHECK(peers.evict_idle(60s) == 1);
  CHECK_FALSE(peers.contains("p"));
}

TEST_CASE("evict_idle never evicts a peer with a guard held, nor an open or isolated one", "[circuit_breaker_set]") {
  circuit::manual_clock clock;
  peer_set peers({}, {}, clock);
  auto held = peers.guard("held");
  trip_by_failures(peers, "open");
  peers.get("isolated").isolate();
  peers.call("idle", [] {});
  (void)peers.get("handed_out");  // a reference went out: never evicted

  CHECK(peers.evict_idle(1s) == 0);
  clock.advance(1h);
  CHECK(peers.evict_idle(1s) == 1);  // only "idle"
  CHECK_FALSE(peers.contains("idle"));
  CHECK(peers.contains("handed_out"));
  CHECK(peers.contains("held"));
  CHECK(peers.contains("open"));  // open for 10 s, long passed, but not closed: kept
  CHECK(peers.contains("isolated"));
  CHECK(peers.evict_idle(0ns) == 0);

  // Once settled and unpinned, and quiet for idle_for, the held peer goes.
  held.success();
  { auto released = std::move(held); }
  CHECK(peers.evict_idle(1s) == 0);  // its success is new activity
  clock.advance(1s);
  CHECK(peers.evict_idle(1s) == 1);
  CHECK_FALSE(peers.contains("held"));
  CHECK(peers.size() == 3);
}

TEST_CASE("at max_peers a new peer evicts the idlest closed peer that is not in use", "[circuit_breaker_set]") {
  circuit::manual_clock clock;
  peer_set peers({}, {}, clock);
  peers.set_max_peers(4);
  (void)peers.get("handed_out");  // made first, but a reference went out: never evicted
  peers.call("oldest", [] {});    // made at t = 0, used again at t = 15 s
  clock.advance(10s);
  peers.call("idlest", [] {});  // made at t = 10 s, not used again
  CHECK(peers.evict_idle(1h) == 0);  // a look at t = 10 s: both quiet since then
  clock.advance(1s);
  auto held = peers.guard("held");  // in use
  clock.advance(4s);
  peers.call("oldest", [] {});
  clock.advance(5s);

  (void)peers.get("newcomer");
  CHECK(peers.size() == 4);
  CHECK(peers.contains("handed_out"));
  CHECK_FALSE(peers.contains("idlest"));
  CHECK(peers.contains("oldest"));
  CHECK(peers.contains("held"));
  CHECK(peers.contains("newcomer"));

  // A peer that exists is found without evicting anything.
  (void)peers.get("oldest");
  CHECK(peers.size() == 4);
}

TEST_CASE("at max_peers with every peer in use or not closed, get, call, guard and try_emplace of a new peer throw "
          "std::length_error",
          "[circuit_breaker_set]") {
  circuit::manual_clock clock;
  peer_set peers({}, {}, clock);
  peers.set_max_peers(2);
  auto held = peers.guard("held");
  trip_by_failures(peers, "open");

  CHECK_THROWS_AS(peers.get("third"), std::length_error);
  CHECK_THROWS_AS(peers.call("third", [] {}), std::length_error);
  CHECK_THROWS_AS(peers.guard("third"), std::length_error);
  CHECK_THROWS_AS(peers.try_emplace("third", circuit::sliding_window{}, {}), std::length_error);
  CHECK_FALSE(peers.contains("third"));
  CHECK(peers.size() == 2);
  CHECK(peers.capacity_refusals() == 4);

  // Settled, the held peer can make room.
  held.success();
  { auto released = std::move(held); }
  (void)peers.get("third");
  CHECK_FALSE(peers.contains("held"));
  CHECK(peers.contains("open"));
  CHECK(peers.size() == 2);

  // No cap: no eviction.
  peers.set_max_peers(0);
  for (int i = 0; i < 10; ++i) (void)peers.get(peer_name(i));
  CHECK(peers.size() == 12);
}

// ---- Concurrency (bounded, exact counts) -----------------------------------

TEST_CASE("threads asking for the same new peers at once get one breaker per peer", "[circuit_breaker_set]") {
  constexpr int threads = 4;
  constexpr int peer_count = 50;
  circuit::manual_clock clock;
  peer_set peers({}, {}, clock);
  std::vector<std::string> ids;
  for (int i = 0; i < peer_count; ++i) ids.push_back(peer_name(i));

  std::vector<std::vector<const breaker*>> seen(threads, std::vector<const breaker*>(peer_count));
  std::latch start(threads);
  std::vector<std::thread> workers;
  for (int t = 0; t < threads; ++t) {
    workers.emplace_back([&, t] {
      start.arrive_and_wait();
      for (int i = 0; i < peer_count; ++i) {
        // Each thread walks the peers from another starting point.
        const int p = (i + t * peer_count / threads) % peer_count;
        seen[t][p] = &peers.get(std::string_view(ids[p]));
      }
    });
  }
  for (auto& w : workers) w.join();

  CHECK(peers.size() == peer_count);
  for (int p = 0; p < peer_count; ++p) {
    for (int t = 1; t < threads; ++t) CHECK(seen[t][p] == seen[0][p]);
    CHECK(seen[0][p] == &peers.get(ids[p]));
    CHECK(seen[0][p]->name() == ids[p]);
  }
}

TEST_CASE("calls through many peers stay exact while another thread erases, evicts and lists peers",
          "[circuit_breaker_set]") {
  constexpr int threads = 4;
  constexpr int peer_count = 40;
  constexpr int churn_rounds = 50;
  constexpr std::uint64_t calls_between_rounds = 40;
  constexpr int max_calls_per_thread = 5000;
  circuit::manual_clock clock;
  peer_set peers({}, {}, clock);
  std::vector<std::string> ids;
  for (int i = 0; i < peer_count; ++i) ids.push_back(peer_name(i));
  for (const auto& id : ids) (void)peers.get(id);

  std::atomic<std::uint64_t> outcome_events{0};
  auto sub = peers.on_event([&](const circuit::event& e) {
    if (e.kind == circuit::event_kind::success || e.kind == circuit::event_kind::failure) {
      outcome_events.fetch_add(1, std::memory_order_relaxed);
    }
  });

  // The callers call until the churning thread has done its rounds (or
  // they have made max_calls_per_thread calls); each round waits for some
  // calls, so that rounds and calls interleave.
  std::atomic<bool> churn_done{false};
  std::atomic<int> running{threads};
  std::atomic<std::uint64_t> progress{0};
  std::atomic<std::uint64_t> admitted{0};
  std::atomic<std::uint64_t> ran{0};
  std::latch start(threads + 1);
  std::vector<std::thread> workers;
  for (int t = 0; t < threads; ++t) {
    workers.emplace_back([&, t] {
      start.arrive_and_wait();
      std::uint64_t mine = 0, done = 0;
      for (int i = 0; i < max_calls_per_thread && !churn_done.load(); ++i) {
        const std::string_view id = ids[static_cast<std::size_t>((i * 7 + t) % peer_count)];
        if (i % 2 == 0) {
          peers.call(id, [&] { ++done; });
          ++mine;
        } else if (auto g = peers.try_guard(id)) {  // closed: always admitted
          ++mine;
          ++done;
          g.success();
        }
        progress.fetch_add(1, std::memory_order_relaxed);
        if (i % 64 == 63) std::this_thread::yield();  // room for the churning thread
      }
      admitted.fetch_add(mine);
      ran.fetch_add(done);
      running.fetch_sub(1);
    });
  }

  // Catch2's assertions are not thread-safe: the churning thread keeps
  // what it saw for the checks after the join.
  std::size_t removed = 0;
  std::size_t most_visited = 0;
  std::size_t open_seen = 0;
  std::thread churn([&] {
    start.arrive_and_wait();
    for (int round = 0; round < churn_rounds; ++round) {
      const auto before = progress.load();
      while (progress.load() < before + calls_between_rounds && running.load() > 0) std::this_thread::yield();
      removed += peers.erase(ids[round % peer_count]) ? 1 : 0;  // in use or not
      removed += peers.evict_idle(0ns);                           // every closed peer not in use
      std::size_t visited = 0;
      peers.for_each([&](const std::string&, const breaker&) { ++visited; });
      most_visited = std::max(most_visited, visited);
      open_seen += peers.open_circuits().size();
    }
    churn_done.store(true);
  });
  for (auto& w : workers) w.join();
  churn.join();

  CHECK(removed > 0);  // at least the first erase(), of a peer made beforehand
  CHECK(most_visited <= peer_count);
  CHECK(open_seen == 0);
  CHECK(admitted.load() > 0);
  CHECK(ran.load() == admitted.load());
  // Every admitted call settled on its breaker, whether it was erased,
  // evicted or kept meanwhile: one outcome event each.
  CHECK(outcome_events.load() == admitted.load());
  CHECK(peers.size() <= peer_count);
}

TEST_CASE("concurrent calls through a set add up exactly per peer", "[circuit_breaker_set]") {
  constexpr int threads = 4;
  constexpr int peer_count = 10;
  constexpr int calls_per_thread = 1000;
  circuit::manual_clock clock;
  peer_set peers({}, {}, clock);
  std::vector<std::string> ids;
  for (int i = 0; i < peer_count; ++i) ids.push_back(peer_name(i));

  std::latch start(threads);
  std::vector<std::thread> workers;
  for (int t = 0; t < threads; ++t) {
    workers.emplace_back([&, t] {
      start.arrive_and_wait();
      for (int i = 0; i < calls_per_thread; ++i) {
        const auto& id = ids[static_cast<std::size_t>((i + t) % peer_count)];
        switch (i % 3) {
          case 0: peers.call(id, [] {}); break;
          case 1: peers.guard(std::string_view(id)).success(); break;
          default: peers.try_guard(id.c_str()).success(); break;
        }
      }
    });
  }
  for (auto& w : workers) w.join();

  REQUIRE(peers.size() == peer_count);
  std::uint64_t total = 0;
  for (const auto& id : ids) {
    const auto m = peers.get(id).metrics();
    CHECK(m.total.successes == threads * calls_per_thread / peer_count);
    CHECK(m.total.failures == 0);
    CHECK(m.total.rejections == 0);
    total += m.total.successes;
  }
  CHECK(total == std::uint64_t{threads} * calls_per_thread);
}

TEST_CASE("eviction runs no listener under the set's lock, so a set listener may call back into the set",
          "[circuit_breaker_set]") {
  circuit::manual_clock clock;
  peer_set peers({}, {}, clock);
  std::vector<std::string> made_by_listener;
  auto sub = peers.on_event([&](const circuit::event& e) {
    if (e.kind != circuit::event_kind::state_change) return;
    made_by_listener.push_back("from-" + std::string(e.name));
    peers.call(made_by_listener.back(), [] {});  // takes the set's writer lock
  });
  trip_by_failures(peers, "flaky");  // the listener runs once, for closed -> open
  REQUIRE(made_by_listener.size() == 1);
  clock.advance(1h);  // open has long passed: a lazy change to half_open is due
  CHECK(peers.evict_idle(1s) == 0);  // "from-flaky" was made just now
  CHECK(peers.evict_idle(1s) == 0);  // not quiet for 1 s yet
  // Eviction looked without moving "flaky" to half_open (no listener ran).
  CHECK(made_by_listener.size() == 1);
  CHECK(peers.get("flaky").current_state() == circuit::state::half_open);
  CHECK(made_by_listener.size() == 2);
}

TEST_CASE("a peer handed out by get() is never evicted, so a permit taken on the reference stays valid",
          "[circuit_breaker_set]") {
  circuit::manual_clock clock;
  peer_set peers({}, {}, clock);
  peers.set_max_peers(1);
  auto g = peers.get("a").try_guard();  // not pinned: the set cannot see this permit
  REQUIRE(g);
  clock.advance(1h);
  CHECK_THROWS_AS(peers.get("b"), std::length_error);  // "a" may not make room
  CHECK(peers.evict_idle(0ns) == 0);
  CHECK(peers.contains("a"));
  g.success();  // ASan would report a use-after-free here had "a" been evicted
  CHECK(peers.get("a").metrics().total.successes == 1);
}

// ---- Refusals at the max_peers cap -------------------------------------------

TEST_CASE("at max_peers with no room, try_guard of a new peer is refused instead of throwing, and counted",
          "[circuit_breaker_set]") {
  circuit::manual_clock clock;
  peer_set peers({}, {}, clock);
  peers.set_max_peers(1);
  auto held = peers.guard("held");  // in use: may not make room
  CHECK(peers.capacity_refusals() == 0);

  auto refused = peers.try_guard("new");  // used to throw std::length_error
  CHECK_FALSE(refused);
  CHECK_FALSE(peers.try_guard(std::string_view("new")));
  CHECK(peers.capacity_refusals() == 2);
  CHECK_FALSE(peers.contains("new"));
  CHECK(peers.size() == 1);

  // An existing peer is found at the cap without a refusal.
  held.success();
  CHECK(peers.try_guard("held"));
  CHECK(peers.capacity_refusals() == 2);
}

TEST_CASE("at max_peers with no room, try_call of a new peer returns a refusal, counted, and does not run the callable",
          "[circuit_breaker_set]") {
  circuit::manual_clock clock;
  peer_set peers({}, {}, clock);
  peers.set_max_peers(1);
  trip_by_failures(peers, "open");  // not closed: may not make room

  bool ran = false;
  const auto r = peers.try_call("new", [&] {
    ran = true;
    return 1;
  });
  CHECK_FALSE(ran);
  CHECK(r.refused());
  CHECK_FALSE(r.has_value());
  CHECK_FALSE(r.failed());
  CHECK(r.value_or(-1) == -1);
  CHECK_FALSE(r.retry_after().has_value());
  CHECK_THROWS_AS(r.value(), circuit::open_circuit_error);
  CHECK(peers.capacity_refusals() == 1);
  CHECK_FALSE(peers.contains("new"));
}

// ---- try_emplace and names ---------------------------------------------------

TEST_CASE("try_emplace rejects an options.name that is not the peer id, naming options.name", "[circuit_breaker_set]") {
  circuit::manual_clock clock;
  peer_set peers({}, {}, clock);
  try {
    (void)peers.try_emplace("x", {}, {.name = "other"});
    FAIL("try_emplace accepted a name that is not the peer id");
  } catch (const std::invalid_argument& e) {
    const std::string_view what = e.what();
    CHECK(what.find("options.name") != std::string_view::npos);
    CHECK(what.find("\"other\"") != std::string_view::npos);
    CHECK(what.find("\"x\"") != std::string_view::npos);
  }
  CHECK_FALSE(peers.contains("x"));
  CHECK(peers.size() == 0);

  // The peer id itself, or no name, is fine.
  CHECK(peers.try_emplace("x", {}, {.name = "x"}).first.name() == "x");
  CHECK(peers.try_emplace(std::string_view("y"), {}, {}).first.name() == "y");
  // Also rejected for a peer that exists (its settings would be ignored anyway).
  CHECK_THROWS_AS(peers.try_emplace("x", {}, {.name = "other"}), std::invalid_argument);
  CHECK(peers.size() == 2);
}

// ---- for_each with mutable breakers --------------------------------------------

namespace {
template <class Set, class F>
concept for_each_takes = requires(Set& s, F f) { s.for_each(f); };
using mutable_visitor = void (*)(const std::string&, breaker&);
using const_visitor = void (*)(const std::string&, const breaker&);
}  // namespace

TEST_CASE("for_each on a non-const set offers each breaker mutable, to steer it", "[circuit_breaker_set]") {
  STATIC_REQUIRE(for_each_takes<peer_set, mutable_visitor>);
  STATIC_REQUIRE(for_each_takes<peer_set, const_visitor>);
  STATIC_REQUIRE(for_each_takes<const peer_set, const_visitor>);
  STATIC_REQUIRE_FALSE(for_each_takes<const peer_set, mutable_visitor>);

  circuit::manual_clock clock;
  peer_set peers({}, {}, clock);
  trip_by_failures(peers, "db-1");
  trip_by_failures(peers, "db-2");
  (void)peers.get("cache");

  int visited = 0;
  peers.for_each([&](const std::string& key, breaker& b) {
    ++visited;
    if (key.starts_with("db-")) b.reset();
  });
  CHECK(visited == 3);
  CHECK(peers.open_circuits().empty());
  CHECK(peers.get("db-1").metrics().total.failures == 4);  // reset() keeps the totals
}

// ---- Inspecting and steering one peer by id ---------------------------------

TEST_CASE("state(peer) is empty for an unknown peer and makes none", "[circuit_breaker_set]") {
  circuit::manual_clock clock;
  peer_set peers({}, {}, clock);
  CHECK_FALSE(peers.state("nobody").has_value());
  CHECK_FALSE(peers.metrics("nobody").has_value());
  CHECK_FALSE(std::as_const(peers).state(std::string_view("nobody")).has_value());
  CHECK(peers.size() == 0);
}

TEST_CASE("state(peer) reads the state, moving open to half_open once due and announcing it", "[circuit_breaker_set]") {
  circuit::manual_clock clock;
  peer_set peers({}, {}, clock);
  std::vector<std::pair<circuit::state, circuit::state>> changes;
  auto sub = peers.on_event(
      [&](const circuit::event& e) { changes.emplace_back(e.from, e.to); }, circuit::event_filter::state_changes);

  peers.call("db", [] {});
  CHECK(peers.state("db") == circuit::state::closed);
  trip_by_failures(peers, "db");
  CHECK(peers.state("db") == circuit::state::open);
  clock.advance(10s);
  const auto before = changes.size();
  CHECK(peers.state(std::string("db")) == circuit::state::half_open);  // the lazy change, made by the read
  REQUIRE(changes.size() == before + 1);
  CHECK(changes.back() == std::pair{circuit::state::open, circuit::state::half_open});
}

TEST_CASE("metrics(peer) is the peer's breaker's metrics()", "[circuit_breaker_set]") {
  circuit::manual_clock clock;
  peer_set peers({}, {}, clock);
  peers.call("db", [] {});
  fail_once(peers, "db");
  const auto m = peers.metrics("db");
  REQUIRE(m.has_value());
  CHECK(m->state == circuit::state::closed);
  CHECK(m->total.successes == 1);
  CHECK(m->total.failures == 1);
  CHECK(m->window.failures == 1);
  STATIC_REQUIRE(std::is_same_v<peer_set::metrics_type, breaker::metrics_type>);

  for (int i = 0; i < 3; ++i) fail_once(peers, "db");  // the 4th failure trips
  CHECK(peers.metrics("db")->state == circuit::state::open);
  clock.advance(10s);
  CHECK(peers.metrics("db")->state == circuit::state::half_open);  // like metrics(): the lazy change too
}

TEST_CASE("trip, isolate, reset and disable by peer id steer the peer's breaker", "[circuit_breaker_set]") {
  circuit::manual_clock clock;
  peer_set peers({}, {}, clock);
  peers.call("db", [] {});

  CHECK(peers.trip("db"));
  CHECK(peers.state("db") == circuit::state::open);
  CHECK_THROWS_AS(peers.call("db", [] {}), circuit::open_circuit_error);
  CHECK(peers.isolate("db"));
  CHECK(peers.state("db") == circuit::state::isolated);
  CHECK(peers.open_circuits() == std::vector<std::string>{"db"});
  clock.advance(1h);
  CHECK(peers.state("db") == circuit::state::isolated);
  CHECK(peers.reset("db"));
  CHECK(peers.state("db") == circuit::state::closed);

  // Disabled: every call passes, failures move nothing.
  CHECK(peers.disable(std::string_view("db")));
  CHECK(peers.state("db") == circuit::state::disabled);
  for (int i = 0; i < 10; ++i) fail_once(peers, "db");
  CHECK(peers.state("db") == circuit::state::disabled);
  CHECK(peers.try_call("db", [] { return 1; }).value_or(0) == 1);
  CHECK(peers.open_circuits().empty());
  CHECK(peers.reset("db"));
  CHECK(peers.state("db") == circuit::state::closed);
  CHECK(peers.size() == 1);
}

TEST_CASE("trip, isolate, reset and disable of an unknown peer return false and make no peer",
          "[circuit_breaker_set]") {
  circuit::manual_clock clock;
  peer_set peers({}, {}, clock);
  CHECK_FALSE(peers.trip("nobody"));
  CHECK_FALSE(peers.isolate("nobody"));
  CHECK_FALSE(peers.reset(std::string_view("nobody")));
  CHECK_FALSE(peers.disable(std::string("nobody")));
  CHECK(peers.size() == 0);
  CHECK_FALSE(peers.contains("nobody"));
}

TEST_CASE("inspecting and steering by peer id leaves the peer unpinned and not handed out, so it can be evicted",
          "[circuit_breaker_set]") {
  circuit::manual_clock clock;
  peer_set peers({}, {}, clock);
  peers.call("steered", [] {});
  (void)peers.get("handed_out");  // for contrast: never evicted
  CHECK(peers.state("steered") == circuit::state::closed);
  CHECK(peers.metrics("steered").has_value());
  CHECK(peers.trip("steered"));
  CHECK(peers.isolate("steered"));
  CHECK(peers.disable("steered"));
  CHECK(peers.reset("steered"));
  CHECK(peers.evict_idle(0ns) == 1);  // a pin left behind, or a handed-out mark, would keep it
  CHECK_FALSE(peers.contains("steered"));
  CHECK(peers.contains("handed_out"));
}

TEST_CASE("a disabled peer is not evicted: the operator's bypass stays", "[circuit_breaker_set]") {
  circuit::manual_clock clock;
  peer_set peers({}, {}, clock);
  peers.call("bypassed", [] {});
  CHECK(peers.disable("bypassed"));
  clock.advance(1h);
  CHECK(peers.evict_idle(0ns) == 0);
  CHECK(peers.state("bypassed") == circuit::state::disabled);
}

TEST_CASE("reset_all closes every peer", "[circuit_breaker_set]") {
  circuit::manual_clock clock;
  peer_set peers({}, {}, clock);
  trip_by_failures(peers, "a");
  CHECK(peers.isolate("a"));
  trip_by_failures(peers, "b");
  CHECK(peers.disable(std::string_view(peers.try_emplace("c", {}, {}).first.name())));
  peers.call("d", [] {});
  fail_once(peers, "d");

  peers.reset_all();
  for (const auto* p : {"a", "b", "c", "d"}) {
    CAPTURE(p);
    CHECK(peers.state(p) == circuit::state::closed);
    CHECK(peers.metrics(p)->window.failures == 0);
  }
  CHECK(peers.open_circuits().empty());
  CHECK(peers.size() == 4);
}

// ---- try_call and wrap by peer id ---------------------------------------------

TEST_CASE("try_call(peer, fn) makes the peer as call() does and returns a call_result", "[circuit_breaker_set]") {
  circuit::manual_clock clock;
  peer_set peers({}, {}, clock);
  auto r = peers.try_call("db", [](int x) { return x + 1; }, 41);
  STATIC_REQUIRE(std::is_same_v<decltype(r), circuit::call_result<int>>);
  CHECK(r.has_value());
  CHECK(r.value() == 42);
  CHECK(peers.contains("db"));
  CHECK(peers.get("db").name() == "db");

  const auto failed = peers.try_call(std::string_view("db"), []() -> int { throw std::runtime_error("down"); });
  CHECK(failed.failed());
  CHECK(failed.error() != nullptr);
  CHECK(failed.value_or(7) == 7);

  const auto v = peers.try_call("db", [] {});  // void
  CHECK(v.has_value());
  CHECK(peers.metrics("db")->total.successes == 2);
  CHECK(peers.metrics("db")->total.failures == 1);
}

TEST_CASE("try_call on an open peer is refused without throwing, and value_or gives the fallback",
          "[circuit_breaker_set]") {
  circuit::manual_clock clock;
  peer_set peers({}, {}, clock);
  trip_by_failures(peers, "db");
  bool ran = false;
  const auto r = peers.try_call("db", [&] {
    ran = true;
    return std::string("fresh");
  });
  CHECK_FALSE(ran);
  CHECK(r.refused());
  CHECK(r.refused_in() == circuit::state::open);
  CHECK(r.retry_after() == std::optional<std::chrono::nanoseconds>(10s));
  CHECK(r.value_or("cached") == "cached");
  CHECK(peers.capacity_refusals() == 0);  // a breaker's refusal, not the cap's
  CHECK(peers.metrics("db")->total.rejections == 1);
}

TEST_CASE("wrap(peer, fn) keeps its own copy of the peer id and goes through call() on every call",
          "[circuit_breaker_set]") {
  circuit::manual_clock clock;
  peer_set peers({}, {}, clock);
  auto id = std::make_unique<std::string>("a-peer-id-well-beyond-the-small-string-buffer");
  int calls = 0;
  auto fetch = peers.wrap(std::string_view(*id), [&](int x) {
    ++calls;
    if (x < 0) throw std::runtime_error("negative");
    return x * 2;
  });
  const std::string name = *id;
  id.reset();  // the wrapper holds its own copy (AddressSanitizer would see a dangling view)

  CHECK_FALSE(peers.contains(name));  // looked up on each call, not when made
  CHECK(fetch(21) == 42);
  CHECK(peers.contains(name));
  for (int i = 0; i < 4; ++i) CHECK_THROWS_AS(fetch(-1), std::runtime_error);
  CHECK(peers.state(name) == circuit::state::open);
  CHECK_THROWS_AS(fetch(1), circuit::open_circuit_error);
  CHECK(calls == 5);

  // An erased peer is made afresh by the next call; the wrapper never hands it out.
  CHECK(peers.erase(name));
  CHECK(fetch(2) == 4);
  CHECK(peers.state(name) == circuit::state::closed);
  CHECK(peers.evict_idle(0ns) == 1);
  CHECK(peers.size() == 0);
}

// ---- Set-wide events with a filter ---------------------------------------------

TEST_CASE("a set listener hears only the kinds of event its filter names", "[circuit_breaker_set]") {
  circuit::manual_clock clock;
  peer_set peers({}, {}, clock);
  std::vector<circuit::event_kind> changes, outcomes, every, rejections;
  auto on_change = peers.on_event([&](const circuit::event& e) { changes.push_back(e.kind); },
                                  circuit::event_filter::state_changes);
  auto on_outcome =
      peers.on_event([&](const circuit::event& e) { outcomes.push_back(e.kind); }, circuit::event_filter::outcomes);
  auto on_rejection = peers.on_event([&](const circuit::event& e) { rejections.push_back(e.kind); },
                                     circuit::event_filter{circuit::event_kind::rejected});
  auto on_all = peers.on_event([&](const circuit::event& e) { every.push_back(e.kind); });

  peers.call("db", [] {});
  trip_by_failures(peers, "db");  // 4 failures, then closed -> open
  CHECK_FALSE(peers.try_guard("db"));

  using k = circuit::event_kind;
  CHECK(changes == std::vector<k>{k::state_change});
  CHECK(outcomes == std::vector<k>{k::success, k::failure, k::failure, k::failure, k::failure});
  CHECK(rejections == std::vector<k>{k::rejected});
  CHECK(every.size() == 1 + 4 + 1 + 1);
}

// ---- Peer ids: what a lookup takes ---------------------------------------------

namespace {
using int_set = circuit::circuit_breaker_set<breaker, int>;
using long_set = circuit::circuit_breaker_set<breaker, long>;
using nothing_fn = void (*)();

// Whether every lookup of `Set` takes a `K`.
template <class Set, class K>
concept looks_up_by = requires(Set& s, const Set& cs, const K& k, nothing_fn fn) {
  s.call(k, fn);
  s.guard(k);
  s.try_guard(k);
  s.try_call(k, fn);
  s.wrap(k, fn);
  s.get(k);
  s.try_emplace(k, typename Set::counter_type{}, circuit::options{});
  cs.contains(k);
  s.erase(k);
  cs.state(k);
  cs.metrics(k);
  s.trip(k);
  s.isolate(k);
  s.reset(k);
  s.disable(k);
};

// Whether any one lookup of `Set` takes a `K`.
template <class Set, class K>
concept any_lookup_by = requires(Set& s, const K& k, nothing_fn fn) { s.call(k, fn); } ||
                        requires(Set& s, const K& k) { s.guard(k); } ||
                        requires(Set& s, const K& k) { s.try_guard(k); } ||
                        requires(Set& s, const K& k, nothing_fn fn) { s.try_call(k, fn); } ||
                        requires(Set& s, const K& k, nothing_fn fn) { s.wrap(k, fn); } ||
                        requires(Set& s, const K& k) { s.get(k); } ||
                        requires(Set& s, const K& k) {
                          s.try_emplace(k, typename Set::counter_type{}, circuit::options{});
                        } ||
                        requires(const Set& s, const K& k) { s.contains(k); } ||
                        requires(Set& s, const K& k) { s.erase(k); } ||
                        requires(const Set& s, const K& k) { s.state(k); } ||
                        requires(const Set& s, const K& k) { s.metrics(k); } ||
                        requires(Set& s, const K& k) { s.trip(k); } ||
                        requires(Set& s, const K& k) { s.isolate(k); } ||
                        requires(Set& s, const K& k) { s.reset(k); } ||
                        requires(Set& s, const K& k) { s.disable(k); };
}  // namespace

TEST_CASE("key_for takes the key, what the transparent hash takes, and conversions that do not narrow",
          "[circuit_breaker_set]") {
  STATIC_REQUIRE(circuit::key_for<std::string, std::string>);
  STATIC_REQUIRE(circuit::key_for<std::string_view, std::string>);
  STATIC_REQUIRE(circuit::key_for<const char*, std::string>);
  STATIC_REQUIRE(circuit::key_for<char[5], std::string>);  // a string literal
  STATIC_REQUIRE(circuit::key_for<int, int>);
  STATIC_REQUIRE(circuit::key_for<short, int>);
  STATIC_REQUIRE(circuit::key_for<int, long>);
  STATIC_REQUIRE_FALSE(circuit::key_for<double, int>);  // 3.7 would be looked up as 3
  STATIC_REQUIRE_FALSE(circuit::key_for<long long, int>);
  STATIC_REQUIRE_FALSE(circuit::key_for<unsigned, int>);
  STATIC_REQUIRE_FALSE(circuit::key_for<int, unsigned>);
  STATIC_REQUIRE_FALSE(circuit::key_for<const char*, int>);
  STATIC_REQUIRE_FALSE(circuit::key_for<char[5], int>);
  STATIC_REQUIRE_FALSE(circuit::key_for<int, std::string>);
  STATIC_REQUIRE_FALSE(circuit::key_for<char, std::string>);

  // The default hash takes only what hashes as the key it stands for.
  STATIC_REQUIRE(std::is_invocable_v<const circuit::transparent_hash<std::string>&, const std::string_view&>);
  STATIC_REQUIRE(std::is_invocable_v<const circuit::transparent_hash<int>&, const int&>);
  STATIC_REQUIRE_FALSE(std::is_invocable_v<const circuit::transparent_hash<int>&, const double&>);
  STATIC_REQUIRE_FALSE(std::is_invocable_v<const circuit::transparent_hash<int>&, const char* const&>);
}

TEST_CASE("every lookup of a set takes its key types and nothing else", "[circuit_breaker_set]") {
  STATIC_REQUIRE(looks_up_by<peer_set, std::string>);
  STATIC_REQUIRE(looks_up_by<peer_set, std::string_view>);
  STATIC_REQUIRE(looks_up_by<peer_set, const char*>);
  STATIC_REQUIRE(looks_up_by<peer_set, char[5]>);
  STATIC_REQUIRE_FALSE(any_lookup_by<peer_set, int>);
  STATIC_REQUIRE_FALSE(any_lookup_by<peer_set, char>);

  STATIC_REQUIRE(looks_up_by<int_set, int>);
  STATIC_REQUIRE(looks_up_by<int_set, short>);
  STATIC_REQUIRE_FALSE(any_lookup_by<int_set, double>);  // made a new peer on every call before
  STATIC_REQUIRE_FALSE(any_lookup_by<int_set, const char*>);
  STATIC_REQUIRE_FALSE(any_lookup_by<int_set, char[5]>);
  STATIC_REQUIRE_FALSE(any_lookup_by<int_set, long>);
  STATIC_REQUIRE_FALSE(any_lookup_by<int_set, unsigned>);

  STATIC_REQUIRE(looks_up_by<long_set, int>);
  STATIC_REQUIRE(looks_up_by<long_set, long>);
  STATIC_REQUIRE_FALSE(any_lookup_by<long_set, double>);
}

TEST_CASE("lookups by int on a long-keyed set, and by short on an int-keyed set, reach one peer through every member",
          "[circuit_breaker_set]") {
  circuit::manual_clock clock;

  const auto every_member = [](auto& peers, auto id) {
    auto& b = peers.get(id);
    CHECK(peers.size() == 1);
    CHECK(&peers.try_emplace(id, {}, {}).first == &b);
    CHECK(peers.contains(id));
    peers.call(id, [] {});
    peers.guard(id).success();
    peers.try_guard(id).success();
    CHECK(peers.try_call(id, [] { return 1; }).value_or(0) == 1);
    peers.wrap(id, [] {})();
    CHECK(peers.state(id) == circuit::state::closed);
    CHECK(peers.metrics(id)->total.successes == 5);
    CHECK(peers.trip(id));
    CHECK(peers.isolate(id));
    CHECK(peers.disable(id));
    CHECK(peers.reset(id));
    CHECK(peers.size() == 1);
    CHECK(b.metrics().total.successes == 5);
    CHECK(peers.erase(id));
    CHECK(peers.size() == 0);
  };

  long_set by_long({}, {}, clock);
  (void)by_long.get(7L);
  every_member(by_long, 7);  // an int
  CHECK(by_long.get(7L).name() == "7");
  int_set by_int({}, {}, clock);
  (void)by_int.get(7);
  every_member(by_int, short{7});
  CHECK(by_int.get(7).name() == "7");
}

// ---- Custom keys and their names -------------------------------------------------

namespace shard_keys {
// Named by a to_string found by argument-dependent lookup.
struct shard {
  int region;
  int index;
  friend bool operator==(const shard&, const shard&) = default;
};
std::string to_string(const shard& s) { return "shard-" + std::to_string(s.region) + "/" + std::to_string(s.index); }

// Named by operator<< only.
struct host {
  std::string name;
  int port;
  friend bool operator==(const host&, const host&) = default;
  friend std::ostream& operator<<(std::ostream& out, const host& h) { return out << h.name << ':' << h.port; }
};

// No name at all.
struct anonymous {
  int id;
  friend bool operator==(const anonymous&, const anonymous&) = default;
};

struct hash {
  std::size_t operator()(const shard& s) const noexcept { return std::hash<int>{}(s.region * 1000 + s.index); }
  std::size_t operator()(const host& h) const noexcept { return std::hash<std::string>{}(h.name) ^ h.port; }
};
}  // namespace shard_keys

TEST_CASE("nameable_key takes string-like keys, keys with a to_string, and keys with an operator<<",
          "[circuit_breaker_set]") {
  STATIC_REQUIRE(circuit::nameable_key<std::string>);
  STATIC_REQUIRE(circuit::nameable_key<std::string_view>);
  STATIC_REQUIRE(circuit::nameable_key<int>);
  STATIC_REQUIRE(circuit::nameable_key<shard_keys::shard>);
  STATIC_REQUIRE(circuit::nameable_key<shard_keys::host>);
  STATIC_REQUIRE_FALSE(circuit::nameable_key<shard_keys::anonymous>);
}

TEST_CASE("a custom key's breaker is named by its to_string, found by argument-dependent lookup",
          "[circuit_breaker_set]") {
  circuit::manual_clock clock;
  circuit::circuit_breaker_set<breaker, shard_keys::shard, shard_keys::hash> peers({}, {}, clock);
  CHECK(peers.get(shard_keys::shard{3, 14}).name() == "shard-3/14");
  std::string opened;
  auto sub = peers.on_event([&](const circuit::event& e) { opened = e.name; }, circuit::event_filter::state_changes);
  CHECK(peers.trip(shard_keys::shard{3, 14}));
  CHECK(opened == "shard-3/14");
  CHECK_FALSE(peers.try_emplace(shard_keys::shard{3, 14}, {}, {.name = "shard-3/14"}).second);
  CHECK_THROWS_AS(peers.try_emplace(shard_keys::shard{3, 15}, {}, {.name = "shard-3/14"}), std::invalid_argument);
  const auto r = peers.try_call(shard_keys::shard{3, 14}, [] { return 1; });
  CHECK(r.refused());
  CHECK_THROWS_WITH(r.value(), Catch::Contains("shard-3/14"));
}

TEST_CASE("a custom key's breaker is named by its operator<< when it has no to_string", "[circuit_breaker_set]") {
  circuit::manual_clock clock;
  circuit::circuit_breaker_set<breaker, shard_keys::host, shard_keys::hash> peers({}, {}, clock);
  CHECK(peers.get(shard_keys::host{"db.internal", 5432}).name() == "db.internal:5432");
  CHECK(peers.call(shard_keys::host{"db.internal", 5432}, [] { return 2; }) == 2);
  CHECK(peers.size() == 1);
  CHECK(peers.state(shard_keys::host{"db.internal", 5433}) == std::nullopt);
}
