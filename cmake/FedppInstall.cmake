# Install rules and the exported package: find_package(fedpp CONFIG REQUIRED [COMPONENTS ...]).
# The core target and each opt-in component are exported to their own file
# (fedpp-targets.cmake, fedpp-<component>-targets.cmake), so that fedppConfig.cmake can load a
# component only once its dependency has been found, and a consumer needs only the dependencies
# of the components it asks for.
include_guard(GLOBAL)
include(CMakePackageConfigHelpers)

set(FEDPP_CMAKE_DIR "${CMAKE_INSTALL_DATADIR}/cmake/fedpp")
install(DIRECTORY "${PROJECT_SOURCE_DIR}/include/fedpp" DESTINATION "${CMAKE_INSTALL_INCLUDEDIR}")

install(TARGETS fedpp EXPORT fedppTargets)
install(EXPORT fedppTargets NAMESPACE fedpp:: FILE fedpp-targets.cmake DESTINATION "${FEDPP_CMAKE_DIR}")
foreach(component IN LISTS FEDPP_COMPONENTS)
  install(TARGETS fedpp_${component} EXPORT fedpp_${component}Targets)
  install(EXPORT fedpp_${component}Targets NAMESPACE fedpp:: FILE fedpp-${component}-targets.cmake
          DESTINATION "${FEDPP_CMAKE_DIR}")
endforeach()

configure_package_config_file("${PROJECT_SOURCE_DIR}/cmake/fedppConfig.cmake.in"
                              "${PROJECT_BINARY_DIR}/fedppConfig.cmake" INSTALL_DESTINATION "${FEDPP_CMAKE_DIR}")
write_basic_package_version_file("${PROJECT_BINARY_DIR}/fedppConfigVersion.cmake"
                                 COMPATIBILITY SameMinorVersion ARCH_INDEPENDENT)
install(FILES "${PROJECT_BINARY_DIR}/fedppConfig.cmake" "${PROJECT_BINARY_DIR}/fedppConfigVersion.cmake"
              "${PROJECT_SOURCE_DIR}/cmake/FedppFindGMP.cmake" DESTINATION "${FEDPP_CMAKE_DIR}")
install(FILES "${PROJECT_SOURCE_DIR}/LICENSE" DESTINATION "${CMAKE_INSTALL_DATADIR}/doc/fedpp")
