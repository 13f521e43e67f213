# Install rules: headers, an exported target pgha::pgha, pghaConfig.cmake with its
# version file, and a pkg-config file.
include(CMakePackageConfigHelpers)
install(DIRECTORY include/pgha DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
install(TARGETS pgha EXPORT pghaTargets)
install(EXPORT pghaTargets NAMESPACE pgha:: DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/pgha)
configure_package_config_file(cmake/pghaConfig.cmake.in
  ${CMAKE_CURRENT_BINARY_DIR}/pghaConfig.cmake
  INSTALL_DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/pgha)
write_basic_package_version_file(${CMAKE_CURRENT_BINARY_DIR}/pghaConfigVersion.cmake
  COMPATIBILITY SameMinorVersion ARCH_INDEPENDENT)
install(FILES ${CMAKE_CURRENT_BINARY_DIR}/pghaConfig.cmake
              ${CMAKE_CURRENT_BINARY_DIR}/pghaConfigVersion.cmake
              cmake/pghaDependencies.cmake
        DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/pgha)
configure_file(cmake/pgha.pc.in ${CMAKE_CURRENT_BINARY_DIR}/pgha.pc @ONLY)
install(FILES ${CMAKE_CURRENT_BINARY_DIR}/pgha.pc DESTINATION ${CMAKE_INSTALL_DATADIR}/pkgconfig)
