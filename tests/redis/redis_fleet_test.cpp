// One breaker across processes through a real redis-server: propagation,
// summed evidence, exactness with 8 helper processes, half-open across the
// fleet, steering, and hosts whose clocks disagree.
//
// Two stores in this process stand for two processes (each has its own
// connections); some tests spawn circuit_redis_helper processes as well.
// Manual stores (no threads, sync_now()) make the order of events exact;
// where the contract bounds real time (pub/sub, polling, leases) the tests
// use threaded stores and wait in bounded polling loops.

#include <signal.h>
#include <sys/wait.h>

#include <algorithm>
#include <chrono>
#include <deque>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "catch.hpp"
#include "redis_server.hpp"
#include "redis_test_support.hpp"

namespace {

using namespace std::chrono_literals;
using namespace redis_test;
using circuit::state;
using circuit::transition_cause;

using breaker = circuit::circuit_breaker<>;  // steady_clock, sliding_window
using rate_breaker = circuit::circuit_breaker<std::chrono::steady_clock, circuit::failure_rate_window>;

circuit::options named(const std::string& name, std::chrono::milliseconds open_for = 10s,
                       std::uint32_t half_open_max_calls = 1, std::uint32_t success_threshold = 1) {
  circuit::options o;
  o.name = name;
  o.open_for = circuit::fixed{open_for};
  o.half_open_max_calls = half_open_max_calls;
  o.success_threshold = success_threshold;
  return o;
}

circuit::sliding_window window_of(std::uint32_t max_failures, std::chrono::nanoseconds window = 60s) {
  circuit::sliding_window w;
  w.max_failures = max_failures;
  w.window = window;
  return w;
}

// `n` calls that fail / succeed, through try_guard(); returns how many were admitted.
template <class B>
int fail(B& b, int n) {
  int admitted = 0;
  for (int i = 0; i < n; ++i) {
    if (auto p = b.try_guard()) {
      p.failure();
      ++admitted;
    }
  }
  return admitted;
}
template <class B>
int succeed(B& b, int n) {
  int admitted = 0;
  for (int i = 0; i < n; ++i) {
    if (auto p = b.try_guard()) {
      p.success();
      ++admitted;
    }
  }
  return admitted;
}

// Waits until every threaded store is up, every key exists and `subscribers`
// clients listen: before this a change could not be propagated anyway.
template <class... Stores>
void await_ready(const redis_server& server, const std::vector<std::string>& keys, int subscribers,
                 Stores&... stores) {
  const bool ready = poll_until(
      [&] {
        if (!(stores.up() && ...)) return false;
        for (const auto& k : keys) {
          if (!server.exists(k)) return false;
        }
        return server.subscribed_clients() >= subscribers;
      },
      5s, 2ms);
  std::string ups;
  ((ups += stores.up() ? "up " : "down "), ...);
  INFO("stores: " << ups << "; subscribers: " << server.subscribed_clients());
  REQUIRE(ready);
}

// The time from now until `b` shows `s` (polled every 100 us), or nullopt after `limit`.
template <class B>
std::optional<std::chrono::nanoseconds> time_until_state(const B& b, state s, std::chrono::milliseconds limit = 2s) {
  const auto start = std::chrono::steady_clock::now();
  if (poll_until([&] { return b.current_state() == s; }, limit, 100us)) {
    return std::chrono::steady_clock::now() - start;
  }
  return std::nullopt;
}

// The arguments of a helper sharing breaker `name` under `prefix` on `server`.
std::vector<std::string> helper_args(const redis_server& server, const std::string& prefix, const std::string& name,
                                     std::vector<std::string> more = {}) {
  std::vector<std::string> args = {"port=" + std::to_string(server.port()), "prefix=" + prefix, "name=" + name,
                                   "sync_ms=" + std::to_string(sync_interval.count()),
                                   "command_ms=" + std::to_string(command_timeout.count()),
                                   "connect_ms=" + std::to_string(connect_timeout.count())};
  args.insert(args.end(), more.begin(), more.end());
  return args;
}

}  // namespace

// ---------------------------------------------------------------- propagation

