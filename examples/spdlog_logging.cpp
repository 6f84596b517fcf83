// spdlog_logging: a breaker's and a set's state changes in the log.
//
// log_to() subscribes a listener that writes python-circuit's lines ("got
// error ... - opening circuit", "half-open - letting one through",
// "closing circuit") at a level per kind of line. A set logs each peer
// through a child logger "<logger>.<peer>". Successes and rejections are
// not even listened to unless the logger prints trace.

#include <chrono>
#include <memory>
#include <stdexcept>

#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include <circuit/circuit.hpp>
#include <circuit/spdlog.hpp>

using namespace std::chrono_literals;

int main() {
  circuit::manual_clock clock;  // time moves only when we say so
  auto logger = std::make_shared<spdlog::logger>("payments", std::make_shared<spdlog::sinks::stdout_sink_st>());
  logger->set_pattern("[%l] %n: %v");
  logger->set_level(spdlog::level::debug);

  circuit::circuit_breaker<circuit::manual_clock, circuit::consecutive_failures> breaker(
      circuit::consecutive_failures{.threshold = 2}, {.name = "payments", .open_for = circuit::fixed{5s}}, clock);
  auto subscription = circuit::log_to(breaker, logger);  // keep it: destroying it stops the logging

  const auto charge = [] { throw std::runtime_error("connection refused"); };
  for (int i = 0; i < 2; ++i) {
    try {
      breaker.call(charge);
    } catch (const std::runtime_error&) {
    }
  }
  for (int i = 0; i < 1000; ++i) (void)breaker.try_guard();  // rejected: no line per rejection
  clock.advance(5s);
  if (auto probe = breaker.try_guard()) probe.success();  // half-open, then closed

  // A set, with its own levels: trips only warn here.
  circuit::circuit_breaker_set<circuit::circuit_breaker<circuit::manual_clock, circuit::consecutive_failures>> peers(
      circuit::consecutive_failures{.threshold = 1}, {}, clock);
  auto peer_logging = circuit::log_to(peers, spdlog::default_logger(), {.trip = spdlog::level::warn});
  peers.get("db").trip();
  if (auto p = peers.try_guard("cache")) p.failure(std::make_exception_ptr(std::runtime_error("timeout")));

  // The formatters: circuit's enums in any fmt/spdlog format string.
  logger->info("state now {} ({:>9})", breaker.current_state(), circuit::state::half_open);
}
