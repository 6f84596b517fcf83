// prometheus_writer: the exact text, promtool's verdict, no duplicate
// series, values equal to metrics(), and writing while calls go on.

#include "catch.hpp"

#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <map>
#include <set>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <circuit/circuit_breaker.hpp>
#include <circuit/circuit_breaker_set.hpp>
#include <circuit/consecutive_failures.hpp>
#include <circuit/failure_rate_window.hpp>
#include <circuit/prometheus.hpp>

#include "observe_tools.hpp"

using namespace std::chrono_literals;
using observe_tools::test_clock;

namespace {

using breaker_type = circuit::circuit_breaker<test_clock, circuit::consecutive_failures>;
using set_type = circuit::circuit_breaker_set<breaker_type>;
using rate_breaker = circuit::circuit_breaker<test_clock, circuit::failure_rate_window>;

void fail(breaker_type& b, int times) {
  for (int i = 0; i < times; ++i) {
    if (auto p = b.try_guard()) p.failure();
  }
}

template <class B>
void succeed(B& b, int times) {
  for (int i = 0; i < times; ++i) {
    if (auto p = b.try_guard()) p.success();
  }
}

template <class B>
void reject(B& b, int times) {
  for (int i = 0; i < times; ++i) {
    auto p = b.try_guard();
    REQUIRE_FALSE(p);
  }
}

template <class... T>
std::string text_of(circuit::prometheus_settings settings, const T&... targets) {
  std::ostringstream out;
  circuit::prometheus_writer w(out, settings);
  (w.add(targets), ...);
  w.finish();
  return out.str();
}

// The small set of the golden texts, at t = 12 s:
//   alpha    closed, 2 successes and a failure
//   beta     opened at 8 s (open until 18 s), 3 calls rejected
//   dis      disabled, 1 success
//   gamma    isolated
//   half     opened at 0 s, half_open since 10 s
// and a lone failure_rate_window breaker "delta": 3 successes, 1 failure.
struct small_world {
  set_type peers{circuit::consecutive_failures{.threshold = 2}, circuit::options{.open_for = circuit::fixed{10s}}};
  rate_breaker delta{circuit::failure_rate_window{.failure_rate = 0.5, .minimum_calls = 4, .window = 60s, .buckets = 6},
                     circuit::options{.name = "delta"}};

