// expect: circuit: unclassified result
// try_call() of a function returning an errno int, through a breaker whose
// predicate looks at results (detect_error_codes): an int is not an error
// code the predicate can take, so the breaker refuses the call rather than
// count ECONNREFUSED as a success. With
// circuit::other_results_succeed(circuit::detect_error_codes()) the same call
// compiles (tests/detect_error_codes_test.cpp).
#include <cerrno>

#include <circuit/circuit_breaker.hpp>
#include <circuit/detect_error_codes.hpp>
#include <circuit/manual_clock.hpp>
#include <circuit/sliding_window.hpp>

int connect_to_peer() { return ECONNREFUSED; }  // errno-style: 0 or an error number

int main() {
  circuit::circuit_breaker<circuit::manual_clock, circuit::sliding_window, decltype(circuit::detect_error_codes())>
      breaker({}, {}, circuit::manual_clock{}, circuit::detect_error_codes());
  (void)breaker.try_call(connect_to_peer);
  return 0;
}
