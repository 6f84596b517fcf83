// expect: circuit: unclassified result.*grpc_status|grpc_status.*circuit: unclassified result
// A hand-written predicate that declares `looks_at_results` takes HTTP
// replies only; a call returning another type through its breaker is
// refused at compile time, and the diagnostic names the type.
#include <exception>

#include <circuit/circuit_breaker.hpp>
#include <circuit/manual_clock.hpp>
#include <circuit/sliding_window.hpp>

struct http_reply {
  int status;
};
struct grpc_status {
  int code;
};

struct http_policy {
  using looks_at_results = void;
  bool operator()(const std::exception_ptr& e) const { return static_cast<bool>(e); }
  bool operator()(const http_reply& r) const { return r.status >= 500; }
};

int main() {
  circuit::circuit_breaker<circuit::manual_clock, circuit::sliding_window, http_policy> breaker(
      {}, {}, circuit::manual_clock{}, http_policy{});
  (void)breaker.call([] { return http_reply{200}; });  // taken: fine
  return breaker.call([] { return grpc_status{14}; }).code;
}
