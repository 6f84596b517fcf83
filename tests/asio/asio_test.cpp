// co_call (<circuit/asio.hpp>) against a real server on 127.0.0.1: every
// ending of a call is recorded as the header's table says, in every form.

#include <circuit/asio.hpp>

#include <atomic>
#include <chrono>
#include <exception>
#include <memory>
#include <stdexcept>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

#include <circuit/circuit_breaker.hpp>
#include <circuit/circuit_breaker_set.hpp>
#include <circuit/consecutive_failures.hpp>
#include <circuit/detail/awaitable.hpp>
#include <circuit/event.hpp>
#include <circuit/manual_clock.hpp>
#include <circuit/open_circuit_error.hpp>

#include "allocation_counter.hpp"
#include "catch.hpp"
#include "loopback.hpp"

// Never co_await inside a Catch macro: the macro repeats its expression in
// places that are never evaluated, and g++ 12 runs the co_await in each.

using namespace std::chrono_literals;
using asio_test::echo;
using asio_test::reply;
using asio_test::run_until_done;
using asio_test::start_server;

static_assert(circuit::detail::awaitable_result<asio::awaitable<int>>,
              "call() must be able to recognize (and refuse) Asio's awaitables");
static_assert(circuit::detail::awaitable_result<asio::awaitable<void>>);
static_assert(!circuit::detail::awaitable_result<std::string>);

namespace {

using clock_type = std::chrono::steady_clock;

// Outcome and rejection events of one breaker (or set), from any thread.
struct event_counts {
  std::atomic<int> success{0}, failure{0}, ignored{0}, rejected{0};
  std::atomic<std::int64_t> last_failure_at{0};  // clock_type ticks

  [[nodiscard]] int outcomes() const { return success + failure + ignored; }

  template <class Observed>
  [[nodiscard]] circuit::subscription watch(Observed& observed) {
    return observed.on_event([this](const circuit::event& e) {
      switch (e.kind) {
        case circuit::event_kind::success: ++success; break;
        case circuit::event_kind::failure:
          last_failure_at = clock_type::now().time_since_epoch().count();
          ++failure;
          break;
        case circuit::event_kind::ignored: ++ignored; break;
        case circuit::event_kind::rejected: ++rejected; break;
        case circuit::event_kind::state_change: break;
      }
    });
  }
};

// Every exception counts neither way: what a timeout must override.
struct nothing_fails {
  circuit::outcome operator()(const std::exception_ptr&) const { return circuit::outcome::ignored; }
};

bool is_aborted(const std::system_error& e) { return e.code() == asio::error::operation_aborted; }

}  // namespace

TEST_CASE("co_call returns what the operation returns and records a success, in every form") {
  asio::io_context ioc;
  auto server = start_server(ioc);
  circuit::circuit_breaker<> b;
  event_counts seen;
  auto sub = seen.watch(b);
  const auto ep = server->endpoint;

  run_until_done(ioc, [&]() -> asio::awaitable<void> {
    const auto r1 = co_await circuit::co_call(b, echo(ep, "one"));
    CHECK(r1 == "one");
    const auto r2 = co_await circuit::co_call(b, echo(ep, "two"), 5s);
    CHECK(r2 == "two");
    const auto r3 = co_await circuit::co_call(b, [&] { return echo(ep, "three"); });
    CHECK(r3 == "three");
    const auto r4 = co_await circuit::co_call(b, [&] { return echo(ep, "four"); }, 5s);
    CHECK(r4 == "four");
    co_await circuit::co_call(b, []() -> asio::awaitable<void> { co_return; });
    co_await circuit::co_call(b, []() -> asio::awaitable<void> { co_return; }, 1s);
  });

  CHECK(seen.success == 6);
  CHECK(seen.outcomes() == 6);
  CHECK(b.metrics().total.successes == 6);
  CHECK(server->accepted == 4);
}

