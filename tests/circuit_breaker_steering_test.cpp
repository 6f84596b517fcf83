// The second-round state machine: the disabled state, probe_timeout,
// time_calls, slow-call counts, transition counts and the failure behind an
// open circuit (open_circuit_error::last_failure).

#include "catch.hpp"

#include <chrono>
#include <cstdint>
#include <exception>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include <circuit/circuit_breaker.hpp>
#include <circuit/consecutive_failures.hpp>
#include <circuit/detect_results.hpp>
#include <circuit/event.hpp>
#include <circuit/manual_clock.hpp>
#include <circuit/open_circuit_error.hpp>
#include <circuit/options.hpp>
#include <circuit/state.hpp>

using namespace std::chrono_literals;
using circuit::event_kind;
using circuit::state;
using circuit::transition_cause;

namespace {

using breaker = circuit::circuit_breaker<circuit::manual_clock, circuit::consecutive_failures>;

void fail(breaker& b, int n) {
  for (int i = 0; i < n; ++i) b.try_guard().failure();
}

struct change {
  state from, to;
  transition_cause cause;
  friend bool operator==(const change&, const change&) = default;
};

std::vector<change> changes_of(const std::vector<circuit::event>& events) {
  std::vector<change> out;
  for (const auto& e : events) {
    if (e.kind == event_kind::state_change) out.push_back({e.from, e.to, *e.cause});
  }
  return out;
}

// Keeps copies of the events (their name view is the breaker's, which lives on).
struct event_log {
  std::vector<circuit::event> events;
  void operator()(const circuit::event& e) { events.push_back(e); }
};

std::string what_of(const std::exception_ptr& e) {
  try {
    std::rethrow_exception(e);
  } catch (const std::exception& x) {
    return x.what();
  }
}

// A clock whose duration is narrower than nanoseconds: 32-bit milliseconds.
struct ms32_clock {
  using rep = std::int32_t;
  using period = std::milli;
  using duration = std::chrono::duration<rep, period>;
  using time_point = std::chrono::time_point<ms32_clock>;
  time_point now() const noexcept { return time_point(duration(0)); }
};

}  // namespace

// ---- disabled -----------------------------------------------------------------

TEST_CASE("a disabled breaker lets every call through, counts it, and no failure moves it", "[disabled]") {
  circuit::manual_clock clock;
  breaker b({.threshold = 1}, {.half_open_max_calls = 1}, clock);
  event_log log;
  auto sub = b.on_event([&](const circuit::event& e) { log(e); });
  b.disable();
  REQUIRE(b.current_state() == state::disabled);
  fail(b, 10);
  auto a = b.try_guard();
  auto c = b.try_guard();  // no probe limit either
  CHECK(a);
  CHECK(c);
  a.success();
  c.ignore();
  const auto m = b.metrics();
  CHECK(m.state == state::disabled);
  CHECK(m.total.failures == 10);
  CHECK(m.total.successes == 1);
  CHECK(m.total.ignored == 1);
  CHECK(m.window.failures == 0);  // fed to no counter
  std::size_t outcomes = 0;
  for (const auto& e : log.events) outcomes += e.kind != event_kind::state_change ? 1 : 0;
  CHECK(outcomes == 12);  // one outcome event per admitted call
  CHECK(changes_of(log.events) == std::vector<change>{{state::closed, state::disabled, transition_cause::disabled}});
}

TEST_CASE("trip, isolate and reset end the disabled state; disable ends isolation", "[disabled]") {
  circuit::manual_clock clock;
  breaker b({.threshold = 1}, {}, clock);
  event_log log;
  auto sub = b.on_event([&](const circuit::event& e) { log(e); }, circuit::event_filter::state_changes);
  b.disable();
  b.disable();  // already disabled: nothing
  b.trip();
  b.disable();
  b.isolate();
  b.disable();  // from isolated too
  b.reset();
  const std::vector<change> expected{
      {state::closed, state::disabled, transition_cause::disabled},
      {state::disabled, state::open, transition_cause::tripped},
      {state::open, state::disabled, transition_cause::disabled},
      {state::disabled, state::isolated, transition_cause::isolated},
      {state::isolated, state::disabled, transition_cause::disabled},
      {state::disabled, state::closed, transition_cause::reset},
  };
  CHECK(changes_of(log.events) == expected);
  CHECK(b.current_state() == state::closed);
}

