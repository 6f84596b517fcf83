// Tests of circuit/coarse_steady_clock.hpp: a cheap, coarse monotonic clock.

#include <chrono>
#include <type_traits>

#include <circuit/circuit_breaker.hpp>
#include <circuit/clock.hpp>
#include <circuit/coarse_steady_clock.hpp>
#include <circuit/consecutive_failures.hpp>
#include <circuit/failure_rate_window.hpp>

// The vDSO lookup must not leak <elf.h>'s macros into users' code.
#if defined(PT_LOAD) || defined(DT_HASH) || defined(EM_X86_64)
#error "circuit's headers define <elf.h> macros"
#endif

#include "catch.hpp"

using namespace std::chrono_literals;

static_assert(circuit::clock<circuit::coarse_steady_clock>);
static_assert(std::is_same_v<circuit::coarse_steady_clock::duration, std::chrono::nanoseconds>);
static_assert(std::is_same_v<circuit::coarse_steady_clock::time_point::clock, circuit::coarse_steady_clock>);
static_assert(circuit::coarse_steady_clock::is_steady);
static_assert(noexcept(circuit::coarse_steady_clock::now()));

TEST_CASE("coarse_steady_clock never goes backwards") {
  auto previous = circuit::coarse_steady_clock::now();
  for (int i = 0; i < 1000; ++i) {
    const auto t = circuit::coarse_steady_clock::now();
    REQUIRE(t >= previous);
    previous = t;
  }
}

TEST_CASE("coarse_steady_clock reads a time after its epoch, on an instance as well") {
  const circuit::coarse_steady_clock clock;
  CHECK(clock.now().time_since_epoch() > 0ns);
}

TEST_CASE("a breaker on coarse_steady_clock admits, counts and trips") {
  circuit::circuit_breaker<circuit::coarse_steady_clock, circuit::consecutive_failures> b(
      circuit::consecutive_failures{.threshold = 2}, {.open_for = circuit::fixed{60s}});
  {
    auto g = b.try_guard();
    REQUIRE(g);
    g.success();
  }
  for (int i = 0; i < 2; ++i) {
    auto g = b.try_guard();
    REQUIRE(g);
    g.failure();
  }
  CHECK(b.current_state() == circuit::state::open);
  CHECK_FALSE(b.try_guard());
  const auto m = b.metrics();
  CHECK(m.total.successes == 1);
  CHECK(m.total.failures == 2);
  CHECK(m.total.rejections == 1);
  REQUIRE(m.open_until.has_value());
  CHECK(*m.open_until > m.last_transition);
}

TEST_CASE("a failure_rate_window breaker on coarse_steady_clock counts its calls in the window") {
  circuit::circuit_breaker<circuit::coarse_steady_clock, circuit::failure_rate_window> b(
      circuit::failure_rate_window{.failure_rate = 0.5, .minimum_calls = 4, .window = 60s, .buckets = 6});
  for (int i = 0; i < 3; ++i) b.call([] {});
  {
    auto g = b.try_guard();
    REQUIRE(g);
    g.failure();
  }
  const auto m = b.metrics();
  CHECK(m.window.successes == 3);
  CHECK(m.window.failures == 1);
  CHECK(b.current_state() == circuit::state::closed);
}

#if defined(__linux__)
#include <time.h>

#if defined(CIRCUIT_COARSE_CLOCK_VDSO)
#include <cstddef>

#include <elf.h>
#include <sys/auxv.h>

// The header spells out the ELF types it reads rather than include <elf.h>:
// they must be the same.
namespace elf = circuit::detail::elf;
static_assert(sizeof(elf::header) == sizeof(Elf64_Ehdr) && offsetof(elf::header, machine) == offsetof(Elf64_Ehdr, e_machine) &&
              offsetof(elf::header, phoff) == offsetof(Elf64_Ehdr, e_phoff) &&
              offsetof(elf::header, phentsize) == offsetof(Elf64_Ehdr, e_phentsize) &&
              offsetof(elf::header, phnum) == offsetof(Elf64_Ehdr, e_phnum));
static_assert(sizeof(elf::segment) == sizeof(Elf64_Phdr) && offsetof(elf::segment, offset) == offsetof(Elf64_Phdr, p_offset) &&
              offsetof(elf::segment, vaddr) == offsetof(Elf64_Phdr, p_vaddr));
static_assert(sizeof(elf::dynamic) == sizeof(Elf64_Dyn) && sizeof(elf::symbol) == sizeof(Elf64_Sym) &&
              offsetof(elf::symbol, info) == offsetof(Elf64_Sym, st_info) &&
              offsetof(elf::symbol, shndx) == offsetof(Elf64_Sym, st_shndx) &&
              offsetof(elf::symbol, value) == offsetof(Elf64_Sym, st_value));
static_assert(elf::at_sysinfo_ehdr == AT_SYSINFO_EHDR && elf::class_64 == ELFCLASS64 && elf::machine_x86_64 == EM_X86_64 &&
              elf::pt_load == PT_LOAD && elf::pt_dynamic == PT_DYNAMIC && elf::dt_null == DT_NULL &&
              elf::dt_hash == DT_HASH && elf::dt_strtab == DT_STRTAB && elf::dt_symtab == DT_SYMTAB &&
              elf::stt_func == STT_FUNC && elf::shn_undef == SHN_UNDEF);

TEST_CASE("coarse_steady_clock finds the vDSO's clock_gettime and reads clocks with it") {
  // Every x86-64 Linux process has a vDSO unless the kernel was told not to
  // map one (vdso=0).
  if (::getauxval(AT_SYSINFO_EHDR) == 0) return;
  const auto vdso = circuit::detail::find_vdso_clock_gettime();
  REQUIRE(vdso != nullptr);
  CHECK(circuit::detail::clock_reader() == vdso);
  for (const auto id : {CLOCK_MONOTONIC_COARSE, CLOCK_MONOTONIC}) {
    timespec before{}, direct{}, after{};
    REQUIRE(::clock_gettime(id, &before) == 0);
    REQUIRE(vdso(id, &direct) == 0);
    REQUIRE(::clock_gettime(id, &after) == 0);
    const auto ns = [](const timespec& ts) { return std::chrono::seconds(ts.tv_sec) + std::chrono::nanoseconds(ts.tv_nsec); };
    CHECK(ns(before) <= ns(direct));
    CHECK(ns(direct) <= ns(after));
  }
}
#endif

TEST_CASE("coarse_steady_clock reads CLOCK_MONOTONIC_COARSE") {
  // Read through the vDSO directly where it can; it must agree with the C
  // library's reading of the same clock, read in between.
  for (int i = 0; i < 100; ++i) {
    const auto before = circuit::coarse_steady_clock::now().time_since_epoch();
    timespec ts{};
    REQUIRE(::clock_gettime(CLOCK_MONOTONIC_COARSE, &ts) == 0);
    const auto after = circuit::coarse_steady_clock::now().time_since_epoch();
    const auto libc = std::chrono::seconds(ts.tv_sec) + std::chrono::nanoseconds(ts.tv_nsec);
    REQUIRE(before <= libc);
    REQUIRE(libc <= after);
  }
}
#endif
