// expect: ErrorPredicate must be copyable and callable with std::exception_ptr, returning bool
// A predicate that answers with an int, neither bool nor circuit::outcome:
// circuit_breaker refuses it with a readable message.
#include <chrono>
#include <exception>

#include <circuit/circuit_breaker.hpp>

struct int_predicate {
  int operator()(const std::exception_ptr& e) const { return e ? 1 : 0; }
};

int main() {
  circuit::circuit_breaker<std::chrono::steady_clock, circuit::sliding_window, int_predicate> breaker;
  return breaker.try_guard() ? 0 : 1;
}
