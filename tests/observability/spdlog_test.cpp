// log_to: python-circuit's lines at their levels, nothing per rejection at
// debug or above, child loggers per peer; the fmt formatters.

#include "catch.hpp"

#include <chrono>
#include <memory>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>

#include <circuit/circuit_breaker.hpp>
#include <circuit/circuit_breaker_set.hpp>
#include <circuit/consecutive_failures.hpp>
#include <circuit/manual_clock.hpp>
#include <circuit/spdlog.hpp>

using namespace std::chrono_literals;

namespace {

using breaker_type = circuit::circuit_breaker<circuit::manual_clock, circuit::consecutive_failures>;
using set_type = circuit::circuit_breaker_set<breaker_type>;

// A logger writing "<level> <logger name> <message>" lines into `out`.
struct captured {
  std::ostringstream out;
  std::shared_ptr<spdlog::logger> logger;

  explicit captured(spdlog::level::level_enum level, const std::string& name = "svc") {
    auto sink = std::make_shared<spdlog::sinks::ostream_sink_mt>(out);
    logger = std::make_shared<spdlog::logger>(name, sink);
    logger->set_pattern("%l %n %v");
    logger->set_level(level);
  }

  std::vector<std::string> lines() {
    logger->flush();
    std::vector<std::string> all;
    std::istringstream in(out.str());
    for (std::string line; std::getline(in, line);) all.push_back(line);
    return all;
  }
};

void fail_with(breaker_type& b, const char* what) {
  try {
    b.call([&] { throw std::runtime_error(what); });
  } catch (const std::runtime_error&) {
  }
}

void succeed(breaker_type& b) {
  if (auto p = b.try_guard()) p.success();
}

void reject(breaker_type& b, int times) {
  for (int i = 0; i < times; ++i) {
    auto p = b.try_guard();
    REQUIRE_FALSE(p);
  }
}

}  // namespace

TEST_CASE("a trip, a half-open and a close are logged in python-circuit's words at their levels") {
  circuit::manual_clock clock;
  breaker_type b(circuit::consecutive_failures{.threshold = 2}, {.name = "db", .open_for = circuit::fixed{10s}}, clock);
  captured log(spdlog::level::debug);
  auto sub = circuit::log_to(b, log.logger);

  succeed(b);
  fail_with(b, "connection refused");
  fail_with(b, "connection reset");
  reject(b, 3);
  clock.advance(10s);
  succeed(b);  // the probe: half_open, then closed

  CHECK(log.lines() == std::vector<std::string>{
                           "debug svc call failed: connection refused",
                           "debug svc call failed: connection reset",
                           "error svc got error connection reset - opening circuit",
                           "debug svc half-open - letting one through (3 calls rejected while open)",
                           "info svc closing circuit",
                       });
}

TEST_CASE("a failed probe reopens at the reopen level; levels come from the settings") {
  circuit::manual_clock clock;
  breaker_type b(circuit::consecutive_failures{.threshold = 1}, {.name = "db", .open_for = circuit::fixed{1s}}, clock);
  captured log(spdlog::level::info);
  auto sub = circuit::log_to(b, log.logger, {.trip = spdlog::level::warn, .reopen = spdlog::level::critical});

  fail_with(b, "timeout");
  clock.advance(1s);
  fail_with(b, "timeout again");

  CHECK(log.lines() == std::vector<std::string>{
                           "warning svc got error timeout - opening circuit",
                           "critical svc got error timeout again while half-open - reopening circuit",
                       });
}

TEST_CASE("a kind set to off is not logged") {
  circuit::manual_clock clock;
  breaker_type b(circuit::consecutive_failures{.threshold = 1}, {.name = "db", .open_for = circuit::fixed{1s}}, clock);
  captured log(spdlog::level::trace);
  auto sub = circuit::log_to(b, log.logger,
                             {.half_open = spdlog::level::off, .close = spdlog::level::off,
                              .failure = spdlog::level::off, .success_and_rejection = spdlog::level::off});
  fail_with(b, "refused");
  reject(b, 2);
  clock.advance(1s);
  succeed(b);
  CHECK(log.lines() == std::vector<std::string>{"error svc got error refused - opening circuit"});
}

