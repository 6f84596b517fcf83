// replay_a_trace: <circuit/replay.hpp> in code. A made-up minute of calls
// to two peers (db goes down for 20 s) replayed against two candidate
// configurations, to see which would have served better: how often each
// trips, how long it stays open, what its refusals cost and saved.
//
// circuit-tune (examples/circuit-tune/) does the same from a CSV file and
// draws the timelines; this is the library call underneath.

#include <chrono>
#include <cstdint>
#include <iostream>
#include <string>
#include <vector>

#include <circuit/replay.hpp>

using namespace std::chrono_literals;

int main() {
  // A call every 250 ms to each peer; db fails from 20 s to 40 s, slowly
  // (each failure takes 2 s: a timeout).
  std::vector<circuit::recorded_call> calls;
  for (std::int64_t ms = 0; ms < 60'000; ms += 250) {
    const bool down = ms >= 20'000 && ms < 40'000;
    calls.push_back({std::chrono::milliseconds(ms), down ? 2s : std::chrono::nanoseconds(15ms),
                     down ? circuit::outcome::failure : circuit::outcome::success, "db"});
    calls.push_back({std::chrono::milliseconds(ms), 30ms, circuit::outcome::success, "api"});
  }
  // Sorted into replay order once, replayed twice.
  const circuit::replay_trace trace(calls);
  const auto hair_trigger = circuit::replay(trace, circuit::consecutive_failures{.threshold = 2},
                                            circuit::options{.open_for = circuit::fixed{2s}});
  const auto patient = circuit::replay(trace, circuit::sliding_window{.max_failures = 10, .window = 30s},
                                       circuit::options{.open_for = circuit::fixed{15s}});

  for (const auto& [name, r] : {std::pair{"consecutive_failures threshold=2, open 2 s", &hair_trigger},
                                std::pair{"sliding_window 11 in 30 s, open 15 s", &patient}}) {
    std::cout << name << ":\n  trips " << r->trips << ", reopens " << r->reopens << ", open " << r->open_seconds
              << " s, refused " << r->refused << " (" << r->refused_would_have_succeeded << " would have succeeded, "
              << r->failures_kept_off << " failures kept off)\n";
    for (const auto& s : r->peers.at("db").timeline) {
      std::cout << "    db " << s.state << " " << s.from << " s .. " << s.to << " s\n";
    }
  }
  // The outage is seen by both, and api's breaker never opens.
  const bool ok = hair_trigger.peers.at("db").trips >= 1 && patient.peers.at("db").trips >= 1 &&
                  hair_trigger.peers.at("api").trips == 0 && patient.peers.at("api").trips == 0;
  return ok ? 0 : 1;
}
