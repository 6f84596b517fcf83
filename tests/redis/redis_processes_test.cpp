// Eight spawned helper processes (circuit_redis_helper, posix_spawn) sharing
// one breaker through a real redis-server: exact fleet totals, and exactly
// one trip when they cross a threshold together.

#include <chrono>
#include <cstdint>
#include <map>
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

constexpr int processes = 8;

std::vector<std::unique_ptr<helper_process>> spawn_fleet(const redis_server& server, const std::string& prefix,
                                                         const std::string& name,
                                                         const std::vector<std::string>& more) {
  std::vector<std::unique_ptr<helper_process>> fleet;
  for (int i = 0; i < processes; ++i) {
    std::vector<std::string> args = {"port=" + std::to_string(server.port()), "prefix=" + prefix, "name=" + name,
                                     "sync_ms=" + std::to_string(sync_interval.count()),
                                     "command_ms=" + std::to_string(command_timeout.count()),
                                     "connect_ms=" + std::to_string(connect_timeout.count())};
    args.insert(args.end(), more.begin(), more.end());
    fleet.push_back(std::make_unique<helper_process>(args));
  }
  return fleet;
}

// Sends `line` to every helper first, then reads every answer: the helpers
// act at the same time.
std::vector<std::string> ask_all(std::vector<std::unique_ptr<helper_process>>& fleet, const std::string& line) {
  for (auto& h : fleet) h->send(line);
  std::vector<std::string> answers;
  for (auto& h : fleet) answers.push_back(h->read_line());
  return answers;
}

// A number field of a breaker's hash: "tf" / "ts" are the fleet's total
// failures / successes, "g" its generation (see <circuit/redis/script.hpp>).
std::uint64_t field(const std::map<std::string, std::string>& hash, const std::string& name) {
  const auto it = hash.find(name);
  return it == hash.end() ? 0 : std::stoull(it->second);
}

}  // namespace

TEST_CASE("redis: 8 processes counting at once leave exact fleet totals", "[redis]") {
  REDIS_TEST_SERVER(server);
  const auto prefix = unique_prefix();
  const auto key = key_of(prefix, "counted");
  // Threaded helpers: each one's sync thread runs while it counts. The rule
  // never trips (minimum_calls is out of reach), so every outcome is counted.
  auto fleet = spawn_fleet(server, prefix, "counted",
                           {"manual=0", "subscribe=1", "counter=rate", "rate=1", "minimum_calls=1000000"});
  constexpr int rounds = 5, failures = 7, successes = 11;
  for (int round = 0; round < rounds; ++round) {
    for (const auto& a : ask_all(fleet, "fail " + std::to_string(failures))) CHECK(a == "ok " + std::to_string(failures));
    for (const auto& a : ask_all(fleet, "succeed " + std::to_string(successes))) {
      CHECK(a == "ok " + std::to_string(successes));
    }
  }
  const std::uint64_t want_failures = std::uint64_t{processes} * rounds * failures;
  const std::uint64_t want_successes = std::uint64_t{processes} * rounds * successes;
  std::map<std::string, std::string> hash;
  const bool reached = poll_until(
      [&] {
        hash = server.hgetall(key);
        return field(hash, "tf") >= want_failures && field(hash, "ts") >= want_successes;
      },
      5s, 5ms);
  INFO("fleet totals: " << field(hash, "tf") << " failures, " << field(hash, "ts")
                        << " successes");
  REQUIRE(reached);
  // A few more syncs of every helper (threaded: every sync_interval): nothing is counted twice.
  std::this_thread::sleep_for(5 * sync_interval);
  hash = server.hgetall(key);
  CHECK(field(hash, "tf") == want_failures);
  CHECK(field(hash, "ts") == want_successes);
  for (const auto& a : ask_all(fleet, "quit")) CHECK(a == "bye");
  for (auto& h : fleet) CHECK(h->wait() == 0);
}

TEST_CASE("redis: 8 processes crossing a threshold together trip the fleet exactly once", "[redis]") {
  REDIS_TEST_SERVER(server);
  const auto prefix = unique_prefix();
  const auto key = key_of(prefix, "crossed");
  // 8 x 5 = 40 failures > max_failures = 39; 5 are nowhere near it locally.
  auto fleet = spawn_fleet(server, prefix, "crossed", {"manual=1", "max_failures=39", "sync_ms=5000"});
  // An observer in this process.
  circuit::redis::store observer(settings_for(server, prefix, true));
  circuit::sliding_window w;
  w.max_failures = 39;
  circuit::options o;
  o.name = "crossed";
  circuit::circuit_breaker<> watched(w, o);
  auto link = observer.share(watched);
  change_log log;
  auto sub = log.listen(watched);
  for (const auto& a : ask_all(fleet, "sync")) CHECK(a == "ok");
  observer.sync_now();
  const auto generation_before = field(server.hgetall(key), "g");

  for (const auto& a : ask_all(fleet, "fail 5")) CHECK(a == "ok 5");
  for (const auto& a : ask_all(fleet, "state")) CHECK(a == "closed");
  for (const auto& a : ask_all(fleet, "sync")) CHECK(a == "ok");  // all at once
  for (const auto& a : ask_all(fleet, "sync")) CHECK(a == "ok");
  observer.sync_now();

  for (const auto& a : ask_all(fleet, "state")) CHECK(a == "open");
  for (const auto& a : ask_all(fleet, "transitions closed open")) CHECK(a == "1");
  const auto hash = server.hgetall(key);
  INFO("generation before " << generation_before << ", after " << field(hash, "g"));
  CHECK(field(hash, "g") == generation_before + 1);
  CHECK(field(hash, "tf") == 40);
  CHECK(watched.current_state() == state::open);
  const auto opened = log.changes_to(state::open);
  REQUIRE(opened.size() == 1);
  CHECK(opened[0].cause == transition_cause::fleet);
  for (const auto& a : ask_all(fleet, "quit")) CHECK(a == "bye");
  for (auto& h : fleet) CHECK(h->wait() == 0);
}
