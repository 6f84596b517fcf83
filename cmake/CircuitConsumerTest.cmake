# Configures, builds and runs a small consumer project from scratch, run as:
#   cmake -DSOURCE_DIR=<consumer> -DBINARY_DIR=<dir> -DGENERATOR=<gen>
#         -DCXX_COMPILER=<c++> [-DMAKE_PROGRAM=<prog>] [-DCONFIG=<cfg>]
#         [-DCIRCUIT_PREFIX=<staged install>] [-DCIRCUIT_SOURCE_DIR=<src>]
#         [-DEXPECT_NO_CIRCUIT_INSTALL=ON]
#         -P CircuitConsumerTest.cmake
# EXPECT_NO_CIRCUIT_INSTALL: then also installs the consumer project into
# <dir>/_install and fails if that tree holds any of circuit's headers or
# package files (a vendored circuit must not install itself), or lacks the
# consumer (the install step did run).
foreach(var SOURCE_DIR BINARY_DIR GENERATOR CXX_COMPILER)
  if(NOT DEFINED ${var})
    message(FATAL_ERROR "CircuitConsumerTest: -D${var}=... is required")
  endif()
endforeach()
if(NOT CONFIG)
  set(CONFIG Release)
endif()

set(args -S "${SOURCE_DIR}" -B "${BINARY_DIR}" -G "${GENERATOR}"
  "-DCMAKE_CXX_COMPILER=${CXX_COMPILER}"
  "-DCMAKE_BUILD_TYPE=${CONFIG}"
  -DCMAKE_FIND_PACKAGE_NO_PACKAGE_REGISTRY=ON)
if(MAKE_PROGRAM)
  list(APPEND args "-DCMAKE_MAKE_PROGRAM=${MAKE_PROGRAM}")
endif()
if(CIRCUIT_PREFIX)
  list(APPEND args "-DCMAKE_PREFIX_PATH=${CIRCUIT_PREFIX}" "-DCIRCUIT_PREFIX=${CIRCUIT_PREFIX}")
endif()
if(CIRCUIT_SOURCE_DIR)
  list(APPEND args "-DCIRCUIT_SOURCE_DIR=${CIRCUIT_SOURCE_DIR}")
endif()

file(REMOVE_RECURSE "${BINARY_DIR}")
foreach(step configure build run)
  if(step STREQUAL "configure")
    set(cmd "${CMAKE_COMMAND}" ${args})
  elseif(step STREQUAL "build")
    set(cmd "${CMAKE_COMMAND}" --build "${BINARY_DIR}" --config "${CONFIG}")
  else()
    set(cmd "${BINARY_DIR}/consumer")
    if(NOT EXISTS "${cmd}")  # multi-config generators
      set(cmd "${BINARY_DIR}/${CONFIG}/consumer")
    endif()
  endif()
  execute_process(COMMAND ${cmd} RESULT_VARIABLE rc)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "consumer ${step} step failed (${rc}): ${cmd}")
  endif()
endforeach()

if(EXPECT_NO_CIRCUIT_INSTALL)
  set(prefix "${BINARY_DIR}/_install")
  file(REMOVE_RECURSE "${prefix}")
  execute_process(
    COMMAND "${CMAKE_COMMAND}" --install "${BINARY_DIR}" --prefix "${prefix}" --config "${CONFIG}"
    RESULT_VARIABLE rc)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "consumer install step failed (${rc})")
  endif()
  file(GLOB_RECURSE installed LIST_DIRECTORIES true RELATIVE "${prefix}" "${prefix}/*")
  set(ours "")
  set(theirs "")
  foreach(path IN LISTS installed)
    if(path MATCHES "(^|/)consumer(\\.exe)?$")
      list(APPEND ours "${path}")
    endif()
    if(path MATCHES "(^|/)circuit(/|$)" OR path MATCHES "(^|/)circuit(Config|ConfigVersion|-targets)[^/]*\\.cmake$")
      list(APPEND theirs "${path}")
    endif()
  endforeach()
  if(NOT ours)
    message(FATAL_ERROR "the consumer was not installed into ${prefix}: ${installed}")
  endif()
  if(theirs)
    message(FATAL_ERROR "a subproject build installed circuit's files into ${prefix}: ${theirs}")
  endif()
  message(STATUS "installed ${ours}, and nothing of circuit's")
endif()
