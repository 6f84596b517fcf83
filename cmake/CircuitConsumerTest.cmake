# Configures, builds and runs a small consumer project from scratch, run as:
#   cmake -DSOURCE_DIR=<consumer> -DBINARY_DIR=<dir> -DGENERATOR=<gen>
#         -DCXX_COMPILER=<c++> [-DMAKE_PROGRAM=<prog>] [-DCONFIG=<cfg>]
#         [-DCIRCUIT_PREFIX=<staged install>] [-DCIRCUIT_SOURCE_DIR=<src>]
#         -P CircuitConsumerTest.cmake
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