TEST_CASE("an EOF is recorded as a failure when it happens, not when the deadline passes") {
  asio::io_context ioc;
  auto server = start_server(ioc);
  server->mode = reply::close;
  circuit::circuit_breaker<> b;
  event_counts seen;
  auto sub = seen.watch(b);
  const bool with_deadline = GENERATE(false, true);
  CAPTURE(with_deadline);

  const auto start = clock_type::now();
  run_until_done(ioc, [&]() -> asio::awaitable<void> {
    try {
      if (with_deadline) {
        (void)co_await circuit::co_call(b, echo(server->endpoint), 5s);
      } else {
        (void)co_await circuit::co_call(b, echo(server->endpoint));
      }
      FAIL("the EOF did not propagate");
    } catch (const std::system_error& e) {
      CHECK(e.code() == asio::error::eof);
    }
  });

  REQUIRE(seen.failure == 1);
  CHECK(seen.outcomes() == 1);
  const auto failed_after = clock_type::time_point(clock_type::duration(seen.last_failure_at.load())) - start;
  CHECK(failed_after < 20ms);
}

TEST_CASE("a stalled operation times out: cancelled, unwound, a failure whatever the predicate says") {
  asio::io_context ioc;
  auto server = start_server(ioc);
  server->mode = reply::stall;
  circuit::circuit_breaker<clock_type, circuit::sliding_window, nothing_fails> b({}, {.name = "slow-peer"});
  event_counts seen;
  auto sub = seen.watch(b);
  const bool callable = GENERATE(false, true);
  CAPTURE(callable);

  bool unwound = false;
  bool unwound_before_throw = false;
  const auto start = clock_type::now();
  clock_type::duration took{};
  run_until_done(ioc, [&]() -> asio::awaitable<void> {
    try {
      if (callable) {
        (void)co_await circuit::co_call(b, [&] { return echo(server->endpoint, "ping", nullptr, &unwound); }, 50ms);
      } else {
        (void)co_await circuit::co_call(b, echo(server->endpoint, "ping", nullptr, &unwound), 50ms);
      }
      FAIL("the call did not time out");
    } catch (const circuit::call_timeout_error& e) {
      took = clock_type::now() - start;
      unwound_before_throw = unwound;
      CHECK(e.code() == std::errc::timed_out);
      CHECK(e.name() == "slow-peer");
      CHECK(e.deadline() == 50ms);
      CHECK(std::string(e.what()).find("slow-peer") != std::string::npos);
    }
  });

  CHECK(took >= 50ms);
  CHECK(took < 150ms);
  CHECK(unwound_before_throw);
  CHECK(seen.failure == 1);
  CHECK(seen.outcomes() == 1);
  CHECK(b.metrics().total.failures == 1);
}

TEST_CASE("an exception the predicate ignores is ignored; the caller still gets it") {
  asio::io_context ioc;
  auto server = start_server(ioc);
  server->mode = reply::close;
  circuit::circuit_breaker<clock_type, circuit::sliding_window, nothing_fails> b;
  event_counts seen;
  auto sub = seen.watch(b);

  run_until_done(ioc, [&]() -> asio::awaitable<void> {
    int threw = 0;
    try {
      (void)co_await circuit::co_call(b, echo(server->endpoint));
    } catch (const std::system_error&) {
      ++threw;
    }
    try {
      (void)co_await circuit::co_call(b, echo(server->endpoint), 5s);
    } catch (const std::system_error&) {
      ++threw;
    }
    CHECK(threw == 2);
  });

  CHECK(seen.ignored == 2);
  CHECK(seen.outcomes() == 2);
}

