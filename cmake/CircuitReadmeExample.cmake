# The README's opening program, built and run so that it cannot drift from
# the library: the first ```cpp block of README.md becomes an executable,
# and its test compares the program's output with the ```text block that
# follows, byte for byte.
#
# Included from examples/CMakeLists.txt:
#   circuit_add_readme_example(README <path> NAME <name>)
#     -> executable <name> and ctest example.<name> (label example).
# The extraction runs at configure time and re-runs when README.md changes
# (CMAKE_CONFIGURE_DEPENDS). The generated files are rewritten only when
# their contents change, so an unrelated README edit rebuilds nothing.
#
# Run as a script (-P), it is the test itself:
#   cmake -DPROGRAM=<exe> -DEXPECTED=<file> -P CircuitReadmeExample.cmake
# fails unless <exe> exits with 0 and prints exactly the contents of <file>.

if(CMAKE_SCRIPT_MODE_FILE)
  # ---- test mode: run PROGRAM, compare its standard output with EXPECTED ----
  foreach(var PROGRAM EXPECTED)
    if(NOT DEFINED ${var})
      message(FATAL_ERROR "CircuitReadmeExample.cmake: -D${var}=... is required")
    endif()
  endforeach()
  file(READ "${EXPECTED}" expected)
  execute_process(COMMAND "${PROGRAM}" RESULT_VARIABLE rc OUTPUT_VARIABLE actual ERROR_VARIABLE errors)
  if(NOT rc STREQUAL "0")
    message(FATAL_ERROR "${PROGRAM} exited with ${rc}\nstandard error:\n${errors}")
  endif()
  if(NOT actual STREQUAL expected)
    # NOTICE prints the text as it is (FATAL_ERROR would re-wrap it).
    message(NOTICE "---- expected (${EXPECTED}) ----\n${expected}---- actual ----\n${actual}---- end ----")
    message(FATAL_ERROR "${PROGRAM}: its output is not the README's ```text block; "
                        "fix README.md so that the block shows what the program prints.")
  endif()
  return()
endif()

# Sets <out_var> to the text between the line "```<lang>" found at or after
# <from> and the next line "```"; <end_var> to the index just past that
# closing fence. Fails the configure naming README.md when there is none.
function(_circuit_readme_block text from lang out_var end_var)
  string(SUBSTRING "${text}" ${from} -1 rest)
  string(FIND "${rest}" "\n```${lang}\n" open)
  if(open EQUAL -1)
    message(FATAL_ERROR "README.md: no ```${lang} block to build readme example from")
  endif()
  string(LENGTH "\n```${lang}\n" fence_length)
  math(EXPR body_start "${open} + ${fence_length}")
  string(SUBSTRING "${rest}" ${body_start} -1 body)
  string(FIND "${body}" "\n```\n" close)
  if(close EQUAL -1)
    message(FATAL_ERROR "README.md: the ```${lang} block is not closed")
  endif()
  math(EXPR body_length "${close} + 1")  # keep the block's last newline
  string(SUBSTRING "${body}" 0 ${body_length} block)
  math(EXPR end "${from} + ${body_start} + ${close} + 4")
  set(${out_var} "${block}" PARENT_SCOPE)
  set(${end_var} ${end} PARENT_SCOPE)
endfunction()

function(circuit_add_readme_example)
  cmake_parse_arguments(PARSE_ARGV 0 arg "" "README;NAME" "")
  if(TARGET ${arg_NAME})
    message(FATAL_ERROR "circuit_add_readme_example: target name '${arg_NAME}' is already taken")
  endif()
  set_property(DIRECTORY APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS "${arg_README}")
  # A leading newline lets a fence on the file's first line match too.
  file(READ "${arg_README}" readme)
  set(readme "\n${readme}")
  _circuit_readme_block("${readme}" 0 cpp program after_program)
  _circuit_readme_block("${readme}" ${after_program} text output after_output)

  set(dir "${CMAKE_CURRENT_BINARY_DIR}/${arg_NAME}_source")  # not ${arg_NAME}: the executable
  # Written next to the final files, then copied only when different
  # (configure_file COPYONLY), so the timestamps move only on a change.
  file(WRITE "${dir}/${arg_NAME}.cpp.new" "${program}")
  file(WRITE "${dir}/${arg_NAME}.expected.new" "${output}")
  configure_file("${dir}/${arg_NAME}.cpp.new" "${dir}/${arg_NAME}.cpp" COPYONLY)
  configure_file("${dir}/${arg_NAME}.expected.new" "${dir}/${arg_NAME}.expected" COPYONLY)

  add_executable(${arg_NAME} "${dir}/${arg_NAME}.cpp")
  target_link_libraries(${arg_NAME} PRIVATE circuit::circuit)
  target_compile_options(${arg_NAME} PRIVATE ${CIRCUIT_WARNING_FLAGS})
  add_test(NAME example.${arg_NAME}
    COMMAND ${CMAKE_COMMAND} -DPROGRAM=$<TARGET_FILE:${arg_NAME}> -DEXPECTED=${dir}/${arg_NAME}.expected
            -P ${CMAKE_CURRENT_FUNCTION_LIST_FILE})
  set_tests_properties(example.${arg_NAME} PROPERTIES LABELS example TIMEOUT 60)
endfunction()