  small_world() {
    test_clock::set(0s);
    fail(peers.get("half"), 2);
    succeed(peers.get("alpha"), 2);
    fail(peers.get("alpha"), 1);
    peers.get("gamma").isolate();
    peers.get("dis").disable();
    succeed(peers.get("dis"), 1);
    succeed(delta, 3);
    if (auto p = delta.try_guard()) p.failure();
    test_clock::set(8s);
    fail(peers.get("beta"), 2);
    reject(peers.get("beta"), 3);
    test_clock::set(12s);
  }
};

const char* const golden_prefixed = R"(# HELP cb_state Circuit state: 1 for the current state, 0 for the others.
# TYPE cb_state gauge
cb_state{name="alpha",state="closed"} 1
cb_state{name="alpha",state="open"} 0
cb_state{name="alpha",state="half_open"} 0
cb_state{name="alpha",state="isolated"} 0
cb_state{name="alpha",state="disabled"} 0
cb_state{name="beta",state="closed"} 0
cb_state{name="beta",state="open"} 1
cb_state{name="beta",state="half_open"} 0
cb_state{name="beta",state="isolated"} 0
cb_state{name="beta",state="disabled"} 0
cb_state{name="dis",state="closed"} 0
cb_state{name="dis",state="open"} 0
cb_state{name="dis",state="half_open"} 0
cb_state{name="dis",state="isolated"} 0
cb_state{name="dis",state="disabled"} 1
cb_state{name="gamma",state="closed"} 0
cb_state{name="gamma",state="open"} 0
cb_state{name="gamma",state="half_open"} 0
cb_state{name="gamma",state="isolated"} 1
cb_state{name="gamma",state="disabled"} 0
cb_state{name="half",state="closed"} 0
cb_state{name="half",state="open"} 0
cb_state{name="half",state="half_open"} 1
cb_state{name="half",state="isolated"} 0
cb_state{name="half",state="disabled"} 0
cb_state{name="delta",state="closed"} 1
cb_state{name="delta",state="open"} 0
cb_state{name="delta",state="half_open"} 0
cb_state{name="delta",state="isolated"} 0
cb_state{name="delta",state="disabled"} 0
# HELP cb_calls_total Admitted calls by how they ended (slow successes count as failed).
# TYPE cb_calls_total counter
cb_calls_total{name="alpha",kind="successful"} 2
cb_calls_total{name="alpha",kind="failed"} 1
cb_calls_total{name="alpha",kind="ignored"} 0
cb_calls_total{name="beta",kind="successful"} 0
cb_calls_total{name="beta",kind="failed"} 2
cb_calls_total{name="beta",kind="ignored"} 0
cb_calls_total{name="dis",kind="successful"} 1
cb_calls_total{name="dis",kind="failed"} 0
cb_calls_total{name="dis",kind="ignored"} 0
cb_calls_total{name="gamma",kind="successful"} 0
cb_calls_total{name="gamma",kind="failed"} 0
cb_calls_total{name="gamma",kind="ignored"} 0
cb_calls_total{name="half",kind="successful"} 0
cb_calls_total{name="half",kind="failed"} 2
cb_calls_total{name="half",kind="ignored"} 0
cb_calls_total{name="delta",kind="successful"} 3
cb_calls_total{name="delta",kind="failed"} 1
cb_calls_total{name="delta",kind="ignored"} 0
# HELP cb_slow_calls_total Successes counted as failures because they were slow.
# TYPE cb_slow_calls_total counter
cb_slow_calls_total{name="alpha"} 0
cb_slow_calls_total{name="beta"} 0
cb_slow_calls_total{name="dis"} 0
cb_slow_calls_total{name="gamma"} 0
cb_slow_calls_total{name="half"} 0
cb_slow_calls_total{name="delta"} 0
# HELP cb_not_permitted_calls_total Calls the breaker refused.
# TYPE cb_not_permitted_calls_total counter
cb_not_permitted_calls_total{name="alpha"} 0
cb_not_permitted_calls_total{name="beta"} 3
cb_not_permitted_calls_total{name="dis"} 0
cb_not_permitted_calls_total{name="gamma"} 0
cb_not_permitted_calls_total{name="half"} 0
cb_not_permitted_calls_total{name="delta"} 0
# HELP cb_window_calls Calls the counter holds now (its window).
# TYPE cb_window_calls gauge
cb_window_calls{name="alpha",kind="successful"} 0
cb_window_calls{name="alpha",kind="failed"} 1
cb_window_calls{name="beta",kind="successful"} 0
cb_window_calls{name="beta",kind="failed"} 2
cb_window_calls{name="dis",kind="successful"} 0
cb_window_calls{name="dis",kind="failed"} 0
cb_window_calls{name="gamma",kind="successful"} 0
cb_window_calls{name="gamma",kind="failed"} 0
cb_window_calls{name="half",kind="successful"} 0
cb_window_calls{name="half",kind="failed"} 2
cb_window_calls{name="delta",kind="successful"} 3
cb_window_calls{name="delta",kind="failed"} 1
# HELP cb_failure_rate Failed share (0-1) of the window's calls; -1 below minimum_calls or without a rate rule.
# TYPE cb_failure_rate gauge
cb_failure_rate{name="alpha"} -1
cb_failure_rate{name="beta"} -1
cb_failure_rate{name="dis"} -1
cb_failure_rate{name="gamma"} -1
cb_failure_rate{name="half"} -1
cb_failure_rate{name="delta"} 0.25
# HELP cb_probe_due_seconds Seconds until a probe is admitted: the time left while open, +Inf while isolated, else 0.
# TYPE cb_probe_due_seconds gauge
cb_probe_due_seconds{name="alpha"} 0
cb_probe_due_seconds{name="beta"} 6
cb_probe_due_seconds{name="dis"} 0
cb_probe_due_seconds{name="gamma"} +Inf
cb_probe_due_seconds{name="half"} 0
cb_probe_due_seconds{name="delta"} 0
# HELP cb_transitions_total State changes since the breaker was made, by (from, to); reset() of a closed one is closed to closed.
# TYPE cb_transitions_total counter
cb_transitions_total{name="alpha",from="closed",to="open"} 0
cb_transitions_total{name="alpha",from="open",to="half_open"} 0
cb_transitions_total{name="alpha",from="half_open",to="closed"} 0
cb_transitions_total{name="alpha",from="half_open",to="open"} 0
cb_transitions_total{name="beta",from="closed",to="open"} 1
cb_transitions_total{name="beta",from="open",to="half_open"} 0
cb_transitions_total{name="beta",from="half_open",to="closed"} 0
cb_transitions_total{name="beta",from="half_open",to="open"} 0
cb_transitions_total{name="dis",from="closed",to="open"} 0
cb_transitions_total{name="dis",from="closed",to="disabled"} 1
cb_transitions_total{name="dis",from="open",to="half_open"} 0
cb_transitions_total{name="dis",from="half_open",to="closed"} 0
cb_transitions_total{name="dis",from="half_open",to="open"} 0
cb_transitions_total{name="gamma",from="closed",to="open"} 0
cb_transitions_total{name="gamma",from="closed",to="isolated"} 1
cb_transitions_total{name="gamma",from="open",to="half_open"} 0
cb_transitions_total{name="gamma",from="half_open",to="closed"} 0
cb_transitions_total{name="gamma",from="half_open",to="open"} 0
cb_transitions_total{name="half",from="closed",to="open"} 1
cb_transitions_total{name="half",from="open",to="half_open"} 1
cb_transitions_total{name="half",from="half_open",to="closed"} 0
cb_transitions_total{name="half",from="half_open",to="open"} 0
cb_transitions_total{name="delta",from="closed",to="open"} 0
cb_transitions_total{name="delta",from="open",to="half_open"} 0
cb_transitions_total{name="delta",from="half_open",to="closed"} 0
cb_transitions_total{name="delta",from="half_open",to="open"} 0
)";