TEST_CASE("redis: a trip in one process opens the breaker in the other at its next sync", "[redis]") {
  REDIS_TEST_SERVER(server);
  const auto prefix = unique_prefix();
  circuit::redis::store a(settings_for(server, prefix, true)), b(settings_for(server, prefix, true));
  breaker ba(window_of(2), named("db")), bb(window_of(2), named("db"));
  auto la = a.share(ba);
  auto lb = b.share(bb);
  change_log log_a, log_b;
  auto sa = log_a.listen(ba);
  auto sb = log_b.listen(bb);

  a.sync_now();
  b.sync_now();
  REQUIRE(a.up());
  REQUIRE(b.up());
  CHECK(a.status().shared == 1);

  CHECK(fail(ba, 3) == 3);
  REQUIRE(ba.current_state() == state::open);
  b.sync_now();  // a has not told the fleet yet
  CHECK(bb.current_state() == state::closed);

  a.sync_now();
  b.sync_now();
  CHECK(bb.current_state() == state::open);  // applied by the store, before any call
  CHECK_FALSE(bb.try_guard());
  const auto m = bb.metrics();
  REQUIRE(m.open_until.has_value());
  const auto left = *m.open_until - std::chrono::steady_clock::now();
  CHECK(left > 9s);
  CHECK(left <= 10s);

  const auto opened_a = log_a.changes_to(state::open), opened_b = log_b.changes_to(state::open);
  REQUIRE(opened_a.size() == 1);
  CHECK(opened_a[0].cause == transition_cause::counter_tripped);  // its own counter, there
  REQUIRE(opened_b.size() == 1);
  CHECK(opened_b[0].cause == transition_cause::fleet);  // adopted, elsewhere
}

TEST_CASE("redis: with subscribe, a trip and a reset reach the other process within 50 ms", "[redis]") {
  REDIS_TEST_SERVER(server);
  const auto prefix = unique_prefix();
  // Polling alone (once a second) could not make it in 50 ms: pub/sub must.
  auto s = settings_for(server, prefix, false, true);
  s.sync_interval = 1s;
  circuit::redis::store a(s), b(s);
  breaker ba(window_of(2), named("db")), bb(window_of(2), named("db"));
  auto la = a.share(ba);
  auto lb = b.share(bb);
  change_log log_b;
  auto sb = log_b.listen(bb);
  await_ready(server, {key_of(prefix, "db")}, 2, a, b);

  // a trips by its counter; b learns it by pub/sub.
  const auto start = std::chrono::steady_clock::now();
  fail(ba, 3);
  REQUIRE(ba.current_state() == state::open);
  const bool opened = poll_until([&] { return bb.current_state() == state::open; }, 2s, 100us);
  const auto took = std::chrono::steady_clock::now() - start;
  INFO("trip reached b after " << ms(took) << " ms");
  REQUIRE(opened);
  CHECK(took <= 50ms);
  // The event follows the change on the store's thread: it may come a moment later.
  REQUIRE(poll_until([&] { return !log_b.changes_to(state::open).empty(); }, 1s, 100us));
  CHECK(log_b.changes_to(state::open).back().cause == transition_cause::fleet);

  // b resets; a learns it the same way.
  bb.reset();
  const auto closed = time_until_state(ba, state::closed);
  REQUIRE(closed.has_value());
  INFO("reset reached a after " << ms(*closed) << " ms");
  CHECK(*closed <= 50ms);
}

TEST_CASE("redis: without subscribe, a trip reaches the other process within sync_interval + command_timeout",
          "[redis]") {
  REDIS_TEST_SERVER(server);
  const auto prefix = unique_prefix();
  circuit::redis::store a(settings_for(server, prefix, false, false)), b(settings_for(server, prefix, false, false));
  breaker ba(window_of(2), named("db")), bb(window_of(2), named("db"));
  auto la = a.share(ba);
  auto lb = b.share(bb);
  await_ready(server, {key_of(prefix, "db")}, 0, a, b);
  CHECK(server.subscribed_clients() == 0);  // polling only

  const auto bound = sync_interval + command_timeout;
  for (int round = 0; round < 3; ++round) {
    auto& from = round % 2 == 0 ? ba : bb;
    auto& to = round % 2 == 0 ? bb : ba;
    const auto start = std::chrono::steady_clock::now();
    fail(from, 3);
    REQUIRE(from.current_state() == state::open);
    const bool opened = poll_until([&] { return to.current_state() == state::open; }, 2s, 100us);
    const auto took = std::chrono::steady_clock::now() - start;
    INFO("round " << round << ": trip reached the other after " << ms(took) << " ms (bound " << ms(bound) << " ms)");
    REQUIRE(opened);
    CHECK(took <= bound);
    // Back to closed everywhere before the next round.
    from.reset();
    REQUIRE(poll_until([&] { return to.current_state() == state::closed; }, 2s, 100us));
  }
}

