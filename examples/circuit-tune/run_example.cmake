# example.circuit-tune: circuit-tune on the sample trace, four candidate
# configurations; writes OUT/report.html, OUT/report.json and OUT/svg/*.svg.
#   cmake -DTOOL=circuit-tune -DTRACE=sample_trace.csv -DOUT=dir -P run_example.cmake
file(MAKE_DIRECTORY ${OUT})
execute_process(
  COMMAND ${TOOL} ${TRACE}
    --config "sliding_window max_failures=3 window=60s open_for=10s"
    --config "consecutive_failures threshold=5 open_for=30s"
    --config "failure_rate_window failure_rate=0.5 minimum_calls=10 window=60s open_for=30s slow_call=1s"
    --config "failure_rate_last_calls failure_rate=0.5 minimum_calls=10 calls=50 open_for=15s multiplier=2 open_for_max=5min"
    --html ${OUT}/report.html --svg ${OUT}/svg --json
  OUTPUT_FILE ${OUT}/report.json
  ERROR_VARIABLE errors
  RESULT_VARIABLE status)
if(NOT status EQUAL 0)
  message(FATAL_ERROR "circuit-tune failed (${status}): ${errors}")
endif()
message(STATUS "circuit-tune report: ${OUT}/report.html (figures: ${OUT}/report.json, timelines: ${OUT}/svg/)")
