// count_based_window: trip on the failed share of the last N calls.
//
// failure_rate_last_calls is resilience4j's COUNT_BASED sliding window: the
// breaker weighs the last `calls` calls, however long ago they were, and
// opens when at least `minimum_calls` of them are in and at least
// `failure_rate` of them failed. Use it when traffic is bursty or sparse
// and "the last 100 calls" says more about the peer than "the last 10 s"
// (failure_rate_window). Outcomes the ErrorPredicate ignores take no place
// among the last calls.
//
// Its successes are as cheap as the default counter's: no clock read, and
// a store to a cache line of the calling thread's own.

#include <chrono>
#include <iostream>
#include <stdexcept>

#include <circuit/circuit.hpp>

namespace {

struct timeout_error : std::runtime_error {
  using std::runtime_error::runtime_error;
};
struct cancelled : std::runtime_error {  // we gave up: says nothing about the peer
  using std::runtime_error::runtime_error;
};

using breaker_type = circuit::circuit_breaker<std::chrono::steady_clock, circuit::failure_rate_last_calls,
                                              circuit::ignore_exceptions<cancelled>>;

template <class F>
void attempt(breaker_type& breaker, F fn) {
  try {
    breaker.call(fn);
  } catch (const std::exception&) {
    // The breaker has already counted it (or refused the call).
  }
}

void report(const breaker_type& breaker, const char* after) {
  const auto m = breaker.metrics();
  std::cout << after << ": " << m.state << ", last calls: " << m.window.failures << " failed, " << m.window.successes
            << " succeeded (ignored so far: " << m.total.ignored << ")\n";
}

}  // namespace

int main() {
  // Half of the last 10 calls, once at least 5 are in.
  breaker_type inventory(circuit::failure_rate_last_calls{.failure_rate = 0.5, .minimum_calls = 5, .calls = 10},
                         {.name = "inventory", .open_for = circuit::fixed{std::chrono::seconds(30)}});

  for (int i = 0; i < 8; ++i) inventory.call([] {});
  attempt(inventory, [] { throw timeout_error("timed out"); });
  attempt(inventory, [] { throw timeout_error("timed out"); });
  report(inventory, "8 successes, 2 timeouts");  // 2 of 10

  // Cancelled calls are neither: they push no success out of the window.
  for (int i = 0; i < 20; ++i) attempt(inventory, [] { throw cancelled("client went away"); });
  report(inventory, "20 cancelled calls");

  // Each timeout now pushes out the oldest call, a success: 3, 4, 5 of 10.
  for (int i = 0; i < 3; ++i) attempt(inventory, [] { throw timeout_error("timed out"); });
  report(inventory, "3 more timeouts");

  const bool open = inventory.current_state() == circuit::state::open;
  try {
    inventory.call([] {});
  } catch (const circuit::open_circuit_error& e) {
    std::cout << "refused: " << e.what() << "\n";
  }
  return open ? 0 : 1;
}
