// peer_set: python-circuit's README example, in C++.
//
//     circuit_breaker = CircuitBreakerSet(time.time, logging.getLogger('circuit-breaker'))
//     circuit_breaker.handle_error(ValueError)
//
//     def fn(circuit_breaker):
//         with circuit_breaker.context('my-remote-peer'):
//             raise ValueError('oh no')
//
// A circuit_breaker_set keeps one breaker per peer id, made on first use
// with python-circuit's defaults (3 failures within 60 s are tolerated, the
// 4th opens the circuit for 10 s). failure_on<value_error> counts only that
// error type. Call fn often enough and the circuit opens: guard() then
// throws open_circuit_error instead of letting the call through.
//
// A set-wide listener logs each transition with the peer's name, and
// open_circuits() is what a readiness probe would report. A manual_clock
// keeps the run deterministic; in production use the default steady_clock.

#include <chrono>
#include <exception>
#include <iostream>
#include <stdexcept>
#include <string>

#include <circuit/circuit.hpp>
#include <circuit/circuit_breaker_set.hpp>

using namespace std::chrono_literals;

namespace {

// Python's ValueError: the one error type the breakers count.
struct value_error : std::runtime_error {
  using std::runtime_error::runtime_error;
};

using breaker_type =
    circuit::circuit_breaker<circuit::manual_clock, circuit::sliding_window, circuit::failure_on<value_error>>;
using breaker_set = circuit::circuit_breaker_set<breaker_type>;

void talk_to_peer() { throw value_error("oh no"); }

// python-circuit's `with circuit_breaker.context('my-remote-peer')`.
void fn(breaker_set& circuit_breaker) {
  auto context = circuit_breaker.guard("my-remote-peer");  // throws open_circuit_error when open
  try {
    talk_to_peer();
  } catch (...) {
    context.failure(std::current_exception());  // counted only if it is a value_error
    throw;
  }
}

void readiness_probe(const breaker_set& peers) {
  const auto open = peers.open_circuits();
  std::cout << "readiness: " << (open.empty() ? "ready" : "not ready");
  for (const auto& peer : open) std::cout << " [" << peer << " is open]";
  std::cout << "\n";
}

}  // namespace

int main() {
  circuit::manual_clock clock;
  breaker_set circuit_breaker({}, {}, clock);  // python-circuit's defaults

  // Like python-circuit's logger: one line per transition, naming the peer.
  auto log = circuit_breaker.on_event([](const circuit::event& e) {
    if (e.kind == circuit::event_kind::state_change) {
      std::cout << "circuit-breaker: " << e.name << ": " << circuit::to_string(e.from) << " -> "
                << circuit::to_string(e.to) << "\n";
    }
  });

  bool opened = false;
  for (int attempt = 1; attempt <= 10 && !opened; ++attempt) {
    try {
      fn(circuit_breaker);
    } catch (const circuit::open_circuit_error& e) {
      // The circuit was open, so we did not even try to talk to the peer.
      std::cout << "attempt " << attempt << ": " << e.what() << "\n";
      opened = true;
    } catch (const value_error& e) {
      std::cout << "attempt " << attempt << ": failed: " << e.what() << "\n";
    }
    clock.advance(1s);
  }
  readiness_probe(circuit_breaker);

  // 10 s after opening, one probe goes through; its success closes the circuit.
  clock.advance(10s);
  circuit_breaker.call("my-remote-peer", [] { std::cout << "probe: the peer answers\n"; });
  readiness_probe(circuit_breaker);

  return opened && circuit_breaker.open_circuits().empty() ? 0 : 1;
}