const char* const golden_resilience4j = R"(# HELP resilience4j_circuitbreaker_state The states of the circuit breaker
# TYPE resilience4j_circuitbreaker_state gauge
resilience4j_circuitbreaker_state{name="gamma",state="closed"} 0
resilience4j_circuitbreaker_state{name="gamma",state="open"} 0
resilience4j_circuitbreaker_state{name="gamma",state="half_open"} 0
resilience4j_circuitbreaker_state{name="gamma",state="forced_open"} 1
resilience4j_circuitbreaker_state{name="gamma",state="disabled"} 0
resilience4j_circuitbreaker_state{name="delta",state="closed"} 1
resilience4j_circuitbreaker_state{name="delta",state="open"} 0
resilience4j_circuitbreaker_state{name="delta",state="half_open"} 0
resilience4j_circuitbreaker_state{name="delta",state="forced_open"} 0
resilience4j_circuitbreaker_state{name="delta",state="disabled"} 0
# HELP resilience4j_circuitbreaker_calls_seconds Total number of calls
# TYPE resilience4j_circuitbreaker_calls_seconds summary
resilience4j_circuitbreaker_calls_seconds_count{kind="successful",name="gamma"} 0
resilience4j_circuitbreaker_calls_seconds_sum{kind="successful",name="gamma"} 0
resilience4j_circuitbreaker_calls_seconds_count{kind="failed",name="gamma"} 0
resilience4j_circuitbreaker_calls_seconds_sum{kind="failed",name="gamma"} 0
resilience4j_circuitbreaker_calls_seconds_count{kind="ignored",name="gamma"} 0
resilience4j_circuitbreaker_calls_seconds_sum{kind="ignored",name="gamma"} 0
resilience4j_circuitbreaker_calls_seconds_count{kind="successful",name="delta"} 3
resilience4j_circuitbreaker_calls_seconds_sum{kind="successful",name="delta"} 0
resilience4j_circuitbreaker_calls_seconds_count{kind="failed",name="delta"} 1
resilience4j_circuitbreaker_calls_seconds_sum{kind="failed",name="delta"} 0
resilience4j_circuitbreaker_calls_seconds_count{kind="ignored",name="delta"} 0
resilience4j_circuitbreaker_calls_seconds_sum{kind="ignored",name="delta"} 0
# HELP resilience4j_circuitbreaker_calls_seconds_max Total number of calls
# TYPE resilience4j_circuitbreaker_calls_seconds_max gauge
resilience4j_circuitbreaker_calls_seconds_max{kind="successful",name="gamma"} 0
resilience4j_circuitbreaker_calls_seconds_max{kind="failed",name="gamma"} 0
resilience4j_circuitbreaker_calls_seconds_max{kind="ignored",name="gamma"} 0
resilience4j_circuitbreaker_calls_seconds_max{kind="successful",name="delta"} 0
resilience4j_circuitbreaker_calls_seconds_max{kind="failed",name="delta"} 0
resilience4j_circuitbreaker_calls_seconds_max{kind="ignored",name="delta"} 0
# HELP resilience4j_circuitbreaker_not_permitted_calls_total Total number of not permitted calls
# TYPE resilience4j_circuitbreaker_not_permitted_calls_total counter
resilience4j_circuitbreaker_not_permitted_calls_total{kind="not_permitted",name="gamma"} 0
resilience4j_circuitbreaker_not_permitted_calls_total{kind="not_permitted",name="delta"} 0
# HELP resilience4j_circuitbreaker_buffered_calls The number of buffered calls stored in the ring buffer
# TYPE resilience4j_circuitbreaker_buffered_calls gauge
resilience4j_circuitbreaker_buffered_calls{kind="failed",name="gamma"} 0
resilience4j_circuitbreaker_buffered_calls{kind="successful",name="gamma"} 0
resilience4j_circuitbreaker_buffered_calls{kind="failed",name="delta"} 1
resilience4j_circuitbreaker_buffered_calls{kind="successful",name="delta"} 3
# HELP resilience4j_circuitbreaker_slow_calls The number of slow calls which were slower than a certain threshold
# TYPE resilience4j_circuitbreaker_slow_calls gauge
resilience4j_circuitbreaker_slow_calls{kind="failed",name="gamma"} 0
resilience4j_circuitbreaker_slow_calls{kind="successful",name="gamma"} 0
resilience4j_circuitbreaker_slow_calls{kind="failed",name="delta"} 0
resilience4j_circuitbreaker_slow_calls{kind="successful",name="delta"} 0
# HELP resilience4j_circuitbreaker_failure_rate The failure rate of the circuit breaker
# TYPE resilience4j_circuitbreaker_failure_rate gauge
resilience4j_circuitbreaker_failure_rate{name="gamma"} -1
resilience4j_circuitbreaker_failure_rate{name="delta"} 25
# HELP resilience4j_circuitbreaker_slow_call_rate The slow call of the circuit breaker
# TYPE resilience4j_circuitbreaker_slow_call_rate gauge
resilience4j_circuitbreaker_slow_call_rate{name="gamma"} -1
resilience4j_circuitbreaker_slow_call_rate{name="delta"} 0
)";

