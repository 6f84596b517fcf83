// expect: circuit: unclassified result.*http_reply|http_reply.*circuit: unclassified result
// A call returning a struct that holds an error code, through a breaker whose
// predicate looks at results (detect_error_codes): the predicate cannot take
// the struct, so the breaker refuses the call rather than count every reply
// as a success. The diagnostic names the type. With
// circuit::other_results_succeed(circuit::detect_error_codes()) the same call
// compiles (tests/detect_error_codes_test.cpp).
#include <string>
#include <system_error>

#include <circuit/circuit_breaker.hpp>
#include <circuit/detect_error_codes.hpp>
#include <circuit/manual_clock.hpp>
#include <circuit/sliding_window.hpp>

struct http_reply {
  std::error_code ec;
  std::string body;
};

int main() {
  circuit::circuit_breaker<circuit::manual_clock, circuit::sliding_window, decltype(circuit::detect_error_codes())>
      breaker({}, {}, circuit::manual_clock{}, circuit::detect_error_codes());
  const auto reply = breaker.call([] { return http_reply{std::make_error_code(std::errc::timed_out), ""}; });
  return reply.ec ? 1 : 0;
}
