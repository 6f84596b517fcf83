#pragma once
// A manual clock that the tests can watch and interrupt: it counts its
// reads, and runs a hook (once) when it is next read, which puts the test's
// code (say, a reset()) exactly where the breaker reads the time.

#include <chrono>
#include <functional>
#include <memory>
#include <utility>

#include <circuit/manual_clock.hpp>

namespace test {

struct instrumented_clock {
  using rep = circuit::manual_clock::rep;
  using period = circuit::manual_clock::period;
  using duration = circuit::manual_clock::duration;
  using time_point = std::chrono::time_point<instrumented_clock, duration>;
  static constexpr bool is_steady = false;

  // Copies share all three, as copies of manual_clock share its timeline.
  circuit::manual_clock timeline;
  std::shared_ptr<int> reads = std::make_shared<int>(0);
  std::shared_ptr<std::function<void()>> hook = std::make_shared<std::function<void()>>();

  [[nodiscard]] time_point now() const {
    ++*reads;
    if (*hook) std::exchange(*hook, nullptr)();
    return time_point(timeline.now().time_since_epoch());
  }
};

}  // namespace test
