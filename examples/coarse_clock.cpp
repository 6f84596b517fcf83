// coarse_clock: a breaker on coarse_steady_clock, for a hot path that reads
// the clock on every call.
//
// A failure_rate_window breaker reads the time on every success (to put it
// in its slice), and an open breaker on every refusal (to see whether a
// probe is due). coarse_steady_clock makes those reads about 7x cheaper than
// steady_clock, at the price of resolution: it advances once per kernel
// tick (1-4 ms), which is plenty for windows and open durations of seconds.
// Its time points have their own epoch: do not mix them with steady_clock's.

#include <chrono>
#include <iostream>
#include <stdexcept>

#include <circuit/circuit.hpp>

#if defined(__linux__)
#include <time.h>
#endif

using namespace std::chrono_literals;

int main() {
#if defined(__linux__)
  timespec tick{};
  ::clock_getres(CLOCK_MONOTONIC_COARSE, &tick);
  std::cout << "coarse clock resolution: " << tick.tv_nsec / 1'000'000.0 << " ms\n";
#endif

  circuit::circuit_breaker<circuit::coarse_steady_clock, circuit::failure_rate_window> breaker(
      circuit::failure_rate_window{.failure_rate = 0.5, .minimum_calls = 10, .window = 10s, .buckets = 10},
      circuit::options{.name = "pricing", .open_for = circuit::fixed{30s}});

  // A burst of calls: 6 of 10 fail. The 10th call brings the window to
  // minimum_calls with a failed share of 0.6 >= 0.5, so it trips.
  for (int i = 1; i <= 10; ++i) {
    try {
      breaker.call([i] {
        if (i % 5 == 1 || i % 5 == 3 || i % 5 == 0) throw std::runtime_error("timeout");
      });
    } catch (const std::runtime_error&) {
    }
  }
  const auto m = breaker.metrics();
  std::cout << "after 10 calls: " << m.total.successes << " successes, " << m.total.failures << " failures, state "
            << circuit::to_string(m.state) << '\n';

  // Open: refusals cost one coarse clock read each, no exception with
  // try_guard().
  int refused = 0;
  for (int i = 0; i < 1000; ++i) {
    if (!breaker.try_guard()) ++refused;
  }
  std::cout << "refused " << refused << " of 1000 calls while open; a probe is due in "
            << std::chrono::duration_cast<std::chrono::seconds>(*breaker.metrics().open_until -
                                                                 circuit::coarse_steady_clock::now())
                   .count()
            << " s or less\n";
  return m.state == circuit::state::open && refused == 1000 ? 0 : 1;
}
