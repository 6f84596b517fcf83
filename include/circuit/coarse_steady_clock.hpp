#pragma once
// A steady clock that trades resolution for speed.

#include <chrono>
#include <cstdint>
#include <ratio>

#if defined(__linux__)
#include <time.h>
#if defined(__x86_64__)
#include <atomic>
#include <cstring>

#include <elf.h>
#include <sys/auxv.h>
#define CIRCUIT_COARSE_CLOCK_VDSO 1
#endif
#endif

namespace circuit {

#if defined(CIRCUIT_COARSE_CLOCK_VDSO)
namespace detail {
using clock_gettime_fn = int (*)(clockid_t, timespec*);

// The kernel maps its vDSO, a small ELF library, into every process, and
// glibc's clock_gettime() calls into it. Calling its __vdso_clock_gettime
// directly skips glibc's wrapper: 1.8 of the 4.5 ns a coarse read costs
// through clock_gettime() here (benchmarks/README.md). The symbol is looked
// up in the image the auxiliary vector points to (AT_SYSINFO_EHDR), as the
// kernel's Documentation/ABI/stable/vdso describes: no loader lock, no
// dlopen, and it works in static programs. x86-64 only, where the vDSO's
// timespec is the C library's. Null when the vDSO or the symbol is missing.
inline clock_gettime_fn find_vdso_clock_gettime() noexcept {
  const auto base = static_cast<std::uintptr_t>(::getauxval(AT_SYSINFO_EHDR));
  if (base == 0) return nullptr;
  const auto* header = reinterpret_cast<const Elf64_Ehdr*>(base);
  const auto* segments = reinterpret_cast<const Elf64_Phdr*>(base + header->e_phoff);
  // Addresses in the image are relative to where its first PT_LOAD wants to be.
  std::uintptr_t bias = 0;
  bool loaded = false;
  const Elf64_Dyn* dynamic = nullptr;
  for (std::size_t i = 0; i < header->e_phnum; ++i) {
    if (segments[i].p_type == PT_LOAD && !loaded) {
      bias = base + segments[i].p_offset - segments[i].p_vaddr;
      loaded = true;
    } else if (segments[i].p_type == PT_DYNAMIC) {
      dynamic = reinterpret_cast<const Elf64_Dyn*>(base + segments[i].p_offset);
    }
  }
  if (!loaded || dynamic == nullptr) return nullptr;
  const Elf64_Sym* symbols = nullptr;
  const char* names = nullptr;
  const Elf64_Word* hash = nullptr;  // DT_HASH: [nbucket, nchain = symbol count, ...]
  for (const auto* d = dynamic; d->d_tag != DT_NULL; ++d) {
    if (d->d_tag == DT_SYMTAB) symbols = reinterpret_cast<const Elf64_Sym*>(bias + d->d_un.d_ptr);
    if (d->d_tag == DT_STRTAB) names = reinterpret_cast<const char*>(bias + d->d_un.d_ptr);
    if (d->d_tag == DT_HASH) hash = reinterpret_cast<const Elf64_Word*>(bias + d->d_un.d_ptr);
  }
  if (symbols == nullptr || names == nullptr || hash == nullptr) return nullptr;
  for (Elf64_Word i = 0; i < hash[1]; ++i) {
    const auto& s = symbols[i];
    if (ELF64_ST_TYPE(s.st_info) == STT_FUNC && s.st_shndx != SHN_UNDEF &&
        std::strcmp(names + s.st_name, "__vdso_clock_gettime") == 0) {
      return reinterpret_cast<clock_gettime_fn>(bias + s.st_value);
    }
  }
  return nullptr;
}

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
