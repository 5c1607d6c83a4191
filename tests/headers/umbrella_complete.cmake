cmake_minimum_required(VERSION 3.20)
# cmake -DSOURCE_DIR=<repo> -P umbrella_complete.cmake: fails when a core header (one that needs no
# optional component: not secagg/, simulation/, vertical/psi*, vertical/paillier*, vertical/bigint.hpp,
# vertical/hetero_lr*, vertical/ftl*,
# transport/mpi*, tensor/eigen.hpp, gan/frechet.hpp, tensor/xtensor.hpp, nor a detail/ header) is not included by
# include/fedpp/fedpp.hpp, or when fedpp.hpp includes a header that does not exist or belongs to an
# optional component.
file(GLOB_RECURSE headers RELATIVE "${SOURCE_DIR}/include" "${SOURCE_DIR}/include/fedpp/*.hpp")
file(STRINGS "${SOURCE_DIR}/include/fedpp/fedpp.hpp" lines REGEX "^#include \"")
set(included "")
foreach(line IN LISTS lines)
  string(REGEX REPLACE "^#include \"([^\"]+)\".*" "\\1" h "${line}")
  list(APPEND included "${h}")
endforeach()
set(problems "")
foreach(h IN LISTS headers)
  if(h MATCHES "/detail/" OR h MATCHES "^fedpp/(secagg|simulation)/" OR h MATCHES "^fedpp/transport/mpi"
     OR h MATCHES "^fedpp/vertical/(psi|paillier|bigint|hetero_lr|ftl)"
     OR h STREQUAL "fedpp/tensor/eigen.hpp" OR h STREQUAL "fedpp/gan/frechet.hpp" OR h STREQUAL "fedpp/tensor/xtensor.hpp" OR h STREQUAL "fedpp/fedpp.hpp")
    if(h IN_LIST included)
      list(APPEND problems "fedpp.hpp includes ${h}, which is internal or needs an optional component")
    endif()
  elseif(NOT h IN_LIST included)
    list(APPEND problems "fedpp.hpp does not include the core header ${h}")
  endif()
endforeach()
foreach(h IN LISTS included)
  if(NOT EXISTS "${SOURCE_DIR}/include/${h}")
    list(APPEND problems "fedpp.hpp includes ${h}, which does not exist")
  endif()
endforeach()
if(problems)
  list(JOIN problems "\n  " text)
  message(FATAL_ERROR "umbrella header out of date:\n  ${text}")
endif()
