#pragma once
// Drives the real circuit_breaker and the reference model
// (tests/system/model/reference_model.hpp) with one sequence of operations and
// compares them after every step: admissions, refusals (state and
// retry_after), metrics, events and listener errors.
//
// The sequence is decoded from a `Source` of choices, so the same driver
// serves the seeded CI test (tests/system/model_test.cpp: a seeded PRNG) and the
// libFuzzer target (tests/fuzz/model_fuzz.cpp: the fuzzer's bytes). A
// Source has `std::uint32_t pick(std::uint32_t n)` (a choice in [0, n); 0
// for n <= 1) and `bool exhausted() const`.
//
// Operations: try_guard(), guard(), call() with every kind of outcome,
// settling held permits out of order in every way a permit can be settled
// (success/failure/ignore, failure(exception_ptr) and record(result)
// classified by the predicate, destruction in normal scope exit and while
// unwinding, move-assignment over an unsettled permit, settling twice),
// clock moves aimed at exact boundaries (open_until, a failure exactly one
// window old, a slice leaving the window, slow_call) and beyond, trip(),
// isolate(), disable(), reset(), current_state(), and a throwing listener coming and
// going. Configurations cover every counter and option mix; exponential
// backoff is compared exactly when jitter is 0, and within its documented
// range (the model then adopts the breaker's draw) otherwise. The clock only
// moves forward here; a clock going backwards is tests/system/bad_input_test.cpp's.

#include <chrono>
#include <cstdint>
#include <exception>
#include <limits>
#include <optional>
#include <random>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include <circuit/circuit_breaker.hpp>
#include <circuit/consecutive_failures.hpp>
#include <circuit/failure_rate_window.hpp>
#include <circuit/manual_clock.hpp>
#include <circuit/net_failures.hpp>
#include <circuit/open_circuit_error.hpp>
#include <circuit/options.hpp>
#include <circuit/sliding_window.hpp>

#include "reference_model.hpp"

namespace circuit_model {

/// Choices from a seeded PRNG, `steps` operations long.
class seeded_source {
 public:
  seeded_source(std::uint64_t seed, std::size_t steps) : random_(seed), left_(steps) {}
  std::uint32_t pick(std::uint32_t n) { return n <= 1 ? 0 : static_cast<std::uint32_t>(random_() % n); }
  /// Counts down one operation per call.
  bool exhausted() { return left_ == 0 || (--left_, false); }

 private:
  std::mt19937_64 random_;
  std::size_t left_;
};

/// Choices read from bytes (a fuzzer's input); all zeros once consumed.
class byte_source {
 public:
  byte_source(const std::uint8_t* data, std::size_t size) : data_(data), size_(size) {}
  std::uint32_t pick(std::uint32_t n) {
    if (n <= 1) return 0;
    std::uint32_t v = 0;
    const std::size_t bytes = n <= 256 ? 1 : 4;
    for (std::size_t i = 0; i < bytes; ++i) v = (v << 8) | (at_ < size_ ? data_[at_++] : 0u);
    return v % n;
  }
  bool exhausted() const { return at_ >= size_; }

