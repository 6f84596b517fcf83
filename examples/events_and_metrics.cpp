// events_and_metrics: watching a breaker, and steering it by hand.
//
// on_event() subscribes a listener (here: a log line per state change and a
// tally of the other events); it runs outside the breaker's lock, on the
// thread that caused the event. metrics() is a snapshot for dashboards and
// health checks. trip(), isolate() and reset() are the operator's levers:
// open now, hold open until further notice, close and start afresh.

#include <chrono>
#include <cstdint>
#include <iostream>
#include <map>
#include <stdexcept>
#include <string_view>

#include <circuit/circuit.hpp>

using namespace std::chrono_literals;

namespace {

using breaker_type = circuit::circuit_breaker<circuit::manual_clock, circuit::consecutive_failures>;

long long seconds(std::chrono::nanoseconds d) { return std::chrono::duration_cast<std::chrono::seconds>(d).count(); }

void print_metrics(const breaker_type& breaker) {
  const auto m = breaker.metrics();
  std::cout << "  metrics of '" << breaker.name() << "': state " << circuit::to_string(m.state) << ", generation "
            << m.generation << ", failures in counter " << m.window.failures << "\n"
            << "    total: " << m.total.successes << " ok, " << m.total.failures << " failed, " << m.total.ignored
            << " ignored, " << m.total.rejections << " rejected; since last transition: "
            << m.since_transition.successes << " ok, " << m.since_transition.failures << " failed, "
            << m.since_transition.rejections << " rejected\n"
            << "    last transition at t=" << seconds(m.last_transition.time_since_epoch()) << "s";
  if (m.open_until) std::cout << ", open until t=" << seconds(m.open_until->time_since_epoch()) << "s";
  std::cout << ", stale outcomes " << m.stale_outcomes << ", listener errors " << m.listener_errors << "\n";
}

}  // namespace

int main() {
  circuit::manual_clock clock;
  breaker_type breaker(circuit::consecutive_failures{.threshold = 2},
                       circuit::options{.name = "payments", .open_for = circuit::fixed{10s}}, clock);

  // A listener: log transitions, count everything else by kind.
  std::map<circuit::event_kind, int> seen;
  auto subscription = breaker.on_event([&](const circuit::event& e) {
    if (e.kind == circuit::event_kind::state_change) {
      std::cout << "[t=" << seconds(clock.now().time_since_epoch()) << "s] " << e.name << ": "
                << circuit::to_string(e.from) << " -> " << circuit::to_string(e.to) << "\n";
    } else {
      ++seen[e.kind];
    }
  });
  // A listener that throws is counted in metrics().listener_errors; the
  // breaker and the other listeners carry on.
  auto faulty = breaker.on_event([](const circuit::event&) { throw std::runtime_error("log sink full"); });

  std::cout << "two failures in a row:\n";
  for (int i = 0; i < 2; ++i) {
    auto permit = breaker.guard();
    permit.failure();
  }
  (void)breaker.try_guard();  // refused: a `rejected` event
  print_metrics(breaker);
  faulty.reset();  // unsubscribes

  std::cout << "10 s later a probe succeeds:\n";
  clock.advance(10s);
  breaker.guard().success();

  std::cout << "the operator trips it, then isolates it for maintenance:\n";
  clock.advance(1s);
  breaker.trip();
  breaker.isolate();
  breaker.trip();  // does nothing: only reset() ends isolation
  try {
    breaker.call([] {});
  } catch (const circuit::open_circuit_error& e) {
    std::cout << "  " << e.what() << (e.retry_after() ? "" : " (no retry time while isolated)") << "\n";
  }
  print_metrics(breaker);

  std::cout << "maintenance over, reset:\n";
  clock.advance(60s);
  breaker.reset();

  std::cout << "a call admitted before trip() succeeds after it:\n";
  auto in_flight = breaker.guard();
  breaker.trip();
  in_flight.success();  // from an older generation: counted in totals, does not close the circuit
  print_metrics(breaker);

  std::cout << "events other than state changes:";
  for (const auto& [kind, n] : seen) std::cout << " " << circuit::to_string(kind) << "=" << n;
  std::cout << "\n";

  const auto m = breaker.metrics();
  const bool as_expected = m.state == circuit::state::open && m.stale_outcomes == 1 && m.listener_errors == 4;
  return as_expected ? 0 : 1;
}
