// expect: Clock must have `duration`, `time_point` and a `now\(\)`
// A clock without now(): circuit_breaker refuses it with a readable message.
#include <chrono>

#include <circuit/circuit_breaker.hpp>

struct clock_without_now {
  using duration = std::chrono::nanoseconds;
  using time_point = std::chrono::time_point<clock_without_now, duration>;
};

int main() {
  circuit::circuit_breaker<clock_without_now> breaker;
  return breaker.try_guard() ? 0 : 1;
}
