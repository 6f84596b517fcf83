// Built with -fno-exceptions: a circuit_breaker_set's non-throwing members
// (try_call, try_guard, steering by peer id) work without exceptions,
// including a refusal at the max_peers cap. Returns nonzero (and says why)
// on the first failed check.

#include <cstdio>

#include <circuit/circuit_breaker_set.hpp>
#include <circuit/manual_clock.hpp>
#include <circuit/state.hpp>

#if defined(__cpp_exceptions)
#error "this test must be built with -fno-exceptions"
#endif

namespace {

int failed_checks = 0;

void check(bool ok, const char* what, int line) {
  if (ok) return;
  ++failed_checks;
  std::fprintf(stderr, "set_without_exceptions.cpp:%d: check failed: %s\n", line, what);
}

#define CHECK(...) check((__VA_ARGS__), #__VA_ARGS__, __LINE__)

}  // namespace

int main() {
  circuit::manual_clock clock;
  circuit::circuit_breaker_set<circuit::circuit_breaker<circuit::manual_clock>> peers({}, {}, clock);
  peers.set_max_peers(1);

  const auto r = peers.try_call("a", [] { return 1; });
  CHECK(r.value_or(0) == 1);
  CHECK(peers.trip("a"));
  CHECK(peers.state("a") == circuit::state::open);
  CHECK(peers.try_call("a", [] { return 1; }).refused());

  // "a" is open, so it may not make room for "b": refused, not aborted.
  CHECK(peers.try_call("b", [] { return 2; }).refused());
  CHECK(!peers.try_guard("b"));
  CHECK(peers.capacity_refusals() == 2);
  CHECK(!peers.contains("b"));

  CHECK(!peers.disable("nobody"));
  peers.reset_all();
  CHECK(peers.state("a") == circuit::state::closed);
  if (auto g = peers.try_guard("a")) g.success();
  CHECK(peers.metrics("a")->total.successes == 2);

  if (failed_checks == 0) std::puts("set_without_exceptions: all checks passed");
  return failed_checks == 0 ? 0 : 1;
}
