// The breaker (and a set of them) under concurrent load: exact accounting
// for every counter, the half_open admission race, outcomes that settle
// after the state moved on, and trips, resets and isolations racing calls.
//
// Bounded by iteration counts, never by time: each test makes a fixed
// number of calls (fewer under the sanitizers, see `scale`), and threads
// meet at barriers instead of sleeping. Catch2's assertions are not
// thread-safe, so worker threads only count; the main thread checks.

#include <algorithm>
#include <atomic>
#include <barrier>
#include <chrono>
#include <cstdint>
#include <latch>
#include <stdexcept>
#include <string>
#include <thread>
#include <type_traits>
#include <vector>

#include <circuit/circuit_breaker.hpp>
#include <circuit/circuit_breaker_set.hpp>
#include <circuit/consecutive_failures.hpp>
#include <circuit/detail/thread_lane.hpp>
#include <circuit/failure_rate_window.hpp>
#include <circuit/manual_clock.hpp>
#include <circuit/net_failures.hpp>
#include <circuit/open_circuit_error.hpp>
#include <circuit/sliding_window.hpp>

#include "catch.hpp"

using namespace std::chrono_literals;

namespace {

#if defined(__SANITIZE_THREAD__) || defined(__SANITIZE_ADDRESS__)
#define CIRCUIT_STRESS_SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer) || __has_feature(address_sanitizer)
#define CIRCUIT_STRESS_SANITIZED 1
#endif
#endif

// Iterations multiply by this outside the sanitizers (which slow every
// atomic and lock by 5-20x on the 2 cores CI has).
#if defined(CIRCUIT_STRESS_SANITIZED)
constexpr int scale = 1;
#else
constexpr int scale = 4;
#endif

using circuit::outcome;
using circuit::state;

// What one thread did, by its own count.
struct tally {
  std::uint64_t successes = 0, failures = 0, ignored = 0, rejections = 0;

