# cmake -DCOMPILER=... -DSOURCE=... -DSETTINGS=... -DSHOULD_FAIL=0|1 -DOWN_INCLUDE=... -P run_compile_fail.cmake
# Compiles SOURCE (syntax only) with -DFEDPP_SHOULD_FAIL=SHOULD_FAIL. SHOULD_FAIL=0: it must
# compile without warnings. SHOULD_FAIL=1: it must fail, with output matching every
# `// FEDPP_FAIL_REGEX: <regex>` line of SOURCE.
cmake_minimum_required(VERSION 3.25)
include("${SETTINGS}")

set(args -std=c++20 -fsyntax-only -Wall -Wextra -Wpedantic -Wshadow -Wconversion -Wno-sign-conversion -Werror
         "-DFEDPP_SHOULD_FAIL=${SHOULD_FAIL}" "-I${OWN_INCLUDE}")
# Third-party headers as system headers (their warnings are not ours); fedpp's stay -I; the
# compiler's own directories are left alone (re-adding them breaks #include_next).
foreach(dir IN LISTS FEDPP_FAIL_INCLUDES)
  if(NOT dir STREQUAL OWN_INCLUDE AND NOT dir IN_LIST FEDPP_FAIL_IMPLICIT_INCLUDES)
    list(APPEND args -isystem "${dir}")
  endif()
endforeach()
foreach(definition IN LISTS FEDPP_FAIL_DEFINES)
  list(APPEND args "-D${definition}")
endforeach()

execute_process(COMMAND "${COMPILER}" ${args} "${SOURCE}" RESULT_VARIABLE result OUTPUT_VARIABLE output
                ERROR_VARIABLE output)
get_filename_component(name "${SOURCE}" NAME)
if(NOT SHOULD_FAIL)
  if(NOT result EQUAL 0)
    message(FATAL_ERROR "${name} with FEDPP_SHOULD_FAIL=0 must compile, but:\n${output}")
  endif()
  return()
endif()

if(result EQUAL 0)
  message(FATAL_ERROR "${name} with FEDPP_SHOULD_FAIL=1 compiled, but it must not")
endif()
file(STRINGS "${SOURCE}" regex_lines REGEX "^// FEDPP_FAIL_REGEX: ")
if(NOT regex_lines)
  message(FATAL_ERROR "${name} has no '// FEDPP_FAIL_REGEX: <regex>' line naming the expected error")
endif()
foreach(line IN LISTS regex_lines)
  string(REGEX REPLACE "^// FEDPP_FAIL_REGEX: " "" regex "${line}")
  if(NOT output MATCHES "${regex}")
    message(FATAL_ERROR "${name} failed to compile as it should, but the output does not match '${regex}':\n${output}")
  endif()
endforeach()
message(STATUS "${name}: does not compile, as expected")
