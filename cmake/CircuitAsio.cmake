# circuit::asio -- <circuit/asio.hpp> (circuit::co_call) on top of standalone
# Asio's C++20 coroutines.
#
#   CIRCUIT_WITH_ASIO  AUTO (default): the target exists when Asio is found
#                      ON: a missing (or too old) Asio is a configure error
#                      OFF: no target, whether Asio is there or not
#
# Afterwards CIRCUIT_HAVE_ASIO is TRUE when circuit::asio exists.  Debian's
# libasio-dev ships no CMake or pkg-config file, so Asio is found by its
# header (find_path), as CIRCUIT_ASIO_INCLUDE_DIR.  The target sets what each
# compiler needs for Asio's coroutines: clang with Asio 1.22 does not detect
# them by itself (ASIO_HAS_CO_AWAIT, ASIO_HAS_STD_COROUTINE), g++ 10 needs
# -fcoroutines (g++ 11 and later enable them with -std=c++20).
#
# Installed (when CIRCUIT_INSTALL is on) as circuit::asio in circuit's
# package: find_package(circuit) then looks for Asio the same way and makes
# circuit::asio when it finds it.

include_guard(GLOBAL)

set(CIRCUIT_WITH_ASIO AUTO CACHE STRING "Build the Asio integration (circuit::asio): AUTO, ON or OFF")
set_property(CACHE CIRCUIT_WITH_ASIO PROPERTY STRINGS AUTO ON OFF)
set(CIRCUIT_HAVE_ASIO FALSE)

# co_call's deadline race needs asio::experimental::make_parallel_group.
set(CIRCUIT_ASIO_MINIMUM_VERSION 1.22.0)

if(CIRCUIT_WITH_ASIO STREQUAL "OFF")
  message(STATUS "circuit: Asio integration off (CIRCUIT_WITH_ASIO=OFF)")
  return()
elseif(NOT CIRCUIT_WITH_ASIO STREQUAL "ON" AND NOT CIRCUIT_WITH_ASIO STREQUAL "AUTO")
  message(FATAL_ERROR "circuit: CIRCUIT_WITH_ASIO must be AUTO, ON or OFF, not '${CIRCUIT_WITH_ASIO}'")
endif()

find_path(CIRCUIT_ASIO_INCLUDE_DIR asio.hpp DOC "standalone Asio's include directory (holds asio.hpp)")

set(_circuit_asio_problem "")
if(NOT CIRCUIT_ASIO_INCLUDE_DIR)
  set(_circuit_asio_problem "standalone Asio not found (no asio.hpp; set CIRCUIT_ASIO_INCLUDE_DIR)")
elseif(NOT EXISTS "${CIRCUIT_ASIO_INCLUDE_DIR}/asio/version.hpp")
  set(_circuit_asio_problem "no asio/version.hpp in CIRCUIT_ASIO_INCLUDE_DIR=${CIRCUIT_ASIO_INCLUDE_DIR}")
else()
  file(STRINGS "${CIRCUIT_ASIO_INCLUDE_DIR}/asio/version.hpp" _circuit_asio_version_line
    REGEX "^#define ASIO_VERSION [0-9]+")
  string(REGEX REPLACE "^#define ASIO_VERSION ([0-9]+).*" "\\1" _circuit_asio_version_number
    "${_circuit_asio_version_line}")
  if(NOT _circuit_asio_version_number MATCHES "^[0-9]+$")
    set(_circuit_asio_problem "cannot read ASIO_VERSION from ${CIRCUIT_ASIO_INCLUDE_DIR}/asio/version.hpp")
  else()
    # ASIO_VERSION is major * 100000 + minor * 100 + patch.
    math(EXPR _major "${_circuit_asio_version_number} / 100000")
    math(EXPR _minor "${_circuit_asio_version_number} / 100 % 1000")
    math(EXPR _patch "${_circuit_asio_version_number} % 100")
    set(CIRCUIT_ASIO_VERSION "${_major}.${_minor}.${_patch}")
    if(CIRCUIT_ASIO_VERSION VERSION_LESS CIRCUIT_ASIO_MINIMUM_VERSION)
      set(_circuit_asio_problem
        "Asio ${CIRCUIT_ASIO_VERSION} at ${CIRCUIT_ASIO_INCLUDE_DIR} is older than ${CIRCUIT_ASIO_MINIMUM_VERSION}")
    endif()
  endif()
endif()

if(_circuit_asio_problem)
  if(CIRCUIT_WITH_ASIO STREQUAL "ON")
    message(FATAL_ERROR "circuit: CIRCUIT_WITH_ASIO=ON, but ${_circuit_asio_problem}")
  endif()
  message(STATUS "circuit: ${_circuit_asio_problem}: no circuit::asio (CIRCUIT_WITH_ASIO=AUTO)")
  return()
endif()

add_library(circuit_asio INTERFACE)
add_library(circuit::asio ALIAS circuit_asio)
set_target_properties(circuit_asio PROPERTIES EXPORT_NAME asio)
target_link_libraries(circuit_asio INTERFACE circuit::circuit Threads::Threads)
# SYSTEM: -Werror in users' builds does not trip over Asio's own warnings.
target_include_directories(circuit_asio SYSTEM INTERFACE $<BUILD_INTERFACE:${CIRCUIT_ASIO_INCLUDE_DIR}>)
target_compile_definitions(circuit_asio INTERFACE
  $<$<CXX_COMPILER_ID:Clang>:ASIO_HAS_CO_AWAIT=1>
  $<$<CXX_COMPILER_ID:Clang>:ASIO_HAS_STD_COROUTINE=1>)
target_compile_options(circuit_asio INTERFACE
  $<$<AND:$<CXX_COMPILER_ID:GNU>,$<VERSION_LESS:$<CXX_COMPILER_VERSION>,11>>:-fcoroutines>
  # Under -fsanitize=thread, g++ 12 warns (-Wtsan) at every
  # std::atomic_thread_fence, and Asio has some (std_fenced_block,
  # atomic_count): with -Werror no program using Asio would build. Only
  # that warning goes; TSan itself still runs.
  $<$<AND:$<CXX_COMPILER_ID:GNU>,$<VERSION_GREATER_EQUAL:$<CXX_COMPILER_VERSION>,12>>:-Wno-tsan>)
set(CIRCUIT_HAVE_ASIO TRUE)
message(STATUS "circuit: Asio ${CIRCUIT_ASIO_VERSION} found at ${CIRCUIT_ASIO_INCLUDE_DIR}: circuit::asio")

circuit_install_integration(circuit_asio asio)  # see CMakeLists.txt
