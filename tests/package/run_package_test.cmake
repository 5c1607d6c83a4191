# Drives the package tests (see CMakeLists.txt). Arguments (-D...):
#   MODE       install | consume | configure_fails
#   SOURCE     the project to configure (fedpp's source tree, or a consumer)
#   WORK       scratch directory for this test (wiped first)
#   GENERATOR, CXX_COMPILER, BUILD_TYPE  as in the outer build
#   PREFIX     install prefix (install: where to; consume: where fedpp is)
#   ARGS       extra configure arguments, '|'-separated
#   REGEX      configure_fails: the output must match it
cmake_minimum_required(VERSION 3.25)

function(run step)
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE result OUTPUT_VARIABLE output ERROR_VARIABLE output)
  if(NOT result EQUAL 0)
    message(FATAL_ERROR "${step} failed (${result}):\n${output}")
  endif()
  set(last_output "${output}" PARENT_SCOPE)
endfunction()

file(REMOVE_RECURSE "${WORK}")
string(REPLACE "|" ";" extra_args "${ARGS}")
set(configure "${CMAKE_COMMAND}" -S "${SOURCE}" -B "${WORK}/build" -G "${GENERATOR}"
              "-DCMAKE_CXX_COMPILER=${CXX_COMPILER}" "-DCMAKE_BUILD_TYPE=${BUILD_TYPE}" ${extra_args})

if(MODE STREQUAL "install")
  file(REMOVE_RECURSE "${PREFIX}")
  run(configure ${configure} "-DCMAKE_INSTALL_PREFIX=${PREFIX}" -DFEDPP_BUILD_TESTS=OFF
      -DFEDPP_BUILD_EXAMPLES=OFF -DFEDPP_BUILD_BENCHMARKS=OFF -DFEDPP_INSTALL=ON)
  run(build "${CMAKE_COMMAND}" --build "${WORK}/build")
  run(install "${CMAKE_COMMAND}" --install "${WORK}/build")
  foreach(file IN ITEMS share/cmake/fedpp/fedppConfig.cmake share/cmake/fedpp/fedpp-targets.cmake
                        include/fedpp/aggregation/fedavg.hpp include/fedpp/tensor/eigen.hpp)
    if(NOT EXISTS "${PREFIX}/${file}")
      message(FATAL_ERROR "the installation lacks ${file}")
    endif()
  endforeach()
elseif(MODE STREQUAL "consume")
  run(configure ${configure} "-DCMAKE_PREFIX_PATH=${PREFIX}")
  message(STATUS "${last_output}")
  run(build "${CMAKE_COMMAND}" --build "${WORK}/build")
  find_program(consumer NAMES consumer PATHS "${WORK}/build" PATH_SUFFIXES "${BUILD_TYPE}" NO_DEFAULT_PATH
               NO_CACHE)
  if(NOT consumer)
    message(FATAL_ERROR "no consumer executable under ${WORK}/build")
  endif()
  run(consumer "${consumer}")
  message(STATUS "${last_output}")
elseif(MODE STREQUAL "configure_fails")
  execute_process(COMMAND ${configure} "-DCMAKE_PREFIX_PATH=${PREFIX}" RESULT_VARIABLE result
                  OUTPUT_VARIABLE output ERROR_VARIABLE output)
  if(result EQUAL 0)
    message(FATAL_ERROR "configuring ${SOURCE} succeeded, but it must fail:\n${output}")
  endif()
  if(NOT output MATCHES "${REGEX}")
    message(FATAL_ERROR "configuring failed as it should, but the output does not match '${REGEX}':\n${output}")
  endif()
else()
  message(FATAL_ERROR "unknown MODE '${MODE}'")
endif()