// Checks what promtool cannot: HELP and TYPE once per family and a
// family's series together, and no two series alike.
void check_structure(const std::string& text) {
  const auto e = observe_tools::parse_prometheus(text);
  INFO("first parse error: " << (e.errors.empty() ? std::string("none") : e.errors.front()));
  REQUIRE(e.errors.empty());
  REQUIRE_FALSE(e.samples.empty());
  std::set<std::string> help(e.help_names.begin(), e.help_names.end());
  std::set<std::string> type(e.type_names.begin(), e.type_names.end());
  CHECK(help.size() == e.help_names.size());
  CHECK(type.size() == e.type_names.size());
  CHECK(help == type);

  // The family of a sample: the TYPE name it starts with (a summary's
  // _count and _sum belong to it); families must not interleave.
  std::vector<std::string> order;
  for (const auto& s : e.samples) {
    std::string family = s.name;
    if (!e.types.count(family)) {
      for (const auto* suffix : {"_count", "_sum"}) {
        const std::string_view sv(suffix);
        if (family.size() > sv.size() && family.compare(family.size() - sv.size(), sv.size(), sv) == 0 &&
            e.types.count(family.substr(0, family.size() - sv.size()))) {
          family = family.substr(0, family.size() - sv.size());
          break;
        }
      }
    }
    REQUIRE(e.types.count(family) == 1);
    if (order.empty() || order.back() != family) order.push_back(family);
  }
  std::set<std::string> distinct(order.begin(), order.end());
  CHECK(distinct.size() == order.size());

  std::vector<std::string> duplicates;
  (void)observe_tools::index_series(e, &duplicates);
  INFO("first duplicate: " << (duplicates.empty() ? std::string("none") : duplicates.front()));
  CHECK(duplicates.empty());
}

void check_with_promtool(const std::string& promtool, const std::string& text) {
  const auto r = observe_tools::run("'" + promtool + "' check metrics", text);
  INFO("promtool said: " << r.output);
  CHECK(r.status == 0);
  CHECK(r.output.empty());
}

// 1,000 peers with names that need escaping or replacing, in every state.
struct odd_world {
  set_type peers{circuit::consecutive_failures{.threshold = 2}, circuit::options{.open_for = circuit::fixed{10s}}};
  std::vector<std::string> names;

