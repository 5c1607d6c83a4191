# Install rules and the exported package: find_package(fedpp CONFIG REQUIRED [COMPONENTS ...]).
include_guard(GLOBAL)
include(CMakePackageConfigHelpers)

install(DIRECTORY "${PROJECT_SOURCE_DIR}/include/fedpp" DESTINATION "${CMAKE_INSTALL_INCLUDEDIR}")
set(_fedpp_targets fedpp)
foreach(component IN LISTS FEDPP_COMPONENTS)
  list(APPEND _fedpp_targets fedpp_${component})
endforeach()
install(TARGETS ${_fedpp_targets} EXPORT fedppTargets)
set(FEDPP_CMAKE_DIR "${CMAKE_INSTALL_DATADIR}/cmake/fedpp")
install(EXPORT fedppTargets NAMESPACE fedpp:: DESTINATION "${FEDPP_CMAKE_DIR}")
configure_package_config_file("${PROJECT_SOURCE_DIR}/cmake/fedppConfig.cmake.in"
                              "${PROJECT_BINARY_DIR}/fedppConfig.cmake" INSTALL_DESTINATION "${FEDPP_CMAKE_DIR}")
write_basic_package_version_file("${PROJECT_BINARY_DIR}/fedppConfigVersion.cmake"
                                 COMPATIBILITY SameMinorVersion ARCH_INDEPENDENT)
install(FILES "${PROJECT_BINARY_DIR}/fedppConfig.cmake" "${PROJECT_BINARY_DIR}/fedppConfigVersion.cmake"
        DESTINATION "${FEDPP_CMAKE_DIR}")
install(FILES "${PROJECT_SOURCE_DIR}/LICENSE" DESTINATION "${CMAKE_INSTALL_DATADIR}/doc/fedpp")
