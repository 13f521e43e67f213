# Install rules: headers, an exported target pgha::pgha, pghaConfig.cmake with its
# version file, and a pkg-config file; pgha::compiled's static library and
# pgha-compiled.pc. The header-only package is architecture-independent and lives under
# the data directory: share/pgha/cmake (a
# find_package search path on every platform) and share/pkgconfig.
include(CMakePackageConfigHelpers)
set(PGHA_CMAKE_DIR ${CMAKE_INSTALL_DATADIR}/pgha/cmake)
install(DIRECTORY include/pgha DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
# The version header generated from project(VERSION) (equal to the committed copy).
install(FILES ${PGHA_GENERATED_INCLUDE}/pgha/version.hpp DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/pgha)
# pgha::compiled (separate compilation, docs/packaging.md): the static library beside the
# header-only target, in the same export set.
install(TARGETS pgha pgha_compiled EXPORT pghaTargets
  ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR})
install(EXPORT pghaTargets NAMESPACE pgha:: DESTINATION ${PGHA_CMAKE_DIR})
configure_package_config_file(cmake/pghaConfig.cmake.in
  ${CMAKE_CURRENT_BINARY_DIR}/pghaConfig.cmake
  INSTALL_DESTINATION ${PGHA_CMAKE_DIR})
write_basic_package_version_file(${CMAKE_CURRENT_BINARY_DIR}/pghaConfigVersion.cmake
  COMPATIBILITY SameMinorVersion ARCH_INDEPENDENT)
install(FILES ${CMAKE_CURRENT_BINARY_DIR}/pghaConfig.cmake
              ${CMAKE_CURRENT_BINARY_DIR}/pghaConfigVersion.cmake
              cmake/pghaDependencies.cmake
        DESTINATION ${PGHA_CMAKE_DIR})
configure_file(cmake/pgha.pc.in ${CMAKE_CURRENT_BINARY_DIR}/pgha.pc @ONLY)
install(FILES ${CMAKE_CURRENT_BINARY_DIR}/pgha.pc DESTINATION ${CMAKE_INSTALL_DATADIR}/pkgconfig)
# pkg-config --cflags --libs pgha-compiled: the separate compilation mode.
configure_file(cmake/pgha-compiled.pc.in ${CMAKE_CURRENT_BINARY_DIR}/pgha-compiled.pc @ONLY)
install(FILES ${CMAKE_CURRENT_BINARY_DIR}/pgha-compiled.pc DESTINATION ${CMAKE_INSTALL_DATADIR}/pkgconfig)
