// The Lua script (redis/script.hpp) against fleet/server_rule.hpp, the C++
// the in-process backend runs: the same requests to a real redis-server
// and to the in-process backend give the same replies, so the deterministic
// tests of tests/fleet stand for Redis too. Then what only Redis has: keys,
// TTLs, a key of the wrong type, a corrupt field, a lost script. Uses the
// redis-server fixture of tests/redis (skips without redis-server, fails
// under CI=true).

#include <chrono>
#include <random>
#include <string>
#include <vector>

#include "catch.hpp"

#include <circuit/circuit_breaker.hpp>
#include <circuit/fleet/in_process_backend.hpp>
#include <circuit/redis.hpp>

#include "../redis/redis_server.hpp"

using namespace std::chrono_literals;
using circuit::state;
using circuit::fleet::change_kind;
using circuit::fleet::evidence_batch;
using circuit::fleet::sync_reply;
using circuit::fleet::sync_request;

namespace {

circuit::redis::settings manual_settings(const redis_test::redis_server& server, std::string prefix) {
  circuit::redis::settings s;
  s.port = server.port();
  s.prefix = std::move(prefix);
  s.manual = true;
  s.subscribe = false;
  return s;
}

sync_request request(std::string name) {
  sync_request q;
  q.name = std::move(name);
  q.rule.kind = circuit::fleet::rule_kind::failure_count;
  q.rule.max_failures = 5;
  q.rule.window_ns = std::chrono::nanoseconds(1h).count();
  q.rule.bucket_ns = std::chrono::nanoseconds(250ms).count();
  q.rule.open_initial_ns = q.rule.open_max_ns = std::chrono::nanoseconds(1h).count();
  q.rule.probe_lease_ns = std::chrono::nanoseconds(10s).count();
  q.rule.idle_ttl_ns = std::chrono::nanoseconds(2h).count();
  return q;
}

// The parts of a reply that do not depend on when the server ran it.
void same(const sync_reply& lua, const sync_reply& cpp) {
  REQUIRE(lua.usable == cpp.usable);
  CHECK(lua.fleet_state == cpp.fleet_state);
  CHECK(lua.generation == cpp.generation);
  CHECK(lua.by_requester == cpp.by_requester);
  CHECK(lua.backoff_grew == cpp.backoff_grew);
  CHECK(lua.probes_granted == cpp.probes_granted);
  CHECK(lua.acknowledged == cpp.acknowledged);
  CHECK(lua.total_failures == cpp.total_failures);
  CHECK(lua.total_successes == cpp.total_successes);
  CHECK(lua.window_failures == cpp.window_failures);
  CHECK(lua.window_successes == cpp.window_successes);
  // An hour-long spell started within the same second on both.
  CHECK((lua.open_left_ns - cpp.open_left_ns) < std::chrono::nanoseconds(2s).count());
  CHECK((cpp.open_left_ns - lua.open_left_ns) < std::chrono::nanoseconds(2s).count());
}

}  // namespace

TEST_CASE("the Lua script decides as the C++ server rule does", "[fleet][redis]") {
  REDIS_TEST_SERVER(server);
  circuit::redis::fleet_backend lua(manual_settings(server, "diff"), false);
  circuit::fleet::in_process_backend cpp;
  std::mt19937 random(12345);
  const std::vector<std::string> stores{"s1", "s2", "s3"};
  std::uint64_t ids[3] = {0, 0, 0};
  std::vector<sync_reply> a, b;
  for (int step = 0; step < 300; ++step) {
    const auto who = random() % 3;
    std::vector<sync_request> qs;
    for (const auto* name : {"x", "y"}) {
      auto q = request(name);
      const auto n = random() % 3;
      for (unsigned i = 0; i < n; ++i) {
        evidence_batch e;
        // Now and then a batch id sent before (a resend), which must not count again.
        e.id = (random() % 5 == 0 && ids[who] > 2) ? ids[who] - 1 : ++ids[who];
        e.failures = random() % 3;
        e.successes = random() % 4;
        if (random() % 9 == 0) e.change = static_cast<change_kind>(1 + random() % 6);
        e.change_generation = random() % 4;
        q.batches.push_back(e);
      }
      q.local_state = random() % 2 == 0 ? state::closed : state::open;
      q.local_open_left_ns = std::chrono::nanoseconds(30min).count();
      q.probes_held = random() % 2;
      qs.push_back(q);
    }
    const auto lua_outcome = lua.sync(stores[who], qs, a);
    REQUIRE(lua_outcome.ok);
    REQUIRE(cpp.sync(stores[who], qs, b).ok);
    REQUIRE(a.size() == b.size());
    for (std::size_t i = 0; i < a.size(); ++i) {
      INFO("step " << step << ", breaker " << qs[i].name);
      same(a[i], b[i]);
    }
  }
}

