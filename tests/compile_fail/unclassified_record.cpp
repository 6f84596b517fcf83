// expect: circuit: unclassified result
// permit::record() of an errno int, on a breaker whose predicate looks at
// results (detect_error_codes): the predicate cannot take an int, so the
// permit refuses it rather than record ECONNREFUSED as a success. With
// circuit::other_results_succeed(circuit::detect_error_codes()) the same
// record compiles (tests/detect_error_codes_test.cpp).
#include <cerrno>

#include <circuit/circuit_breaker.hpp>
#include <circuit/detect_error_codes.hpp>
#include <circuit/manual_clock.hpp>
#include <circuit/sliding_window.hpp>

int main() {
  circuit::circuit_breaker<circuit::manual_clock, circuit::sliding_window, decltype(circuit::detect_error_codes())>
      breaker({}, {}, circuit::manual_clock{}, circuit::detect_error_codes());
  auto permit = breaker.guard();
  const int rc = ECONNREFUSED;
  permit.record(rc);
  return 0;
}
