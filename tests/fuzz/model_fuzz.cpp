// libFuzzer target: the fuzzer's bytes decode into a configuration and a
// sequence of operations (tests/system/model/driver.hpp), run against the real
// breaker and the reference model (tests/system/model/reference_model.hpp); any
// disagreement, crash or sanitizer report is a finding.
//
// Build: cmake -DCIRCUIT_BUILD_FUZZERS=ON with clang (tests/fuzz/CMakeLists.txt).
// Run:   circuit_model_fuzz -max_total_time=300 [corpus-dir]

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>

#include "system/model/driver.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  circuit_model::byte_source src(data, size);
  const auto r = circuit_model::run_sequence(src, 4096);
  if (!r.ok) {
    std::fprintf(stderr, "%s\n", r.message.c_str());
    std::abort();
  }
  return 0;
}
