// Bad input to circuit::redis (settings, names, keys planted with the wrong
// type) and the keys the store writes (`<prefix>:{<name>}`, their TTLs).
// The settings checks need no server: they run without redis-server too.

#include <algorithm>
#include <chrono>
#include <stdexcept>
#include <string>

#include "catch.hpp"
#include "redis_server.hpp"
#include "redis_test_support.hpp"

namespace {

using namespace std::chrono_literals;
using namespace redis_test;
using circuit::state;

using breaker = circuit::circuit_breaker<>;

circuit::options named(const std::string& name) {
  circuit::options o;
  o.name = name;
  return o;
}

circuit::sliding_window window_of(std::uint32_t max_failures) {
  circuit::sliding_window w;
  w.max_failures = max_failures;
  w.window = 60s;
  return w;
}

// Valid settings of a manual store pointing at a port nobody listens on.
circuit::redis::settings offline() {
  circuit::redis::settings s;
  s.port = free_port();
  s.manual = true;
  s.prefix = "bad_input";
  s.connect_timeout = 50ms;
  s.command_timeout = 50ms;
  return s;
}

// The message of the std::invalid_argument that `f()` throws ("" if none).
template <class F>
std::string invalid_argument_of(F&& f) {
  try {
    f();
  } catch (const std::invalid_argument& e) {
    return e.what();
  }
  return "";
}

bool names(const std::string& what, const std::string& member) { return what.find(member) != std::string::npos; }

}  // namespace

TEST_CASE("redis bad input: settings that cannot work throw std::invalid_argument naming the member", "[redis]") {
  // The valid ones construct, with nothing listening (construction never waits for Redis).
  CHECK_NOTHROW(circuit::redis::store(offline()));
  {
    auto s = offline();
    s.host = "";
    s.unix_socket = "/nonexistent/redis.sock";  // a socket instead of host/port
    CHECK_NOTHROW(circuit::redis::store(s));
  }
  {
    auto s = offline();
    s.prefix = "a.b-c_D:9";  // every character of [A-Za-z0-9_:.-]
    CHECK_NOTHROW(circuit::redis::store(s));
  }

  struct bad {
    const char* member;
    void (*spoil)(circuit::redis::settings&);
  };
  const bad cases[] = {
      {"prefix", [](circuit::redis::settings& s) { s.prefix = ""; }},
      {"prefix", [](circuit::redis::settings& s) { s.prefix = "has space"; }},
      {"prefix", [](circuit::redis::settings& s) { s.prefix = "brace{"; }},
      {"prefix", [](circuit::redis::settings& s) { s.prefix = "brace}"; }},
      {"prefix", [](circuit::redis::settings& s) { s.prefix = "star*"; }},
      {"prefix", [](circuit::redis::settings& s) { s.prefix = "new\nline"; }},
      {"prefix", [](circuit::redis::settings& s) { s.prefix = "caf\xc3\xa9"; }},
      {"host", [](circuit::redis::settings& s) { s.host = ""; }},
      {"connect_timeout", [](circuit::redis::settings& s) { s.connect_timeout = 0ms; }},
      {"connect_timeout", [](circuit::redis::settings& s) { s.connect_timeout = -5ms; }},
      {"command_timeout", [](circuit::redis::settings& s) { s.command_timeout = 0ms; }},
      {"command_timeout", [](circuit::redis::settings& s) { s.command_timeout = -1ms; }},
      {"sync_interval", [](circuit::redis::settings& s) { s.sync_interval = 0ms; }},
      {"sync_interval", [](circuit::redis::settings& s) { s.sync_interval = -250ms; }},
      {"probe_lease", [](circuit::redis::settings& s) { s.probe_lease = 0ms; }},
      {"probe_lease", [](circuit::redis::settings& s) { s.probe_lease = -10s; }},
  };
  for (const auto& c : cases) {
    auto s = offline();
    c.spoil(s);
    const auto what = invalid_argument_of([&] { circuit::redis::store st(s); });
    INFO("spoiled " << c.member << ": what() = \"" << what << "\"");
    CHECK_FALSE(what.empty());
    CHECK(names(what, c.member));
  }
}

TEST_CASE("redis bad input: share() of a name that cannot be a key throws std::invalid_argument naming name",
          "[redis]") {
  circuit::redis::store s(offline());
  const std::string too_long(201, 'x');
  for (const std::string& bad_name : {std::string(), std::string("a{b"), std::string("a}b"), std::string("{"),
                                      std::string("}"), too_long}) {
    breaker b(window_of(3), named(bad_name));
    const auto what = invalid_argument_of([&] { auto link = s.share(b); });
    INFO("name of " << bad_name.size() << " bytes \"" << bad_name.substr(0, 20) << "\": what() = \"" << what << "\"");
    CHECK_FALSE(what.empty());
    CHECK(names(what, "name"));
  }
  CHECK(s.status().shared == 0);
  // 200 bytes is still a name.
  breaker longest(window_of(3), named(std::string(200, 'y')));
  CHECK_NOTHROW([&] { auto link = s.share(longest); }());
  // A set's peers are shared as they come.
  circuit::circuit_breaker_set<> peers;
  auto link = s.share(peers);
  (void)peers.get("fine");
  CHECK(s.status().shared == 1);
}

