// Redis outages with threaded stores: the server frozen (SIGSTOP), paused
// (CLIENT PAUSE), killed and restarted on the same port, or emptied
// (FLUSHALL) while a breaker is open. Through each one: no call waits (each
// is timed against a baseline taken while Redis was healthy), nothing is
// thrown into a call, up() turns false within command_timeout +
// sync_interval, a remote open holds, and the store recovers (up() again,
// reconnects counted) and re-publishes the open breaker.

#include <chrono>
#include <optional>
#include <string>
#include <thread>

#include "catch.hpp"
#include "redis_server.hpp"
#include "redis_test_support.hpp"

namespace {

using namespace std::chrono_literals;
using namespace redis_test;
using circuit::state;

using breaker = circuit::circuit_breaker<>;
using rate_breaker = circuit::circuit_breaker<std::chrono::steady_clock, circuit::failure_rate_window>;

enum class outage { freeze, pause, restart, flushall };

const char* name_of(outage o) {
  switch (o) {
    case outage::freeze: return "SIGSTOP";
    case outage::pause: return "CLIENT PAUSE";
    case outage::restart: return "kill and restart";
    case outage::flushall: return "FLUSHALL";
  }
  return "?";
}

circuit::options named(const std::string& name, std::chrono::milliseconds open_for) {
  circuit::options o;
  o.name = name;
  o.open_for = circuit::fixed{open_for};
  return o;
}

circuit::sliding_window window_of(std::uint32_t max_failures) {
  circuit::sliding_window w;
  w.max_failures = max_failures;
  w.window = 60s;
  return w;
}

// The calls the test makes throughout, each timed; anything thrown is
// counted: a success on the closed breaker, a refused attempt on the open
// one, and a failure on one that trips at once and is due again 20 ms
// later (so calls go through the store's listener and probe gate, which
// wake its thread).
struct caller {
  breaker& live;
  breaker& held;
  breaker& flappy;
  call_meter meter;
  int thrown = 0;
  int held_admitted = 0;