TEST_CASE("redis: a trip in a spawned helper process reaches this process within 50 ms, and back", "[redis]") {
  REDIS_TEST_SERVER(server);
  const auto prefix = unique_prefix();
  // Both sync once a second: only pub/sub makes it in 50 ms.
  helper_process helper(helper_args(server, prefix, "db", {"manual=0", "subscribe=1", "max_failures=3", "sync_ms=1000"}));
  auto settings = settings_for(server, prefix, false, true);
  settings.sync_interval = 1s;
  circuit::redis::store s(settings);
  breaker local(window_of(3), named("db"));
  auto link = s.share(local);
  change_log log;
  auto sub = log.listen(local);
  REQUIRE(poll_until([&] { return helper.ask("up") == "1"; }, 5s, 2ms));
  await_ready(server, {key_of(prefix, "db")}, 2, s);

  const auto start = std::chrono::steady_clock::now();
  CHECK(helper.ask("fail 4") == "ok 4");
  const bool opened = poll_until([&] { return local.current_state() == state::open; }, 2s, 100us);
  const auto took = std::chrono::steady_clock::now() - start;
  INFO("the helper's trip reached this process after " << ms(took) << " ms");
  REQUIRE(opened);
  CHECK(took <= 50ms);
  REQUIRE(poll_until([&] { return !log.changes_to(state::open).empty(); }, 1s, 100us));
  CHECK(log.changes_to(state::open).size() == 1);
  CHECK(log.changes_to(state::open)[0].cause == transition_cause::fleet);
  CHECK(helper.ask("transitions closed open") == "1");

  // This process resets it; the helper sees closed.
  const auto reset_start = std::chrono::steady_clock::now();
  local.reset();
  const auto answer = helper.ask("await closed 2000");
  const auto reset_took = std::chrono::steady_clock::now() - reset_start;
  INFO("helper: " << answer << "; the reset reached it within " << ms(reset_took) << " ms");
  REQUIRE(answer.rfind("ok", 0) == 0);
  CHECK(reset_took <= 50ms);
  CHECK(helper.ask("quit") == "bye");
  CHECK(helper.wait() == 0);
}

// ------------------------------------------------------------ summed evidence

TEST_CASE("redis: sliding_window failures summed across processes trip a fleet no process trips alone", "[redis]") {
  REDIS_TEST_SERVER(server);
  const auto prefix = unique_prefix();
  std::vector<std::unique_ptr<circuit::redis::store>> stores;
  std::vector<std::unique_ptr<breaker>> breakers;
  std::vector<change_log> logs(3);
  std::vector<circuit::subscription> subs;
  std::vector<decltype(std::declval<circuit::redis::store&>().share(std::declval<breaker&>()))> links;
  for (int i = 0; i < 3; ++i) {
    stores.push_back(std::make_unique<circuit::redis::store>(settings_for(server, prefix, true)));
    breakers.push_back(std::make_unique<breaker>(window_of(5), named("summed")));
    links.push_back(stores.back()->share(*breakers.back()));
    subs.push_back(logs[i].listen(*breakers.back()));
    stores.back()->sync_now();
  }
  auto sync_all = [&] {
    for (auto& s : stores) s->sync_now();
  };

  // 2 + 2 + 1 = 5 failures: not more than max_failures, fleet-wide either.
  fail(*breakers[0], 2);
  fail(*breakers[1], 2);
  fail(*breakers[2], 1);
  sync_all();
  sync_all();
  for (auto& b : breakers) CHECK(b->current_state() == state::closed);

  // The sixth, in the third process (2 there: nowhere near its own rule).
  fail(*breakers[2], 1);
  stores[2]->sync_now();
  sync_all();
  for (std::size_t i = 0; i < breakers.size(); ++i) {
    INFO("process " << i);
    CHECK(breakers[i]->current_state() == state::open);
    const auto opened = logs[i].changes_to(state::open);
    REQUIRE(opened.size() == 1);
    CHECK(opened[0].cause == transition_cause::fleet);  // the fleet rule decided it, for everyone
  }
}