TEST_CASE("a success admitted while disabled and settled after a reset is stale", "[disabled]") {
  circuit::manual_clock clock;
  breaker b({.threshold = 1}, {}, clock);
  b.disable();
  auto g = b.try_guard();
  b.reset();
  g.success();
  CHECK(b.metrics().stale_outcomes == 1);
  CHECK(b.metrics().total.successes == 1);
}

// ---- probe_timeout --------------------------------------------------------------

TEST_CASE("a probe outstanding for probe_timeout re-opens the circuit at the next admission attempt",
          "[probe_timeout]") {
  circuit::manual_clock clock;
  breaker b({.threshold = 1},
            {.open_for = circuit::exponential{.initial = 10s, .multiplier = 2, .max = 1min},
             .probe_timeout = 5s},
            clock);
  event_log log;
  auto sub = b.on_event([&](const circuit::event& e) { log(e); });
  fail(b, 1);
  clock.advance(10s);
  auto probe = b.try_guard();
  REQUIRE(probe);
  clock.advance(5s - 1ns);
  CHECK_FALSE(b.try_guard());  // slot held, not yet timed out
  CHECK(b.metrics().state == state::half_open);
  clock.advance(1ns);
  CHECK_FALSE(b.try_guard());  // times the probe out, then refuses: open again
  CHECK(b.metrics().state == state::open);
  const auto m = b.metrics();
  REQUIRE(m.open_until);
  CHECK(*m.open_until == circuit::manual_clock::time_point(10s + 5s + 20s));  // the backoff grew, as for a failed probe
  const auto last = changes_of(log.events).back();
  CHECK(last == change{state::half_open, state::open, transition_cause::probe_timed_out});

  // The probe's own outcome, late, is stale: counted, one event, moves nothing.
  const auto before = log.events.size();
  probe.success();
  CHECK(b.metrics().state == state::open);
  CHECK(b.metrics().stale_outcomes == 1);
  REQUIRE(log.events.size() == before + 1);
  CHECK(log.events.back().kind == event_kind::success);
  CHECK(log.events.back().generation < b.metrics().generation);
}

TEST_CASE("a state query times a probe out too, and a settled probe stops the clock on it", "[probe_timeout]") {
  circuit::manual_clock clock;
  breaker b({.threshold = 1}, {.open_for = circuit::fixed{10s}, .half_open_max_calls = 2, .success_threshold = 3,
                               .probe_timeout = 5s},
            clock);
  fail(b, 1);
  clock.advance(10s);
  auto first = b.try_guard();
  clock.advance(3s);
  auto second = b.try_guard();
  first.success();  // the oldest leaves; the deadline is now second's
  clock.advance(4s);  // first would have timed out by now
  CHECK(b.current_state() == state::half_open);
  clock.advance(1s);  // second's 5 s
  CHECK(b.current_state() == state::open);
  second.failure();  // late: stale
  CHECK(b.metrics().stale_outcomes == 1);
}

TEST_CASE("without probe_timeout a lost probe keeps half_open waiting", "[probe_timeout]") {
  circuit::manual_clock clock;
  breaker b({.threshold = 1}, {.open_for = circuit::fixed{10s}}, clock);
  fail(b, 1);
  clock.advance(10s);
  auto probe = b.try_guard();
  clock.advance(24h);
  CHECK(b.current_state() == state::half_open);
  CHECK_FALSE(b.try_guard());
  probe.ignore();
}

TEST_CASE("an ignored probe gives its slot back and its deadline with it", "[probe_timeout]") {
  circuit::manual_clock clock;
  breaker b({.threshold = 1}, {.open_for = circuit::fixed{10s}, .probe_timeout = 5s}, clock);
  fail(b, 1);
  clock.advance(10s);
  b.try_guard().ignore();
  clock.advance(1h);
  CHECK(b.current_state() == state::half_open);
  auto probe = b.try_guard();
  REQUIRE(probe);
  probe.success();
  CHECK(b.current_state() == state::closed);
}

