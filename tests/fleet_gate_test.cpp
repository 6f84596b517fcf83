// The core's hooks for fleet integrations (detail/fleet_gate.hpp,
// detail/peer_watcher.hpp): probes only with the fleet's reservations, the
// fleet closing a half_open breaker, adopted changes, and a set's peers
// followed as they come and go.

#include "catch.hpp"

#include <atomic>
#include <chrono>
#include <latch>
#include <string>
#include <thread>
#include <vector>

#include <circuit/circuit_breaker.hpp>
#include <circuit/circuit_breaker_set.hpp>
#include <circuit/consecutive_failures.hpp>
#include <circuit/detail/fleet_gate.hpp>
#include <circuit/detail/peer_watcher.hpp>
#include <circuit/options.hpp>
#include <circuit/manual_clock.hpp>

using namespace std::chrono_literals;
using circuit::outcome;
using circuit::state;
using fleet_access = circuit::detail::breaker_access;

namespace {

using breaker = circuit::circuit_breaker<circuit::manual_clock, circuit::consecutive_failures>;

// A fleet that hands out `reservations` probes and records what it hears.
struct counting_gate final : circuit::detail::fleet_gate {
  int reservations = 0;
  int asked = 0;
  std::vector<outcome> settled;

  bool take_probe() noexcept override {
    ++asked;
    if (reservations == 0) return false;
    --reservations;
    return true;
  }
  void probe_settled(outcome o) noexcept override { settled.push_back(o); }
};

struct half_open_breaker {
  circuit::manual_clock clock;
  breaker b{{.threshold = 1}, {.open_for = circuit::fixed{10s}, .half_open_max_calls = 2}, clock};
  counting_gate gate;

  half_open_breaker() {
    fleet_access::attach_fleet(b, &gate);
    b.trip();
    clock.advance(10s);
    REQUIRE(b.current_state() == state::half_open);
  }
  ~half_open_breaker() { fleet_access::attach_fleet(b, nullptr); }
};

}  // namespace

TEST_CASE("a breaker shared with a fleet probes only with the fleet's reservations", "[fleet]") {
  half_open_breaker h;
  CHECK_FALSE(h.b.try_guard());  // none yet: refused, and the fleet was asked
  CHECK(h.gate.asked == 1);
  CHECK(h.b.current_state() == state::half_open);

  h.gate.reservations = 1;
  auto probe = h.b.try_guard();
  REQUIRE(probe);
  CHECK_FALSE(h.b.try_guard());  // the one reservation is in use
  probe.success();
  // The fleet closes it, not the local probe success: the slot is back.
  CHECK(h.b.current_state() == state::half_open);
  CHECK(h.gate.settled == std::vector<outcome>{outcome::success});
  CHECK(h.b.metrics().total.successes == 1);
}

TEST_CASE("a shared breaker's probe failure re-opens it at once and the fleet hears it", "[fleet]") {
  half_open_breaker h;
  h.gate.reservations = 2;
  auto failing = h.b.try_guard();
  auto ignored = h.b.try_guard();
  REQUIRE(failing);
  REQUIRE(ignored);
  ignored.ignore();
  failing.failure();
  CHECK(h.b.current_state() == state::open);
  CHECK(h.gate.settled == std::vector<outcome>{outcome::ignored, outcome::failure});
}

TEST_CASE("a probe of a spell that ended meanwhile is reported to the fleet as ignored", "[fleet]") {
  half_open_breaker h;
  h.gate.reservations = 1;
  auto probe = h.b.try_guard();
  REQUIRE(probe);
  h.b.reset();
  probe.failure();  // stale: moves nothing
  CHECK(h.b.current_state() == state::closed);
  CHECK(h.gate.settled == std::vector<outcome>{outcome::ignored});
}

TEST_CASE("a reservation whose local slot is gone is given back unused", "[fleet]") {
  circuit::manual_clock clock;
  breaker b{{.threshold = 1}, {.open_for = circuit::fixed{10s}, .probe_timeout = 1s}, clock};
  counting_gate gate;
  fleet_access::attach_fleet(b, &gate);
  b.trip();
  clock.advance(10s);
  gate.reservations = 2;
  auto probe = b.try_guard();  // the one local slot (half_open_max_calls = 1)
  REQUIRE(probe);
  CHECK_FALSE(b.try_guard());  // refused locally: half_open_max_calls is still the local bound
  CHECK(gate.reservations == 1);
  probe.success();
  CHECK(gate.settled == std::vector<outcome>{outcome::success});
  fleet_access::attach_fleet(b, nullptr);
}

TEST_CASE("without a gate, probes and closing are the breaker's own again", "[fleet]") {
  half_open_breaker h;
  fleet_access::attach_fleet(h.b, nullptr);
  auto probe = h.b.try_guard();
  REQUIRE(probe);
  probe.success();
  CHECK(h.b.current_state() == state::closed);
  CHECK(h.gate.asked == 0);
}

