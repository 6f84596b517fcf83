// How a set keeps a peer in use alive and finds a peer by its id:
// - the pins: a call through the set marks its peer in its thread's hazard
//   slot, a call inside a call (or a thread without a slot) counts its pin
//   in the breaker, and a guard, which may move to another thread, holds a
//   counted pin; erase() and eviction never free a peer that either holds;
// - the ids in the links: a link keeps its id's length and, up to 16 bytes,
//   its bytes, so that a lookup compares them without reaching the node;
//   ids whose hashes all collide still reach their own peers.

#include "catch.hpp"

#include <atomic>
#include <chrono>
#include <cstddef>
#include <initializer_list>
#include <set>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include <circuit/circuit_breaker.hpp>
#include <circuit/circuit_breaker_set.hpp>
#include <circuit/detail/reader_gate.hpp>
#include <circuit/manual_clock.hpp>
#include <circuit/peer_key.hpp>

using namespace std::chrono_literals;

namespace {

using breaker = circuit::circuit_breaker<circuit::manual_clock>;
using peer_set = circuit::circuit_breaker_set<breaker>;

// The pointers held in hazard slots now, in any thread.
std::size_t hazards_held() {
  std::size_t n = 0;
  circuit::detail::reader_gate::hazards([&](const void*) { ++n; });
  return n;
}

// A set whose `ids` were each called once, an hour ago: idle enough for
// evict_idle(0ns) to take any of them that is not in use.
struct quiet_peers {
  explicit quiet_peers(std::initializer_list<const char*> ids) {
    for (const char* id : ids) peers.call(id, [] {});
    clock.advance(1h);
  }
  circuit::manual_clock clock;
  peer_set peers{{}, {}, clock};
};

// Every id hashes alike: lookups are decided by the links' tags and words
// (and for long ids by the nodes' keys) alone.
struct colliding_hash {
  using is_transparent = void;
  std::size_t operator()(std::string_view) const noexcept { return 42; }
};

}  // namespace

// ---- Pins -------------------------------------------------------------------

TEST_CASE("a call through the set holds its peer in the thread's hazard slot, and clears it after", "[set_pins]") {
  circuit::manual_clock clock;
  peer_set peers({}, {}, clock);
  REQUIRE(hazards_held() == 0);
  peers.call("a", [&] { CHECK(hazards_held() == 0); });  // made by this call: counted
  peers.call("a", [&] { CHECK(hazards_held() == 1); });  // found: in the slot
  CHECK(hazards_held() == 0);
  // A throwing callable clears it too.
  CHECK_THROWS(peers.call("a", []() -> int { throw std::runtime_error("down"); }));
  CHECK(hazards_held() == 0);
  (void)peers.try_call("a", [&] { CHECK(hazards_held() == 1); });
  CHECK(hazards_held() == 0);
}

TEST_CASE("a peer whose call is in progress is neither evicted nor freed by erase()", "[set_pins]") {
  quiet_peers quiet{"busy", "idle"};
  auto& peers = quiet.peers;

  SECTION("eviction skips it") {
    peers.call("busy", [&] {
      CHECK(peers.evict_idle(0ns) == 1);  // "idle" only
      CHECK(peers.contains("busy"));
    });
  }
  SECTION("erase() takes it out, and the call finishes on it") {
    auto& b = peers.get("busy");  // handed out, but erase() removes it anyway
    const auto before = b.metrics().total.successes;
    peers.call("busy", [&] {
      CHECK(peers.erase("busy"));
      CHECK_FALSE(peers.contains("busy"));
      CHECK(b.current_state() == circuit::state::closed);  // alive (ASan would tell)
    });
    // The call's success went to the erased breaker, which waits, unpinned
    // now, for the set's next erase or eviction to free it.
    CHECK(b.metrics().total.successes == before + 1);
    CHECK(peers.erase("idle"));  // frees it
    CHECK(peers.get("busy").metrics().total.successes == 0);  // a new "busy"
  }
}