  odd_world() {
    test_clock::set(0s);
    const char* const shapes[] = {"quote\"%d\"", "back\\slash\\%d", "new\nline %d", "bad \xff\xfe utf8 %d",
                                  "trunc \xe2\x82 %d", "caf\xc3\xa9 %d", "\xf0\x9f\x94\xa5 %d", "tab\tcr\r %d",
                                  "{brace=\"x\"} %d", "%d"};
    for (int i = 0; i < 1000; ++i) {
      char name[64];
      std::snprintf(name, sizeof name, shapes[i % 10], i);
      names.emplace_back(name);
    }
    // Two names that differ only in invalid bytes: the same after replacement.
    names.back() = "twin \xff";
    names[names.size() - 2] = "twin \xfe";
    // Every state: half_open (opened first, then the time passes), open,
    // isolated, disabled, closed.
    for (std::size_t i = 0; i < names.size(); i += 5) fail(peers.get(names[i]), 2);
    test_clock::set(11s);
    for (std::size_t i = 0; i < names.size(); ++i) {
      auto& b = peers.get(names[i]);
      switch (i % 5) {
        case 0: (void)b.current_state(); break;  // -> half_open
        case 1:
          fail(b, 2);
          reject(b, static_cast<int>(i % 7));
          break;
        case 2: b.isolate(); break;
        case 3:
          b.disable();
          succeed(b, 2);
          break;
        default:
          succeed(b, static_cast<int>(i % 4));
          fail(b, 1);
          break;
      }
    }
    test_clock::set(13s);
  }
};

}  // namespace

// On a mismatch the text is left in <file>.actual (in the working
// directory) for a diff.
static void check_golden(const std::string& text, const char* golden, const char* file) {
  if (text != golden) observe_tools::write_file(std::string(file) + ".actual", text);
  CHECK(text == golden);
}

TEST_CASE("the text for a small set and a breaker is exactly the golden text") {
  small_world w;
  check_golden(text_of({.prefix = "cb"}, w.peers, w.delta), golden_prefixed, "prometheus_golden");
  check_structure(golden_prefixed);
}

TEST_CASE("resilience4j naming gives Micrometer's names, isolated as forced_open, rates in percent") {
  small_world w;
  check_golden(text_of({.prefix = "ignored", .naming = circuit::prometheus_naming::resilience4j},
                       w.peers.get("gamma"), w.delta),
               golden_resilience4j, "prometheus_golden_resilience4j");
  check_structure(golden_resilience4j);
}

TEST_CASE("the destructor writes the same text as finish(), and add() after finish() is refused") {
  small_world w;
  std::ostringstream by_destructor;
  {
    circuit::prometheus_writer writer(by_destructor, {.prefix = "cb"});
    writer.add(w.peers).add(w.delta);
  }
  CHECK(by_destructor.str() == golden_prefixed);

  std::ostringstream out;
  circuit::prometheus_writer writer(out);
  writer.add(w.delta);
  writer.finish();
  const auto once = out.str();
  writer.finish();
  CHECK(out.str() == once);
  CHECK_THROWS_AS(writer.add(w.delta), std::logic_error);
}

TEST_CASE("a prefix that is not a metric name is refused, naming prefix") {
  std::ostringstream out;
  for (const char* bad : {"", "1abc", "a-b", "a b", "caf\xc3\xa9", "a{b}"}) {
    INFO("prefix '" << bad << "'");
    try {
      circuit::prometheus_writer w(out, {.prefix = bad});
      FAIL("accepted");
    } catch (const std::invalid_argument& e) {
      CHECK(std::string(e.what()).find("prometheus_settings.prefix") != std::string::npos);
    }
  }
  for (const char* good : {"a", "_x", ":ns:cb_1", "Circuit_Breaker"}) {
    CHECK_NOTHROW(circuit::prometheus_writer(out, {.prefix = good}));
  }
  // resilience4j's names ignore the prefix.
  CHECK_NOTHROW(circuit::prometheus_writer(out, {.prefix = "", .naming = circuit::prometheus_naming::resilience4j}));
}