TEST_CASE("redis: failure_rate_window calls summed across processes trip a fleet no process trips alone", "[redis]") {
  REDIS_TEST_SERVER(server);
  const auto prefix = unique_prefix();
  circuit::failure_rate_window rule;
  rule.failure_rate = 0.5;
  rule.minimum_calls = 20;
  rule.window = 10s;
  rule.buckets = 10;
  std::vector<std::unique_ptr<circuit::redis::store>> stores;
  std::vector<std::unique_ptr<rate_breaker>> breakers;
  std::vector<decltype(std::declval<circuit::redis::store&>().share(std::declval<rate_breaker&>()))> links;
  for (int i = 0; i < 4; ++i) {
    stores.push_back(std::make_unique<circuit::redis::store>(settings_for(server, prefix, true)));
    breakers.push_back(std::make_unique<rate_breaker>(rule, named("rate")));
    links.push_back(stores.back()->share(*breakers.back()));
    stores.back()->sync_now();
  }
  auto sync_all = [&] {
    for (auto& s : stores) s->sync_now();
  };

  // Three processes: 15 calls, 9 failed (60 %), under minimum_calls fleet-wide.
  for (int i = 0; i < 3; ++i) {
    succeed(*breakers[i], 2);
    fail(*breakers[i], 3);  // 5 calls, 60 % failed: far under minimum_calls locally
  }
  sync_all();
  sync_all();
  for (auto& b : breakers) CHECK(b->current_state() == state::closed);

  // The fourth process brings it to 20 calls, 12 failed: 60 % >= 50 %.
  succeed(*breakers[3], 2);
  fail(*breakers[3], 3);
  CHECK(breakers[3]->current_state() == state::closed);  // locally still nothing
  stores[3]->sync_now();
  sync_all();
  for (auto& b : breakers) CHECK(b->current_state() == state::open);
}

TEST_CASE("redis: successes summed across processes keep the failed share of a failure_rate_window fleet low",
          "[redis]") {
  REDIS_TEST_SERVER(server);
  const auto prefix = unique_prefix();
  circuit::failure_rate_window rule;
  rule.failure_rate = 0.5;
  rule.minimum_calls = 10;
  rule.window = 10s;
  circuit::redis::store a(settings_for(server, prefix, true)), b(settings_for(server, prefix, true));
  rate_breaker ba(rule, named("mixed")), bb(rule, named("mixed"));
  auto la = a.share(ba);
  auto lb = b.share(bb);
  // a: 8 failures of 9 calls (under minimum_calls); b: 11 successes.
  // Fleet: 8 of 20 failed, 40 %: closed. Without b's successes it would be 89 %.
  succeed(bb, 11);
  b.sync_now();
  fail(ba, 8);
  succeed(ba, 1);
  a.sync_now();
  b.sync_now();
  CHECK(ba.current_state() == state::closed);
  CHECK(bb.current_state() == state::closed);
  // Five more failures in b: 13 of 25, 52 %: the fleet trips.
  fail(bb, 5);
  b.sync_now();
  a.sync_now();
  CHECK(ba.current_state() == state::open);
  CHECK(bb.current_state() == state::open);
}

TEST_CASE("redis: consecutive_failures breakers share their state but keep their evidence local", "[redis]") {
  REDIS_TEST_SERVER(server);
  const auto prefix = unique_prefix();
  using run_breaker = circuit::circuit_breaker<std::chrono::steady_clock, circuit::consecutive_failures>;
  circuit::consecutive_failures rule;
  rule.threshold = 3;
  circuit::redis::store a(settings_for(server, prefix, true)), b(settings_for(server, prefix, true));
  run_breaker ba(rule, named("runs")), bb(rule, named("runs"));
  auto la = a.share(ba);
  auto lb = b.share(bb);
  a.sync_now();
  b.sync_now();
  // 2 + 2 failures in a row, but in different processes: no trip.
  fail(ba, 2);
  fail(bb, 2);
  a.sync_now();
  b.sync_now();
  a.sync_now();
  CHECK(ba.current_state() == state::closed);
  CHECK(bb.current_state() == state::closed);
  // A third in a row in a: its own rule trips it, and the state is shared.
  fail(ba, 1);
  REQUIRE(ba.current_state() == state::open);
  a.sync_now();
  b.sync_now();
  CHECK(bb.current_state() == state::open);
}

// ---------------------------------------------------------------- half-open