// ---- timing and slow calls ---------------------------------------------------------

TEST_CASE("time_calls fills event::elapsed for every outcome; untimed calls carry none", "[time_calls]") {
  circuit::manual_clock clock;
  breaker timed({.threshold = 5}, {.time_calls = true}, clock);
  breaker untimed({.threshold = 5}, {}, clock);
  event_log a, u;
  auto sa = timed.on_event([&](const circuit::event& e) { a(e); });
  auto su = untimed.on_event([&](const circuit::event& e) { u(e); });
  for (auto* b : {&timed, &untimed}) {
    auto ok = b->try_guard();
    auto bad = b->try_guard();
    clock.advance(30ms);
    ok.success();
    clock.advance(20ms);
    bad.failure();
  }
  REQUIRE(a.events.size() == 2);
  CHECK(a.events[0].elapsed == std::chrono::nanoseconds(30ms));
  CHECK(a.events[1].elapsed == std::chrono::nanoseconds(50ms));
  CHECK(a.events[0].time.has_value());
  REQUIRE(u.events.size() == 2);
  CHECK_FALSE(u.events[0].elapsed);
  CHECK_FALSE(u.events[1].elapsed);
  CHECK(u.events[1].time.has_value());  // a failure reads the clock anyway
}

TEST_CASE("a slow success counts as a failure and in total.slow, probes included", "[slow_call]") {
  circuit::manual_clock clock;
  breaker b({.threshold = 2}, {.open_for = circuit::fixed{10s}, .slow_call = 100ms}, clock);
  event_log log;
  auto sub = b.on_event([&](const circuit::event& e) { log(e); }, {event_kind::failure});
  {
    auto g = b.try_guard();
    clock.advance(101ms);
    g.success();
  }
  {
    auto g = b.try_guard();
    clock.advance(100ms);
    g.success();  // exactly slow_call: not slow
  }
  b.trip();
  clock.advance(10s);
  {
    auto probe = b.try_guard();
    clock.advance(1s);
    probe.success();  // slow probe: re-opens
  }
  const auto m = b.metrics();
  CHECK(m.state == state::open);
  CHECK(m.total.slow == 2);
  CHECK(m.total.failures == 2);
  CHECK(m.total.successes == 1);
  REQUIRE(log.events.size() == 2);
  CHECK(log.events[0].elapsed == std::chrono::nanoseconds(101ms));
  CHECK_FALSE(log.events[0].error);
  CHECK_FALSE(log.events[0].from_result);
}

// ---- transition counts -------------------------------------------------------------

TEST_CASE("metrics().transitions counts every state change by (from, to)", "[metrics]") {
  circuit::manual_clock clock;
  breaker b({.threshold = 1}, {.open_for = circuit::fixed{1s}}, clock);
  fail(b, 1);            // closed -> open
  clock.advance(1s);
  b.try_guard().failure();  // open -> half_open -> open
  clock.advance(1s);
  b.try_guard().success();  // open -> half_open -> closed
  b.reset();             // closed -> closed
  b.disable();           // closed -> disabled
  const auto t = b.metrics().transitions;
  CHECK(t(state::closed, state::open) == 1);
  CHECK(t(state::open, state::half_open) == 2);
  CHECK(t(state::half_open, state::open) == 1);
  CHECK(t(state::half_open, state::closed) == 1);
  CHECK(t(state::closed, state::closed) == 1);
  CHECK(t(state::closed, state::disabled) == 1);
  CHECK(t.total() == 7);
  CHECK(b.metrics().generation == 7);
}

// ---- the failure behind an open circuit ---------------------------------------------