TEST_CASE("promtool accepts the text for 1,000 odd names in every state, in both namings") {
  odd_world w;
  const auto text = text_of({}, w.peers);
  const auto r4j = text_of({.naming = circuit::prometheus_naming::resilience4j}, w.peers);
  check_structure(text);
  check_structure(r4j);

  // Every state is there, and every peer has a series per state.
  const auto e = observe_tools::parse_prometheus(text);
  std::map<std::string, int> ones;
  std::size_t state_series = 0;
  for (const auto& s : e.samples) {
    if (s.name != "circuit_breaker_state") continue;
    ++state_series;
    if (s.value == "1") ++ones[s.labels.at("state")];
  }
  CHECK(state_series == 1000 * circuit::state_count);
  for (const auto s : circuit::all_states) CHECK(ones[std::string(circuit::to_string(s))] == 200);

  OBSERVE_NEED_TOOL(promtool, "promtool");
  check_with_promtool(*promtool, text);
  check_with_promtool(*promtool, r4j);
}

TEST_CASE("label values are escaped and invalid UTF-8 is replaced with U+FFFD") {
  test_clock::set(0s);
  set_type peers;
  (void)peers.get("a\"b\\c\nd");
  (void)peers.get("x\xff\xc3(y");
  const auto text = text_of({.prefix = "p"}, peers);
  CHECK(text.find(R"(p_state{name="a\"b\\c\nd",state="closed"} 1)") != std::string::npos);
  CHECK(text.find("p_state{name=\"x\xEF\xBF\xBD\xEF\xBF\xBD(y\",state=\"closed\"} 1") != std::string::npos);
}

TEST_CASE("names that collide after UTF-8 replacement are told apart") {
  test_clock::set(0s);
  set_type peers;
  (void)peers.get("a\xff");
  (void)peers.get("a\xfe");
  breaker_type literal({}, {.name = "a\xEF\xBF\xBD"});  // U+FFFD spelled out
  fail(peers.get("a\xfe"), 3);                          // so the three differ in state too
  const auto text = text_of({}, peers, literal, literal);
  check_structure(text);
  const auto e = observe_tools::parse_prometheus(text);
  std::set<std::string> names;
  for (const auto& s : e.samples) {
    if (s.name == "circuit_breaker_state") names.insert(s.labels.at("name"));
  }
  CHECK(names == std::set<std::string>{"a\xEF\xBF\xBD", "a\xEF\xBF\xBD #2", "a\xEF\xBF\xBD #3", "a\xEF\xBF\xBD #4"});
}

TEST_CASE("every value equals metrics() of its breaker") {
  test_clock::set(0s);
  set_type peers{circuit::consecutive_failures{.threshold = 3}, circuit::options{.open_for = circuit::fixed{5s}}};
  for (int i = 0; i < 200; ++i) {
    auto& b = peers.get("peer-" + std::to_string(i));
    succeed(b, i % 11);
    fail(b, i % 4);
    if (i % 4 == 3) reject(b, i % 6);
    if (i % 9 == 0) b.reset();
    if (i % 13 == 0) {
      if (auto p = b.try_guard()) p.ignore();
    }
  }
  test_clock::set(3s);
  const auto text = text_of({}, peers);
  const auto e = observe_tools::parse_prometheus(text);
  REQUIRE(e.errors.empty());
  const auto index = observe_tools::index_series(e, nullptr);
  const auto at = [&](const std::string& name, const std::map<std::string, std::string>& labels) {
    const auto it = index.find(observe_tools::series_key(name, labels));
    return it == index.end() ? std::string("missing") : it->second;
  };
  std::size_t checked = 0;
  peers.for_each([&](const std::string& id, const breaker_type& b) {
    const auto m = b.metrics();
    INFO("peer " << id);
    for (const auto s : circuit::all_states) {
      CHECK(at("circuit_breaker_state", {{"name", id}, {"state", std::string(circuit::to_string(s))}}) ==
            (m.state == s ? "1" : "0"));
    }
    CHECK(at("circuit_breaker_calls_total", {{"name", id}, {"kind", "successful"}}) == std::to_string(m.total.successes));
    CHECK(at("circuit_breaker_calls_total", {{"name", id}, {"kind", "failed"}}) == std::to_string(m.total.failures));
    CHECK(at("circuit_breaker_calls_total", {{"name", id}, {"kind", "ignored"}}) == std::to_string(m.total.ignored));
    CHECK(at("circuit_breaker_not_permitted_calls_total", {{"name", id}}) == std::to_string(m.total.rejections));
    CHECK(at("circuit_breaker_slow_calls_total", {{"name", id}}) == std::to_string(m.total.slow));
    CHECK(at("circuit_breaker_window_calls", {{"name", id}, {"kind", "failed"}}) == std::to_string(m.window.failures));
    CHECK(at("circuit_breaker_window_calls", {{"name", id}, {"kind", "successful"}}) ==
          std::to_string(m.window.successes));
    for (const auto from : circuit::all_states) {
      for (const auto to : circuit::all_states) {
        const auto v = at("circuit_breaker_transitions_total",
                          {{"name", id}, {"from", std::string(circuit::to_string(from))},
                           {"to", std::string(circuit::to_string(to))}});
        if (m.transitions(from, to) != 0) CHECK(v == std::to_string(m.transitions(from, to)));
        if (v != "missing") CHECK(v == std::to_string(m.transitions(from, to)));
      }
    }
    CHECK(at("circuit_breaker_probe_due_seconds", {{"name", id}}) == (m.state == circuit::state::open ? "2" : "0"));
    ++checked;
  });
  CHECK(checked == 200);
}

