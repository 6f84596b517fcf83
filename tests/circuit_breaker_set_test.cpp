// circuit_breaker_set: many breakers keyed by peer id, made on first use from
// one set of defaults; lookups by any string-like key; per-peer settings;
// open_circuits() and for_each(); set-wide events; the pins that keep a peer
// in use alive through erase() and eviction; the max_peers cap; and the
// lock-free lookups under concurrent creation, calls and eviction.

#include "catch.hpp"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <latch>
#include <map>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <variant>
#include <vector>

#include <circuit/circuit_breaker.hpp>
#include <circuit/circuit_breaker_set.hpp>
#include <circuit/consecutive_failures.hpp>
#include <circuit/event.hpp>
#include <circuit/manual_clock.hpp>
#include <circuit/open_circuit_error.hpp>
#include <circuit/options.hpp>
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
  REQUIRE(std::holds_alternative<circuit::fixed>(b.settings().open_for));
  CHECK(std::get<circuit::fixed>(b.settings().open_for).duration == 10s);

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
                                           {.name = "not used", .open_for = circuit::fixed{1s}});
  CHECK(made);
  CHECK(special.name() == "fragile");
  CHECK(special.counter().max_failures == 0);
  CHECK(std::get<circuit::fixed>(special.settings().open_for).duration == 1s);
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
          }
        }) == 0);
  CHECK(found);
  CHECK(peers.get(peer).metrics().total.successes == 1 + 300);
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

TEST_CASE("at max_peers with every peer in use or not closed a new peer throws std::length_error",
          "[circuit_breaker_set]") {
  circuit::manual_clock clock;
  peer_set peers({}, {}, clock);
  peers.set_max_peers(2);
  auto held = peers.guard("held");
  trip_by_failures(peers, "open");

  CHECK_THROWS_AS(peers.get("third"), std::length_error);
  CHECK_THROWS_AS(peers.try_guard("third"), std::length_error);
  CHECK_THROWS_AS(peers.call("third", [] {}), std::length_error);
  CHECK_THROWS_AS(peers.try_emplace("third", circuit::sliding_window{}, {}), std::length_error);
  CHECK_FALSE(peers.contains("third"));
  CHECK(peers.size() == 2);

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
