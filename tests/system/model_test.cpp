// The breaker against a deliberately simple reference model of the documented contract
// (tests/system/model/reference_model.hpp), driven through tests/system/model/driver.hpp
// with seeded random sequences of operations under manual_clock: every
// counter and option mix, permits settled out of order, clock moves aimed at
// exact boundaries. The same driver backs the libFuzzer target
// tests/fuzz/model_fuzz.cpp.

#include <cstdint>
#include <string>

#include "catch.hpp"
#include "model/driver.hpp"

namespace {

// Fewer sequences under ThreadSanitizer, which has nothing to check in these
// single-threaded runs and slows them tenfold; ASan and UBSan run them all.
#if defined(__SANITIZE_THREAD__)
constexpr int share = 4;
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
constexpr int share = 4;
#else
constexpr int share = 1;
#endif
#else
constexpr int share = 1;
#endif

struct totals {
  std::uint64_t steps = 0, admissions = 0, transitions = 0;
};

// Runs `sequences` seeded sequences of `steps` operations; stops at the
// first disagreement, which it reports with its seed and trace.
totals run_seeds(std::uint64_t first_seed, int sequences, std::size_t steps) {
  totals t;
  for (int i = 0; i < sequences; ++i) {
    const auto seed = first_seed + static_cast<std::uint64_t>(i);
    circuit_model::seeded_source src(seed, steps);
    const auto r = circuit_model::run_sequence(src, steps);
    if (!r.ok) {
      FAIL_CHECK("seed " << seed << ": " << r.message);
      return t;
    }
    t.steps += r.steps;
    t.admissions += r.admissions;
    t.transitions += r.transitions;
  }
  return t;
}

}  // namespace

TEST_CASE("the breaker agrees with the reference model on seeded random sequences of 300 operations", "[model]") {
  const auto t = run_seeds(20240601, 200 / share, 300);
  // The sequences did exercise the breaker: calls got through, states changed.
  CHECK(t.steps == 200u / share * 300u);
  CHECK(t.admissions > 10'000u / share);
  CHECK(t.transitions > 2'000u / share);
}

TEST_CASE("the breaker agrees with the reference model on many short seeded sequences", "[model]") {
  // Short runs weigh the start of a breaker's life and the configurations.
  const auto t = run_seeds(7, 2000 / share, 25);
  CHECK(t.steps == 2000u / share * 25u);
  CHECK(t.admissions > 5'000u / share);
}