TEST_CASE("1,000 rejections and 1,000 successes add no line at debug or above") {
  circuit::manual_clock clock;
  breaker_type b(circuit::consecutive_failures{.threshold = 1}, {.name = "db"}, clock);
  captured log(spdlog::level::debug);
  auto sub = circuit::log_to(b, log.logger);

  for (int i = 0; i < 1000; ++i) succeed(b);
  b.trip();
  reject(b, 1000);
  CHECK(log.lines() == std::vector<std::string>{"warning svc trip() - opening circuit"});
}

TEST_CASE("at trace, successes and rejections are logged one by one") {
  circuit::manual_clock clock;
  breaker_type b(circuit::consecutive_failures{.threshold = 1}, {.name = "db"}, clock);
  captured log(spdlog::level::trace);
  auto sub = circuit::log_to(b, log.logger);
  succeed(b);
  b.trip();
  reject(b, 2);
  CHECK(log.lines() == std::vector<std::string>{
                           "trace svc call succeeded",
                           "warning svc trip() - opening circuit",
                           "trace svc call rejected: circuit open",
                           "trace svc call rejected: circuit open",
                       });
}

TEST_CASE("the operator's levers are logged at the steer level, reset at the reset level") {
  circuit::manual_clock clock;
  breaker_type b({}, {.name = "db"}, clock);
  captured log(spdlog::level::info);
  auto sub = circuit::log_to(b, log.logger);
  b.isolate();
  b.reset();
  b.disable();
  b.trip();
  CHECK(log.lines() == std::vector<std::string>{
                           "warning svc isolate() - holding circuit open until reset()",
                           "info svc reset - closing circuit",
                           "warning svc disable() - every call passes",
                           "warning svc trip() - opening circuit",
                       });
}

TEST_CASE("a set logs each peer through a child logger <logger>.<peer> that shares the sinks") {
  circuit::manual_clock clock;
  set_type peers(circuit::consecutive_failures{.threshold = 1}, {.open_for = circuit::fixed{5s}}, clock);
  captured log(spdlog::level::info, "edge");
  auto sub = circuit::log_to(peers, log.logger);

  fail_with(peers.get("db"), "refused");
  fail_with(peers.get("cache"), "gone");
  (void)peers.try_guard("db");  // rejected
  clock.advance(5s);
  if (auto p = peers.try_guard("db")) p.success();

  CHECK(log.lines() == std::vector<std::string>{
                           "error edge.db got error refused - opening circuit",
                           "error edge.cache got error gone - opening circuit",
                           "info edge.db closing circuit",
                       });
  CHECK(spdlog::get("edge.db") == nullptr);  // a clone, not registered
}

TEST_CASE("the children of a logger without a name are named by peer alone") {
  circuit::manual_clock clock;
  set_type peers({}, {}, clock);
  captured log(spdlog::level::info, "");
  auto sub = circuit::log_to(peers, log.logger);
  peers.get("db").trip();
  CHECK(log.lines() == std::vector<std::string>{"warning db trip() - opening circuit"});
}

TEST_CASE("bad settings and a null logger are refused, naming the field") {
  circuit::manual_clock clock;
  breaker_type b({}, {}, clock);
  captured log(spdlog::level::info);
  try {
    auto sub = circuit::log_to(b, log.logger, {.success_and_rejection = spdlog::level::debug});
    FAIL("accepted");
  } catch (const std::invalid_argument& e) {
    CHECK(std::string(e.what()).find("log_settings.success_and_rejection") != std::string::npos);
  }
  CHECK_THROWS_AS(circuit::log_to(b, nullptr), std::invalid_argument);
  CHECK_NOTHROW(circuit::log_to(b, log.logger, {.success_and_rejection = spdlog::level::off}));
}

TEST_CASE("state, event_kind and transition_cause format as their words") {
  CHECK(fmt::format("{} {} {}", circuit::state::half_open, circuit::event_kind::rejected,
                    circuit::transition_cause::probe_timed_out) == "half_open rejected probe_timed_out");
  CHECK(fmt::format("[{:>8}]", circuit::state::open) == "[    open]");
}