TEST_CASE("the caller's cancellation, of any type, is ignored and gives the probe slot back") {
  const auto type = GENERATE(asio::cancellation_type::terminal, asio::cancellation_type::partial,
                             asio::cancellation_type::total);
  const bool with_deadline = GENERATE(false, true);
  CAPTURE(static_cast<int>(type), with_deadline);

  asio::io_context ioc;
  auto server = start_server(ioc);
  server->mode = reply::stall;
  circuit::manual_clock clock;
  circuit::circuit_breaker<circuit::manual_clock> b({}, {.open_for = circuit::fixed{10s}, .half_open_max_calls = 1},
                                                    clock);
  b.trip();
  clock.advance(11s);
  REQUIRE(b.current_state() == circuit::state::half_open);
  event_counts seen;
  auto sub = seen.watch(b);

  // Emitted while the client waits for the reply that never comes.
  asio::cancellation_signal signal;
  server->on_message = [&] { signal.emit(type); };
  bool unwound = false;
  bool aborted = false;
  std::exception_ptr escaped;
  asio::co_spawn(
      ioc,
      [&]() -> asio::awaitable<void> {
        // Asio lets only terminal cancellation into a coroutine by default;
        // a caller that takes the other types says so.
        if (type != asio::cancellation_type::terminal) {
          co_await asio::this_coro::reset_cancellation_state(asio::enable_total_cancellation());
        }
        try {
          if (with_deadline) {
            (void)co_await circuit::co_call(b, echo(server->endpoint, "ping", nullptr, &unwound), 10s);
          } else {
            (void)co_await circuit::co_call(b, echo(server->endpoint, "ping", nullptr, &unwound));
          }
        } catch (const std::system_error& e) {
          aborted = is_aborted(e) && unwound;
        }
      },
      asio::bind_cancellation_slot(signal.slot(), [&](std::exception_ptr e) {
        escaped = e;
        ioc.stop();
      }));
  ioc.run();

  REQUIRE_FALSE(escaped);
  CHECK(aborted);
  CHECK(seen.ignored == 1);
  CHECK(seen.outcomes() == 1);
  CHECK(b.current_state() == circuit::state::half_open);
  auto probe = b.try_guard();  // the slot came back
  CHECK(probe);
  probe.ignore();
}

TEST_CASE("a caller cancelled before the call is not admitted") {
  asio::io_context ioc;
  auto server = start_server(ioc);
  circuit::circuit_breaker<> b;
  event_counts seen;
  auto sub = seen.watch(b);
  asio::cancellation_signal signal;
  bool aborted = false;
  bool started = false;
  asio::co_spawn(
      ioc,
      [&]() -> asio::awaitable<void> {
        co_await asio::this_coro::throw_if_cancelled(false);
        asio::steady_timer wait(co_await asio::this_coro::executor, 1h);
        asio::post(ioc, [&] { signal.emit(asio::cancellation_type::terminal); });
        asio::error_code ec;
        co_await wait.async_wait(asio::redirect_error(asio::use_awaitable, ec));
        try {
          (void)co_await circuit::co_call(b, echo(server->endpoint, "ping", &started));
        } catch (const std::system_error& e) {
          aborted = is_aborted(e);
        }
      },
      asio::bind_cancellation_slot(signal.slot(), [&](std::exception_ptr) { ioc.stop(); }));
  ioc.run();

  CHECK(aborted);
  CHECK_FALSE(started);
  CHECK(seen.outcomes() == 0);
  CHECK(seen.rejected == 0);
}

TEST_CASE("destroying the io_context with a call pending records exactly one ignored outcome") {
  const bool with_deadline = GENERATE(false, true);
  CAPTURE(with_deadline);
  circuit::manual_clock clock;
  // Declared before the io_context: the pending frame settles into it.
  circuit::circuit_breaker<circuit::manual_clock> b({}, {.open_for = circuit::fixed{10s}, .half_open_max_calls = 1},
                                                    clock);
  b.trip();
  clock.advance(11s);
  event_counts seen;
  auto sub = seen.watch(b);
  bool unwound = false;
  {
    auto ioc = std::make_unique<asio::io_context>();
    auto server = start_server(*ioc);
    server->mode = reply::stall;
    bool finished = false;
    asio::co_spawn(
        *ioc,
        [&]() -> asio::awaitable<void> {
          if (with_deadline) {
            (void)co_await circuit::co_call(b, echo(server->endpoint, "ping", nullptr, &unwound), 1h);
          } else {
            (void)co_await circuit::co_call(b, echo(server->endpoint, "ping", nullptr, &unwound));
          }
        },
        [&](std::exception_ptr) { finished = true; });
    while (server->messages == 0) ioc->run_one();  // the call is now waiting for its reply
    REQUIRE_FALSE(finished);
    CHECK(seen.outcomes() == 0);
  }
  CHECK(unwound);
  CHECK(seen.ignored == 1);
  CHECK(seen.outcomes() == 1);
  auto probe = b.try_guard();  // the probe slot came back
  CHECK(probe);
  probe.ignore();
}