TEST_CASE("open_circuit_error::last_failure is the exception that opened the circuit", "[last_failure]") {
  circuit::manual_clock clock;
  breaker b({.threshold = 2}, {.open_for = circuit::fixed{10s}, .half_open_max_calls = 1}, clock);
  auto boom = [](const char* what) { return [what]() -> int { throw std::runtime_error(what); }; };
  CHECK_THROWS(b.call(boom("first")));
  CHECK_THROWS(b.call(boom("connection refused")));
  try {
    b.call([] { return 1; });
    FAIL("admitted");
  } catch (const circuit::open_circuit_error& e) {
    REQUIRE(e.last_failure());
    CHECK(what_of(e.last_failure()) == "connection refused");
  }
  SECTION("kept for refusals in half_open, replaced by a failed probe") {
    clock.advance(10s);
    auto probe = b.try_guard();
    REQUIRE(probe);
    const auto r = b.try_call([] { return 1; });
    REQUIRE(r.refused());
    CHECK(r.refused_in() == state::half_open);
    CHECK(what_of(r.last_failure()) == "connection refused");
    probe.failure(std::make_exception_ptr(std::runtime_error("still down")));
    const auto again = b.try_call([] { return 1; });
    CHECK(what_of(again.last_failure()) == "still down");
  }
  SECTION("empty once trip() opened it") {
    b.reset();
    b.trip();
    const auto r = b.try_call([] { return 1; });
    REQUIRE(r.refused());
    CHECK_FALSE(r.last_failure());
  }
  SECTION("empty for a failure without an exception, and after a probe timed out") {
    b.reset();
    b.try_guard().failure();
    b.try_guard().failure();
    CHECK_FALSE(b.try_call([] { return 1; }).last_failure());
  }
}

TEST_CASE("an open try_call refusal carries the failure, the time left and a long name, and trip() drops the failure",
          "[last_failure]") {
  circuit::manual_clock clock;
  breaker b({.threshold = 1}, {.name = "a-name-longer-than-fifteen-bytes", .open_for = circuit::fixed{10s}}, clock);
  CHECK_THROWS(b.call([]() -> int { throw std::runtime_error("connection refused"); }));
  clock.advance(3s);
  const auto r = b.try_call([] { return 1; });
  REQUIRE(r.refused());
  CHECK(r.retry_after() == std::optional<std::chrono::nanoseconds>(7s));
  CHECK(what_of(r.last_failure()) == "connection refused");
  try {
    (void)r.value();
    FAIL("no open_circuit_error");
  } catch (const circuit::open_circuit_error& e) {
    CHECK(e.name() == "a-name-longer-than-fifteen-bytes");
    CHECK(what_of(e.last_failure()) == "connection refused");
  }
  b.trip();  // already open: restarts the open duration, and it is the operator's now
  const auto after = b.try_call([] { return 1; });
  REQUIRE(after.refused());
  CHECK(after.retry_after() == std::optional<std::chrono::nanoseconds>(10s));
  CHECK_FALSE(after.last_failure());
  CHECK(b.metrics().total.rejections == 2);
}

TEST_CASE("a result-based trip leaves last_failure empty and marks its failures from_result", "[last_failure]") {
  circuit::manual_clock clock;
  const auto is_5xx = circuit::detect_results([](int status) { return status >= 500; });
  circuit::circuit_breaker<circuit::manual_clock, circuit::consecutive_failures, decltype(is_5xx)> b(
      {.threshold = 1}, {}, clock, is_5xx);
  event_log log;
  auto sub = b.on_event([&](const circuit::event& e) { log(e); }, {event_kind::failure});
  CHECK(b.call([] { return 503; }) == 503);
  REQUIRE(log.events.size() == 1);
  CHECK(log.events[0].from_result);
  CHECK_FALSE(log.events[0].error);
  const auto r = b.try_call([] { return 200; });
  REQUIRE(r.refused());
  CHECK_FALSE(r.last_failure());
}

// ---- durations against the clock ------------------------------------------------------

