// expect: Counter must be copyable with `validate\(\)` and a nested `recorder`
// A counter whose recorder cannot report its figures: circuit_breaker refuses
// it with a readable message.
#include <chrono>

#include <circuit/circuit_breaker.hpp>

struct counter_without_figures {
  void validate() const {}
  struct recorder {
    explicit recorder(const counter_without_figures&) {}
    bool on_failure(std::chrono::nanoseconds) { return false; }
    void on_success() {}
    void reset() {}
  };
};

int main() {
  circuit::circuit_breaker<std::chrono::steady_clock, counter_without_figures> breaker;
  return breaker.try_guard() ? 0 : 1;
}
