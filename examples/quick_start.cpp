// quick_start: a breaker in front of a flaky function.
//
// call() runs a function through the breaker, guard() protects a block of
// code, wrap() turns a function into a protected one. After the 4th failure
// within 60 s the circuit opens: calls are refused with open_circuit_error
// (without running) until 10 s have passed; then one probe is let through,
// and its success closes the circuit again.
//
// A manual_clock stands in for the real clock so the run is deterministic;
// in production, drop it and write `circuit::circuit_breaker<> breaker;`.

#include <chrono>
#include <iostream>
#include <stdexcept>
#include <string>

#include <circuit/circuit.hpp>

using namespace std::chrono_literals;

namespace {

bool peer_up = false;  // the remote service is down at first

int fetch_stock(const std::string& item) {
  if (!peer_up) throw std::runtime_error("connection refused");
  return item == "apples" ? 42 : 0;
}

long long seconds(std::chrono::nanoseconds d) { return std::chrono::duration_cast<std::chrono::seconds>(d).count(); }

}  // namespace

int main() {
  circuit::manual_clock clock;
  circuit::circuit_breaker<circuit::manual_clock> breaker(
      circuit::sliding_window{.max_failures = 3, .window = 60s},
      circuit::options{.name = "inventory", .open_for = circuit::fixed{10s}}, clock);

  // 1. The peer fails; each call() rethrows the peer's own exception. The
  //    4th failure trips the breaker.
  for (int i = 1; i <= 4; ++i) {
    try {
      breaker.call(fetch_stock, "apples");
    } catch (const std::runtime_error& e) {
      std::cout << "call " << i << " failed: " << e.what()
                << " (state: " << circuit::to_string(breaker.current_state()) << ")\n";
    }
  }

  // 2. Open: the call is refused without running fetch_stock.
  clock.advance(4s);
  try {
    breaker.call(fetch_stock, "apples");
  } catch (const circuit::open_circuit_error& e) {
    std::cout << "refused: " << e.what() << "; retry after " << seconds(e.retry_after().value()) << "s\n";
  }

  // 3. Once open_for has passed, the next call is a probe. guard() admits it;
  //    leaving the scope normally records a success, which closes the circuit.
  clock.advance(6s);
  peer_up = true;
  {
    auto permit = breaker.guard();  // throws open_circuit_error if refused
    std::cout << "probe: " << fetch_stock("apples") << " apples\n";
  }
  std::cout << "state after the probe: " << circuit::to_string(breaker.current_state()) << "\n";

  // 4. wrap(): a callable with fetch_stock's signature that goes through call().
  auto stock = breaker.wrap(fetch_stock);
  std::cout << "wrapped call: " << stock("apples") << " apples\n";

  const auto m = breaker.metrics();
  std::cout << "successes " << m.total.successes << ", failures " << m.total.failures << ", rejections "
            << m.total.rejections << "\n";
  return m.state == circuit::state::closed ? 0 : 1;
}
