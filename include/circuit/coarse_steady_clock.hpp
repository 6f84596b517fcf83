#pragma once
// A steady clock that trades resolution for speed.

#include <chrono>
#include <cstdint>
#include <ratio>

#if defined(__linux__)
#include <time.h>
#endif

#include <circuit/detail/vdso.hpp>  // defines CIRCUIT_COARSE_CLOCK_VDSO where there is one

#if defined(CIRCUIT_COARSE_CLOCK_VDSO)
#include <atomic>
#endif

namespace circuit {

#if defined(CIRCUIT_COARSE_CLOCK_VDSO)
namespace detail {
// The function to read clocks with: the vDSO's, else clock_gettime().
// Looked up by the first reader; racing readers look it up too and store
// the same answer, so no lock is held (now() stays async-signal-safe).
inline std::atomic<clock_gettime_fn> coarse_clock_reader{nullptr};

inline clock_gettime_fn clock_reader() noexcept {
  auto fn = coarse_clock_reader.load(std::memory_order_relaxed);
  if (fn == nullptr) [[unlikely]] {
    fn = find_vdso_clock_gettime();
    if (fn == nullptr) fn = &::clock_gettime;
    coarse_clock_reader.store(fn, std::memory_order_relaxed);
  }
  return fn;
}
}  // namespace detail
#endif

/// A monotonic Clock that is cheaper to read than `std::chrono::steady_clock`
/// and coarser: on Linux it reads `CLOCK_MONOTONIC_COARSE`, the time of the
/// last kernel tick, so it advances in steps of the tick (1–4 ms, with
/// CONFIG_HZ 1000–250; `clock_getres` reports it). On x86-64 it calls the
/// vDSO directly rather than through the C library. Elsewhere it is
/// `std::chrono::steady_clock` under another name.
///
///     circuit::circuit_breaker<circuit::coarse_steady_clock> b;
///
/// Good enough for open durations and windows of seconds, which is what a
/// breaker reads the clock for: an open duration may end up to one tick
/// late, and a call lands in the window slice of up to one tick ago. Not
/// for `options::slow_call` thresholds near the tick, which it measures in
/// whole ticks.
///
/// Its time points have their own epoch (the boot time on Linux): do not
/// mix them with `steady_clock`'s. Thread-safe and async-signal-safe:
/// `now()` is a plain read.
struct coarse_steady_clock {
  using rep = std::int64_t;
  using period = std::nano;
  using duration = std::chrono::nanoseconds;
  using time_point = std::chrono::time_point<coarse_steady_clock, duration>;
  /// True: it never goes backwards.
  static constexpr bool is_steady = true;

  /// The time as of the last kernel tick (Linux), or `steady_clock::now()`.
  [[nodiscard]] static time_point now() noexcept {
#if defined(__linux__) && defined(CLOCK_MONOTONIC_COARSE)
    timespec ts{};
    // Cannot fail for a valid clock id and pointer; the vDSO serves it
    // without a system call.
#if defined(CIRCUIT_COARSE_CLOCK_VDSO)
    detail::clock_reader()(CLOCK_MONOTONIC_COARSE, &ts);
#else
    ::clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
#endif
    return time_point(duration(static_cast<rep>(ts.tv_sec) * 1'000'000'000 + static_cast<rep>(ts.tv_nsec)));
#else
    return time_point(
        std::chrono::duration_cast<duration>(std::chrono::steady_clock::now().time_since_epoch()));
#endif
  }
};

}  // namespace circuit