TEST_CASE("redis bad input: a key of the wrong type degrades only its breaker", "[redis]") {
  REDIS_TEST_SERVER(server);
  const auto prefix = unique_prefix();
  server.checked({"SET", key_of(prefix, "planted"), "not a hash"});
  server.checked({"RPUSH", key_of(prefix, "listed"), "x"});
  // A hash whose state field is not a number (its fields: <circuit/redis/script.hpp>).
  server.checked({"HSET", key_of(prefix, "corrupt"), "g", "3", "st", "banana", "u", "0"});
  circuit::redis::store a(settings_for(server, prefix, true)), b(settings_for(server, prefix, true));
  breaker planted(window_of(1), named("planted")), listed(window_of(1), named("listed")),
      corrupt(window_of(1), named("corrupt")), good_a(window_of(1), named("good")), good_b(window_of(1), named("good"));
  auto l1 = a.share(planted);
  auto l2 = a.share(listed);
  auto l3 = a.share(good_a);
  auto l4 = b.share(good_b);
  auto l5 = a.share(corrupt);
  a.sync_now();
  b.sync_now();
  {
    const auto st = a.status();
    INFO(st);
    CHECK(st.up);  // the server is fine: only two keys are unusable
    CHECK(st.shared == 4);
    REQUIRE(st.unsynced.size() == 3);
    CHECK(std::find(st.unsynced.begin(), st.unsynced.end(), "corrupt") != st.unsynced.end());
    CHECK(std::find(st.unsynced.begin(), st.unsynced.end(), "planted") != st.unsynced.end());
    CHECK(std::find(st.unsynced.begin(), st.unsynced.end(), "listed") != st.unsynced.end());
    CHECK(b.status().unsynced.empty());
  }
  // The planted keys are left as they were.
  CHECK(server.type(key_of(prefix, "planted")) == "string");
  CHECK(server.type(key_of(prefix, "listed")) == "list");
  CHECK(server.hgetall(key_of(prefix, "corrupt")).at("st") == "banana");

  // The other breaker of the same store still syncs, both ways.
  good_a.trip();
  a.sync_now();
  b.sync_now();
  CHECK(good_b.current_state() == state::open);
  good_b.reset();
  b.sync_now();
  a.sync_now();
  CHECK(good_a.current_state() == state::closed);

  // The planted breaker keeps working locally: calls go through, its own counter trips it.
  CHECK_NOTHROW([&] {
    auto p = planted.try_guard();
    REQUIRE(p);
    p.success();
  }());
  for (int i = 0; i < 2; ++i) {
    auto p = planted.try_guard();
    REQUIRE(p);
    p.failure();
  }
  CHECK(planted.current_state() == state::open);
  CHECK_NOTHROW(a.sync_now());
  CHECK(planted.current_state() == state::open);

  // Once the key is usable again, the breaker syncs again.
  server.checked({"DEL", key_of(prefix, "planted")});
  a.sync_now();
  a.sync_now();
  const auto st = a.status();
  INFO(st);
  CHECK(std::find(st.unsynced.begin(), st.unsynced.end(), "planted") == st.unsynced.end());
  CHECK(server.type(key_of(prefix, "planted")) == "hash");
}

// (No ';' in test names: catch_discover_tests would split the ctest there.)
TEST_CASE("redis keys: one hash per breaker at <prefix>:{<name>} - idle keys expire and an isolated one does not",
          "[redis]") {
  REDIS_TEST_SERVER(server);
  const auto prefix = unique_prefix();
  circuit::redis::store a(settings_for(server, prefix, true));
  breaker db(window_of(3), named("db")), colon(window_of(3), named("payments:eu-west"));
  auto l1 = a.share(db);
  auto l2 = a.share(colon);
  a.sync_now();
  const auto key = key_of(prefix, "db");
  CHECK(server.type(key) == "hash");
  CHECK(server.type(key_of(prefix, "payments:eu-west")) == "hash");
  CHECK_FALSE(server.hgetall(key).empty());
  // Nothing else under the prefix but hash-tagged breaker keys (and what the store keeps for itself).
  const auto keys = server.checked({"KEYS", prefix + "*"});
  for (const auto& k : keys.elements) {
    INFO("key " << k.str);
    CHECK(k.str.rfind(prefix + ":", 0) == 0);
  }

  const auto idle_ttl = server.pttl(key);
  INFO("TTL of an idle closed key: " << idle_ttl << " ms");
  CHECK(idle_ttl > 0);

  db.trip();
  a.sync_now();
  CHECK(server.pttl(key) > 0);  // open expires too (an open spell ends)

  db.isolate();
  a.sync_now();
  CHECK(server.pttl(key) == -1);  // isolated until someone resets it: no expiry
  CHECK(server.pttl(key_of(prefix, "payments:eu-west")) > 0);

  db.reset();
  a.sync_now();
  CHECK(server.pttl(key) > 0);
}