TEST_CASE("keys are hash-tagged hashes; idle ones expire, isolated ones do not", "[fleet][redis]") {
  REDIS_TEST_SERVER(server);
  circuit::redis::fleet_backend lua(manual_settings(server, "keys"), false);
  std::vector<sync_reply> out;
  auto q = request("db");
  const std::vector<sync_request> poll{q};
  REQUIRE(lua.sync("s", poll, out).ok);
  CHECK(server.type("keys:{db}") == "hash");
  CHECK(server.pttl("keys:{db}") > 0);
  q.batches.push_back({.id = 1, .change = change_kind::isolated});
  const std::vector<sync_request> isolate{q};
  REQUIRE(lua.sync("s", isolate, out).ok);
  CHECK(out[0].fleet_state == state::isolated);
  CHECK(server.pttl("keys:{db}") == -1);
}

TEST_CASE("a key of the wrong type or a corrupt field degrades only its breaker", "[fleet][redis]") {
  REDIS_TEST_SERVER(server);
  circuit::redis::fleet_backend lua(manual_settings(server, "bad"), false);
  server.checked({"SET", "bad:{wrong}", "text"});
  std::vector<sync_reply> out;
  const std::vector<sync_request> qs{request("wrong"), request("fine"), request("corrupt")};
  REQUIRE(lua.sync("s", qs, out).ok);
  server.checked({"HSET", "bad:{corrupt}", "g", "banana"});
  REQUIRE(lua.sync("s", qs, out).ok);
  CHECK_FALSE(out[0].usable);
  CHECK(out[0].error.find("WRONGTYPE") != std::string::npos);
  CHECK(out[1].usable);
  CHECK_FALSE(out[2].usable);
  CHECK(out[2].error.find("CORRUPT") != std::string::npos);
  CHECK(server.type("bad:{wrong}") == "string");  // left as it was
}

TEST_CASE("the script is loaded again when Redis lost it, and nothing counts twice", "[fleet][redis]") {
  REDIS_TEST_SERVER(server);
  circuit::redis::fleet_backend lua(manual_settings(server, "noscript"), false);
  std::vector<sync_reply> out;
  auto q = request("db");
  q.batches.push_back({.id = 1, .failures = 2});
  const std::vector<sync_request> qs{q};
  REQUIRE(lua.sync("s", qs, out).ok);
  server.checked({"SCRIPT", "FLUSH"});
  q.batches.push_back({.id = 2, .successes = 3});
  const std::vector<sync_request> again{q};
  REQUIRE(lua.sync("s", again, out).ok);
  CHECK(out[0].total_failures == 2);
  CHECK(out[0].total_successes == 3);
  CHECK(lua.round_trips() == 2);
}

TEST_CASE("two manual stores: a trip in one opens the breaker in the other", "[fleet][redis]") {
  REDIS_TEST_SERVER(server);
  circuit::redis::store a(manual_settings(server, "pair"));
  circuit::redis::store b(manual_settings(server, "pair"));
  circuit::circuit_breaker<> da({}, {.name = "db"});
  circuit::circuit_breaker<> db({}, {.name = "db"});
  auto la = a.share(da);
  auto lb = b.share(db);
  CHECK(a.sync_now());
  CHECK(b.sync_now());
  da.trip();
  CHECK(a.sync_now());
  CHECK(b.sync_now());
  CHECK(db.current_state() == state::open);
  const auto s = b.status();
  CHECK(s.up);
  CHECK(s.shared == 1);
  CHECK(s.round_trips == 2);
  server.stop();
  CHECK_FALSE(b.sync_now());
  CHECK_FALSE(b.up());
  CHECK(db.current_state() == state::open);  // the cached open holds
}