TEST_CASE("an open breaker refuses: the operation never starts and the server sees no connection") {
  asio::io_context ioc;
  auto server = start_server(ioc);
  circuit::circuit_breaker<> b({}, {.name = "db"});
  event_counts seen;
  auto sub = seen.watch(b);
  b.trip();

  bool started = false;
  bool invoked = false;
  int refusals = 0;
  run_until_done(ioc, [&]() -> asio::awaitable<void> {
    const auto ep = server->endpoint;
    for (int form = 0; form < 4; ++form) {
      try {
        switch (form) {
          case 0: (void)co_await circuit::co_call(b, echo(ep, "ping", &started)); break;
          case 1: (void)co_await circuit::co_call(b, echo(ep, "ping", &started), 1s); break;
          case 2:
            (void)co_await circuit::co_call(b, [&] {
              invoked = true;
              return echo(ep);
            });
            break;
          default:
            (void)co_await circuit::co_call(
                b,
                [&] {
                  invoked = true;
                  return echo(ep);
                },
                1s);
        }
      } catch (const circuit::open_circuit_error& e) {
        CHECK(e.name() == "db");
        CHECK(e.state() == circuit::state::open);
        ++refusals;
      }
    }
    // The same server answers once the breaker lets calls through.
    b.reset();
    const auto r5 = co_await circuit::co_call(b, echo(ep));
    CHECK(r5 == "ping");
  });

  CHECK(refusals == 4);
  CHECK_FALSE(started);
  CHECK_FALSE(invoked);
  CHECK(seen.rejected == 4);
  CHECK(b.metrics().total.rejections == 4);
  CHECK(server->accepted == 1);  // only the call after reset()
}

TEST_CASE("co_call through a set admits, records and refuses per peer, in every form") {
  asio::io_context ioc;
  auto server = start_server(ioc);
  circuit::circuit_breaker_set<> peers;
  event_counts seen;
  auto sub = seen.watch(peers);
  const auto ep = server->endpoint;

  run_until_done(ioc, [&]() -> asio::awaitable<void> {
    const auto r6 = co_await circuit::co_call(peers, "a", echo(ep, "1"));
    CHECK(r6 == "1");
    const auto r7 = co_await circuit::co_call(peers, std::string("a"), echo(ep, "2"), 5s);
    CHECK(r7 == "2");
    const auto r8 = co_await circuit::co_call(peers, "b", [&] { return echo(ep, "3"); });
    CHECK(r8 == "3");
    const auto r9 = co_await circuit::co_call(peers, "b", [&] { return echo(ep, "4"); }, 5s);
    CHECK(r9 == "4");

    server->mode = reply::stall;
    try {
      (void)co_await circuit::co_call(peers, "c", echo(ep), 20ms);
      FAIL("no timeout");
    } catch (const circuit::call_timeout_error& e) {
      CHECK(e.name() == "c");
    }

    peers.get("d").trip();
    bool invoked = false;
    try {
      (void)co_await circuit::co_call(peers, "d", [&] {
        invoked = true;
        return echo(ep);
      });
      FAIL("not refused");
    } catch (const circuit::open_circuit_error& e) {
      CHECK(e.name() == "d");
    }
    CHECK_FALSE(invoked);
  });

  CHECK(seen.success == 4);
  CHECK(seen.failure == 1);
  CHECK(seen.rejected == 1);
  CHECK(peers.get("a").metrics().total.successes == 2);
  CHECK(peers.get("b").metrics().total.successes == 2);
  CHECK(peers.get("c").metrics().total.failures == 1);
}

TEST_CASE("a deadline that is not positive is refused with an error naming it") {
  circuit::circuit_breaker<> b;
  circuit::circuit_breaker_set<> peers;
  const auto ep = asio_test::tcp::endpoint(asio::ip::make_address("127.0.0.1"), 9);
  CHECK_THROWS_WITH(circuit::co_call(b, echo(ep), 0ms), Catch::Contains("deadline"));
  CHECK_THROWS_AS(circuit::co_call(b, echo(ep), -1s), std::invalid_argument);
  CHECK_THROWS_AS(circuit::co_call(peers, "a", [&] { return echo(ep); }, 0s), std::invalid_argument);
  CHECK(b.metrics().total.rejections == 0);
  CHECK_FALSE(peers.contains("a"));
}

