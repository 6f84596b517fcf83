# circuit::asio for find_package(circuit), included by circuitConfig.cmake:
# made when standalone Asio is found where the package is used (Debian's
# libasio-dev ships no CMake file, so it is found by its header).
# find_package(circuit COMPONENTS asio) makes a missing Asio an error.
if(TARGET circuit::asio)
  set(circuit_asio_FOUND TRUE)
  return()
endif()
find_path(CIRCUIT_ASIO_INCLUDE_DIR asio.hpp DOC "standalone Asio's include directory (holds asio.hpp)")
if(NOT CIRCUIT_ASIO_INCLUDE_DIR)
  set(circuit_asio_FOUND FALSE)
  if(NOT circuit_FIND_QUIETLY)
    message(STATUS "circuit: standalone Asio not found (no asio.hpp; set CIRCUIT_ASIO_INCLUDE_DIR): no circuit::asio")
  endif()
  return()
endif()
include("${CMAKE_CURRENT_LIST_DIR}/circuit-asio-targets.cmake")
set_property(TARGET circuit::asio APPEND PROPERTY INTERFACE_INCLUDE_DIRECTORIES "${CIRCUIT_ASIO_INCLUDE_DIR}")
set(circuit_asio_FOUND TRUE)
