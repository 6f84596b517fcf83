#pragma once
// A steady clock that trades resolution for speed.

#include <chrono>
#include <cstdint>
#include <ratio>

#if defined(__linux__)
#include <time.h>
#if defined(__GLIBC__) && !defined(CIRCUIT_NO_VDSO)
#include <dlfcn.h>
#define CIRCUIT_COARSE_CLOCK_VDSO 1
#endif
#endif

namespace circuit {

#if defined(CIRCUIT_COARSE_CLOCK_VDSO)
namespace detail {
using clock_gettime_fn = int (*)(clockid_t, timespec*);

// The kernel's own clock_gettime in the vDSO, looked up once (glibc lists
// the vDSO as "linux-vdso.so.1" among the loaded objects). Calling it
// directly skips glibc's wrapper: 2 of the 4.5 ns a coarse read costs
// through clock_gettime() here (benchmarks/README.md). Falls back to
// clock_gettime() where the vDSO or the symbol is missing (static
// programs, other architectures' names). Define CIRCUIT_NO_VDSO to always
// use clock_gettime().
inline clock_gettime_fn vdso_clock_gettime() noexcept {
  static const clock_gettime_fn fn = []() noexcept -> clock_gettime_fn {
    void* vdso = ::dlopen("linux-vdso.so.1", RTLD_LAZY | RTLD_LOCAL | RTLD_NOLOAD);
    void* sym = vdso != nullptr ? ::dlsym(vdso, "__vdso_clock_gettime") : nullptr;
    return sym != nullptr ? reinterpret_cast<clock_gettime_fn>(sym) : &::clock_gettime;
  }();
  return fn;
}
}  // namespace detail
#endif

/// A monotonic Clock that is cheaper to read than `std::chrono::steady_clock`
/// and coarser: on Linux it reads `CLOCK_MONOTONIC_COARSE`, the time of the
/// last kernel tick, so it advances in steps of the tick (1–4 ms, with
/// CONFIG_HZ 1000–250; `clock_getres` reports it). Elsewhere it is
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
/// mix them with `steady_clock`'s. Thread-safe: `now()` is a plain read.
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
    detail::vdso_clock_gettime()(CLOCK_MONOTONIC_COARSE, &ts);
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
