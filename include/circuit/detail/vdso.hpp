#pragma once
// Finds __vdso_clock_gettime in the vDSO image the kernel maps into every
// process, for coarse_steady_clock (x86-64 Linux only).
//
// Defines CIRCUIT_COARSE_CLOCK_VDSO where the lookup is available; elsewhere
// this header declares nothing.

#if defined(__linux__)
#include <time.h>
#if defined(__x86_64__) && defined(__LP64__)  // not x32, whose vDSO is ELF32
#include <cstddef>
#include <cstdint>
#include <cstring>
#define CIRCUIT_COARSE_CLOCK_VDSO 1
// From <sys/auxv.h>, declared here so that circuit.hpp does not bring in
// <elf.h>'s thousand macros (PT_LOAD, DT_HASH, EM_...).
extern "C" unsigned long getauxval(unsigned long type) noexcept;
#endif
#endif

#if defined(CIRCUIT_COARSE_CLOCK_VDSO)
namespace circuit::detail {
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
}  // namespace circuit::detail
#endif
