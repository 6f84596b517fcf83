# Locates the test/benchmark dependencies of circuit.
#
#   circuit_find_catch2()
#     find_package(Catch2 QUIET) (v2 or v3); falls back to FetchContent of
#     Catch2 v3 only if no installed Catch2 is found.  Sets in the caller:
#       CIRCUIT_CATCH2_MAJOR      2 or 3
#       CIRCUIT_CATCH2_MODULE     full path of Catch2's Catch.cmake
#                                 (provides catch_discover_tests)
#
#   circuit_find_benchmark()
#     find_package(benchmark QUIET); falls back to FetchContent of Google
#     Benchmark.  Afterwards benchmark::benchmark(_main) exist.
#
# Both are functions: imported targets created by find_package() are visible in
# the calling directory and below; variables are exported with PARENT_SCOPE.

include_guard(GLOBAL)
include(FetchContent)

set(CIRCUIT_CATCH2_FETCH_TAG v3.5.4 CACHE STRING
  "Catch2 git tag fetched when no installed Catch2 is found")
set(CIRCUIT_BENCHMARK_FETCH_TAG v1.8.3 CACHE STRING
  "Google Benchmark git tag fetched when no installed benchmark is found")
mark_as_advanced(CIRCUIT_CATCH2_FETCH_TAG CIRCUIT_BENCHMARK_FETCH_TAG)

# Fetched dependencies' headers are included as SYSTEM so -Werror on our
# targets does not trip over third-party warnings (needs CMake >= 3.25).
macro(_circuit_fetchcontent_system_arg out)
  set(${out} "")
  if(CMAKE_VERSION VERSION_GREATER_EQUAL 3.25)
    set(${out} SYSTEM)
  endif()
endmacro()

function(circuit_find_catch2)
  set(_catch_dirs "")
  find_package(Catch2 QUIET)
  if(Catch2_FOUND)
    # Decide by version, not by target: Catch2 >= 2.13.5 also exports a
    # Catch2::Catch2WithMain target, but its header is still <catch2/catch.hpp>.
    if(Catch2_VERSION VERSION_GREATER_EQUAL 3 AND TARGET Catch2::Catch2WithMain)
      set(_major 3)
    elseif(Catch2_VERSION VERSION_LESS 3 AND TARGET Catch2::Catch2)
      set(_major 2)
    else()
      message(FATAL_ERROR "circuit: unusable Catch2 ${Catch2_VERSION} at ${Catch2_DIR} "
        "(need v2 with Catch2::Catch2 or v3 with Catch2::Catch2WithMain)")
    endif()
    # Upstream installs Catch.cmake next to Catch2Config.cmake (v2: from
    # contrib/, v3: from extras/); Debian 2.13 uses /usr/lib/cmake/Catch2.
    list(APPEND _catch_dirs "${Catch2_DIR}")
    get_filename_component(_prefix "${Catch2_DIR}/../../.." ABSOLUTE)
    list(APPEND _catch_dirs "${_prefix}/share/Catch2" "${_prefix}/lib/cmake/Catch2")
    message(STATUS "circuit: using installed Catch2 ${Catch2_VERSION} (v${_major}) from ${Catch2_DIR}")
  else()
    message(STATUS "circuit: Catch2 not found, fetching ${CIRCUIT_CATCH2_FETCH_TAG}")
    _circuit_fetchcontent_system_arg(_circuit_fc_system)
    FetchContent_Declare(Catch2
      GIT_REPOSITORY https://github.com/catchorg/Catch2.git
      GIT_TAG ${CIRCUIT_CATCH2_FETCH_TAG}
      GIT_SHALLOW TRUE
      ${_circuit_fc_system})
    FetchContent_MakeAvailable(Catch2)
    set(_major 3)
    list(APPEND _catch_dirs "${catch2_SOURCE_DIR}/extras")
  endif()

  find_file(CIRCUIT_CATCH2_MODULE Catch.cmake
    PATHS ${_catch_dirs}
    NO_DEFAULT_PATH)
  if(NOT CIRCUIT_CATCH2_MODULE)
    message(FATAL_ERROR "circuit: Catch.cmake (catch_discover_tests) not found in: ${_catch_dirs}")
  endif()
  set(CIRCUIT_CATCH2_MAJOR ${_major} PARENT_SCOPE)
  set(CIRCUIT_CATCH2_MODULE "${CIRCUIT_CATCH2_MODULE}" PARENT_SCOPE)
endfunction()

function(circuit_find_benchmark)
  find_package(benchmark QUIET)
  if(benchmark_FOUND)
    message(STATUS "circuit: using installed Google Benchmark ${benchmark_VERSION} from ${benchmark_DIR}")
    return()
  endif()
  message(STATUS "circuit: Google Benchmark not found, fetching ${CIRCUIT_BENCHMARK_FETCH_TAG}")
  _circuit_fetchcontent_system_arg(_circuit_fc_system)
  set(BENCHMARK_ENABLE_TESTING OFF CACHE BOOL "" FORCE)
  set(BENCHMARK_ENABLE_GTEST_TESTS OFF CACHE BOOL "" FORCE)
  set(BENCHMARK_ENABLE_INSTALL OFF CACHE BOOL "" FORCE)
  set(BENCHMARK_INSTALL_DOCS OFF CACHE BOOL "" FORCE)
  set(BENCHMARK_ENABLE_WERROR OFF CACHE BOOL "" FORCE)
  FetchContent_Declare(benchmark
    GIT_REPOSITORY https://github.com/google/benchmark.git
    GIT_TAG ${CIRCUIT_BENCHMARK_FETCH_TAG}
    GIT_SHALLOW TRUE
    ${_circuit_fc_system})
  FetchContent_MakeAvailable(benchmark)
endfunction()
