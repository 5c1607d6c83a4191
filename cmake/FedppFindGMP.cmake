# Finds GMP (the GNU multiple-precision library; Debian 12: libgmp-dev) for fedpp::paillier and
# defines the imported target GMP::gmp. GMP ships no CMake package: pkg-config's `gmp` module first
# (Debian's libgmp-dev installs gmp.pc), then find_path/find_library. Quiet: the caller decides what
# a missing GMP means. Installed beside fedppConfig.cmake, which includes it for the component.
include_guard(GLOBAL)

if(NOT TARGET GMP::gmp)
  find_package(PkgConfig QUIET)
  if(PkgConfig_FOUND)
    pkg_check_modules(fedpp_gmp QUIET IMPORTED_TARGET GLOBAL gmp)
  endif()
  if(TARGET PkgConfig::fedpp_gmp)
    add_library(GMP::gmp INTERFACE IMPORTED GLOBAL)
    target_link_libraries(GMP::gmp INTERFACE PkgConfig::fedpp_gmp)
  else()
    find_path(FEDPP_GMP_INCLUDE_DIR gmp.h DOC "directory holding GMP's gmp.h")
    find_library(FEDPP_GMP_LIBRARY NAMES gmp DOC "GMP's library (libgmp)")
    if(FEDPP_GMP_INCLUDE_DIR AND FEDPP_GMP_LIBRARY)
      add_library(GMP::gmp UNKNOWN IMPORTED GLOBAL)
      set_target_properties(GMP::gmp PROPERTIES IMPORTED_LOCATION "${FEDPP_GMP_LIBRARY}"
                                                INTERFACE_INCLUDE_DIRECTORIES "${FEDPP_GMP_INCLUDE_DIR}")
    endif()
  endif()
endif()
