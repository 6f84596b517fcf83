// Tests of circuit/options.hpp: every invalid setting is refused with a
// message naming its field, and the exponential open duration grows, caps,
// restarts and jitters as documented.

#include <chrono>
#include <cmath>
#include <functional>
#include <limits>
#include <stdexcept>
#include <string>
#include <vector>

#include <circuit/circuit_breaker.hpp>
#include <circuit/consecutive_failures.hpp>
#include <circuit/failure_rate_window.hpp>
#include <circuit/manual_clock.hpp>
#include <circuit/net_failures.hpp>
#include <circuit/options.hpp>
#include <circuit/sliding_window.hpp>

#include "catch.hpp"

using namespace std::chrono_literals;

namespace {

using ns = std::chrono::nanoseconds;
constexpr double not_a_number = std::numeric_limits<double>::quiet_NaN();
constexpr double infinity = std::numeric_limits<double>::infinity();

// The message of the std::invalid_argument `fn` throws, or a note saying it
// threw nothing (or something else).
std::string refusal(const std::function<void()>& fn) {
  try {
    fn();
  } catch (const std::invalid_argument& e) {
    return e.what();
  } catch (...) {
    return "<threw something other than std::invalid_argument>";
  }
  return "<no exception>";
}

bool starts_with(const std::string& s, const std::string& prefix) { return s.rfind(prefix, 0) == 0; }

struct invalid_case {
  std::string label;
  std::function<void()> via_validate;
  std::function<void()> via_constructor;
  std::string field;  // what the message starts with
};

invalid_case options_case(std::string label, circuit::options o, std::string field) {
  return {std::move(label), [o] { circuit::validate(o); },
          [o] { circuit::circuit_breaker<circuit::manual_clock> b({}, o, circuit::manual_clock{}); }, std::move(field)};
}

circuit::options with_open_for(circuit::open_duration d) {
  circuit::options o;
  o.open_for = d;
  return o;
}

template <class Counter>
invalid_case counter_case(std::string label, Counter c, std::string field) {
  return {std::move(label), [c] { c.validate(); },
          [c] { circuit::circuit_breaker<circuit::manual_clock, Counter> b(c, {}, circuit::manual_clock{}); },
          std::move(field)};
}

// The length of the open spell `b` is in, read as open_until - now (only
// right after it opened is that the whole spell).
template <class Breaker>
ns open_spell(Breaker& b, const circuit::manual_clock& clock) {
  REQUIRE(b.current_state() == circuit::state::open);
  const auto m = b.metrics();
  REQUIRE(m.open_until.has_value());
  return *m.open_until - clock.now();
}

using backoff_breaker = circuit::circuit_breaker<circuit::manual_clock, circuit::consecutive_failures>;

void fail(backoff_breaker& b) {
  auto g = b.try_guard();
  REQUIRE(g);
  g.failure();
}

void succeed(backoff_breaker& b) {
  auto g = b.try_guard();
  REQUIRE(g);
  g.success();
}

// Waits out the open spell and fails the probe; returns the next spell.
ns refail_probe(backoff_breaker& b, circuit::manual_clock& clock) {
  clock.advance(open_spell(b, clock));
  REQUIRE(b.current_state() == circuit::state::half_open);
  fail(b);
  return open_spell(b, clock);
}

}  // namespace

