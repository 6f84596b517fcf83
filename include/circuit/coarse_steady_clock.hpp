#pragma once
// A steady clock that trades resolution for speed.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <ratio>

#if defined(__linux__)
#include <time.h>
#if defined(__x86_64__) && defined(__LP64__)  // not x32, whose vDSO is ELF32
#include <atomic>
#include <cstring>
#define CIRCUIT_COARSE_CLOCK_VDSO 1
// From <sys/auxv.h>, declared here so that circuit.hpp does not bring in
// <elf.h>'s thousand macros (PT_LOAD, DT_HASH, EM_...).
extern "C" unsigned long getauxval(unsigned long type) noexcept;
#endif
#endif

namespace circuit {

#if defined(CIRCUIT_COARSE_CLOCK_VDSO)
namespace detail {
using clock_gettime_fn = int (*)(clockid_t, timespec*);

// The few ELF-64 types and constants (System V gABI) the lookup reads,
// spelled out for the same reason; tests/coarse_steady_clock_test.cpp
// checks them against <elf.h>.
namespace elf {
struct header {
  unsigned char ident[16];
  std::uint16_t type, machine;
  std::uint32_t version;
  std::uint64_t entry, phoff, shoff;
  std::uint32_t flags;
  std::uint16_t ehsize, phentsize, phnum, shentsize, shnum, shstrndx;
};
struct segment {
  std::uint32_t type, flags;
  std::uint64_t offset, vaddr, paddr, filesz, memsz, align;
};
struct dynamic {
  std::int64_t tag;
  std::uint64_t value;
};
struct symbol {
  std::uint32_t name;
  unsigned char info, other;
  std::uint16_t shndx;
  std::uint64_t value, size;
};
inline constexpr unsigned long at_sysinfo_ehdr = 33;
inline constexpr unsigned char magic[4] = {0x7f, 'E', 'L', 'F'};
inline constexpr unsigned char class_64 = 2;  // ident[4]
inline constexpr std::uint16_t machine_x86_64 = 62;
inline constexpr std::uint32_t pt_load = 1, pt_dynamic = 2;
inline constexpr std::int64_t dt_null = 0, dt_hash = 4, dt_strtab = 5, dt_symtab = 6;
inline constexpr unsigned char stt_func = 2;
inline constexpr std::uint16_t shn_undef = 0;
}  // namespace elf

// The kernel maps its vDSO, a small ELF library, into every process, and
// glibc's clock_gettime() calls into it. Calling its __vdso_clock_gettime
// directly skips glibc's wrapper: about 2 of the 4.7 ns a coarse read costs
// through clock_gettime() here (benchmarks/README.md). The symbol is looked
// up in the image the auxiliary vector points to (AT_SYSINFO_EHDR), as the
// kernel's Documentation/ABI/stable/vdso describes: no loader lock, no
// dlopen, and it works in static programs. Null when there is no vDSO, it
// is not an x86-64 ELF-64 image, or the symbol is missing.
inline clock_gettime_fn find_vdso_clock_gettime() noexcept {
  const auto base = static_cast<std::uintptr_t>(::getauxval(elf::at_sysinfo_ehdr));
  if (base == 0) return nullptr;
  const auto* header = reinterpret_cast<const elf::header*>(base);
  if (std::memcmp(header->ident, elf::magic, sizeof elf::magic) != 0 || header->ident[4] != elf::class_64 ||
      header->machine != elf::machine_x86_64 || header->phentsize != sizeof(elf::segment)) {
    return nullptr;
  }
  const auto* segments = reinterpret_cast<const elf::segment*>(base + header->phoff);
  // Addresses in the image are relative to where its first PT_LOAD wants to be.
  std::uintptr_t bias = 0;
  bool loaded = false;
  const elf::dynamic* dynamic = nullptr;
  for (std::size_t i = 0; i < header->phnum; ++i) {
    if (segments[i].type == elf::pt_load && !loaded) {
      bias = base + segments[i].offset - segments[i].vaddr;
      loaded = true;
    } else if (segments[i].type == elf::pt_dynamic) {
      dynamic = reinterpret_cast<const elf::dynamic*>(base + segments[i].offset);
    }
  }
  if (!loaded || dynamic == nullptr) return nullptr;
  const elf::symbol* symbols = nullptr;
  const char* names = nullptr;
  const std::uint32_t* hash = nullptr;  // DT_HASH: [nbucket, nchain = symbol count, ...]
  for (const auto* d = dynamic; d->tag != elf::dt_null; ++d) {
    if (d->tag == elf::dt_symtab) symbols = reinterpret_cast<const elf::symbol*>(bias + d->value);
    if (d->tag == elf::dt_strtab) names = reinterpret_cast<const char*>(bias + d->value);
    if (d->tag == elf::dt_hash) hash = reinterpret_cast<const std::uint32_t*>(bias + d->value);
  }
  if (symbols == nullptr || names == nullptr || hash == nullptr) return nullptr;
  for (std::uint32_t i = 0; i < hash[1]; ++i) {
    const auto& s = symbols[i];
    if ((s.info & 0xf) == elf::stt_func && s.shndx != elf::shn_undef &&
        std::strcmp(names + s.name, "__vdso_clock_gettime") == 0) {
      return reinterpret_cast<clock_gettime_fn>(bias + s.value);
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