TEST_CASE("a call inside a call pins both peers: the inner one counted, the slot being taken", "[set_pins]") {
  quiet_peers quiet{"outer", "inner", "idle"};
  auto& clock = quiet.clock;
  auto& peers = quiet.peers;
  peers.call("outer", [&] {
    peers.call("inner", [&] {
      CHECK(hazards_held() == 1);          // the outer call's
      CHECK(peers.evict_idle(0ns) == 1);   // "idle" only
      CHECK(peers.contains("outer"));
      CHECK(peers.contains("inner"));
    });
    // The inner pin is gone again: only a success of its own keeps "inner" now.
    clock.advance(1h);
    CHECK(peers.evict_idle(0ns) == 1);  // "inner", no longer in use
    CHECK_FALSE(peers.contains("inner"));
    CHECK(peers.contains("outer"));
  });
  CHECK(hazards_held() == 0);
}

TEST_CASE("a guard holds a counted pin, not the slot, and unpins on the thread it moved to", "[set_pins]") {
  quiet_peers quiet{"held", "other"};
  auto& clock = quiet.clock;
  auto& peers = quiet.peers;

  auto g = peers.try_guard("held");
  REQUIRE(g);
  CHECK(hazards_held() == 0);  // the slot is free for this thread's next call
  peers.call("other", [&] { CHECK(hazards_held() == 1); });
  CHECK(peers.evict_idle(0ns) == 1);  // "other": "held" is pinned by its guard
  CHECK(peers.contains("held"));

  std::thread([guard = std::move(g)]() mutable {
    guard.success();
    { auto done = std::move(guard); }
  }).join();
  clock.advance(1h);
  CHECK(peers.evict_idle(0ns) == 1);  // the count is back to zero: "held" goes
  CHECK_FALSE(peers.contains("held"));
}

TEST_CASE("pins stay exact while threads call, nest calls and hold guards as a writer evicts", "[set_pins]") {
  circuit::manual_clock clock;
  peer_set peers({}, {}, clock);
  constexpr int threads = 4, rounds = 2000;
  std::vector<std::thread> callers;
  for (int t = 0; t < threads; ++t) {
    callers.emplace_back([&, t] {
      const std::string mine = "peer-" + std::to_string(t);
      for (int i = 0; i < rounds; ++i) {
        peers.call(mine, [&] {
          if (i % 3 == 0) peers.call("shared", [] {});
        });
        if (i % 5 == 0) {
          auto g = peers.try_guard(mine);
          if (g) g.success();
        }
      }
    });
  }
  std::thread evictor([&] {
    for (int i = 0; i < 200; ++i) {
      (void)peers.evict_idle(0ns);
      std::this_thread::yield();
    }
  });
  for (auto& c : callers) c.join();
  evictor.join();
  CHECK(hazards_held() == 0);
  // Nothing is in use any more: every peer can go.
  clock.advance(1h);
  (void)peers.evict_idle(0ns);
  CHECK(peers.size() == 0);
}

// ---- Ids in the links ----------------------------------------------------------

namespace {
// A peer id of its own type, looked up in a std::string-keyed set through a
// transparent hash that takes both (as heterogeneous lookup allows): it
// has no length for the links' tags, so the nodes' keys decide.
struct host_port {
  std::string host;
  int port;
  explicit operator std::string() const { return host + ":" + std::to_string(port); }
  friend bool operator==(const std::string& stored, const host_port& hp) { return stored == std::string(hp); }
};
struct host_port_hash {
  using is_transparent = void;
  std::size_t operator()(std::string_view id) const noexcept { return circuit::transparent_hash<std::string>{}(id); }
  std::size_t operator()(const host_port& hp) const { return (*this)(std::string(hp)); }
};
}  // namespace

TEST_CASE("a string-keyed set looked up by another type through its transparent hash finds the same peers",
          "[set_ids]") {
  circuit::manual_clock clock;
  circuit::circuit_breaker_set<breaker, std::string, host_port_hash> peers({}, {}, clock);
  peers.call(std::string_view("db.internal:5432"), [] {});
  peers.call(host_port{"db.internal", 5432}, [] {});
  peers.call(host_port{"cache.internal", 6379}, [] {});
  CHECK(peers.size() == 2);
  CHECK(peers.get("db.internal:5432").metrics().total.successes == 2);
  CHECK(peers.contains(host_port{"cache.internal", 6379}));
  CHECK_FALSE(peers.contains(host_port{"cache.internal", 6380}));
}