  void add(outcome o) {
    switch (o) {
      case outcome::success: ++successes; break;
      case outcome::failure: ++failures; break;
      case outcome::ignored: ++ignored; break;
    }
  }
  tally& operator+=(const tally& o) {
    successes += o.successes;
    failures += o.failures;
    ignored += o.ignored;
    rejections += o.rejections;
    return *this;
  }
};

tally sum(const std::vector<tally>& tallies) {
  tally all;
  for (const auto& t : tallies) all += t;
  return all;
}

// Call i of thread t: 6 successes, 3 failures and 1 ignored in every 10.
outcome planned(int t, int i) {
  const auto x = (i * 7 + t * 3) % 10;
  return x < 6 ? outcome::success : x < 9 ? outcome::failure : outcome::ignored;
}

template <class Permit>
void settle(Permit& p, outcome o) {
  switch (o) {
    case outcome::success: p.success(); break;
    case outcome::failure: p.failure(); break;
    case outcome::ignored: p.ignore(); break;
  }
}

bool is_a_state(state s) {
  return s == state::closed || s == state::open || s == state::half_open || s == state::isolated;
}

// Counts events by kind; safe to call from any thread.
struct event_counts {
  std::atomic<std::uint64_t> successes{0}, failures{0}, ignored{0}, rejections{0}, changes{0};
  void operator()(const circuit::event& e) {
    switch (e.kind) {
      case circuit::event_kind::success: successes.fetch_add(1, std::memory_order_relaxed); break;
      case circuit::event_kind::failure: failures.fetch_add(1, std::memory_order_relaxed); break;
      case circuit::event_kind::ignored: ignored.fetch_add(1, std::memory_order_relaxed); break;
      case circuit::event_kind::rejected: rejections.fetch_add(1, std::memory_order_relaxed); break;
      case circuit::event_kind::state_change: changes.fetch_add(1, std::memory_order_relaxed); break;
    }
  }
};

// Settings under which no number of calls made here trips the breaker.
circuit::sliding_window never_trips(circuit::sliding_window) { return {.max_failures = 65'535, .window = 60s}; }
circuit::consecutive_failures never_trips(circuit::consecutive_failures) { return {.threshold = 4'000'000'000u}; }
circuit::net_failures never_trips(circuit::net_failures) { return {.threshold = 4'000'000'000u}; }
circuit::failure_rate_window never_trips(circuit::failure_rate_window) {
  return {.failure_rate = 1.0, .minimum_calls = 4'000'000'000u, .window = 10s, .buckets = 10};
}

template <class Counter>
using manual_breaker = circuit::circuit_breaker<circuit::manual_clock, Counter>;

// Interleaves worker threads with one steering thread, whichever the
// scheduler favours: worker call i waits for steering action i / per_action,
// and steering action a waits until the workers made every call due before
// it. Bounded: the workers make actions * per_action calls each.
class lockstep {
 public:
  lockstep(int threads, int actions, int per_action)
      : threads_(threads), actions_(actions), per_action_(per_action), running_(threads) {}

  [[nodiscard]] int calls_per_thread() const { return actions_ * per_action_; }
  [[nodiscard]] int actions() const { return actions_; }

  void before_call(int i) {
    while (acted_.load() < i / per_action_) std::this_thread::yield();
    calls_.fetch_add(1);
  }
  void worker_done() { running_.fetch_sub(1); }

  void before_action(int a) {
    const auto due = static_cast<std::uint64_t>(a) * static_cast<std::uint64_t>(threads_ * per_action_);
    while (calls_.load() < due && running_.load() > 0) std::this_thread::yield();
  }
  void acted() { acted_.fetch_add(1); }

 private:
  int threads_, actions_, per_action_;
  std::atomic<int> running_;
  std::atomic<int> acted_{0};
  std::atomic<std::uint64_t> calls_{0};
};

}  // namespace

// ---- Exact accounting --------------------------------------------------------

TEMPLATE_TEST_CASE("ten threads' calls add up exactly in metrics() and events, for every counter", "[stress]",
                   circuit::sliding_window, circuit::consecutive_failures, circuit::net_failures,
                   circuit::failure_rate_window) {
  // Ten threads, three of them as threads that found every lane taken
  // (they share the overflow cell, with read-modify-writes).
  constexpr int threads = 10;
  const int calls = 1500 * scale;
  circuit::manual_clock clock;
  manual_breaker<TestType> b(never_trips(TestType{}), {}, clock);
  event_counts events;
  auto sub = b.on_event([&](const circuit::event& e) { events(e); });

  std::vector<tally> did(threads);
  std::latch start(threads);
  std::vector<std::thread> workers;
  for (int t = 0; t < threads; ++t) {
    workers.emplace_back([&, t] {
      if (t % 3 == 2) circuit::detail::this_lane = circuit::detail::overflow_lane;
      start.arrive_and_wait();
      for (int i = 0; i < calls; ++i) {
        const auto o = planned(t, i);
        switch (i % 3) {
          case 0: {  // try_guard, settled explicitly
            auto g = b.try_guard();
            if (!g) {
              ++did[t].rejections;
              continue;
            }
            settle(g, o);
            break;
          }
          case 1: {  // guard, settled explicitly or by scope exit for a success
            auto g = b.guard();
            if (o != outcome::success) settle(g, o);
            break;
          }
          default:  // call(): a failure is an exception, an ignored outcome explicit
            if (o == outcome::ignored) {
              b.try_guard().ignore();
            } else {
              try {
                b.call([&] {
                  if (o == outcome::failure) throw std::runtime_error("down");
                });
              } catch (const std::runtime_error&) {
              }
            }
            break;
        }
        did[t].add(o);
      }
    });
  }
  for (auto& w : workers) w.join();

  const auto expected = sum(did);
  const auto m = b.metrics();
  CHECK(m.state == state::closed);
  CHECK(m.generation == 0);
  CHECK(m.total.successes == expected.successes);
  CHECK(m.total.failures == expected.failures);
  CHECK(m.total.ignored == expected.ignored);
  CHECK(m.total.rejections == 0);
  CHECK(expected.rejections == 0);
  CHECK(m.total.successes + m.total.failures + m.total.ignored == std::uint64_t{threads} * calls);
  CHECK(m.since_transition == m.total);
  CHECK(m.stale_outcomes == 0);
  CHECK(events.successes.load() == expected.successes);
  CHECK(events.failures.load() == expected.failures);
  CHECK(events.ignored.load() == expected.ignored);  // one outcome event per admitted call
  CHECK(events.rejections.load() == 0);
  CHECK(events.changes.load() == 0);
  // The clock stood still: every call is inside any window.
  if constexpr (std::is_same_v<TestType, circuit::sliding_window>) {
    CHECK(m.window.failures == expected.failures);
  } else if constexpr (std::is_same_v<TestType, circuit::failure_rate_window>) {
    CHECK(m.window.failures == expected.failures);
    CHECK(m.window.successes == expected.successes);
  } else {
    CHECK(m.window.failures <= expected.failures);
  }
}

TEST_CASE("refusals by an open breaker add up exactly across threads", "[stress]") {
  constexpr int threads = 6;
  const int calls = 3000 * scale;
  circuit::manual_clock clock;
  manual_breaker<circuit::consecutive_failures> b({.threshold = 1}, {}, clock);
  b.trip();
  event_counts events;
  auto sub = b.on_event([&](const circuit::event& e) { events(e); });

  std::atomic<std::uint64_t> thrown{0};
  std::latch start(threads);
  std::vector<std::thread> workers;
  for (int t = 0; t < threads; ++t) {
    workers.emplace_back([&, t] {
      start.arrive_and_wait();
      std::uint64_t mine = 0;
      for (int i = 0; i < calls; ++i) {
        if ((i + t) % 2 == 0) {
          if (!b.try_guard()) ++mine;
        } else {
          try {
            b.call([] {});
          } catch (const circuit::open_circuit_error&) {
            ++mine;
          }
        }
      }
      thrown.fetch_add(mine);
    });
  }
  for (auto& w : workers) w.join();

  const auto m = b.metrics();
  CHECK(thrown.load() == std::uint64_t{threads} * calls);
  CHECK(m.total.rejections == std::uint64_t{threads} * calls);
  CHECK(m.since_transition.rejections == std::uint64_t{threads} * calls);
  CHECK(events.rejections.load() == std::uint64_t{threads} * calls);
  CHECK(m.state == state::open);
}

// ---- Half_open admission ---------------------------------------------------

TEST_CASE("threads racing for probes never hold more than half_open_max_calls, and each spell ends as its probes say",
          "[stress]") {
  // Each round: trip, let open_for pass, then
  //   race: every thread takes probes and gives them straight back (ignore),
  //         while counting how many it and the others hold at once;
  //   hold: every thread takes probes and keeps them: exactly `probes` are
  //         admitted among all threads, the rest refused;
  //   settle: the held probes all succeed (2 of them close the circuit, the
  //         third is stale), all fail (the first re-opens, the rest are
  //         stale) or are all ignored (the circuit stays half_open).
  constexpr std::uint32_t probes = 3;
  constexpr int threads = 4;
  constexpr int race_attempts = 36;
  constexpr int hold_attempts = 6;
  const int rounds = 1000 * scale;  // 168'000 admission attempts (672'000 outside the sanitizers)
  circuit::manual_clock clock;
  manual_breaker<circuit::consecutive_failures> b(
      {.threshold = 1}, {.open_for = circuit::fixed{1s}, .half_open_max_calls = probes, .success_threshold = 2},
      clock);

  std::atomic<int> in_flight{0};
  std::atomic<int> most_in_flight{0};
  std::atomic<std::uint64_t> held_now{0};
  std::vector<tally> did(threads);
  std::barrier sync(threads + 1);
  auto plan_of = [](int round) { return static_cast<outcome>(round % 3); };  // success, failure, ignored
  // Counted from just after admission to just before settlement: never
  // more than the breaker holds, so never more than `probes`.
  std::atomic<int> most_while_racing{0};
  auto raise = [](std::atomic<int>& most, int now_held) {
    int seen = most.load();
    while (now_held > seen && !most.compare_exchange_weak(seen, now_held)) {
    }
  };
  auto note_in_flight = [&](int now_held) { raise(most_in_flight, now_held); };

  std::vector<std::thread> workers;
  for (int t = 0; t < threads; ++t) {
    workers.emplace_back([&, t] {
      std::vector<manual_breaker<circuit::consecutive_failures>::guard_type> held;
      for (int round = 0; round < rounds; ++round) {
        sync.arrive_and_wait();  // (1) the breaker is half_open
        for (int a = 0; a < race_attempts; ++a) {
          auto g = b.try_guard();
          if (!g) {
            ++did[t].rejections;
            continue;
          }
          const int now_held = in_flight.fetch_add(1) + 1;
          note_in_flight(now_held);
          raise(most_while_racing, now_held);
          if (a % 4 == 0) std::this_thread::yield();  // hold it a moment, racing the others
          in_flight.fetch_sub(1);
          g.ignore();
          ++did[t].ignored;
        }
        sync.arrive_and_wait();  // (2) race over
        for (int a = 0; a < hold_attempts; ++a) {
          if (auto g = b.try_guard()) {
            note_in_flight(in_flight.fetch_add(1) + 1);
            held.push_back(std::move(g));
          } else {
            ++did[t].rejections;
          }
        }
        held_now.fetch_add(held.size());
        sync.arrive_and_wait();  // (3) every probe is held
        sync.arrive_and_wait();  // (4) the main thread has looked
        const auto o = plan_of(round);
        for (auto& g : held) {
          in_flight.fetch_sub(1);
          settle(g, o);
          did[t].add(o);
        }
        held.clear();
        sync.arrive_and_wait();  // (5) settled
      }
    });
  }

  int bad_setup = 0, bad_hold = 0, bad_end = 0;
  std::uint64_t stale_expected = 0;
  std::string first_failure;
  auto note = [&](int& counter, int round, const std::string& what) {
    if (counter++ == 0 && first_failure.empty()) first_failure = "round " + std::to_string(round) + ": " + what;
  };
  for (int round = 0; round < rounds; ++round) {
    b.trip();
    clock.advance(1s);
    if (b.current_state() != state::half_open) note(bad_setup, round, "not half_open after open_for");
    held_now.store(0);
    sync.arrive_and_wait();  // (1)
    sync.arrive_and_wait();  // (2)
    if (b.metrics().state != state::half_open) note(bad_hold, round, "the race moved the state");
    sync.arrive_and_wait();  // (3)
    if (held_now.load() != probes) {
      note(bad_hold, round, std::to_string(held_now.load()) + " probes held at once, not " + std::to_string(probes));
    }
    sync.arrive_and_wait();  // (4)
    sync.arrive_and_wait();  // (5)
    const auto s = b.metrics().state;
    switch (plan_of(round)) {
      case outcome::success:
        stale_expected += probes - 2;
        if (s != state::closed) note(bad_end, round, "successes did not close");
        break;
      case outcome::failure:
        stale_expected += probes - 1;
        if (s != state::open) note(bad_end, round, "failures did not re-open");
        break;
      case outcome::ignored:
        if (s != state::half_open) note(bad_end, round, "ignored probes moved the state");
        break;
    }
  }
  for (auto& w : workers) w.join();

  INFO(first_failure);
  CHECK(bad_setup == 0);
  CHECK(bad_hold == 0);
  CHECK(bad_end == 0);
  CHECK(most_in_flight.load() == static_cast<int>(probes));  // reached (the hold phase), never passed
  const auto expected = sum(did);
  const auto m = b.metrics();
  CHECK(m.total.successes == expected.successes);
  CHECK(m.total.failures == expected.failures);
  CHECK(m.total.ignored == expected.ignored);
  CHECK(m.total.rejections == expected.rejections);
  CHECK(m.stale_outcomes == stale_expected);
  const auto attempts = std::uint64_t{threads} * (race_attempts + hold_attempts) * static_cast<std::uint64_t>(rounds);
  CHECK(expected.successes + expected.failures + expected.ignored + expected.rejections == attempts);
  CHECK(attempts >= 100'000);
  WARN("half_open race: " << rounds << " rounds, " << attempts << " admission attempts, at most "
                          << most_while_racing.load() << " probes seen in flight while racing");
}

// ---- Stale outcomes ----------------------------------------------------------

TEST_CASE("permits taken before a trip, reset, isolation or re-opening and settled after it move nothing",
          "[stress]") {
  // Each round, every thread takes permits in one generation; the main
  // thread then moves the breaker to a new one; the threads settle their
  // permits concurrently with successes, failures and ignores. Nothing but
  // the totals and stale_outcomes may change: not the state, the
  // generation, open_until or the counter. consecutive_failures{1}: a single
  // counted failure would trip, a single counted probe success would close.
  constexpr int threads = 4;
  constexpr int per_thread = 8;
  const int rounds = 150 * scale;
  circuit::manual_clock clock;
  manual_breaker<circuit::consecutive_failures> b(
      {.threshold = 1}, {.open_for = circuit::fixed{1s}, .half_open_max_calls = threads * per_thread}, clock);

  std::vector<tally> did(threads);
  std::atomic<std::uint64_t> taken{0};
  std::barrier sync(threads + 1);
  std::vector<std::thread> workers;
  for (int t = 0; t < threads; ++t) {
    workers.emplace_back([&, t] {
      std::vector<manual_breaker<circuit::consecutive_failures>::guard_type> held;
      for (int round = 0; round < rounds; ++round) {
        sync.arrive_and_wait();  // (1) closed or half_open
        for (int i = 0; i < per_thread; ++i) {
          if (auto g = b.try_guard()) held.push_back(std::move(g));
        }
        taken.fetch_add(held.size());
        sync.arrive_and_wait();  // (2) taken
        sync.arrive_and_wait();  // (3) the generation moved on
        for (std::size_t i = 0; i < held.size(); ++i) {
          const auto o = planned(t, round * per_thread + static_cast<int>(i));
          settle(held[i], o);
          did[t].add(o);
        }
        held.clear();
        sync.arrive_and_wait();  // (4) settled
      }
    });
  }

  int moved = 0, missing = 0;
  std::string first_failure;
  for (int round = 0; round < rounds; ++round) {
    const int kind = round % 4;
    b.reset();
    if (kind == 3) {  // probes of a half_open spell
      b.trip();
      clock.advance(1s);
      (void)b.current_state();
    }
    taken.store(0);
    sync.arrive_and_wait();  // (1)
    sync.arrive_and_wait();  // (2)
    if (taken.load() != threads * per_thread) ++missing;
    switch (kind) {
      case 0: b.trip(); break;     // closed -> open
      case 1: b.reset(); break;    // closed -> closed, a new generation
      case 2: b.isolate(); break;  // closed -> isolated
      case 3: b.trip(); break;     // half_open -> open: the probes are stale
    }
    const auto before = b.metrics();
    sync.arrive_and_wait();  // (3)
    sync.arrive_and_wait();  // (4)
    const auto after = b.metrics();
    const bool same = after.state == before.state && after.generation == before.generation &&
                      after.open_until == before.open_until && after.window.failures == before.window.failures &&
                      after.stale_outcomes == before.stale_outcomes + threads * per_thread;
    if (!same && moved++ == 0) {
      first_failure = "round " + std::to_string(round) + " (kind " + std::to_string(kind) + "): state " +
                      std::string(circuit::to_string(before.state)) + " -> " +
                      std::string(circuit::to_string(after.state)) + ", generation " +
                      std::to_string(before.generation) + " -> " + std::to_string(after.generation) + ", stale " +
                      std::to_string(before.stale_outcomes) + " -> " + std::to_string(after.stale_outcomes);
    }
  }
  for (auto& w : workers) w.join();

  INFO(first_failure);
  CHECK(missing == 0);
  CHECK(moved == 0);
  const auto expected = sum(did);
  const auto m = b.metrics();
  CHECK(m.stale_outcomes == std::uint64_t{threads} * per_thread * static_cast<std::uint64_t>(rounds));
  CHECK(m.total.successes == expected.successes);
  CHECK(m.total.failures == expected.failures);
  CHECK(m.total.ignored == expected.ignored);
}

// ---- Steering while others call ----------------------------------------------

TEST_CASE("trips, resets, isolations and clock moves from one thread while others call keep every count exact",
          "[stress]") {
  constexpr int threads = 4;
  circuit::manual_clock clock;
  using breaker = manual_breaker<circuit::sliding_window>;
  breaker b({.max_failures = 2, .window = 1s},
            {.open_for = circuit::fixed{100ms}, .half_open_max_calls = 2, .success_threshold = 2, .slow_call = 50ms},
            clock);
  event_counts events;
  auto sub = b.on_event([&](const circuit::event& e) { events(e); });

  // Each thread counts what it settled; with slow_call a success may land
  // as a failure (the clock moves meanwhile), so successes and failures are
  // checked together, ignored outcomes and refusals exactly.
  struct did_t {
    std::uint64_t counted = 0, ignored = 0, rejections = 0;
  };
  std::vector<did_t> did(threads);
  lockstep pace(threads, 1500 * scale, 2);
  std::latch start(threads + 1);
  std::vector<std::thread> workers;
  for (int t = 0; t < threads; ++t) {
    workers.emplace_back([&, t] {
      start.arrive_and_wait();
      std::vector<breaker::guard_type> held;
      for (int i = 0; i < pace.calls_per_thread(); ++i) {
        pace.before_call(i);
        const auto o = planned(t, i);
        auto count = [&](outcome x) { (x == outcome::ignored ? did[t].ignored : did[t].counted) += 1; };
        switch (i % 4) {
          case 0:
          case 1: {
            auto g = b.try_guard();
            if (!g) {
              ++did[t].rejections;
            } else if (held.size() < 3 && i % 8 < 4) {
              held.push_back(std::move(g));  // settled later, out of order
            } else {
              settle(g, o);
              count(o);
            }
            break;
          }
          case 2:
            try {
              b.call([&] {
                if (o == outcome::failure) throw std::runtime_error("down");
              });
              count(outcome::success);
            } catch (const circuit::open_circuit_error&) {
              ++did[t].rejections;
            } catch (const std::runtime_error&) {
              count(outcome::failure);
            }
            break;
          default:
            if (!held.empty()) {
              const auto k = static_cast<std::size_t>(i) % held.size();
              settle(held[k], o);
              count(o);
              held.erase(held.begin() + static_cast<std::ptrdiff_t>(k));
            }
            break;
        }
      }
      for (auto& g : held) {
        g.failure();
        ++did[t].counted;
      }
      pace.worker_done();
    });
  }

  // The steering thread is this one.
  std::uint64_t acted = 0, bad_states = 0, bad_since = 0;
  start.arrive_and_wait();
  for (int a = 0; a < pace.actions(); ++a) {
    pace.before_action(a);
    switch (acted++ % 9) {
      case 0: b.trip(); break;
      case 1: clock.advance(60ms); break;
      case 2: b.reset(); break;
      case 3: clock.advance(100ms); break;
      case 4:
        if (acted % 5 == 0) b.isolate();
        break;
      case 5: bad_states += is_a_state(b.current_state()) ? 0 : 1; break;
      case 6: {
        const auto m = b.metrics();
        bad_states += is_a_state(m.state) ? 0 : 1;
        bad_since += (m.since_transition.successes > m.total.successes ||
                      m.since_transition.failures > m.total.failures ||
                      m.since_transition.rejections > m.total.rejections)
                         ? 1
                         : 0;
        break;
      }
      case 7: clock.advance(1s); break;
      default: break;
    }
    pace.acted();
  }
  for (auto& w : workers) w.join();

  std::uint64_t counted = 0, ignored = 0, rejections = 0;
  for (const auto& d : did) {
    counted += d.counted;
    ignored += d.ignored;
    rejections += d.rejections;
  }
  const auto m = b.metrics();
  CHECK(bad_states == 0);
  CHECK(bad_since == 0);
  CHECK(m.total.successes + m.total.failures == counted);
  CHECK(m.total.ignored == ignored);
  CHECK(m.total.rejections == rejections);
  CHECK(events.successes.load() == m.total.successes);
  CHECK(events.failures.load() == m.total.failures);
  CHECK(events.rejections.load() == m.total.rejections);
  CHECK(m.stale_outcomes <= counted + ignored);
  CHECK(m.generation >= events.changes.load());

  // Not wedged: reset() closes it, and it opens and recovers on its own.
  b.reset();
  CHECK(b.current_state() == state::closed);
  for (int i = 0; i < 3; ++i) b.try_guard().failure();
  CHECK(b.current_state() == state::open);
  clock.advance(100ms);
  CHECK(b.current_state() == state::half_open);
  b.try_guard().success();
  b.try_guard().success();
  CHECK(b.current_state() == state::closed);
  CHECK(counted + ignored + rejections >= std::uint64_t{threads} * pace.calls_per_thread() / 2);
  CHECK(events.changes.load() > 100);
  WARN("steering: " << acted << " actions, " << counted + ignored << " outcomes, " << rejections << " refusals, "
                    << m.stale_outcomes << " stale");
}

// ---- A set under churn -------------------------------------------------------

TEST_CASE("a capped set's peers come and go while threads call, fail and hold guards across erase", "[stress]") {
  // Adversarial companion of circuit_breaker_set_test.cpp's churn test:
  // peers fail and open, a cap forces creation to evict (or to refuse, when
  // every peer is in use or open: a refused try_guard, a std::length_error
  // from call and try_emplace, all counted in capacity_refusals()), the cap changes,
  // guards are held across erase() and eviction, and erased peers are
  // made again while their old breaker is still pinned.
  using breaker = circuit::circuit_breaker<circuit::manual_clock, circuit::consecutive_failures>;
  using set = circuit::circuit_breaker_set<breaker>;
  constexpr int threads = 4;
  constexpr int peer_count = 12;
  circuit::manual_clock clock;
  set peers({.threshold = 2}, {.open_for = circuit::fixed{1s}}, clock);
  peers.set_max_peers(6);
  std::vector<std::string> ids;
  for (int i = 0; i < peer_count; ++i) ids.push_back("peer-" + std::to_string(i));
  event_counts events;
  auto sub = peers.on_event([&](const circuit::event& e) { events(e); });

  struct did_t {
    std::uint64_t admitted = 0, refused = 0, full = 0;
  };
  std::vector<did_t> did(threads);
  lockstep pace(threads, 800 * scale, 2);
  std::latch start(threads + 1);
  std::vector<std::thread> workers;
  for (int t = 0; t < threads; ++t) {
    workers.emplace_back([&, t] {
      start.arrive_and_wait();
      std::vector<set::guard_type> held;
      for (int i = 0; i < pace.calls_per_thread(); ++i) {
        pace.before_call(i);
        const std::string_view id = ids[static_cast<std::size_t>((i * 5 + t) % peer_count)];
        const bool fail = (i + t) % 3 == 0;
        try {
          if (i % 2 == 0) {
            auto g = peers.try_guard(id);
            if (!g) {
              ++did[t].refused;
            } else {
              ++did[t].admitted;
              if (held.size() < 2) {
                held.push_back(std::move(g));  // kept across the churn
              } else if (fail) {
                g.failure();
              }  // else: a success on scope exit
            }
          } else {
            peers.call(id, [&] {
              ++did[t].admitted;
              if (fail) throw std::runtime_error("down");
            });
          }
        } catch (const circuit::open_circuit_error&) {
          ++did[t].refused;
        } catch (const std::length_error&) {
          ++did[t].full;
        } catch (const std::runtime_error&) {
        }
        if (i % 7 == 0 && !held.empty()) held.erase(held.begin());  // settles (success) and unpins
      }
      held.clear();
      pace.worker_done();
    });
  }

  std::uint64_t removed = 0, actions = 0, made = 0, bad_listing = 0, emplace_full = 0;
  start.arrive_and_wait();
  for (int r = 0; r < pace.actions(); ++r) {
    pace.before_action(r);
    const auto& id = ids[actions % peer_count];
    switch (actions++ % 8) {
      case 0: removed += peers.erase(id) ? 1 : 0; break;
      case 1: removed += peers.evict_idle(0ns); break;
      case 2: peers.set_max_peers(3 + actions % 6); break;
      case 3: clock.advance(500ms); break;
      case 4:
        try {
          made += peers.try_emplace(id, {.threshold = 1}, {.open_for = circuit::fixed{2s}}).second ? 1 : 0;
        } catch (const std::length_error&) {
          ++emplace_full;
        }
        break;
      case 5: {
        std::size_t n = 0;
        peers.for_each([&](const std::string&, const breaker& b) { n += is_a_state(b.current_state()) ? 1 : 0; });
        bad_listing += n > peer_count ? 1 : 0;
        break;
      }
      case 6: bad_listing += peers.open_circuits().size() > peer_count ? 1 : 0; break;
      default: break;
    }
    pace.acted();
  }
  for (auto& w : workers) w.join();

  std::uint64_t admitted = 0, refused = 0, full = 0;
  for (const auto& d : did) {
    admitted += d.admitted;
    refused += d.refused;
    full += d.full;
  }
  CHECK(bad_listing == 0);
  CHECK(admitted > 0);
  // Every admitted call settled exactly once, on whichever breaker it was
  // admitted by, erased or not; every breaker's refusal was heard. The
  // refused try_guards also hold the cap's refusals (no breaker, no event):
  // capacity_refusals() less the length_errors.
  CHECK(events.successes.load() + events.failures.load() == admitted);
  REQUIRE(peers.capacity_refusals() >= full + emplace_full);
  const auto refused_at_cap = peers.capacity_refusals() - full - emplace_full;
  CHECK(events.rejections.load() + refused_at_cap == refused);
  CHECK(admitted + refused + full == std::uint64_t{threads} * pace.calls_per_thread());
  CHECK(removed > 0);
  CHECK(peers.size() <= peer_count);
  std::size_t listed = 0;
  peers.for_each([&](const std::string&, const breaker&) { ++listed; });
  CHECK(listed == peers.size());
  WARN("set churn: " << removed << " removed, " << made << " made by try_emplace, " << full + refused_at_cap
                     << " refused at the cap, " << admitted << " admitted, " << refused << " refused");
}