TEST_CASE("redis: half-open across the fleet admits exactly half_open_max_calls probes fleet-wide", "[redis]") {
  REDIS_TEST_SERVER(server);
  const auto prefix = unique_prefix();
  constexpr std::uint32_t max_probes = 2;
  std::vector<std::unique_ptr<circuit::redis::store>> stores;
  std::vector<std::unique_ptr<breaker>> breakers;
  std::vector<change_log> logs(3);
  std::vector<circuit::subscription> subs;
  std::vector<decltype(std::declval<circuit::redis::store&>().share(std::declval<breaker&>()))> links;
  for (int i = 0; i < 3; ++i) {
    auto s = settings_for(server, prefix, true);
    s.sync_interval = 2s;  // an unused reservation is not given back during the test
    s.probe_lease = 10s;
    stores.push_back(std::make_unique<circuit::redis::store>(s));
    breakers.push_back(std::make_unique<breaker>(window_of(0), named("probed", 150ms, max_probes, 2)));
    links.push_back(stores.back()->share(*breakers.back()));
    subs.push_back(logs[i].listen(*breakers.back()));
    stores.back()->sync_now();
  }
  auto sync_all = [&] {
    for (auto& s : stores) s->sync_now();
  };
  std::vector<std::deque<breaker::guard_type>> held(3);
  auto in_flight = [&] {
    std::size_t n = 0;
    for (auto& h : held) n += h.size();
    return n;
  };
  auto all_in = [&](state s) {
    return std::all_of(breakers.begin(), breakers.end(), [&](auto& b) { return b->current_state() == s; });
  };

  fail(*breakers[0], 1);
  sync_all();
  sync_all();
  REQUIRE(all_in(state::open));

  // The open spell ends on the server's clock: wait for it, syncing.
  REQUIRE(poll_until(
      [&] {
        sync_all();
        return all_in(state::half_open);
      },
      3s, 5ms));

  // Every process keeps wanting to probe, and syncing.
  std::size_t most = 0;
  for (int round = 0; round < 6; ++round) {
    for (std::size_t i = 0; i < breakers.size(); ++i) {
      for (int tries = 0; tries < 3; ++tries) {
        if (auto p = breakers[i]->try_guard()) held[i].push_back(std::move(p));
      }
      most = std::max(most, in_flight());
      stores[i]->sync_now();
    }
  }
  INFO("probes in flight: " << held[0].size() << " + " << held[1].size() << " + " << held[2].size());
  CHECK(most <= max_probes);
  CHECK(in_flight() == max_probes);

  // One probe success (of success_threshold = 2): still half_open everywhere.
  const auto first = held[0].empty() ? (held[1].empty() ? 2u : 1u) : 0u;
  held[first].front().success();
  held[first].pop_front();
  stores[first]->sync_now();
  sync_all();
  for (auto& b : breakers) CHECK(b->current_state() == state::half_open);

  // The second success, counted fleet-wide, closes it everywhere.
  std::size_t second = 0;
  while (held[second].empty()) ++second;
  held[second].front().success();
  held[second].pop_front();
  stores[second]->sync_now();
  sync_all();
  for (std::size_t i = 0; i < breakers.size(); ++i) {
    INFO("process " << i);
    CHECK(breakers[i]->current_state() == state::closed);
    const auto closed = logs[i].changes_to(state::closed);
    REQUIRE(!closed.empty());
    // The process whose success completed the count announces its own
    // cause; the others the fleet's.
    CHECK(closed.back().cause == (i == second ? transition_cause::probes_succeeded : transition_cause::fleet));
  }
  for (auto& h : held) {
    for (auto& p : h) p.ignore();
  }
}

TEST_CASE("redis: a probe failure in one process re-opens the breaker everywhere, the backoff grown", "[redis]") {
  REDIS_TEST_SERVER(server);
  const auto prefix = unique_prefix();
  auto s = settings_for(server, prefix, true);
  s.sync_interval = 2s;
  circuit::redis::store a(s), b(s);
  auto o = named("reopen");
  o.open_for = circuit::exponential{.initial = 150ms, .multiplier = 4.0, .max = 10s, .jitter = 0.0, .seed = 1};
  breaker ba(window_of(0), o), bb(window_of(0), o);
  auto la = a.share(ba);
  auto lb = b.share(bb);
  change_log log_b;
  auto sb = log_b.listen(bb);
  fail(ba, 1);
  a.sync_now();
  b.sync_now();
  REQUIRE(bb.current_state() == state::open);
  REQUIRE(poll_until(
      [&] {
        a.sync_now();
        b.sync_now();
        return ba.current_state() == state::half_open && bb.current_state() == state::half_open;
      },
      3s, 5ms));
  breaker::guard_type probe;
  REQUIRE(poll_until(
      [&] {
        probe = ba.try_guard();
        if (!probe) a.sync_now();
        return static_cast<bool>(probe);
      },
      2s, 1ms));
  CHECK_FALSE(bb.try_guard());  // a probes: b shows half_open and refuses
  b.sync_now();
  CHECK_FALSE(bb.try_guard());
  probe.failure();
  CHECK(ba.current_state() == state::open);
  a.sync_now();
  b.sync_now();
  CHECK(bb.current_state() == state::open);
  const auto opened = log_b.changes_to(state::open);
  REQUIRE(opened.size() == 2);
  CHECK(opened.back().from == state::half_open);
  CHECK(opened.back().cause == transition_cause::fleet);
  // The second spell is 4 x 150 ms, in b too, which never probed.
  const auto m = bb.metrics();
  REQUIRE(m.open_until.has_value());
  const auto left = std::chrono::nanoseconds(*m.open_until - std::chrono::steady_clock::now());
  INFO("b open for another " << ms(left) << " ms");
  CHECK(left > 500ms);
  CHECK(left <= 600ms);
}