TEST_CASE("every invalid setting is refused with a message naming its field", "[options]") {
  const std::vector<invalid_case> cases = {
      options_case("fixed duration of zero", with_open_for(circuit::fixed{0s}), "fixed.duration"),
      options_case("negative fixed duration", with_open_for(circuit::fixed{-1s}), "fixed.duration"),
      options_case("exponential initial of zero", with_open_for(circuit::exponential{.initial = 0s}),
                   "exponential.initial"),
      options_case("negative exponential initial", with_open_for(circuit::exponential{.initial = -1ns}),
                   "exponential.initial"),
      options_case("exponential max of zero", with_open_for(circuit::exponential{.initial = 1s, .max = 0s}),
                   "exponential.max"),
      options_case("negative exponential max", with_open_for(circuit::exponential{.initial = 1s, .max = -5s}),
                   "exponential.max"),
      options_case("exponential max below initial",
                   with_open_for(circuit::exponential{.initial = 10s, .max = 10s - 1ns}), "exponential.max"),
      options_case("multiplier below one", with_open_for(circuit::exponential{.multiplier = 0.999}),
                   "exponential.multiplier"),
      options_case("negative multiplier", with_open_for(circuit::exponential{.multiplier = -2.0}),
                   "exponential.multiplier"),
      options_case("infinite multiplier", with_open_for(circuit::exponential{.multiplier = infinity}),
                   "exponential.multiplier"),
      options_case("NaN multiplier", with_open_for(circuit::exponential{.multiplier = not_a_number}),
                   "exponential.multiplier"),
      options_case("negative jitter", with_open_for(circuit::exponential{.jitter = -0.01}), "exponential.jitter"),
      options_case("jitter above one", with_open_for(circuit::exponential{.jitter = 1.01}), "exponential.jitter"),
      options_case("NaN jitter", with_open_for(circuit::exponential{.jitter = not_a_number}), "exponential.jitter"),
      options_case("slow_call of zero", {.slow_call = 0ns}, "options.slow_call"),
      options_case("negative slow_call", {.slow_call = -1ms}, "options.slow_call"),
      options_case("no half_open probes", {.half_open_max_calls = 0}, "options.half_open_max_calls"),
      options_case("more half_open probes than the state word holds", {.half_open_max_calls = 16777216},
                   "options.half_open_max_calls"),
      options_case("success_threshold of zero", {.success_threshold = 0}, "options.success_threshold"),

      counter_case("sliding window of zero", circuit::sliding_window{.window = 0s}, "sliding_window.window"),
      counter_case("negative sliding window", circuit::sliding_window{.window = -60s}, "sliding_window.window"),
      counter_case("consecutive threshold of zero", circuit::consecutive_failures{.threshold = 0},
                   "consecutive_failures.threshold"),
      counter_case("net threshold of zero", circuit::net_failures{.threshold = 0}, "net_failures.threshold"),
      counter_case("rate window of zero", circuit::failure_rate_window{.window = 0s}, "failure_rate_window.window"),
      counter_case("negative rate window", circuit::failure_rate_window{.window = -10s}, "failure_rate_window.window"),
      counter_case("minimum_calls of zero", circuit::failure_rate_window{.minimum_calls = 0},
                   "failure_rate_window.minimum_calls"),
      counter_case("failure_rate of zero", circuit::failure_rate_window{.failure_rate = 0.0},
                   "failure_rate_window.failure_rate"),
      counter_case("negative failure_rate", circuit::failure_rate_window{.failure_rate = -0.5},
                   "failure_rate_window.failure_rate"),
      counter_case("failure_rate above one", circuit::failure_rate_window{.failure_rate = 1.0000001},
                   "failure_rate_window.failure_rate"),
      counter_case("NaN failure_rate", circuit::failure_rate_window{.failure_rate = not_a_number},
                   "failure_rate_window.failure_rate"),
      counter_case("no buckets", circuit::failure_rate_window{.buckets = 0}, "failure_rate_window.buckets"),
      counter_case("more buckets than the recorder keeps", circuit::failure_rate_window{.buckets = 4097},
                   "failure_rate_window.buckets"),
      counter_case("a window shorter than one nanosecond per bucket",
                   circuit::failure_rate_window{.window = 9ns, .buckets = 10}, "failure_rate_window.window"),
      counter_case("more failures kept than the ring allows",
                   circuit::sliding_window{.max_failures = circuit::sliding_window::max_max_failures + 1},
                   "sliding_window.max_failures"),
  };

  for (const auto& c : cases) {
    CAPTURE(c.label);
    const auto by_validate = refusal(c.via_validate);
    const auto by_constructor = refusal(c.via_constructor);
    CAPTURE(by_validate, by_constructor);
    CHECK(starts_with(by_validate, c.field + " "));
    CHECK(starts_with(by_constructor, c.field + " "));
  }
}

TEST_CASE("the limits of every setting are accepted", "[options]") {
  CHECK_NOTHROW(circuit::validate(circuit::options{}));
  CHECK_NOTHROW(circuit::validate(with_open_for(circuit::fixed{1ns})));
  CHECK_NOTHROW(circuit::validate(
      with_open_for(circuit::exponential{.initial = 1s, .multiplier = 1.0, .max = 1s, .jitter = 0.0})));
  CHECK_NOTHROW(circuit::validate(with_open_for(circuit::exponential{.jitter = 1.0})));
  CHECK_NOTHROW(circuit::validate(circuit::options{.half_open_max_calls = 16777215}));
  CHECK_NOTHROW(circuit::validate(circuit::options{.success_threshold = 1, .slow_call = 1ns}));

  CHECK_NOTHROW(circuit::sliding_window{}.validate());
  CHECK_NOTHROW(circuit::consecutive_failures{}.validate());
  CHECK_NOTHROW(circuit::net_failures{}.validate());
  CHECK_NOTHROW(circuit::failure_rate_window{}.validate());
  CHECK_NOTHROW(circuit::failure_rate_window{.failure_rate = 1.0, .minimum_calls = 1, .buckets = 1}.validate());
  CHECK_NOTHROW(circuit::failure_rate_window{.window = 4096ns, .buckets = 4096}.validate());
  CHECK_NOTHROW(circuit::sliding_window{.max_failures = circuit::sliding_window::max_max_failures}.validate());
  CHECK_NOTHROW(circuit::consecutive_failures{.threshold = 1}.validate());
  CHECK_NOTHROW(circuit::net_failures{.threshold = 1}.validate());
}