  void one() {
    meter.measure([&] {
      try {
        if (auto p = live.try_guard()) p.success();
      } catch (...) {
        ++thrown;
      }
    }, "a success");
    meter.measure([&] {
      try {
        if (auto p = held.try_guard()) {
          ++held_admitted;
          p.ignore();
        }
      } catch (...) {
        ++thrown;
      }
    }, "a refusal");
    meter.measure([&] {
      try {
        if (auto p = flappy.try_guard()) p.failure();
      } catch (...) {
        ++thrown;
      }
    }, "a trip or a probe refusal");
  }
  // Calls, 200 us apart, for `d`.
  void for_(std::chrono::milliseconds d) {
    const auto end = std::chrono::steady_clock::now() + d;
    while (std::chrono::steady_clock::now() < end) {
      one();
      std::this_thread::sleep_for(200us);
    }
  }
  // Calls until `done()`, at most `limit`; the time it took, or nullopt.
  template <class F>
  std::optional<std::chrono::nanoseconds> until(F&& done, std::chrono::milliseconds limit) {
    const auto start = std::chrono::steady_clock::now();
    const auto end = start + limit;
    for (;;) {
      if (done()) return std::chrono::steady_clock::now() - start;
      if (std::chrono::steady_clock::now() >= end) return std::nullopt;
      one();
      std::this_thread::sleep_for(200us);
    }
  }
};

void run_outage(outage kind) {
  REDIS_TEST_SERVER(server);
  INFO("outage: " << name_of(kind));
  const auto prefix = unique_prefix();
  const auto held_key = key_of(prefix, "held");

  circuit::redis::store s(settings_for(server, prefix, false, true));
  breaker live(window_of(1000), named("live", 10s));
  breaker held(window_of(0), named("held", 60s));
  breaker flappy(window_of(0), named("flappy", 20ms));
  auto live_link = s.share(live);
  auto held_link = s.share(held);
  auto flappy_link = s.share(flappy);

  // Another process opens `held`: for `s` it is a remote open.
  {
    circuit::redis::store other(settings_for(server, prefix, true));
    breaker remote(window_of(0), named("held", 60s));
    auto link = other.share(remote);
    remote.trip();
    other.sync_now();
  }
  REQUIRE(poll_until([&] { return s.up() && held.current_state() == state::open && server.exists(key_of(prefix, "live")); },
                     5s, 2ms));
  REQUIRE(poll_until([&] { return server.subscribed_clients() >= 1; }, 5s, 2ms));

  caller calls{live, held, flappy, {}};
  // The baseline: the same calls while Redis is healthy and the store syncs.
  calls.for_(300ms);
  const auto baseline = calls.meter.longest_unpreempted();
  const auto limit = baseline + 1ms;
  calls.meter = call_meter{};
  const auto before = s.status();

  // The outage.
  switch (kind) {
    case outage::freeze: server.freeze(); break;
    case outage::pause: server.client_pause(600ms); break;
    case outage::restart: server.kill(); break;
    case outage::flushall: server.flushall(); break;
  }
  const auto bound = command_timeout + sync_interval + scheduling_slack;
  if (kind != outage::flushall) {
    const auto down = calls.until([&] { return !s.up(); }, 3s);
    INFO("up() turned false after " << (down ? ms(*down) : -1.0) << " ms (bound " << ms(bound) << " ms)");
    REQUIRE(down.has_value());
    CHECK(*down <= bound);
    const auto during = s.status();
    CHECK_FALSE(during.up);
    CHECK(during.errors > before.errors);
    CHECK_FALSE(during.last_error.empty());
  }
  calls.for_(300ms);  // more calls while it is away (or its data is)
  CHECK(held.current_state() == state::open);  // a cached remote open holds
  CHECK(live.current_state() == state::closed);

  // The recovery.
  switch (kind) {
    case outage::freeze: server.thaw(); break;
    case outage::pause: break;  // it ends by itself
    case outage::restart: server.start(); break;
    case outage::flushall: break;
  }
  const auto back = calls.until([&] { return s.up(); }, 6s);
  INFO("up() true again after " << (back ? ms(*back) : -1.0) << " ms");
  REQUIRE(back.has_value());
  const auto after = s.status();
  if (kind != outage::flushall) CHECK(after.reconnects > before.reconnects);

  // The open breaker is on the server again, open: a new process learns it.
  const auto published = calls.until([&] { return server.exists(held_key); }, 3s);
  INFO("the key of the open breaker is there again after " << (published ? ms(*published) : -1.0) << " ms");
  REQUIRE(published.has_value());
  CHECK(server.type(held_key) == "hash");
  {
    circuit::redis::store late(settings_for(server, prefix, true));
    breaker newcomer(window_of(0), named("held", 60s));
    auto link = late.share(newcomer);
    late.sync_now();
    CHECK(late.up());
    CHECK(newcomer.current_state() == state::open);

    // And the store propagates again, by pub/sub once it has re-subscribed.
    REQUIRE(poll_until([&] { return server.subscribed_clients() >= 1; }, 3s, 2ms));
    breaker other_live(window_of(1000), named("live", 10s));
    auto live2 = late.share(other_live);
    late.sync_now();
    other_live.trip();
    const auto start = std::chrono::steady_clock::now();
    late.sync_now();
    const bool opened = poll_until([&] { return live.current_state() == state::open; }, 2s, 100us);
    const auto took = std::chrono::steady_clock::now() - start;
    INFO("a trip after the recovery reached the store after " << ms(took) << " ms");
    REQUIRE(opened);
    CHECK(took <= 50ms);
  }
  CHECK(held.current_state() == state::open);

  // No call waited, none threw, none was admitted on the open breaker.
  const auto slowest = calls.meter.slowest_unpreempted();
  INFO("baseline (longest healthy call) " << ms(baseline) << " ms; longest call during the outage "
                                          << ms(calls.meter.longest_unpreempted()) << " ms ("
                                          << (slowest ? slowest->what : "none")
                                          << (slowest && slowest->blocked ? ", slept" : "") << ") over "
                                          << calls.meter.size() << " calls (" << calls.meter.preempted()
                                          << " preempted, " << calls.meter.blocked() << " slept)");
  CHECK(calls.meter.size() > 100);
  CHECK(calls.meter.over(limit) == 0);
  CHECK(calls.thrown == 0);
  CHECK(calls.held_admitted == 0);
}

}  // namespace