 private:
  const std::uint8_t* data_;
  std::size_t size_;
  std::size_t at_ = 0;
};

/// Classifies exceptions and int results: int (or a negative result) is a
/// failure, char (or 0) is ignored, anything else a success.
struct model_predicate {
  circuit::outcome operator()(const std::exception_ptr& e) const {
    try {
      std::rethrow_exception(e);
    } catch (int) {
      return circuit::outcome::failure;
    } catch (char) {
      return circuit::outcome::ignored;
    } catch (...) {
      return circuit::outcome::success;
    }
  }
  circuit::outcome operator()(int result) const {
    return result < 0 ? circuit::outcome::failure : result == 0 ? circuit::outcome::ignored : circuit::outcome::success;
  }
};

/// How a run ended: `ok`, or the first disagreement with a trace.
struct run_result {
  bool ok = true;
  std::string message;
  std::size_t steps = 0;
  std::uint64_t admissions = 0;
  std::uint64_t transitions = 0;
};

namespace detail {

inline constexpr std::int64_t s = 1'000'000'000;
inline constexpr std::int64_t ms = 1'000'000;

inline const char* name(state st) { return circuit::to_string(st).data(); }

template <class Source, class T, std::size_t N>
T one_of(Source& src, const T (&choices)[N]) {
  return choices[src.pick(static_cast<std::uint32_t>(N))];
}

template <class Source>
config decode_config(Source& src, std::int64_t& start, bool& recording, std::uint64_t& seed) {
  config c;
  auto& k = c.counter;
  k.kind = static_cast<counter_kind>(src.pick(4));
  switch (k.kind) {
    case counter_kind::sliding_window: {
      static constexpr std::uint32_t max_failures[] = {0, 1, 2, 3, 5};
      static constexpr std::int64_t windows[] = {1, 10, s, 7 * s, 60 * s};
      k.max_failures = one_of(src, max_failures);
      k.window = one_of(src, windows);
      break;
    }
    case counter_kind::consecutive_failures:
    case counter_kind::net_failures: k.threshold = src.pick(5) + 1; break;
    case counter_kind::failure_rate_window: {
      static constexpr double rates[] = {0.1, 0.25, 0.5, 0.75, 1.0};
      static constexpr std::int64_t windows[] = {10, s, 7 * s, 10 * s, 1'000'003};
      static constexpr std::uint32_t buckets[] = {1, 2, 3, 7, 10};
      k.failure_rate = one_of(src, rates);
      k.minimum_calls = src.pick(6) + 1;
      k.window = one_of(src, windows);
      k.buckets = one_of(src, buckets);
      break;
    }
  }
  auto& o = c.open_for;
  o.exponential = src.pick(2) == 1;
  if (!o.exponential) {
    static constexpr std::int64_t fixed[] = {1, s, 7 * s, 10 * s};
    o.fixed = one_of(src, fixed);
  } else {
    // Chosen so that initial * multiplier^n is exact in double up to max:
    // the model and the breaker then truncate the same number.
    static constexpr std::int64_t initial[] = {7, 250 * ms, s};
    static constexpr double multipliers[] = {1.0, 1.5, 2.0, 3.0};
    static constexpr double jitters[] = {0.0, 0.0, 0.0, 0.25, 1.0};
    o.initial = one_of(src, initial);
    o.multiplier = one_of(src, multipliers);
    if (o.initial == 7 && o.multiplier == 1.5) o.multiplier = 2.0;
    const std::int64_t maxima[] = {o.initial, 5 * o.initial, 60 * s};
    o.max = one_of(src, maxima);
    o.jitter = one_of(src, jitters);
  }
  c.half_open_max_calls = src.pick(4) + 1;
  c.success_threshold = src.pick(3) + 1;
  static constexpr std::int64_t slow[] = {0, 0, 1, 500 * ms, 2 * s};
  if (const auto sc = one_of(src, slow); sc != 0) c.slow_call = sc;
  static constexpr std::int64_t probe_timeouts[] = {0, 0, 1, 300 * ms, 3 * s};
  if (const auto pt = one_of(src, probe_timeouts); pt != 0) c.probe_timeout = pt;
  c.time_calls = src.pick(4) == 0;
  // The last start leaves room for the longest open spell (a duration that
  // would overflow the clock at construction is rejected); the clock then
  // moves on into saturation.
  static constexpr std::int64_t starts[] = {0, -5 * s, 1'700'000'000 * s, std::numeric_limits<std::int64_t>::max() - 90 * s};
  start = one_of(src, starts);
  recording = src.pick(4) != 0;
  seed = src.pick(1u << 30);
  return c;
}

inline std::string describe(const config& c, std::int64_t start, std::uint64_t seed) {
  std::ostringstream os;
  const auto& k = c.counter;
  switch (k.kind) {
    case counter_kind::sliding_window:
      os << "sliding_window{.max_failures=" << k.max_failures << ", .window=" << k.window << "ns}";
      break;
    case counter_kind::consecutive_failures: os << "consecutive_failures{.threshold=" << k.threshold << "}"; break;
    case counter_kind::net_failures: os << "net_failures{.threshold=" << k.threshold << "}"; break;
    case counter_kind::failure_rate_window:
      os << "failure_rate_window{.failure_rate=" << k.failure_rate << ", .minimum_calls=" << k.minimum_calls
         << ", .window=" << k.window << "ns, .buckets=" << k.buckets << "}";
      break;
  }
  const auto& o = c.open_for;
  if (o.exponential) {
    os << " exponential{.initial=" << o.initial << "ns, .multiplier=" << o.multiplier << ", .max=" << o.max
       << "ns, .jitter=" << o.jitter << ", .seed=" << seed << "}";
  } else {
    os << " fixed{" << o.fixed << "ns}";
  }
  os << " half_open_max_calls=" << c.half_open_max_calls << " success_threshold=" << c.success_threshold
     << " slow_call=" << (c.slow_call ? std::to_string(*c.slow_call) + "ns" : std::string("none"))
     << " probe_timeout=" << (c.probe_timeout ? std::to_string(*c.probe_timeout) + "ns" : std::string("none"))
     << " time_calls=" << c.time_calls
     << " clock start=" << start << "ns";
  return os.str();
}

template <class Counter>
Counter make_counter(const counter_config& k) {
  if constexpr (std::is_same_v<Counter, circuit::sliding_window>) {
    return {.max_failures = k.max_failures, .window = std::chrono::nanoseconds(k.window)};
  } else if constexpr (std::is_same_v<Counter, circuit::failure_rate_window>) {
    return {.failure_rate = k.failure_rate,
            .minimum_calls = k.minimum_calls,
            .window = std::chrono::nanoseconds(k.window),
            .buckets = k.buckets};
  } else {
    return {.threshold = k.threshold};
  }
}

inline circuit::options make_options(const config& c, std::uint64_t seed) {
  circuit::options o;
  o.name = "model";
  if (c.open_for.exponential) {
    o.open_for = circuit::exponential{.initial = std::chrono::nanoseconds(c.open_for.initial),
                                      .multiplier = c.open_for.multiplier,
                                      .max = std::chrono::nanoseconds(c.open_for.max),
                                      .jitter = c.open_for.jitter,
                                      .seed = seed};
  } else {
    o.open_for = circuit::fixed{std::chrono::nanoseconds(c.open_for.fixed)};
  }
  o.half_open_max_calls = c.half_open_max_calls;
  o.success_threshold = c.success_threshold;
  if (c.slow_call) o.slow_call = std::chrono::nanoseconds(*c.slow_call);
  if (c.probe_timeout) o.probe_timeout = std::chrono::nanoseconds(*c.probe_timeout);
  o.time_calls = c.time_calls;
  return o;
}

// One run: a breaker, the model, the held permits, and the comparisons.
template <class Counter, class Source>
class run {
  using breaker_type = circuit::circuit_breaker<circuit::manual_clock, Counter, model_predicate>;
  using permit_type = typename breaker_type::guard_type;

  struct held {
    permit_type permit;
    reference_model::permit_id id;
  };

 public:
  run(Source& src, const config& c, std::int64_t start, bool recording, std::uint64_t seed, std::string description)
      : src_(src), cfg_(c), now_(start), clock_(circuit::manual_clock::time_point(std::chrono::nanoseconds(start))),
        breaker_(make_counter<Counter>(c.counter), make_options(c, seed), clock_), model_(c, start),
        recording_(recording), description_(std::move(description)) {
    if (recording_) {
      events_sub_ = breaker_.on_event([this](const circuit::event& e) {
        events_.push_back({e.kind, e.from, e.to, e.error != nullptr, e.generation, e.cause});
        // Every state change, and nothing else, carries a cause and the time.
        if ((e.kind == circuit::event_kind::state_change) != e.cause.has_value()) bad_event_ = true;
        if (e.kind == circuit::event_kind::state_change && !e.time) bad_event_ = true;
        if (e.kind == circuit::event_kind::state_change && (e.to == state::open) != e.open_for.has_value()) {
          bad_event_ = true;
        }
        if (e.name != "model") bad_name_ = true;
      });
    }
  }

  run_result go(std::size_t max_steps) {
    compare("construction");
    while (result_.ok && result_.steps < max_steps && !src_.exhausted()) {
      ++result_.steps;
      step();
    }
    // Settle whatever is still held, in order.
    while (result_.ok && !held_.empty()) {
      settle_at(held_.size() - 1, 0);
    }
    return result_;
  }

 private:
  // ---- Operations -----------------------------------------------------------

  void step() {
    // Weights: acquire, settle, call, clock, steer, query, listener.
    const auto op = src_.pick(40);
    if (op < 8) {
      acquire(src_.pick(3) == 0);
    } else if (op < 17) {
      if (held_.empty()) {
        acquire(false);
      } else {
        settle_at(src_.pick(static_cast<std::uint32_t>(held_.size())), src_.pick(11));
      }
    } else if (op < 22) {
      call(src_.pick(7));
    } else if (op < 31) {
      advance();
    } else if (op < 33) {
      trace("trip()");
      breaker_.trip();
      model_.trip(now_);
      compare("trip");
    } else if (op < 34) {
      if (src_.pick(2) == 0) {
        trace("isolate()");
        breaker_.isolate();
        model_.isolate(now_);
        compare("isolate");
      } else {
        trace("disable()");
        breaker_.disable();
        model_.disable(now_);
        compare("disable");
      }
    } else if (op < 36) {
      trace("reset()");
      breaker_.reset();
      model_.reset(now_);
      compare("reset");
    } else if (op < 39) {
      trace("current_state()");
      const auto real = breaker_.current_state();
      const auto expected = model_.current_state(now_);
      check(real == expected, "current_state()", name(real), name(expected));
      compare("current_state");
    } else {
      throwing_ = !throwing_;
      trace(throwing_ ? "subscribe a throwing listener" : "unsubscribe the throwing listener");
      if (throwing_) {
        thrower_ = breaker_.on_event([](const circuit::event&) { throw 42; });
      } else {
        thrower_.reset();
      }
      model_.set_throwing_listener(throwing_);
      compare("listener");
    }
  }

  void acquire(bool throwing_api) {
    if (held_.size() >= 8) {
      settle_at(src_.pick(8), src_.pick(11));
      return;
    }
    refusal why{state::closed, std::nullopt};
    const auto id = model_.admit(now_, &why);
    if (throwing_api) {
      trace("guard()");
      try {
        auto g = breaker_.guard();
        check(id.has_value(), "guard() admission", "admitted", "refused");
        if (id) held_.push_back({std::move(g), *id});
      } catch (const circuit::open_circuit_error& e) {
        check(!id.has_value(), "guard() admission", "refused", "admitted");
        if (!id) check_refusal(e, why);
      }
    } else {
      trace("try_guard()");
      auto g = breaker_.try_guard();
      check(static_cast<bool>(g) == id.has_value(), "try_guard() admission", g ? "admitted" : "refused",
            id ? "admitted" : "refused");
      if (g && id) held_.push_back({std::move(g), *id});
    }
    if (id) ++result_.admissions;
    compare("acquire");
  }

  void check_refusal(const circuit::open_circuit_error& e, const refusal& why) {
    check(e.state() == why.in, "open_circuit_error::state()", name(e.state()), name(why.in));
    check(e.name() == "model", "open_circuit_error::name()", e.name(), "model");
    const auto real = flat(e.retry_after());
    if (const auto draw = model_.peek_pending_draw(); draw && e.retry_after() && draw->start == now_) {
      // The admission itself drew a jittered open duration (a probe timed
      // out): the refusal's retry_after is that draw, within its range.
      const auto got = e.retry_after()->count();
      check(got >= draw->lo && got <= draw->hi, "open_circuit_error::retry_after() after a jittered draw",
            std::to_string(got), "[" + std::to_string(draw->lo) + ", " + std::to_string(draw->hi) + "]");
      return;
    }
    check(same(real, flat(why.retry_after)), "open_circuit_error::retry_after()", show(real), show(flat(why.retry_after)));
  }

  // Settles held permit `i` in one of 11 ways.
  void settle_at(std::size_t i, std::uint32_t how) {
    auto& h = held_[i];
    const auto id = h.id;
    auto done = [&](outcome o, bool has_error) { model_.settle(id, o, has_error, now_); };
    switch (how) {
      case 0:
        trace("permit#" + std::to_string(id) + ".success()");
        h.permit.success();
        done(outcome::success, false);
        break;
      case 1:
        trace("permit#" + std::to_string(id) + ".failure()");
        h.permit.failure();
        done(outcome::failure, false);
        break;
      case 2:
        trace("permit#" + std::to_string(id) + ".ignore()");
        h.permit.ignore();
        done(outcome::ignored, false);
        break;
      case 3:
        trace("permit#" + std::to_string(id) + ".failure(int exception)");
        h.permit.failure(std::make_exception_ptr(7));
        done(outcome::failure, true);
        break;
      case 4:
        trace("permit#" + std::to_string(id) + ".failure(char exception: ignored)");
        h.permit.failure(std::make_exception_ptr('x'));
        done(outcome::ignored, false);
        break;
      case 5:
        trace("permit#" + std::to_string(id) + ".failure(double exception: not a failure)");
        h.permit.failure(std::make_exception_ptr(1.5));
        done(outcome::success, false);
        break;
      case 6: {
        const int r = static_cast<int>(src_.pick(3)) - 1;
        trace("permit#" + std::to_string(id) + ".record(" + std::to_string(r) + ")");
        h.permit.record(r);
        done(r < 0 ? outcome::failure : r == 0 ? outcome::ignored : outcome::success, false);
        break;
      }
      case 7: {
        trace("permit#" + std::to_string(id) + " destroyed on normal scope exit");
        auto p = std::move(h.permit);
        check(!h.permit, "moved-from permit", "admitted", "empty");
        break;  // p's destructor settles (the model below)
      }
      case 8:
        trace("permit#" + std::to_string(id) + " destroyed while unwinding");
        try {
          auto p = std::move(h.permit);
          throw 1;
        } catch (int) {
        }
        done(outcome::failure, false);
        break;
      case 9:
        if (held_.size() >= 2) {
          const auto j = (i + 1 + src_.pick(static_cast<std::uint32_t>(held_.size() - 1))) % held_.size();
          trace("permit#" + std::to_string(held_[j].id) + " = std::move(permit#" + std::to_string(id) + ")");
          held_[j].permit = std::move(h.permit);
          model_.settle(held_[j].id, outcome::success, false, now_);
          held_[j].id = id;
          check(static_cast<bool>(held_[j].permit), "permit after move-assignment", "empty", "admitted");
          held_.erase(held_.begin() + static_cast<std::ptrdiff_t>(i));
          compare("move-assign");
          return;
        }
        [[fallthrough]];
      default:
        trace("permit#" + std::to_string(id) + ".success() then failure() and ignore() (no-ops)");
        h.permit.success();
        h.permit.failure();
        h.permit.ignore();
        check(!h.permit, "settled permit", "admitted", "empty");
        done(outcome::success, false);
        break;
    }
    if (how == 7) done(outcome::success, false);
    held_.erase(held_.begin() + static_cast<std::ptrdiff_t>(i));
    compare("settle");
  }

  void call(std::uint32_t kind) {
    static constexpr const char* kinds[] = {"returns 1",       "returns -1",       "returns 0",        "throws int",
                                            "throws char",     "throws double",    "returns void"};
    trace(std::string("call(fn that ") + kinds[kind] + ")");
    refusal why{state::closed, std::nullopt};
    const auto id = model_.admit(now_, &why);
    bool admitted = false;
    try {
      if (kind == 6) {
        breaker_.call([&] { admitted = true; });
      } else {
        const int r = breaker_.call([&]() -> int {
          admitted = true;
          switch (kind) {
            case 3: throw 7;
            case 4: throw 'x';
            case 5: throw 2.5;
            default: return kind == 0 ? 1 : kind == 1 ? -1 : 0;
          }
        });
        check(r == (kind == 0 ? 1 : kind == 1 ? -1 : 0), "call() result", std::to_string(r), "as returned");
      }
      check(kind < 3 || kind == 6, "call() exception", "none", kinds[kind]);
    } catch (const circuit::open_circuit_error& e) {
      check(!admitted, "call() refusal", "ran fn", "did not run fn");
      if (!id) check_refusal(e, why);
    } catch (int) {
      check(kind == 3, "call() exception", "int", kinds[kind]);
    } catch (char) {
      check(kind == 4, "call() exception", "char", kinds[kind]);
    } catch (double) {
      check(kind == 5, "call() exception", "double", kinds[kind]);
    }
    check(admitted == id.has_value(), "call() admission", admitted ? "admitted" : "refused",
          id ? "admitted" : "refused");
    if (id) {
      ++result_.admissions;
      static constexpr outcome outcomes[] = {outcome::success, outcome::failure, outcome::ignored, outcome::failure,
                                             outcome::ignored, outcome::success, outcome::success};
      model_.settle(*id, outcomes[kind], kind == 3, now_);
    }
    compare("call");
  }

  void advance() {
    constexpr auto max = std::numeric_limits<std::int64_t>::max();
    auto plus = [&](std::int64_t d) { return now_ > max - d ? max : now_ + d; };  // d >= 0
    std::int64_t to = now_;
    const auto how = src_.pick(12);
    if (how < 6) {
      // Exactly at, one before or one after a boundary the model knows of.
      std::vector<std::int64_t> ahead;
      for (const auto d : model_.deadlines()) {
        if (d > now_) ahead.push_back(d);
      }
      if (!ahead.empty()) {
        const auto d = ahead[src_.pick(static_cast<std::uint32_t>(ahead.size()))];
        switch (src_.pick(3)) {
          case 0: to = d - 1; break;
          case 1: to = d; break;
          default: to = d == max ? d : d + 1; break;
        }
      }
    } else if (how < 8) {
      to = plus(static_cast<std::int64_t>(src_.pick(3)));
    } else if (how < 10) {
      to = plus(static_cast<std::int64_t>(src_.pick(2000)) * ms);
    } else if (how < 11) {
      to = plus(static_cast<std::int64_t>(src_.pick(120)) * s);
    } else if (src_.pick(2) == 0 || cfg_.counter.kind != counter_kind::failure_rate_window) {
      to = plus(std::int64_t{86'400} * 1000 * s);  // a thousand days
    } else {
      // m * 2^24 slices of failure_rate_window: where a slice index that
      // kept only its low 24 bits would meet itself again.
      const auto width = cfg_.counter.window / cfg_.counter.buckets;
      const auto m = static_cast<std::int64_t>(src_.pick(16)) + 1;
      const auto d = (std::int64_t{1} << 24) * m;
      to = d > std::numeric_limits<std::int64_t>::max() / width ? max : plus(d * width);
    }
    trace("clock +" + std::to_string(static_cast<std::uint64_t>(to) - static_cast<std::uint64_t>(now_)) + "ns -> " +
          std::to_string(to));
    now_ = to;
    clock_.set(circuit::manual_clock::time_point(std::chrono::nanoseconds(now_)));
    // metrics() performs the lazy open -> half_open change: half the time,
    // leave it to the next operation (an admission, current_state()).
    compare("advance", src_.pick(2) == 0);
  }

  // ---- Comparison -----------------------------------------------------------

  // An optional time or duration as (set, count): GCC 12 warns of
  // maybe-uninitialized reads in std::optional<std::int64_t> comparisons.
  struct flat_value {
    bool set = false;
    std::int64_t count = 0;
  };
  static flat_value flat(const std::optional<std::int64_t>& v) { return v ? flat_value{true, *v} : flat_value{}; }
  static flat_value flat(const std::optional<std::chrono::nanoseconds>& v) {
    return v ? flat_value{true, v->count()} : flat_value{};
  }
  static flat_value flat(const std::optional<circuit::manual_clock::time_point>& v) {
    return v ? flat_value{true, v->time_since_epoch().count()} : flat_value{};
  }
  static std::string show(flat_value v) { return v.set ? std::to_string(v.count) : "none"; }
  static bool same(flat_value a, flat_value b) { return a.set == b.set && a.count == b.count; }

  void trace(const std::string& what) {
    trace_ += "  " + std::to_string(result_.steps) + ": " + what + "\n";
  }

  void check(bool ok, const char* what, const std::string& real, const std::string& expected) {
    if (ok || !result_.ok) return;
    result_.ok = false;
    result_.message = std::string("breaker and model disagree on ") + what + ": breaker " + real + ", model " +
                      expected + "\nconfig: " + description_ + "\nafter:\n" + trace_;
  }

  template <class T>
  void check_eq(const T& real, const T& expected, const char* what) {
    check(real == expected, what, std::to_string(real), std::to_string(expected));
  }

  void check_counts(const circuit::call_counts& real, const counts& expected, const char* what) {
    auto str = [](auto c) {
      return "{s=" + std::to_string(c.successes) + " f=" + std::to_string(c.failures) + " i=" +
             std::to_string(c.ignored) + " r=" + std::to_string(c.rejections) + " slow=" + std::to_string(c.slow) +
             "}";
    };
    const bool same = real.successes == expected.successes && real.failures == expected.failures &&
                      real.ignored == expected.ignored && real.rejections == expected.rejections &&
                      real.slow == expected.slow;
    check(same, what, str(real), str(expected));
  }

  // After each operation: the events so far and, unless `with_metrics` is
  // false, a jittered draw to confirm and metrics().
  void compare(const char* after, bool with_metrics = true) {
    if (!result_.ok) return;
    (void)after;
    if (!with_metrics) {
      compare_events();
      return;
    }
    // A state query's lazy changes may draw an open duration too (a probe
    // that timed out): make them first on both sides, so that the draw is
    // compared.
    model_.lazy_changes(now_);
    (void)breaker_.current_state();
    if (const auto draw = model_.take_pending_draw()) {
      constexpr auto max = std::numeric_limits<std::int64_t>::max();
      auto add = [&](std::int64_t t, std::int64_t d) { return t > max - d ? max : t + d; };
      const auto m = breaker_.metrics();
      if (!m.open_until) {
        // Already half_open: only when the draw saturated at the clock's end.
        check(add(draw->start, draw->lo) <= now_, "open_until after a jittered draw", "passed already", "later");
        model_.adopt_open_until(add(draw->start, draw->hi));
        return compare_rest();
      }
      const auto got = m.open_until->time_since_epoch().count();
      check(got >= add(draw->start, draw->lo) && got <= add(draw->start, draw->hi), "jittered open_until",
            std::to_string(got),
            "[" + std::to_string(add(draw->start, draw->lo)) + ", " + std::to_string(add(draw->start, draw->hi)) + "]");
      model_.adopt_open_until(got);
    }
    compare_rest();
  }

  void compare_rest() {
    if (!result_.ok) return;
    const auto m = breaker_.metrics();
    const auto e = model_.metrics(now_);
    check(m.state == e.st, "metrics().state", name(m.state), name(e.st));
    check_eq(m.generation, e.generation, "metrics().generation");
    check_eq(m.window.failures, e.window_failures, "metrics().window.failures");
    check_eq(m.window.successes, e.window_successes, "metrics().window.successes");
    check_counts(m.total, e.total, "metrics().total");
    check_counts(m.since_transition, e.since_transition, "metrics().since_transition");
    check_eq(m.stale_outcomes, e.stale_outcomes, "metrics().stale_outcomes");
    check_eq(m.listener_errors, e.listener_errors, "metrics().listener_errors");
    check_eq(m.last_transition.time_since_epoch().count(), e.last_transition, "metrics().last_transition");
    check(same(flat(m.open_until), flat(e.open_until)), "metrics().open_until", show(flat(m.open_until)),
          show(flat(e.open_until)));
    for (const auto from : circuit::all_states) {
      for (const auto to : circuit::all_states) {
        check_eq(m.transitions(from, to),
                 e.transitions[static_cast<std::size_t>(from)][static_cast<std::size_t>(to)],
                 "metrics().transitions");
      }
    }
    if (e.generation != seen_generation_) {
      result_.transitions += e.generation - seen_generation_;
      seen_generation_ = e.generation;
    }
    compare_events();
  }

  void compare_events() {
    const auto expected_events = model_.take_events();
    if (recording_ && result_.ok) {
      check(!bad_name_, "event.name", "not \"model\"", "\"model\"");
      check(!bad_event_, "event.cause/time/open_for", "missing or misplaced", "on state changes only");
      const bool same = events_ == expected_events;
      if (!same) {
        auto str = [](const std::vector<recorded_event>& v) {
          std::string out = "[";
          for (const auto& ev : v) {
            out += std::string(circuit::to_string(ev.kind)) + "(" + name(ev.from) + "->" + name(ev.to) +
                   (ev.has_error ? ",error" : "") + ",g" + std::to_string(ev.generation) +
                   (ev.cause ? "," + std::string(circuit::to_string(*ev.cause)) : "") + ") ";
          }
          return out + "]";
        };
        check(false, "events", str(events_), str(expected_events));
      }
      events_.clear();
    }
  }

  Source& src_;
  config cfg_;
  std::int64_t now_;
  circuit::manual_clock clock_;
  breaker_type breaker_;
  reference_model model_;
  bool recording_;
  std::string description_;
  std::vector<recorded_event> events_;
  bool bad_name_ = false;
  bool bad_event_ = false;
  circuit::subscription events_sub_;
  circuit::subscription thrower_;
  bool throwing_ = false;
  std::vector<held> held_;  // after breaker_: destroyed (settled) first
  std::uint64_t seen_generation_ = 0;
  run_result result_;
  std::string trace_;
};

}  // namespace detail

/// Decodes a configuration and up to `max_steps` operations from `src` and
/// runs them against the breaker and the model.
template <class Source>
run_result run_sequence(Source& src, std::size_t max_steps) {
  std::int64_t start = 0;
  bool recording = true;
  std::uint64_t seed = 0;
  const auto c = detail::decode_config(src, start, recording, seed);
  auto description = detail::describe(c, start, seed);
  switch (c.counter.kind) {
    case counter_kind::sliding_window:
      return detail::run<circuit::sliding_window, Source>(src, c, start, recording, seed, description).go(max_steps);
    case counter_kind::consecutive_failures:
      return detail::run<circuit::consecutive_failures, Source>(src, c, start, recording, seed, description)
          .go(max_steps);
    case counter_kind::net_failures:
      return detail::run<circuit::net_failures, Source>(src, c, start, recording, seed, description).go(max_steps);
    case counter_kind::failure_rate_window:
      return detail::run<circuit::failure_rate_window, Source>(src, c, start, recording, seed, description)
          .go(max_steps);
  }
  return {};
}

}  // namespace circuit_model
