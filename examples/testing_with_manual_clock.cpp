// testing_with_manual_clock: how to unit-test your own code that uses a
// breaker, without sleeping.
//
// `quote_client` is "your" code: it fetches prices through a breaker and
// falls back to the last known price when the peer fails or the circuit is
// open. It takes the breaker as a template parameter, so production passes a
// breaker on the steady clock and the test passes the same kind of breaker
// on a `circuit::manual_clock`. The test keeps a copy of the clock (copies
// share one timeline) and moves time itself.
//
// main() plays the test: fail the peer, check the client degrades, advance
// the clock, check it recovers. In your suite, each `if (...) return fail(...)`
// would be an assertion of your test framework.

#include <chrono>
#include <cstdio>
#include <functional>
#include <optional>
#include <stdexcept>
#include <string>

#include <circuit/circuit.hpp>

using namespace std::chrono_literals;

// ---- Your code ---------------------------------------------------------------

struct quote {
  double price = 0;
  bool fresh = false;  // false: the last known price, served while the peer is unwell
};

template <class Breaker>
class quote_client {
 public:
  using fetch_fn = std::function<double(const std::string&)>;

  quote_client(Breaker& breaker, fetch_fn fetch) : breaker_(breaker), fetch_(std::move(fetch)) {}

  quote price(const std::string& symbol) {
    try {
      last_ = breaker_.call(fetch_, symbol);
      return {*last_, true};
    } catch (const circuit::open_circuit_error&) {
      // Refused: the peer was not called at all.
    } catch (const std::exception&) {
      // The peer failed; the breaker has counted it.
    }
    return {last_.value_or(0.0), false};
  }

 private:
  Breaker& breaker_;
  fetch_fn fetch_;
  std::optional<double> last_;
};

// In production:
//   circuit::circuit_breaker<std::chrono::steady_clock, circuit::consecutive_failures> breaker(
//       circuit::consecutive_failures{.threshold = 3},
//       circuit::options{.name = "quotes", .open_for = circuit::fixed{30s}});
//   quote_client client(breaker, http_fetch);

// ---- The test ----------------------------------------------------------------

// A peer the test controls.
struct fake_peer {
  bool up = true;
  int calls = 0;
  double fetch(const std::string&) {
    ++calls;
    if (!up) throw std::runtime_error("503 Service Unavailable");
    return 101.5;
  }
};

int fail(const char* what) {
  std::fprintf(stderr, "FAILED: %s\n", what);
  return 1;
}

int main() {
  circuit::manual_clock clock;  // the test's handle on time
  circuit::circuit_breaker<circuit::manual_clock, circuit::consecutive_failures> breaker(
      circuit::consecutive_failures{.threshold = 3},
      circuit::options{.name = "quotes", .open_for = circuit::fixed{30s}}, clock);
  fake_peer peer;
  quote_client client(breaker, [&peer](const std::string& s) { return peer.fetch(s); });

  // Healthy peer: fresh prices.
  auto q = client.price("ACME");
  if (!q.fresh || q.price != 101.5) return fail("a healthy peer gives a fresh price");

  // The peer goes down: the client serves the last known price, and after
  // three failures in a row the circuit opens.
  peer.up = false;
  for (int i = 0; i < 3; ++i) {
    q = client.price("ACME");
    if (q.fresh || q.price != 101.5) return fail("a failing peer gives the last known price");
  }
  if (breaker.current_state() != circuit::state::open) return fail("three failures in a row open the circuit");
  if (peer.calls != 4) return fail("every call so far reached the peer");

  // While open the peer is left alone, even once it is back: no calls reach it.
  peer.up = true;
  clock.advance(29s);
  q = client.price("ACME");
  if (q.fresh) return fail("an open circuit gives the last known price");
  if (peer.calls != 4) return fail("an open circuit does not call the peer");
  if (breaker.metrics().total.rejections != 1) return fail("the refused call is counted as a rejection");

  // 30 s after the trip one probe goes through; its success closes the circuit.
  clock.advance(1s);
  q = client.price("ACME");
  if (!q.fresh || q.price != 101.5) return fail("the probe after 30 s gives a fresh price");
  if (peer.calls != 5) return fail("the probe reached the peer");
  if (breaker.current_state() != circuit::state::closed) return fail("a successful probe closes the circuit");

  // A failed probe re-opens at once.
  peer.up = false;
  for (int i = 0; i < 3; ++i) (void)client.price("ACME");
  clock.advance(30s);
  q = client.price("ACME");  // the probe, and it fails
  if (q.fresh) return fail("a failed probe gives the last known price");
  if (breaker.current_state() != circuit::state::open) return fail("a failed probe re-opens the circuit");

  std::puts("quote_client degrades and recovers as expected");
  return 0;
}
