# Compile-fail test driver, run as:
#   cmake -DCOMPILER=<c++> -DSOURCE=<file.cpp> -DINCLUDE_DIR=<dir>
#         -P CircuitCompileFail.cmake
# SOURCE's first line must be  // expect: <regex>  (CMake regex syntax).
# Passes iff `COMPILER -fsyntax-only -std=c++20 -I<INCLUDE_DIR> SOURCE` fails
# AND its combined stdout/stderr matches <regex>.
foreach(var COMPILER SOURCE INCLUDE_DIR)
  if(NOT DEFINED ${var})
    message(FATAL_ERROR "CircuitCompileFail: -D${var}=... is required")
  endif()
endforeach()

file(READ "${SOURCE}" content)
string(FIND "${content}" "\n" eol)
string(SUBSTRING "${content}" 0 ${eol} first_line)  # eol == -1: whole file
string(REGEX REPLACE "\r$" "" first_line "${first_line}")
if(NOT first_line MATCHES "^// expect: (.+)$")
  message(FATAL_ERROR
    "${SOURCE}: first line must be '// expect: <regex>', got '${first_line}'")
endif()
set(expect "${CMAKE_MATCH_1}")

execute_process(
  COMMAND "${COMPILER}" -fsyntax-only -std=c++20 -fdiagnostics-color=never
          "-I${INCLUDE_DIR}" "${SOURCE}"
  RESULT_VARIABLE rc
  OUTPUT_VARIABLE output
  ERROR_VARIABLE output)

if(rc EQUAL 0)
  message(FATAL_ERROR "${SOURCE}: compiled successfully, but was expected to "
    "fail with a diagnostic matching: ${expect}\n${output}")
endif()
if(NOT output MATCHES "${expect}")
  message(FATAL_ERROR "${SOURCE}: compilation failed as expected, but the "
    "output does not match: ${expect}\n---- compiler output ----\n${output}")
endif()
message(STATUS "${SOURCE}: failed to compile as expected (matched: ${expect})")
