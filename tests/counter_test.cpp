// The Counter protocol as the breaker drives it: which on_success form a
// recorder has decides whether (and when) the clock is read on a success.

#include "catch.hpp"
#include "instrumented_clock.hpp"

#include <chrono>
#include <cstdint>
#include <memory>
#include <type_traits>

#include <circuit/circuit_breaker.hpp>
#include <circuit/counter.hpp>
#include <circuit/manual_clock.hpp>

using namespace std::chrono_literals;

namespace {

using ns = std::chrono::nanoseconds;

using counting_clock = test::instrumented_clock;

// What the counters below saw, shared with the test through the settings.
struct seen {
  int plain = 0;          // on_success()
  int timed = 0;          // on_success(now)
  int readers = 0;        // on_success(read_now)
  ns last_time{-1};
};

// A counter whose recorder never trips and records how it was called.
template <int Forms>  // bit 0: on_success(), bit 1: on_success(now), bit 2: on_success(read_now)
struct spy_counter {
  std::shared_ptr<seen> log = std::make_shared<seen>();
  void validate() const {}

  class recorder {
   public:
    explicit recorder(const spy_counter& s) : log_(s.log) {}
    bool on_failure(ns) noexcept { return false; }
    void on_success() noexcept
      requires((Forms & 1) != 0)
    {
      ++log_->plain;
    }
    void on_success(ns now) noexcept
      requires((Forms & 2) != 0)
    {
      ++log_->timed;
      log_->last_time = now;
    }
    template <class ReadNow>
      requires((Forms & 4) != 0 && std::is_invocable_r_v<ns, const ReadNow&>)
    void on_success(const ReadNow& read_now) noexcept {
      ++log_->readers;
      log_->last_time = read_now();
    }
    void reset() noexcept {}
    [[nodiscard]] circuit::counter_figures figures(ns) const noexcept { return {}; }

   private:
    std::shared_ptr<seen> log_;
  };
};

using plain_counter = spy_counter<1>;
using timed_counter = spy_counter<2>;
using reader_counter = spy_counter<2 | 4>;

static_assert(circuit::counter<plain_counter> && circuit::counter<timed_counter> && circuit::counter<reader_counter>);
static_assert(!circuit::reads_clock_on_success<plain_counter>);
static_assert(circuit::reads_clock_on_success<timed_counter> && !circuit::detail::takes_success_context<timed_counter>);
static_assert(circuit::detail::takes_success_context<reader_counter>);

template <class Counter>
struct fixture {
  Counter counter;
  counting_clock clock;
  circuit::circuit_breaker<counting_clock, Counter> b{counter, {}, clock};

  // Clock reads during one successful call().
  int reads_for_one_success() {
    const auto before = *clock.reads;
    b.call([] {});
    return *clock.reads - before;
  }
};

}  // namespace

TEST_CASE("a recorder with on_success() costs no clock read on success", "[counter]") {
  fixture<plain_counter> f;
  CHECK(f.reads_for_one_success() == 0);
  CHECK(f.counter.log->plain == 1);
}

TEST_CASE("a recorder with on_success(now) gets the breaker's time", "[counter]") {
  fixture<timed_counter> f;
  f.clock.timeline.set(circuit::manual_clock::time_point(42s));
  CHECK(f.reads_for_one_success() == 1);
  CHECK(f.counter.log->timed == 1);
  CHECK(f.counter.log->last_time == 42s);
}

TEST_CASE("a recorder with on_success(read_now) reads the breaker's time through it, once", "[counter]") {
  fixture<reader_counter> f;
  f.clock.timeline.set(circuit::manual_clock::time_point(7s));
  CHECK(f.reads_for_one_success() == 1);
  CHECK(f.counter.log->readers == 1);
  CHECK(f.counter.log->timed == 0);  // the reader form is preferred
  CHECK(f.counter.log->last_time == 7s);

  // Timed admissions (slow calls counted) read the clock at settlement
  // anyway; the reader then hands out that reading.
  reader_counter counter;
  counting_clock clock;
  circuit::circuit_breaker<counting_clock, reader_counter> timed(counter, {.slow_call = 1s}, clock);
  clock.timeline.set(circuit::manual_clock::time_point(9s));
  auto g = timed.try_guard();
  clock.timeline.advance(500ms);
  const auto before = *clock.reads;
  g.success();
  CHECK(*clock.reads - before == 1);
  CHECK(counter.log->readers == 1);
  CHECK(counter.log->last_time == 9500ms);
}

TEST_CASE("a stale success reaches no recorder and reads no clock", "[counter]") {
  fixture<reader_counter> f;
  auto g = f.b.try_guard();
  f.b.reset();  // a new generation
  const auto before = *f.clock.reads;
  g.success();
  CHECK(*f.clock.reads == before);
  CHECK(f.counter.log->readers == 0);
  CHECK(f.b.metrics().stale_outcomes == 1);
}