TEST_CASE("redis outage: SIGSTOP", "[redis]") { run_outage(outage::freeze); }

TEST_CASE("redis outage: CLIENT PAUSE", "[redis]") { run_outage(outage::pause); }

TEST_CASE("redis outage: kill and restart on the same port", "[redis]") { run_outage(outage::restart); }

TEST_CASE("redis outage: FLUSHALL while a breaker is open", "[redis]") { run_outage(outage::flushall); }

TEST_CASE("redis outage: a store made while Redis is down works locally, then connects", "[redis]") {
  REDIS_TEST_SERVER(server);
  const auto prefix = unique_prefix();
  server.stop();
  auto settings = settings_for(server, prefix, false, true);
  std::optional<circuit::redis::store> s;
  const auto made = timed([&] { s.emplace(settings); });
  CHECK(made < 100ms);  // construction does not wait for Redis either
  breaker b(window_of(1), named("early", 10s));
  auto link = s->share(b);
  CHECK_FALSE(s->up());
  // Local counting while Redis is away: two failures trip it.
  {
    auto p = b.try_guard();
    REQUIRE(p);
    p.failure();
  }
  {
    auto p = b.try_guard();
    REQUIRE(p);
    p.failure();
  }
  CHECK(b.current_state() == state::open);
  server.start();
  REQUIRE(poll_until([&] { return s->up(); }, 6s, 2ms));
  // Its open breaker is published once it is connected.
  REQUIRE(poll_until([&] { return server.exists(key_of(prefix, "early")); }, 3s, 2ms));
  circuit::redis::store late(settings_for(server, prefix, true));
  breaker newcomer(window_of(1), named("early", 10s));
  auto link2 = late.share(newcomer);
  late.sync_now();
  CHECK(newcomer.current_state() == state::open);
}

TEST_CASE("redis outage: evidence of a sync that timed out is sent again and counted once", "[redis]") {
  REDIS_TEST_SERVER(server);
  const auto prefix = unique_prefix();
  const auto key = key_of(prefix, "resent");
  circuit::redis::store s(settings_for(server, prefix, true));
  circuit::failure_rate_window never;  // counts everything, never trips
  never.failure_rate = 1.0;
  never.minimum_calls = 1000000;
  rate_breaker b(never, named("resent", 10s));
  auto link = s.share(b);
  REQUIRE(s.sync_now());
  // The fleet's totals ("tf", "ts" of the hash: <circuit/redis/script.hpp>).
  auto totals = [&] {
    const auto h = server.hgetall(key);
    const auto get = [&](const char* f) { return h.count(f) != 0 ? std::stoull(h.at(f)) : 0ull; };
    return std::pair{get("tf"), get("ts")};
  };
  REQUIRE(totals() == std::pair{0ull, 0ull});

  for (int i = 0; i < 10; ++i) {
    auto p = b.try_guard();
    REQUIRE(p);
    p.failure();
  }
  for (int i = 0; i < 5; ++i) {
    auto p = b.try_guard();
    REQUIRE(p);
    p.success();
  }
  // Sent to a frozen server: the store gives up after command_timeout, but
  // the script is in the server's socket, and runs once it is thawed.
  server.freeze();
  const auto gave_up = timed([&] { CHECK_FALSE(s.sync_now()); });
  CHECK(gave_up < command_timeout + connect_timeout + scheduling_slack);
  server.thaw();
  const bool ran_late = poll_until([&] { return totals() == std::pair{10ull, 5ull}; }, 1s, 2ms);
  INFO("the timed-out sync " << (ran_late ? "ran" : "did not run") << " on the server after the thaw");
  CHECK(ran_late);
  // The store sends the same batch again: the server counts it once.
  REQUIRE(poll_until([&] { return s.sync_now(); }, 3s, 5ms));
  CHECK(totals() == std::pair{10ull, 5ull});
  s.sync_now();
  CHECK(totals() == std::pair{10ull, 5ull});
}