TEST_CASE("redis: a probe reservation unused for a sync_interval goes back to the fleet", "[redis]") {
  REDIS_TEST_SERVER(server);
  const auto prefix = unique_prefix();
  auto s = settings_for(server, prefix, true);
  s.sync_interval = 100ms;
  s.probe_lease = 10s;  // far away: only the unused rule can give it back
  circuit::redis::store a(s), b(s);
  breaker ba(window_of(0), named("unused", 150ms)), bb(window_of(0), named("unused", 150ms));
  auto la = a.share(ba);
  auto lb = b.share(bb);
  fail(ba, 1);
  a.sync_now();
  b.sync_now();
  REQUIRE(poll_until(
      [&] {
        a.sync_now();
        b.sync_now();
        return ba.current_state() == state::half_open && bb.current_state() == state::half_open;
      },
      3s, 5ms));
  // a wants a probe and gets the one slot, but no call of a's uses it.
  CHECK_FALSE(ba.try_guard());
  const auto reserved = std::chrono::steady_clock::now();
  a.sync_now();
  // b wants one too: none while a's reservation is fresh.
  CHECK_FALSE(bb.try_guard());
  b.sync_now();
  CHECK_FALSE(bb.try_guard());
  // Once a's reservation is older than sync_interval, a's sync gives it back.
  std::this_thread::sleep_until(reserved + s.sync_interval + 10ms);
  a.sync_now();
  b.sync_now();  // b still wants one (its refused call): granted now
  breaker::guard_type probe = bb.try_guard();
  CHECK(probe);
  const auto took = std::chrono::steady_clock::now() - reserved;
  INFO("b probed " << ms(took) << " ms after a's reservation (lease 10 s)");
  CHECK(took < 2s);
  CHECK_FALSE(ba.try_guard());  // and a's is gone
  if (probe) probe.success();
  b.sync_now();
  a.sync_now();
  CHECK(ba.current_state() == state::closed);
}

TEST_CASE("redis: the lease of a prober that was killed expires after probe_lease", "[redis]") {
  REDIS_TEST_SERVER(server);
  const auto prefix = unique_prefix();
  constexpr auto lease = 400ms;
  const std::vector<std::string> more = {"manual=1", "max_failures=0", "open_for_ms=150", "half_open=1",
                                         "lease_ms=" + std::to_string(lease.count()), "sync_ms=5000"};
  auto helper = std::make_unique<helper_process>(helper_args(server, prefix, "leased", more));
  auto settings = settings_for(server, prefix, true);
  settings.probe_lease = lease;
  settings.sync_interval = 5s;
  circuit::redis::store s(settings);
  breaker local(window_of(0), named("leased", 150ms));
  auto link = s.share(local);
  s.sync_now();

  CHECK(helper->ask("fail 1") == "ok 1");
  CHECK(helper->ask("sync") == "ok");
  s.sync_now();
  REQUIRE(local.current_state() == state::open);
  REQUIRE(poll_until(
      [&] {
        helper->ask("sync");
        return helper->ask("state") == "half_open";
      },
      3s, 5ms));

  // The helper reserves the one probe slot and takes it.
  std::chrono::steady_clock::time_point granted_before{};
  bool admitted = false;
  for (int i = 0; i < 20 && !admitted; ++i) {
    admitted = helper->ask("hold") == "admitted";
    if (!admitted) {
      granted_before = std::chrono::steady_clock::now();
      helper->ask("sync");
    }
  }
  REQUIRE(admitted);
  helper->ask("sync");  // the slot is in use

  // While its lease runs, nobody else probes.
  REQUIRE(poll_until(
      [&] {
        s.sync_now();
        return local.current_state() == state::half_open;
      },
      2s, 2ms));
  while (std::chrono::steady_clock::now() < granted_before + lease / 2) {
    CHECK_FALSE(local.try_guard());
    s.sync_now();
    std::this_thread::sleep_for(5ms);
  }

  // The prober crashes holding it.
  helper->signal(SIGKILL);
  const int status = helper->wait();
  CHECK(WIFSIGNALED(status));
  helper.reset();

  breaker::guard_type probe;
  const bool got = poll_until(
      [&] {
        probe = local.try_guard();
        if (!probe) s.sync_now();
        return static_cast<bool>(probe);
      },
      5s, 2ms);
  const auto after = std::chrono::steady_clock::now() - granted_before;
  INFO("probe admitted here " << ms(after) << " ms after the helper's reservation (lease " << ms(lease) << " ms)");
  REQUIRE(got);
  CHECK(after >= lease - 10ms);  // not before the lease ran out ...
  CHECK(after <= lease + 1s);    // ... and not long after
  probe.success();
  s.sync_now();
  CHECK(local.current_state() == state::closed);
}

