// classifying_errors: deciding what counts as a failure.
//
// The third template parameter of circuit_breaker, the ErrorPredicate, says
// which outcomes are failures. It sees every exception that escapes a call
// and, where it accepts them, the call's return values:
//   failure_on<E...>         only these exceptions are failures
//   failure_except<E...>     every exception but these is a failure
//   ignore_exceptions<E...>  these count neither way; the rest are failures
//   detect_results(pred)     any exception, plus return values pred flags
//   detect_error_codes()     any exception, plus returned error codes, errc
//                            values and expected-like results holding an error
//   other_results_succeed(p) as p, but results p cannot take are successes
//   your own                 returning bool (true = failure) or circuit::outcome
// Exception types match by inheritance. An exception that is not a failure
// still reaches the caller unchanged; it just does not count against the peer.
// detect_results and detect_error_codes look at results: a call returning a
// type they cannot take does not compile ("circuit: unclassified result"),
// so that an errno int or a struct with an error code inside cannot pass as
// a success unnoticed; other_results_succeed is the explicit way out.

#include <chrono>
#include <iostream>
#include <stdexcept>
#include <string>
#include <system_error>

#include <circuit/circuit.hpp>

namespace {

// Errors a client might see.
struct timeout_error : std::runtime_error {
  using std::runtime_error::runtime_error;
};
struct not_found : std::runtime_error {  // a business answer: the peer is healthy
  using std::runtime_error::runtime_error;
};
struct user_not_found : not_found {
  using not_found::not_found;
};
struct cancelled : std::runtime_error {  // we gave up: says nothing about the peer
  using std::runtime_error::runtime_error;
};

struct http_response {
  int status = 200;
  std::string body;
};

// An expected-like result (std::expected in C++23): has_value() and error().
struct lookup_result {
  std::string value;
  std::error_code err;
  [[nodiscard]] bool has_value() const { return !err; }
  [[nodiscard]] const std::error_code& error() const { return err; }
};

template <class Breaker>
void report(const Breaker& breaker) {
  const auto t = breaker.metrics().total;
  std::cout << "  counted: failures " << t.failures << ", successes " << t.successes << ", ignored " << t.ignored
            << "\n";
}

// Runs `fn` through `breaker`, swallowing what it throws (the breaker has
// already classified it).
template <class Breaker, class F>
void attempt(Breaker& breaker, F fn) {
  try {
    breaker.call(fn);
  } catch (const std::exception& e) {
    std::cout << "  caller sees: " << e.what() << "\n";
  }
}

// Result predicates: true means "this return value is a failure".
constexpr auto is_server_error = [](const http_response& r) { return r.status >= 500; };
constexpr auto is_error = [](const std::error_code& ec) { return static_cast<bool>(ec); };

// A hand-written predicate: one overload for exceptions, one for results,
// answering with circuit::outcome to be able to say "ignored".
struct http_policy {
  circuit::outcome operator()(const std::exception_ptr& e) const {
    if (!e) return circuit::outcome::success;
    try {
      std::rethrow_exception(e);
    } catch (const cancelled&) {
      return circuit::outcome::ignored;
    } catch (...) {
      return circuit::outcome::failure;
    }
  }
  circuit::outcome operator()(const http_response& r) const {
    if (r.status >= 500) return circuit::outcome::failure;
    if (r.status == 429) return circuit::outcome::ignored;  // throttled: our quota, not the peer's health
    return circuit::outcome::success;                        // 2xx, and 4xx: the peer answered
  }
};

}  // namespace