TEST_CASE("max_failures of zero is a valid sliding window", "[options]") {
  const circuit::sliding_window first_failure_trips{.max_failures = 0, .window = 60s};
  CHECK_NOTHROW(first_failure_trips.validate());
  CHECK_NOTHROW(circuit::circuit_breaker<circuit::manual_clock>(first_failure_trips, {}, circuit::manual_clock{}));
}

TEST_CASE("an exponential open duration grows on each re-trip from half_open up to max", "[options][backoff]") {
  circuit::manual_clock clock;
  backoff_breaker b(circuit::consecutive_failures{.threshold = 1},
                    {.open_for = circuit::exponential{.initial = 1s, .multiplier = 2.0, .max = 5s}}, clock);
  fail(b);
  CHECK(open_spell(b, clock) == 1s);
  CHECK(refail_probe(b, clock) == 2s);
  CHECK(refail_probe(b, clock) == 4s);
  CHECK(refail_probe(b, clock) == 5s);  // 8 s capped
  CHECK(refail_probe(b, clock) == 5s);
}

TEST_CASE("an exponential open duration returns to initial once the circuit closes", "[options][backoff]") {
  circuit::manual_clock clock;
  backoff_breaker b(circuit::consecutive_failures{.threshold = 1},
                    {.open_for = circuit::exponential{.initial = 100ms, .multiplier = 3.0, .max = 1min}}, clock);
  fail(b);
  CHECK(refail_probe(b, clock) == 300ms);
  CHECK(refail_probe(b, clock) == 900ms);
  clock.advance(900ms);
  REQUIRE(b.current_state() == circuit::state::half_open);
  succeed(b);
  REQUIRE(b.current_state() == circuit::state::closed);
  fail(b);
  CHECK(open_spell(b, clock) == 100ms);
  CHECK(refail_probe(b, clock) == 300ms);
}

TEST_CASE("reset returns an exponential open duration to initial", "[options][backoff]") {
  circuit::manual_clock clock;
  backoff_breaker b(circuit::consecutive_failures{.threshold = 1},
                    {.open_for = circuit::exponential{.initial = 1s, .multiplier = 2.0, .max = 1min}}, clock);
  fail(b);
  CHECK(refail_probe(b, clock) == 2s);
  b.reset();
  fail(b);
  CHECK(open_spell(b, clock) == 1s);
}

TEST_CASE("trip does not grow an exponential open duration", "[options][backoff]") {
  circuit::manual_clock clock;
  backoff_breaker b(circuit::consecutive_failures{.threshold = 1},
                    {.open_for = circuit::exponential{.initial = 1s, .multiplier = 2.0, .max = 1min}}, clock);
  b.trip();
  CHECK(open_spell(b, clock) == 1s);
  clock.advance(500ms);
  b.trip();  // restarts the spell, same length
  CHECK(open_spell(b, clock) == 1s);

  CHECK(refail_probe(b, clock) == 2s);
  clock.advance(2s);
  REQUIRE(b.current_state() == circuit::state::half_open);
  b.trip();  // from half_open, by hand: the current step, not the next
  CHECK(open_spell(b, clock) == 2s);
  b.trip();
  CHECK(open_spell(b, clock) == 2s);
  CHECK(refail_probe(b, clock) == 4s);
}

TEST_CASE("a fixed open duration never grows", "[options][backoff]") {
  circuit::manual_clock clock;
  backoff_breaker b(circuit::consecutive_failures{.threshold = 1}, {.open_for = circuit::fixed{7s}}, clock);
  fail(b);
  CHECK(open_spell(b, clock) == 7s);
  CHECK(refail_probe(b, clock) == 7s);
  CHECK(refail_probe(b, clock) == 7s);
}

TEST_CASE("jitter with a fixed seed gives the same durations, each within [(1 - j) d, d]", "[options][backoff]") {
  const double jitter = GENERATE(0.25, 0.5, 1.0);
  CAPTURE(jitter);
  const auto settings = circuit::options{
      .open_for = circuit::exponential{.initial = 1s, .multiplier = 2.0, .max = 20s, .jitter = jitter, .seed = 42}};
  const std::vector<ns> full = {1s, 2s, 4s, 8s, 16s, 20s, 20s, 20s};

  const auto spells = [&] {
    circuit::manual_clock clock;
    backoff_breaker b(circuit::consecutive_failures{.threshold = 1}, settings, clock);
    fail(b);
    std::vector<ns> out{open_spell(b, clock)};
    while (out.size() < full.size()) out.push_back(refail_probe(b, clock));
    return out;
  };
  const auto first = spells();
  const auto second = spells();
  CHECK(first == second);

  bool any_shortened = false;
  for (std::size_t i = 0; i < full.size(); ++i) {
    CAPTURE(i, first[i].count());
    const auto d = static_cast<double>(full[i].count());
    CHECK(static_cast<double>(first[i].count()) >= std::floor((1.0 - jitter) * d));
    CHECK(first[i] <= full[i]);
    CHECK(first[i] > 0ns);
    any_shortened = any_shortened || first[i] < full[i];
  }
  CHECK(any_shortened);
}