// ------------------------------------------------------------------ steering

TEST_CASE("redis: trip, isolate, disable and reset in one process act fleet-wide, announced as fleet", "[redis]") {
  REDIS_TEST_SERVER(server);
  const auto prefix = unique_prefix();
  circuit::redis::store a(settings_for(server, prefix, true)), b(settings_for(server, prefix, true));
  breaker ba(window_of(3), named("steered")), bb(window_of(3), named("steered"));
  auto la = a.share(ba);
  auto lb = b.share(bb);
  change_log log_a, log_b;
  auto sa = log_a.listen(ba);
  auto sb = log_b.listen(bb);
  a.sync_now();
  b.sync_now();

  struct step {
    const char* name;
    void (breaker::*act)();
    state to;
    transition_cause own;
  };
  const step steps[] = {
      {"trip", &breaker::trip, state::open, transition_cause::tripped},
      {"isolate", &breaker::isolate, state::isolated, transition_cause::isolated},
      {"disable", &breaker::disable, state::disabled, transition_cause::disabled},
      {"reset", &breaker::reset, state::closed, transition_cause::reset},
  };
  for (int direction = 0; direction < 2; ++direction) {
    auto& from = direction == 0 ? ba : bb;
    auto& to = direction == 0 ? bb : ba;
    auto& from_store = direction == 0 ? a : b;
    auto& to_store = direction == 0 ? b : a;
    auto& from_log = direction == 0 ? log_a : log_b;
    auto& to_log = direction == 0 ? log_b : log_a;
    for (const auto& st : steps) {
      INFO((direction == 0 ? "a -> b: " : "b -> a: ") << st.name);
      from_log.clear();
      to_log.clear();
      (from.*st.act)();
      REQUIRE(from.current_state() == st.to);
      from_store.sync_now();
      to_store.sync_now();
      CHECK(to.current_state() == st.to);
      const auto seen = to_log.changes();
      REQUIRE(seen.size() == 1);
      CHECK(seen[0].to == st.to);
      CHECK(seen[0].cause == transition_cause::fleet);
      const auto own = from_log.changes();
      REQUIRE(own.size() == 1);
      CHECK(own[0].cause == st.own);  // the process that did it announces its own cause
      // The syncs after it change nothing more.
      from_store.sync_now();
      to_store.sync_now();
      CHECK(to_log.changes().size() == 1);
      CHECK(from_log.changes().size() == 1);
    }
  }
}

TEST_CASE("redis: a breaker unshared by destroying its link no longer follows the fleet", "[redis]") {
  REDIS_TEST_SERVER(server);
  const auto prefix = unique_prefix();
  circuit::redis::store a(settings_for(server, prefix, true)), b(settings_for(server, prefix, true));
  breaker ba(window_of(3), named("parted")), bb(window_of(3), named("parted"));
  auto la = a.share(ba);
  std::optional<decltype(b.share(bb))> lb;
  lb.emplace(b.share(bb));
  a.sync_now();
  b.sync_now();
  CHECK(b.status().shared == 1);
  lb.reset();
  CHECK(b.status().shared == 0);
  ba.trip();
  a.sync_now();
  b.sync_now();
  CHECK(bb.current_state() == state::closed);
}

TEST_CASE("redis: share() of a circuit_breaker_set shares its present and future peers", "[redis]") {
  REDIS_TEST_SERVER(server);
  const auto prefix = unique_prefix();
  circuit::redis::store a(settings_for(server, prefix, true)), b(settings_for(server, prefix, true));
  circuit::circuit_breaker_set<> peers_a(window_of(3)), peers_b(window_of(3));
  (void)peers_a.get("early");
  auto la = a.share(peers_a);
  auto lb = b.share(peers_b);
  (void)peers_b.get("early");
  (void)peers_a.get("late");  // created after share()
  (void)peers_b.get("late");
  a.sync_now();
  b.sync_now();
  CHECK(a.status().shared == 2);
  CHECK(server.exists(key_of(prefix, "early")));
  CHECK(server.exists(key_of(prefix, "late")));
  peers_a.trip("late");
  a.sync_now();
  b.sync_now();
  CHECK(peers_b.state("late") == state::open);
  CHECK(peers_b.state("early") == state::closed);
}

