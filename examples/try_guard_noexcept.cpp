// try_guard_noexcept: using a breaker in code built with -fno-exceptions.
//
// try_guard() never throws: it returns a permit that converts to false when
// the call is refused. An admitted permit is settled with success(),
// failure(), or record(result), which asks the ErrorPredicate about the
// return value: here detect_results() flags a non-zero std::error_code. A
// permit left unsettled records a success when it goes out of scope.
//
// This file is built with -fno-exceptions (any examples/*_noexcept.cpp is).

#include <chrono>
#include <cstdio>
#include <string_view>
#include <system_error>

#include <circuit/circuit.hpp>

using namespace std::chrono_literals;

namespace {

// The peer: sends a message, reports errors as std::error_code.
bool peer_up = false;
std::error_code send(std::string_view message) {
  if (!peer_up) return std::make_error_code(std::errc::connection_refused);
  std::printf("  sent: %.*s\n", static_cast<int>(message.size()), message.data());
  return {};
}

constexpr auto is_error = [](const std::error_code& ec) { return static_cast<bool>(ec); };

using breaker_type = circuit::circuit_breaker<circuit::manual_clock, circuit::consecutive_failures,
                                              decltype(circuit::detect_results(is_error))>;

// Sends through the breaker; false when refused or failed (the caller would
// queue the message for later).
bool deliver(breaker_type& breaker, std::string_view message) {
  auto permit = breaker.try_guard();
  if (!permit) {
    const std::string_view state = circuit::to_string(breaker.current_state());
    std::printf("  refused (circuit %.*s): queued\n", static_cast<int>(state.size()), state.data());
    return false;
  }
  const std::error_code ec = send(message);
  permit.record(ec);  // a failure when is_error(ec)
  if (ec) std::printf("  failed: %s\n", ec.message().c_str());
  return !ec;
}

}  // namespace

int main() {
  circuit::manual_clock clock;
  breaker_type breaker(circuit::consecutive_failures{.threshold = 2},
                       circuit::options{.name = "mailer", .open_for = circuit::fixed{5s}}, clock,
                       circuit::detect_results(is_error));

  std::puts("peer down:");
  deliver(breaker, "hello 1");
  deliver(breaker, "hello 2");  // the 2nd failure in a row opens the circuit
  deliver(breaker, "hello 3");  // refused without calling send()
  if (breaker.current_state() != circuit::state::open) return 1;

  std::puts("5 s later, peer up:");
  clock.advance(5s);
  peer_up = true;
  if (!deliver(breaker, "hello 4")) return 1;  // the probe; its success closes the circuit
  if (breaker.current_state() != circuit::state::closed) return 1;

  // Settling explicitly, when the outcome is not a return value of one call.
  std::puts("explicit settlement:");
  if (auto permit = breaker.try_guard()) {
    const std::string_view reply = "garbage";  // what the peer answered
    if (reply == "OK") {
      permit.success();
    } else {
      permit.failure();  // the peer is up but not well
    }
  }

  const auto m = breaker.metrics();
  std::printf("successes %llu, failures %llu, rejections %llu\n", static_cast<unsigned long long>(m.total.successes),
              static_cast<unsigned long long>(m.total.failures), static_cast<unsigned long long>(m.total.rejections));
  return m.total.failures == 3 && m.total.successes == 1 && m.total.rejections == 1 ? 0 : 1;
}