TEST_CASE("writing while other threads call the same peers neither stops them nor tears a series") {
  test_clock::set(0s);
  set_type peers{circuit::consecutive_failures{.threshold = 1000000}};
  for (int i = 0; i < 100; ++i) (void)peers.get("p" + std::to_string(i));
  std::atomic<bool> stop{false};
  std::atomic<std::uint64_t> calls{0};
  std::vector<std::thread> callers;
  for (int t = 0; t < 2; ++t) {
    callers.emplace_back([&, t] {
      for (std::uint64_t n = 0; !stop.load(std::memory_order_relaxed); ++n) {
        if (auto p = peers.try_guard("p" + std::to_string(n % 100))) {
          if ((n + static_cast<std::uint64_t>(t)) % 3 == 0) {
            p.failure();
          } else {
            p.success();
          }
        }
        calls.fetch_add(1, std::memory_order_relaxed);
      }
    });
  }
  std::map<std::string, std::uint64_t> last;  // successes per peer, never going back
  std::uint64_t during = 0;
  for (int round = 0; round < 20; ++round) {
    const auto before = calls.load();
    const auto e = observe_tools::parse_prometheus(text_of({}, peers));
    during += calls.load() - before;
    REQUIRE(e.errors.empty());
    for (const auto& s : e.samples) {
      if (s.name != "circuit_breaker_calls_total" || s.labels.at("kind") != "successful") continue;
      const auto v = std::stoull(s.value);
      auto& seen = last[s.labels.at("name")];
      CHECK(v >= seen);
      seen = v;
    }
  }
  stop = true;
  for (auto& t : callers) t.join();
  CHECK(last.size() == 100);
  CHECK(during > 0);  // calls went on while the text was written
}

TEST_CASE("slow successes show as slow calls and in the slow call rate") {
  test_clock::set(0s);
  rate_breaker b(circuit::failure_rate_window{.failure_rate = 0.9, .minimum_calls = 2, .window = 60s, .buckets = 6},
                 circuit::options{.name = "slowpoke", .slow_call = 1s});
  succeed(b, 1);
  {
    auto p = b.try_guard();
    REQUIRE(p);
    test_clock::advance(2s);
    p.success();  // slow: counted as a failure
  }
  REQUIRE(b.metrics().total.slow == 1);
  const auto e = observe_tools::parse_prometheus(text_of({}, b));
  CHECK(observe_tools::value_of(e, "circuit_breaker_slow_calls_total", {{"name", "slowpoke"}}) == "1");
  CHECK(observe_tools::value_of(e, "circuit_breaker_calls_total", {{"name", "slowpoke"}, {"kind", "failed"}}) == "1");
  CHECK(observe_tools::value_of(e, "circuit_breaker_failure_rate", {{"name", "slowpoke"}}) == "0.5");
  const auto r = observe_tools::parse_prometheus(text_of({.naming = circuit::prometheus_naming::resilience4j}, b));
  CHECK(observe_tools::value_of(r, "resilience4j_circuitbreaker_slow_calls", {{"name", "slowpoke"}, {"kind", "successful"}}) ==
        "1");
  CHECK(observe_tools::value_of(r, "resilience4j_circuitbreaker_slow_call_rate", {{"name", "slowpoke"}}) == "50");
  CHECK(observe_tools::value_of(r, "resilience4j_circuitbreaker_failure_rate", {{"name", "slowpoke"}}) == "50");
}