// ------------------------------------------------------------------- clocks

namespace {

/// steady_clock moved by `Hours`: a host whose clock disagrees by hours.
template <int Hours>
struct offset_clock {
  using rep = std::int64_t;
  using period = std::nano;
  using duration = std::chrono::nanoseconds;
  using time_point = std::chrono::time_point<offset_clock, duration>;
  static constexpr bool is_steady = true;
  time_point now() const noexcept {
    return time_point{std::chrono::duration_cast<duration>(std::chrono::steady_clock::now().time_since_epoch()) +
                      std::chrono::hours(Hours)};
  }
};

}  // namespace

TEST_CASE("redis: breakers whose clocks are hours apart agree on open-until", "[redis]") {
  REDIS_TEST_SERVER(server);
  const auto prefix = unique_prefix();
  using manual_breaker = circuit::circuit_breaker<circuit::manual_clock>;
  circuit::manual_clock clock_a(circuit::manual_clock::time_point{1h});
  circuit::manual_clock clock_b(circuit::manual_clock::time_point{9h});
  circuit::manual_clock clock_c(circuit::manual_clock::time_point{1h + 3min});
  circuit::redis::store a(settings_for(server, prefix, true)), b(settings_for(server, prefix, true)),
      c(settings_for(server, prefix, true));
  manual_breaker ba(window_of(0), named("skewed"), clock_a), bb(window_of(0), named("skewed"), clock_b),
      bc(window_of(0), named("skewed"), clock_c);
  auto la = a.share(ba);
  auto lb = b.share(bb);
  auto lc = c.share(bc);
  a.sync_now();
  b.sync_now();
  c.sync_now();

  fail(ba, 1);
  a.sync_now();
  b.sync_now();
  c.sync_now();
  REQUIRE(bb.current_state() == state::open);
  REQUIRE(bc.current_state() == state::open);
  auto left = [](const manual_breaker& br, const circuit::manual_clock& clock) {
    const auto m = br.metrics();
    REQUIRE(m.open_until.has_value());
    return std::chrono::nanoseconds(*m.open_until - clock.now());
  };
  const auto left_a = left(ba, clock_a), left_b = left(bb, clock_b), left_c = left(bc, clock_c);
  INFO("open for another " << ms(left_a) << " / " << ms(left_b) << " / " << ms(left_c) << " ms");
  for (auto l : {left_a, left_b, left_c}) {
    CHECK(l > 9s);
    CHECK(l <= 10s);
  }
  CHECK(std::chrono::abs(left_a - left_b) <= 50ms);
  CHECK(std::chrono::abs(left_b - left_c) <= 50ms);
}

TEST_CASE("redis: hosts whose clocks run hours apart see a probe due at the same moment", "[redis]") {
  REDIS_TEST_SERVER(server);
  const auto prefix = unique_prefix();
  using early = circuit::circuit_breaker<offset_clock<0>>;
  using late = circuit::circuit_breaker<offset_clock<7>>;
  circuit::redis::store a(settings_for(server, prefix, true)), b(settings_for(server, prefix, true));
  early ba(window_of(0), named("due", 300ms));
  late bb(window_of(0), named("due", 300ms));
  auto la = a.share(ba);
  auto lb = b.share(bb);
  a.sync_now();
  b.sync_now();

  const auto tripped = std::chrono::steady_clock::now();
  fail(ba, 1);
  a.sync_now();
  b.sync_now();
  REQUIRE(bb.current_state() == state::open);
  std::optional<std::chrono::nanoseconds> due_a, due_b;
  poll_until(
      [&] {
        const auto now = std::chrono::steady_clock::now() - tripped;
        if (!due_a && ba.current_state() == state::half_open) due_a = now;
        if (!due_b && bb.current_state() == state::half_open) due_b = now;
        return due_a && due_b;
      },
      3s, 200us);
  REQUIRE(due_a.has_value());
  REQUIRE(due_b.has_value());
  INFO("probe due after " << ms(*due_a) << " ms here, " << ms(*due_b) << " ms on the host 7 h ahead");
  CHECK(*due_a >= 290ms);
  CHECK(*due_b >= 290ms);
  CHECK(std::chrono::abs(*due_a - *due_b) <= 30ms);
}