TEST_CASE("without a deadline, co_call allocates nothing beyond the awaited operation's own frames") {
  asio::io_context ioc;
  circuit::circuit_breaker<> b;
  constexpr int calls = 1000;
  std::uint64_t direct = 0;
  std::uint64_t through_breaker = 0;
  run_until_done(ioc, [&]() -> asio::awaitable<void> {
    // Warm-up: the thread's lane in the breaker, Asio's frame caches.
    for (int i = 0; i < 10; ++i) {
      (void)co_await asio_test::ready(i);
      (void)co_await circuit::co_call(b, asio_test::ready(i));
    }
    int wrong = 0;
    auto before = circuit_test::thread_allocations();
    for (int i = 0; i < calls; ++i) wrong += (co_await asio_test::ready(i) != i);
    direct = circuit_test::thread_allocations() - before;
    before = circuit_test::thread_allocations();
    for (int i = 0; i < calls; ++i) wrong += (co_await circuit::co_call(b, asio_test::ready(i)) != i);
    through_breaker = circuit_test::thread_allocations() - before;
    CHECK(wrong == 0);
  });
  CAPTURE(direct, through_breaker);
  // Asio recycles coroutine frames: neither loop should reach the heap.
  CHECK(through_breaker <= direct);
  CHECK(b.metrics().total.successes == calls + 10);
}

TEST_CASE("4 threads running one io_context, 10,000 calls: one outcome event per admission") {
  asio::io_context ioc;
  auto server = start_server(ioc);
  server->close_every = 25;  // some EOFs: failures, trips, probes, refusals
  circuit::circuit_breaker<clock_type, circuit::consecutive_failures> b(
      circuit::consecutive_failures{.threshold = 2}, {.open_for = circuit::fixed{1ms}, .half_open_max_calls = 2});
  event_counts seen;
  auto sub = seen.watch(b);

  constexpr int clients = 16;
  constexpr int calls_each = 625;  // 10,000 calls
  std::atomic<int> admitted{0}, refused{0}, succeeded{0}, done{0};
  std::atomic<int> unexpected{0};
  const auto ep = server->endpoint;
  for (int c = 0; c < clients; ++c) {
    asio::co_spawn(
        ioc,
        [&, c]() -> asio::awaitable<void> {
          asio_test::tcp::socket socket(co_await asio::this_coro::executor);
          asio::steady_timer pause(co_await asio::this_coro::executor);
          for (int i = 0; i < calls_each; ++i) {
            bool was_refused = false;
            try {
              std::string answer;
              if ((c + i) % 2 == 0) {
                answer = co_await circuit::co_call(b, asio_test::echo_on(socket, ep));
              } else {
                answer = co_await circuit::co_call(b, [&] { return asio_test::echo_on(socket, ep); }, 10s);
              }
              ++admitted;
              if (answer == "ping") ++succeeded;
            } catch (const circuit::open_circuit_error&) {
              ++refused;
              was_refused = true;
            } catch (const std::system_error&) {
              ++admitted;  // an EOF: admitted, failed
            }
            if (was_refused) {  // let the 1 ms open spell pass, so most calls are admitted
              pause.expires_after(1ms);
              co_await pause.async_wait(asio::use_awaitable);
            }
          }
        },
        [&](std::exception_ptr e) {
          if (e) ++unexpected;
          if (++done == clients) ioc.stop();
        });
  }
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) threads.emplace_back([&] { ioc.run(); });
  for (auto& t : threads) t.join();

  const int admissions = admitted, refusals = refused;
  const int successes = seen.success, failures = seen.failure, ignored = seen.ignored;
  CAPTURE(admissions, refusals, successes, failures, ignored);
  REQUIRE(done == clients);
  CHECK(unexpected == 0);
  CHECK(admitted + refused == clients * calls_each);
  CHECK(seen.outcomes() == admitted);
  CHECK(seen.rejected == refused);
  CHECK(seen.success == succeeded);
  const auto totals = b.metrics().total;
  CHECK(totals.successes + totals.failures + totals.ignored == static_cast<std::uint64_t>(admitted.load()));
  CHECK(totals.rejections == static_cast<std::uint64_t>(refused.load()));
  CHECK(seen.failure > 0);
  WARN("outcomes seen: " << successes << " successes, " << failures << " failures, " << ignored << " ignored; "
                         << refusals << " refusals");
}
