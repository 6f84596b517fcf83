# circuit::redis -- <circuit/redis.hpp> (circuit::redis::store): breakers
# shared by a fleet of processes through Redis, with hiredis.
#
#   CIRCUIT_WITH_REDIS  AUTO (default): the target exists when hiredis is found
#                       ON: a missing hiredis is a configure error
#                       OFF: no target, whether hiredis is there or not
#
# Afterwards CIRCUIT_HAVE_REDIS is TRUE when circuit::redis exists. hiredis
# is found with pkg-config (Debian's libhiredis-dev 0.14 ships hiredis.pc).

include_guard(GLOBAL)

set(CIRCUIT_WITH_REDIS AUTO CACHE STRING "Build the Redis integration (circuit::redis): AUTO, ON or OFF")
set_property(CACHE CIRCUIT_WITH_REDIS PROPERTY STRINGS AUTO ON OFF)
set(CIRCUIT_HAVE_REDIS FALSE)

if(CIRCUIT_WITH_REDIS STREQUAL "OFF")
  message(STATUS "circuit: Redis integration off (CIRCUIT_WITH_REDIS=OFF)")
  return()
elseif(NOT CIRCUIT_WITH_REDIS STREQUAL "ON" AND NOT CIRCUIT_WITH_REDIS STREQUAL "AUTO")
  message(FATAL_ERROR "circuit: CIRCUIT_WITH_REDIS must be AUTO, ON or OFF, not '${CIRCUIT_WITH_REDIS}'")
endif()

find_package(PkgConfig QUIET)
if(PkgConfig_FOUND)
  pkg_check_modules(CIRCUIT_HIREDIS QUIET IMPORTED_TARGET hiredis)
endif()

if(NOT CIRCUIT_HIREDIS_FOUND)
  if(CIRCUIT_WITH_REDIS STREQUAL "ON")
    message(FATAL_ERROR "circuit: CIRCUIT_WITH_REDIS=ON, but hiredis was not found with pkg-config (libhiredis-dev)")
  endif()
  message(STATUS "circuit: hiredis not found: no circuit::redis (CIRCUIT_WITH_REDIS=AUTO)")
  return()
endif()

add_library(circuit_redis INTERFACE)
add_library(circuit::redis ALIAS circuit_redis)
set_target_properties(circuit_redis PROPERTIES EXPORT_NAME redis)
target_link_libraries(circuit_redis INTERFACE circuit::circuit PkgConfig::CIRCUIT_HIREDIS Threads::Threads)
set(CIRCUIT_HAVE_REDIS TRUE)
message(STATUS "circuit: hiredis ${CIRCUIT_HIREDIS_VERSION} found: circuit::redis")

circuit_install_integration(circuit_redis redis)  # see CMakeLists.txt