TEST_CASE("ids of every length, differing in one byte or only in length, reach their own peers", "[set_ids]") {
  circuit::manual_clock clock;
  circuit::circuit_breaker_set<breaker, std::string, colliding_hash> peers({}, {}, clock);
  std::vector<std::string> ids = {"", "a", "b", "ab", "abb", "aab", "ba", "abbb", "abab"};
  for (std::size_t n = 1; n <= 40; ++n) {
    const std::string base(n, 'x');
    ids.push_back(base);
    for (std::size_t at = 0; at < n; ++at) {
      std::string other = base;
      other[at] = 'y';
      ids.push_back(other);
    }
    ids.push_back(base + std::string(1, '\0'));  // one byte more, a zero
  }
  // Past 255 bytes the tag's length saturates: the node's key decides.
  for (const std::size_t n : {254, 255, 256, 257, 300}) {
    ids.push_back(std::string(n, 'z'));
    std::string other(n, 'z');
    other[n / 2] = 'w';
    ids.push_back(other);
  }
  const std::set<std::string> distinct(ids.begin(), ids.end());
  REQUIRE(distinct.size() == ids.size());

  for (std::size_t i = 0; i < ids.size(); ++i) {
    for (std::size_t k = 0; k <= i % 3; ++k) peers.call(ids[i], [] {});
  }
  REQUIRE(peers.size() == ids.size());
  for (std::size_t i = 0; i < ids.size(); ++i) {
    INFO("id of " << ids[i].size() << " bytes, #" << i);
    auto& b = peers.get(std::string_view(ids[i]));
    CHECK(b.name() == ids[i]);
    CHECK(b.metrics().total.successes == i % 3 + 1);
    CHECK(&peers.get(ids[i]) == &b);
  }
  // Erasing one leaves its neighbours in the same chain reachable.
  CHECK(peers.erase(std::string(17, 'x')));
  CHECK_FALSE(peers.contains(std::string(17, 'x')));
  CHECK(peers.contains(std::string(16, 'x')));
  CHECK(peers.contains(std::string(18, 'x')));
  CHECK(peers.get(std::string(16, 'x')).metrics().total.successes > 0);
}

TEST_CASE("a set's table grows with its peers and every id stays reachable", "[set_ids]") {
  circuit::manual_clock clock;
  peer_set peers({}, {}, clock);
  std::vector<std::string> ids;
  for (int i = 0; i < 5000; ++i) ids.push_back("10." + std::to_string(i / 256) + "." + std::to_string(i % 256) + ".1:443");
  for (const auto& id : ids) peers.call(id, [] {});
  REQUIRE(peers.size() == ids.size());
  for (const auto& id : ids) {
    peers.call(std::string_view(id), [] {});
    REQUIRE(peers.get(id).metrics().total.successes == 2);
  }
}

TEST_CASE("lookups of existing peers never miss while another thread grows the table", "[set_ids]") {
  // Growth publishes the bigger buckets before their mask: a lookup that
  // reads the old mask with the new buckets may look in the wrong bucket,
  // and must then find the peer through the table itself.
  circuit::manual_clock clock;
  peer_set peers({}, {}, clock);
  std::vector<std::string> known;
  for (int i = 0; i < 64; ++i) known.push_back("known-" + std::to_string(i));
  for (const auto& id : known) peers.call(id, [] {});
  std::atomic<bool> done{false};
  std::thread grower([&] {
    for (int i = 0; i < 20'000; ++i) peers.call("new-" + std::to_string(i), [] {});
    done = true;
  });
  std::size_t misses = 0, looks = 0;
  do {
    for (const auto& id : known) {
      ++looks;
      if (!peers.contains(id) || !peers.state(id).has_value()) ++misses;
    }
  } while (!done.load());
  grower.join();
  CHECK(looks > 0);
  CHECK(misses == 0);
  CHECK(peers.size() == known.size() + 20'000);
}