TEST_CASE("durations too long for the clock are rejected as too long, not as non-positive", "[options]") {
  using namespace std::chrono;
  CHECK_THROWS_WITH(circuit::fixed{hours(24 * 365 * 1000)},
                    "fixed.duration is too long: at most about 292 years fit in nanoseconds");
  // Up to 100 years is valid with the standard clocks.
  const auto century = hours(24 * 365 * 100);
  CHECK_NOTHROW(circuit::circuit_breaker<steady_clock>({}, {.open_for = circuit::fixed{century}}));
  CHECK_NOTHROW(circuit::circuit_breaker<system_clock>({}, {.open_for = circuit::fixed{century}}));
  CHECK_NOTHROW(circuit::circuit_breaker<system_clock>({}, {.probe_timeout = century}));
  CHECK_THROWS_WITH(circuit::circuit_breaker<ms32_clock>({}, {.open_for = circuit::fixed{hours(24 * 30)}}),
                    "fixed.duration is too long for the breaker's clock (its time points would overflow)");
  CHECK_THROWS_WITH(circuit::circuit_breaker<ms32_clock>({}, {.slow_call = hours(24 * 30)}),
                    "options.slow_call is too long for the breaker's clock (its time points would overflow)");
  CHECK_THROWS_WITH(
      circuit::circuit_breaker<ms32_clock>({.max_failures = 3, .window = hours(24 * 30)}),
      "counter.window is too long for the breaker's clock (its time points would overflow)");
  CHECK_NOTHROW(circuit::circuit_breaker<ms32_clock>({}, {.open_for = circuit::fixed{hours(24 * 20)}}));
  CHECK_THROWS_WITH(breaker({}, {.probe_timeout = 0s}, circuit::manual_clock()),
                    "options.probe_timeout must be a positive duration");
}

// ---- printing -------------------------------------------------------------------------

TEST_CASE("states, event kinds and transition causes print as their names", "[printing]") {
  std::ostringstream out;
  out << state::half_open << ' ' << state::disabled << ' ' << event_kind::ignored << ' '
      << transition_cause::probe_timed_out << ' ' << transition_cause::fleet;
  CHECK(out.str() == "half_open disabled ignored probe_timed_out fleet");
  CHECK(circuit::to_string(transition_cause::counter_tripped) == "counter_tripped");
}

// ---- permits that outlive their breaker --------------------------------------------------

#if !defined(NDEBUG)
#include <csignal>
#include <sys/wait.h>
#include <unistd.h>

TEST_CASE("in a debug build, destroying a breaker with a live permit aborts with a message", "[debug]") {
  const pid_t child = fork();
  REQUIRE(child >= 0);
  if (child == 0) {
    std::signal(SIGABRT, SIG_DFL);  // not the test runner's handler: die of it
    auto* b = new circuit::circuit_breaker<circuit::manual_clock>({}, {.name = "leaky"}, circuit::manual_clock());
    static auto g = b->try_guard();  // outlives the breaker
    delete b;
    _exit(0);  // not reached
  }
  int status = 0;
  REQUIRE(waitpid(child, &status, 0) == child);
  CHECK(WIFSIGNALED(status));
  CHECK(WTERMSIG(status) == SIGABRT);
}
#endif

// ---- The transition table (circuit_breaker.hpp, "Transitions"): one case per row ----

namespace {

// A breaker in `from`, made with a probe timeout, one probe slot, a
// one-failure trip and a fixed 10 s open spell, and the events it announces.
struct table_row {
  circuit::manual_clock clock;
  breaker b{{.threshold = 1}, {.open_for = circuit::fixed{10s}, .probe_timeout = 1s}, clock};
  event_log log;
  circuit::subscription sub = b.on_event([this](const circuit::event& e) { log(e); }, circuit::event_filter::state_changes);
  std::optional<breaker::guard_type> probe;

  explicit table_row(state from) {
    switch (from) {
      case state::closed: break;
      case state::open: b.trip(); break;
      case state::half_open:
        b.trip();
        clock.advance(10s);
        probe = b.try_guard();
        REQUIRE(*probe);
        break;
      case state::isolated: b.isolate(); break;
      case state::disabled: b.disable(); break;
    }
    REQUIRE(b.current_state() == from);
    log.events.clear();
  }

  change last() const {
    REQUIRE_FALSE(log.events.empty());
    return changes_of(log.events).back();
  }
};

}  // namespace

TEST_CASE("transition: closed -> open, counter_tripped, by a failure the counter trips on", "[transitions]") {
  table_row r(state::closed);
  r.b.try_guard().failure();
  CHECK(r.last() == change{state::closed, state::open, transition_cause::counter_tripped});
}

