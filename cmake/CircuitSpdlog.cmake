# circuit::spdlog -- <circuit/spdlog.hpp> (circuit::log_to) on top of spdlog.
#
#   CIRCUIT_WITH_SPDLOG  AUTO (default): the target exists when spdlog is found
#                        ON: a missing spdlog is a configure error
#                        OFF: no target, whether spdlog is there or not
#
# Afterwards CIRCUIT_HAVE_SPDLOG is TRUE when circuit::spdlog exists.  spdlog
# brings fmt (Debian's libspdlog-dev 1.10 uses the external fmt 9).

include_guard(GLOBAL)

set(CIRCUIT_WITH_SPDLOG AUTO CACHE STRING "Build the spdlog integration (circuit::spdlog): AUTO, ON or OFF")
set_property(CACHE CIRCUIT_WITH_SPDLOG PROPERTY STRINGS AUTO ON OFF)
set(CIRCUIT_HAVE_SPDLOG FALSE)

if(CIRCUIT_WITH_SPDLOG STREQUAL "OFF")
  message(STATUS "circuit: spdlog integration off (CIRCUIT_WITH_SPDLOG=OFF)")
  return()
elseif(CIRCUIT_WITH_SPDLOG STREQUAL "ON")
  find_package(spdlog REQUIRED)
elseif(CIRCUIT_WITH_SPDLOG STREQUAL "AUTO")
  find_package(spdlog QUIET)
else()
  message(FATAL_ERROR "circuit: CIRCUIT_WITH_SPDLOG must be AUTO, ON or OFF, not '${CIRCUIT_WITH_SPDLOG}'")
endif()

if(NOT spdlog_FOUND)
  message(STATUS "circuit: spdlog not found: no circuit::spdlog (CIRCUIT_WITH_SPDLOG=AUTO)")
  return()
endif()

add_library(circuit_spdlog INTERFACE)
add_library(circuit::spdlog ALIAS circuit_spdlog)
set_target_properties(circuit_spdlog PROPERTIES EXPORT_NAME spdlog)
target_link_libraries(circuit_spdlog INTERFACE circuit::circuit spdlog::spdlog)
set(CIRCUIT_HAVE_SPDLOG TRUE)
message(STATUS "circuit: spdlog ${spdlog_VERSION} found: circuit::spdlog")

circuit_install_integration(circuit_spdlog spdlog)  # see CMakeLists.txt