TEST_CASE("an adopted open spell sets the deadline and keeps the backoff in step", "[fleet]") {
  circuit::manual_clock clock;
  breaker b{{.threshold = 1}, {.open_for = circuit::exponential{.initial = 1s, .multiplier = 2.0, .max = 60s}}, clock};
  CHECK(fleet_access::adopt_fleet_state(b, state::open, 7s, false));
  CHECK(*b.metrics().open_until == clock.now() + 7s);
  CHECK(fleet_access::now_ns(b) == std::chrono::nanoseconds(clock.now().time_since_epoch()).count());
  clock.advance(7s);
  REQUIRE(b.current_state() == state::half_open);
  // Another process's probe failed: the fleet grew its backoff; so does this one.
  CHECK(fleet_access::adopt_fleet_state(b, state::open, 2s, true));
  clock.advance(2s);
  REQUIRE(b.current_state() == state::half_open);
  b.try_guard().failure();  // a local probe failure: the next step after the adopted one
  CHECK(*b.metrics().open_until == clock.now() + 4s);
  CHECK(fleet_access::adopt_fleet_state(b, state::closed));
  CHECK(b.current_state() == state::closed);
  CHECK_FALSE(fleet_access::adopt_fleet_state(b, state::closed));
}

namespace {

struct recording_watcher final : circuit::detail::peer_watcher<circuit::circuit_breaker<>> {
  std::vector<std::string> added_names, removed_names;
  void added(circuit::circuit_breaker<>& b) noexcept override { added_names.emplace_back(b.name()); }
  void removing(circuit::circuit_breaker<>& b) noexcept override { removed_names.emplace_back(b.name()); }
};

}  // namespace

TEST_CASE("a peer watcher hears of the peers there, the new ones and the ones that go", "[fleet]") {
  using names = std::vector<std::string>;
  recording_watcher w;
  {
    circuit::circuit_breaker_set<> peers;
    peers.call("a", [] {});
    circuit::detail::set_access::watch(peers, &w);
    CHECK(w.added_names == names{"a"});
    recording_watcher second;
    CHECK_THROWS_AS(circuit::detail::set_access::watch(peers, &second), std::logic_error);
    peers.call("b", [] {});
    CHECK(w.added_names == names{"a", "b"});
    CHECK(peers.erase("a"));
    CHECK(w.removed_names == names{"a"});
    peers.call("c", [] {});
    CHECK(peers.evict_idle(std::chrono::nanoseconds::min()) == 2);
    CHECK(w.removed_names.size() == 3);
    peers.call("d", [] {});
  }
  CHECK(w.removed_names.size() == 4);  // the set's destructor too
  CHECK(w.removed_names.back() == "d");

  recording_watcher late;
  circuit::circuit_breaker_set<> peers;
  circuit::detail::set_access::watch(peers, &late);
  circuit::detail::set_access::unwatch(peers, &late);
  peers.call("x", [] {});
  CHECK(late.added_names.empty());
}

namespace {

// A gate whose take_probe() waits until the test lets it go.
struct blocking_gate final : circuit::detail::fleet_gate {
  std::latch inside{1}, release{1};
  bool take_probe() noexcept override {
    inside.count_down();
    release.wait();
    return false;
  }
  void probe_settled(outcome) noexcept override {}
};

}  // namespace

TEST_CASE("detaching a fleet gate waits for the thread inside it", "[fleet]") {
  circuit::manual_clock clock;
  breaker b{{.threshold = 1}, {.open_for = circuit::fixed{10s}}, clock};
  blocking_gate gate;
  fleet_access::attach_fleet(b, &gate);
  b.trip();
  clock.advance(10s);
  std::thread caller([&] { CHECK_FALSE(b.try_guard()); });
  gate.inside.wait();
  std::atomic<bool> detached{false};
  std::thread detacher([&] {
    fleet_access::attach_fleet(b, nullptr);
    detached = true;
  });
  for (int i = 0; i < 100 && !detached; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  CHECK_FALSE(detached);  // the caller is still inside take_probe()
  gate.release.count_down();
  caller.join();
  detacher.join();
  CHECK(detached);
}

TEST_CASE("an adopted change can carry this process's own cause", "[fleet]") {
  half_open_breaker h;
  std::vector<circuit::transition_cause> causes;
  auto sub = h.b.on_event([&](const circuit::event& e) { causes.push_back(*e.cause); },
                          circuit::event_filter::state_changes);
  CHECK(fleet_access::adopt_fleet_state(h.b, state::closed, {}, false, circuit::transition_cause::probes_succeeded));
  CHECK(causes == std::vector<circuit::transition_cause>{circuit::transition_cause::probes_succeeded});
}
