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
// A set-wide listener (taking state changes only, so it costs the success
// path nothing) logs each transition with the peer's name, and
// open_circuits() is what a readiness probe would report. An operator steers
// one peer by id (state(id), trip(id), reset(id)) without making or pinning
// it, and try_call(id, ...) with value_or() falls back to a cached answer
// instead of catching open_circuit_error. A manual_clock keeps the run
// deterministic; in production use the default steady_clock.

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
  auto log = circuit_breaker.on_event(
      [](const circuit::event& e) {
        std::cout << "circuit-breaker: " << e.name << ": " << e.from << " -> " << e.to << "\n";
      },
      circuit::event_filter::state_changes);

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
  const auto due = circuit_breaker.state("my-remote-peer");  // makes the lazy open -> half_open change
  std::cout << "state: " << due.value() << "\n";
  circuit_breaker.call("my-remote-peer", [] { std::cout << "probe: the peer answers\n"; });
  readiness_probe(circuit_breaker);

  // An operator takes the peer out by hand; a caller falls back to a cached
  // price instead of catching open_circuit_error.
  const int cached_price = 90;
  const auto fetch_price = [] { return 100; };
  circuit_breaker.trip("my-remote-peer");
  const int while_open = circuit_breaker.try_call("my-remote-peer", fetch_price).value_or(cached_price);
  std::cout << "price while open: " << while_open << "\n";
  circuit_breaker.reset("my-remote-peer");
  const int after_reset = circuit_breaker.try_call("my-remote-peer", fetch_price).value_or(cached_price);
  std::cout << "price after reset: " << after_reset << "\n";

  // Steering an unknown peer does nothing, and makes no breaker for it.
  const bool unknown = circuit_breaker.trip("no-such-peer") || circuit_breaker.state("no-such-peer").has_value();

  return opened && circuit_breaker.open_circuits().empty() && while_open == cached_price && after_reset == 100 &&
                 !unknown && circuit_breaker.size() == 1
             ? 0
             : 1;
}
