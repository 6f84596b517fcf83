// Single include for circuit's tests: picks the Catch2 header matching the
// Catch2 major version found by CMake (CIRCUIT_CATCH2_V3 is set for v3).
#pragma once

#if defined(CIRCUIT_CATCH2_V3)
#include <catch2/catch_all.hpp>
#else
#include <catch2/catch.hpp>
// v3 spells it Catch::Approx; make that spelling work with v2 as well.
namespace Catch {
using Detail::Approx;
}  // namespace Catch
#endif
