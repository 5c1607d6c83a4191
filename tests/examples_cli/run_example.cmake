# Runs one example with the given flags and checks how it ended (used by tests/examples_cli).
#   -DEXE=<example> "-DARGS=<flag;value;...>" -DSTATUS=refused|ok
#   "-DSTDERR=<regex;...>"  every regex must match stderr
#   "-DSTDOUT=<regex;...>"  every regex must match stdout
# STATUS=refused: the exit status must be a number other than 0 (a crash or a signal does not
# count), and stdout must be empty: the example refused before doing any work.
# STATUS=ok: the exit status must be 0.
execute_process(COMMAND ${EXE} ${ARGS} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
set(report "exit status: ${rc}\n--- stdout:\n${out}\n--- stderr:\n${err}")
if(STATUS STREQUAL "refused")
  if(NOT rc MATCHES "^[0-9]+$" OR rc EQUAL 0)
    message(FATAL_ERROR "expected a clean non-zero exit status\n${report}")
  endif()
  if(NOT out STREQUAL "")
    message(FATAL_ERROR "expected nothing on stdout (the example must refuse before it starts)\n${report}")
  endif()
elseif(STATUS STREQUAL "ok")
  if(NOT rc STREQUAL "0")
    message(FATAL_ERROR "expected exit status 0\n${report}")
  endif()
else()
  message(FATAL_ERROR "run_example.cmake: STATUS must be refused or ok, got '${STATUS}'")
endif()
foreach(regex IN LISTS STDERR)
  if(NOT err MATCHES "${regex}")
    message(FATAL_ERROR "stderr does not match '${regex}'\n${report}")
  endif()
endforeach()
foreach(regex IN LISTS STDOUT)
  if(NOT out MATCHES "${regex}")
    message(FATAL_ERROR "stdout does not match '${regex}'\n${report}")
  endif()
endforeach()
