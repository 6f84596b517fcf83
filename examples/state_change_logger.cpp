// state_change_logger: an operator's view of a breaker. A listener that
// takes state changes only (event_filter::state_changes) logs why the state
// changed, when, for how long it stays open, and the generation that totally
// orders the changes; since it takes no successes, it costs the closed-state
// success path nothing. The operator's levers close the tour: disable() lets
// every call through during an incident review, isolate() holds the
// circuit open, reset() closes it. probe_timeout re-opens a circuit whose
// probe never reports.

#include <chrono>
#include <iostream>
#include <stdexcept>

#include <circuit/circuit.hpp>

using namespace std::chrono_literals;

int main() {
  circuit::manual_clock clock;
  circuit::circuit_breaker<circuit::manual_clock, circuit::consecutive_failures> db(
      {.threshold = 2},
      {.name = "db",
       .open_for = circuit::exponential{.initial = 2s, .multiplier = 2, .max = 30s},
       .probe_timeout = 1s},
      clock);

  auto log = db.on_event(
      [](const circuit::event& e) {
        std::cout << "[t=" << std::chrono::duration_cast<std::chrono::milliseconds>(*e.time).count() << "ms] "
                  << e.name << " " << e.from << " -> " << e.to << " (" << *e.cause << ", generation " << e.generation;
        if (e.open_for) {
          std::cout << ", open for " << std::chrono::duration_cast<std::chrono::milliseconds>(*e.open_for).count()
                    << "ms";
        }
        std::cout << ")\n";
      },
      circuit::event_filter::state_changes);

  auto fail = [] { throw std::runtime_error("timeout"); };
  for (int i = 0; i < 2; ++i) (void)db.try_call(fail);  // counter_tripped
  clock.advance(2s);
  auto lost_probe = db.try_guard();  // open_elapsed: a probe goes out and never reports
  clock.advance(1s);
  (void)db.current_state();  // probe_timed_out: re-opened, the backoff grows to 4 s
  clock.advance(4s);
  (void)db.try_call([] { return 1; });  // open_elapsed, then probes_succeeded
  lost_probe.ignore();                  // the lost probe reports at last: stale, moves nothing

  db.disable();  // the operator's bypass: calls pass, nothing trips
  for (int i = 0; i < 5; ++i) (void)db.try_call(fail);
  db.isolate();  // hold open until further notice
  db.reset();    // and back to normal

  const auto m = db.metrics();
  std::cout << "transitions: " << m.transitions.total() << ", stale outcomes: " << m.stale_outcomes
            << ", failures: " << m.total.failures << "\n";
  return m.state == circuit::state::closed && m.stale_outcomes == 1 ? 0 : 1;
}
