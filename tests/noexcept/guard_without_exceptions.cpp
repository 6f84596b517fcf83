// Built with -fno-exceptions: the guard API, explicit settlement and
// result-based detection work without exceptions. Returns nonzero (and says
// why) on the first failed check.

#include <chrono>
#include <cstdio>

#include <circuit/circuit.hpp>

using namespace std::chrono_literals;

#if defined(__cpp_exceptions)
#error "this test must be built with -fno-exceptions"
#endif

namespace {

int failed_checks = 0;

void check(bool ok, const char* what, int line) {
  if (!ok) {
    std::fprintf(stderr, "guard_without_exceptions.cpp:%d: check failed: %s\n", line, what);
    ++failed_checks;
  }
}

#define CHECK(...) check(static_cast<bool>(__VA_ARGS__), #__VA_ARGS__, __LINE__)

struct reply {
  int status;
};

constexpr auto is_5xx = [](const reply& r) { return r.status >= 500; };

using detector = decltype(circuit::detect_results(is_5xx));
using breaker = circuit::circuit_breaker<circuit::manual_clock, circuit::consecutive_failures, detector>;

}  // namespace

int main() {
  circuit::manual_clock clock;
  breaker b(circuit::consecutive_failures{.threshold = 3},
            {.name = "no-exceptions", .open_for = circuit::fixed{5s}, .half_open_max_calls = 1}, clock,
            circuit::detect_results(is_5xx));

  // Explicit success and failure.
  {
    auto g = b.try_guard();
    CHECK(g);
    g.success();
    CHECK(!g);
  }
  {
    auto g = b.try_guard();
    CHECK(g);
    g.failure();
  }
  CHECK(b.metrics().total.successes == 1);
  CHECK(b.metrics().total.failures == 1);

  // A permit left in scope settles as a success.
  { auto g = b.try_guard(); }
  CHECK(b.metrics().total.successes == 2);
  CHECK(b.metrics().window.failures == 0);

  // record(result) through the result predicate.
  {
    auto g = b.try_guard();
    g.record(reply{200});
  }
  CHECK(b.metrics().total.successes == 3);
  {
    auto g = b.try_guard();
    g.record(reply{503});
  }
  CHECK(b.metrics().total.failures == 2);
  CHECK(b.metrics().window.failures == 1);
  {
    // Not a reply: refused at compile time here (the predicate looks at
    // results); with other_results_succeed it is a success.
    circuit::circuit_breaker<circuit::manual_clock, circuit::consecutive_failures,
                             decltype(circuit::other_results_succeed(is_5xx))>
        lenient({}, {}, clock, circuit::other_results_succeed(is_5xx));
    auto g = lenient.try_guard();
    g.record(42);
    CHECK(lenient.metrics().total.successes == 1);
    b.try_guard().success();
  }
  CHECK(b.metrics().total.successes == 4);

  // Three failures in a row open it.
  for (int i = 0; i < 3; ++i) {
    auto g = b.try_guard();
    CHECK(g);
    g.record(reply{500});
  }
  CHECK(b.current_state() == circuit::state::open);

  // Open: refused, without running anything.
  {
    auto g = b.try_guard();
    CHECK(!g);
  }
  CHECK(b.metrics().total.rejections == 1);
  clock.advance(5s - 1ns);
  CHECK(!b.try_guard());
  CHECK(b.metrics().total.rejections == 2);

  // Once the open spell has passed: one probe, whose success closes.
  clock.advance(1ns);
  CHECK(b.current_state() == circuit::state::half_open);
  {
    auto probe = b.try_guard();
    CHECK(probe);
    CHECK(!b.try_guard());  // one probe at a time
    probe.record(reply{204});
  }
  CHECK(b.current_state() == circuit::state::closed);

  // A probe that fails re-opens.
  b.trip();
  clock.advance(5s);
  {
    auto probe = b.try_guard();
    CHECK(probe);
    probe.failure();
  }
  CHECK(b.current_state() == circuit::state::open);

  // ignore() gives the probe slot back.
  clock.advance(5s);
  {
    auto probe = b.try_guard();
    CHECK(probe);
    probe.ignore();
  }
  CHECK(b.current_state() == circuit::state::half_open);
  {
    auto probe = b.try_guard();
    CHECK(probe);
    probe.success();
  }
  CHECK(b.current_state() == circuit::state::closed);

  // try_call: a refusal without an exception, and a fallback.
  {
    auto ok = b.try_call([] { return reply{200}; });
    CHECK(!ok.refused() && !ok.failed() && ok.value().status == 200);
    auto bad = b.try_call([] { return reply{503}; });
    CHECK(bad.failed() && bad.value_or(reply{0}).status == 0);
    b.trip();
    bool ran = false;
    auto refused = b.try_call([&] {
      ran = true;
      return reply{200};
    });
    CHECK(refused.refused() && !ran && refused.value_or(reply{304}).status == 304);
    b.reset();
  }

  if (failed_checks != 0) {
    std::fprintf(stderr, "guard_without_exceptions: %d check(s) failed\n", failed_checks);
    return 1;
  }
  std::puts("guard_without_exceptions: all checks passed");
  return 0;
}
