// fallback_with_try_call: calling a flaky price service without an
// exception for refusal, and serving a cached price when the call is
// refused or fails (Polly's Fallback, resilience4j's withFallback).
//
// try_call() returns a circuit::call_result: refused() when the breaker did
// not let the call run, failed() when it ran and counted as a failure,
// value() / value_or(fallback) for the result. It never throws
// open_circuit_error, and works with -fno-exceptions for callables that do
// not throw. The refusal also says why: the state, how long until a probe,
// and the exception that opened the circuit.

#include <chrono>
#include <exception>
#include <iostream>
#include <stdexcept>

#include <circuit/circuit.hpp>

using namespace std::chrono_literals;

namespace {

// The peer: fails from the 3rd to the 8th request.
int fetch_price(int request) {
  if (request >= 3 && request <= 8) throw std::runtime_error("price service: connection reset");
  return 100 + request;
}

std::string text_of(const std::exception_ptr& e) {
  if (!e) return "none";
  try {
    std::rethrow_exception(e);
  } catch (const std::exception& x) {
    return x.what();
  }
}

}  // namespace

int main() {
  circuit::manual_clock clock;
  circuit::circuit_breaker<circuit::manual_clock, circuit::consecutive_failures> prices(
      {.threshold = 3}, {.name = "prices", .open_for = circuit::fixed{5s}}, clock);
  const int cached_price = 99;

  for (int request = 1; request <= 12; ++request) {
    const auto r = prices.try_call(fetch_price, request);
    std::cout << "request " << request << ": price " << r.value_or(cached_price);
    if (r.refused()) {
      std::cout << " (cached: circuit " << *r.refused_in() << ", probe in "
                << std::chrono::duration_cast<std::chrono::seconds>(r.retry_after().value_or(0s)).count()
                << " s, opened by: " << text_of(r.last_failure()) << ")";
    } else if (r.failed()) {
      std::cout << " (cached: " << text_of(r.error()) << ")";
    }
    std::cout << "\n";
    clock.advance(1s);
  }
  const auto m = prices.metrics();
  std::cout << "calls: " << m.total.successes << " ok, " << m.total.failures << " failed, " << m.total.rejections
            << " refused; state " << m.state << "\n";
  return m.state == circuit::state::closed ? 0 : 1;
}