TEST_CASE("transition: half_open -> open, probe_failed, by a failed probe", "[transitions]") {
  table_row r(state::half_open);
  r.probe->failure();
  CHECK(r.last() == change{state::half_open, state::open, transition_cause::probe_failed});
}

TEST_CASE("transition: half_open -> open, probe_timed_out, by a probe out for probe_timeout", "[transitions]") {
  table_row r(state::half_open);
  r.clock.advance(1s);
  CHECK(r.b.current_state() == state::open);
  CHECK(r.last() == change{state::half_open, state::open, transition_cause::probe_timed_out});
  r.probe->ignore();
}

TEST_CASE("transition: half_open -> closed, probes_succeeded, by enough probe successes", "[transitions]") {
  table_row r(state::half_open);
  r.probe->success();
  CHECK(r.last() == change{state::half_open, state::closed, transition_cause::probes_succeeded});
}

TEST_CASE("transition: open -> half_open, open_elapsed, once open_until has passed", "[transitions]") {
  table_row r(state::open);
  r.clock.advance(10s);
  CHECK(r.b.current_state() == state::half_open);
  CHECK(r.last() == change{state::open, state::half_open, transition_cause::open_elapsed});
}

TEST_CASE("transition: to open, tripped, by trip() from closed, half_open and disabled", "[transitions]") {
  for (const auto from : {state::closed, state::half_open, state::disabled}) {
    table_row r(from);
    r.b.trip();
    CHECK(r.last() == change{from, state::open, transition_cause::tripped});
    if (r.probe) r.probe->ignore();
  }
  table_row open(state::open);  // while open: the deadline moves, nothing is announced
  open.clock.advance(5s);
  open.b.trip();
  CHECK(open.log.events.empty());
  CHECK(*open.b.metrics().open_until == circuit::manual_clock::time_point(15s));
  table_row isolated(state::isolated);  // trip() does not end isolation
  isolated.b.trip();
  CHECK(isolated.log.events.empty());
}

TEST_CASE("transition: to isolated, isolated, by isolate() from every other state", "[transitions]") {
  for (const auto from : {state::closed, state::open, state::half_open, state::disabled}) {
    table_row r(from);
    r.b.isolate();
    CHECK(r.last() == change{from, state::isolated, transition_cause::isolated});
    if (r.probe) r.probe->ignore();
  }
}

TEST_CASE("transition: to disabled, disabled, by disable() from every other state", "[transitions]") {
  for (const auto from : {state::closed, state::open, state::half_open, state::isolated}) {
    table_row r(from);
    r.b.disable();
    CHECK(r.last() == change{from, state::disabled, transition_cause::disabled});
    if (r.probe) r.probe->ignore();
  }
}

TEST_CASE("transition: to closed, reset, by reset() from every state, closed included", "[transitions]") {
  for (const auto from : circuit::all_states) {
    table_row r(from);
    r.b.reset();
    CHECK(r.last() == change{from, state::closed, transition_cause::reset});
    if (r.probe) r.probe->ignore();
  }
}

TEST_CASE("transition: any -> any other, fleet, by adopt_fleet_state() (a fleet integration)", "[transitions]") {
  for (const auto from : circuit::all_states) {
    for (const auto to : circuit::all_states) {
      if (to == from) continue;
      table_row r(from);
      CHECK(circuit::detail::breaker_access::adopt_fleet_state(r.b, to, 3s));
      CHECK(r.last() == change{from, to, transition_cause::fleet});
      CHECK(r.b.current_state() == to);
      if (to == state::open) CHECK(*r.b.metrics().open_until == r.clock.now() + 3s);
      if (r.probe) r.probe->ignore();
    }
  }
  table_row open(state::open);  // already open: the deadline moves, nothing is announced
  CHECK_FALSE(circuit::detail::breaker_access::adopt_fleet_state(open.b, state::open, 30s));
  CHECK(open.log.events.empty());
  CHECK(*open.b.metrics().open_until == open.clock.now() + 30s);
}