int main() {
  using clock = std::chrono::steady_clock;

  {  // Only timeouts and system errors say the peer is unwell; a bug of ours does not.
    std::cout << "failure_on<timeout_error, std::system_error>\n";
    circuit::circuit_breaker<clock, circuit::sliding_window, circuit::failure_on<timeout_error, std::system_error>> b;
    attempt(b, [] { throw timeout_error("timed out after 2 s"); });
    attempt(b, [] { throw std::invalid_argument("bad request built by the caller"); });
    report(b);
  }

  {  // "Not found" is an answer, not an outage; so is any exception derived from it.
    std::cout << "failure_except<not_found>\n";
    circuit::circuit_breaker<clock, circuit::sliding_window, circuit::failure_except<not_found>> b;
    attempt(b, [] { throw user_not_found("no user 42"); });
    attempt(b, [] { throw std::runtime_error("connection reset"); });
    report(b);
  }

  {  // A call we cancelled counts neither way (and gives back a half_open probe slot).
    std::cout << "ignore_exceptions<cancelled>\n";
    circuit::circuit_breaker<clock, circuit::sliding_window, circuit::ignore_exceptions<cancelled>> b;
    attempt(b, [] { throw cancelled("deadline of the request passed"); });
    attempt(b, [] { throw std::runtime_error("connection reset"); });
    report(b);
  }

  {  // An HTTP 503 comes back as a value, not an exception: the breaker still sees it.
    std::cout << "detect_results(is_server_error)\n";
    using predicate = decltype(circuit::detect_results(is_server_error));
    circuit::circuit_breaker<clock, circuit::sliding_window, predicate> b({}, {.name = "orders"}, {},
                                                                        circuit::detect_results(is_server_error));
    const auto r = b.call([] { return http_response{503, "try later"}; });  // the caller still gets the value
    std::cout << "  caller sees: HTTP " << r.status << "\n";
    b.call([] { return http_response{404, "no such order"}; });
    report(b);
  }

  {  // std::error_code results; exceptions classified by failure_on<std::system_error>.
    std::cout << "detect_results(is_error, failure_on<std::system_error>)\n";
    using predicate = decltype(circuit::detect_results(is_error, circuit::failure_on<std::system_error>{}));
    circuit::circuit_breaker<clock, circuit::sliding_window, predicate> b(
        {}, {.name = "socket"}, {}, circuit::detect_results(is_error, circuit::failure_on<std::system_error>{}));
    b.call([] { return std::make_error_code(std::errc::connection_refused); });
    b.call([] { return std::error_code{}; });
    attempt(b, [] { throw std::system_error(std::make_error_code(std::errc::timed_out)); });
    attempt(b, [] { throw std::logic_error("not a system_error: not a failure"); });
    report(b);
  }

  {  // Error codes, std::errc and expected-like results, without writing a predicate.
    std::cout << "detect_error_codes()\n";
    using predicate = decltype(circuit::detect_error_codes());
    circuit::circuit_breaker<clock, circuit::sliding_window, predicate> b({}, {.name = "dns"}, {},
                                                                        circuit::detect_error_codes());
    b.call([] { return std::make_error_code(std::errc::host_unreachable); });  // failure
    b.call([] { return std::errc{}; });                                         // success: {} is "no error"
    b.call([] { return lookup_result{"", std::make_error_code(std::errc::timed_out)}; });  // failure
    b.call([] { return lookup_result{"10.0.0.7", {}}; });                                  // success
    // b.call([] { return 111; });  // an errno int: does not compile, "circuit: unclassified result"
    report(b);
  }

  {  // Results that say nothing about the peer pass, said explicitly.
    std::cout << "other_results_succeed(detect_error_codes())\n";
    using predicate = decltype(circuit::other_results_succeed(circuit::detect_error_codes()));
    circuit::circuit_breaker<clock, circuit::sliding_window, predicate> b(
        {}, {.name = "cache"}, {}, circuit::other_results_succeed(circuit::detect_error_codes()));
    b.call([] { return std::make_error_code(std::errc::connection_reset); });  // still a failure
    const auto hits = b.call([] { return 42; });                               // an int: a success
    std::cout << "  caller sees: " << hits << " hits\n";
    report(b);
  }

  {  // Your own predicate.
    std::cout << "http_policy\n";
    circuit::circuit_breaker<clock, circuit::sliding_window, http_policy> b;
    b.call([] { return http_response{502, ""}; });
    b.call([] { return http_response{429, "slow down"}; });
    b.call([] { return http_response{400, "bad request"}; });
    attempt(b, [] { throw cancelled("user closed the page"); });
    report(b);
  }
  return 0;
}
