# What pgha links: libpq, Boost.Filesystem, threads. Shared by the build (top-level
# CMakeLists.txt) and by the installed pghaConfig.cmake. It uses find_dependency: in a
# `find_package(pgha)` a missing dependency makes pgha "not found" (pgha_FOUND FALSE, with
# pgha_NOT_FOUND_MESSAGE saying which), so `find_package(pgha QUIET)` configures on and
# REQUIRED fails with that message, instead of an aborted configure. The build checks the
# targets after including this file.
include(CMakeFindDependencyMacro)
find_dependency(Threads)
find_dependency(Boost 1.66 COMPONENTS filesystem)
if(NOT TARGET PostgreSQL::PostgreSQL)
  find_package(PostgreSQL QUIET)
endif()
if(NOT TARGET PostgreSQL::PostgreSQL)
  # FindPostgreSQL wants server headers on some CMake versions; libpq.pc is enough.
  find_dependency(PkgConfig)
  pkg_check_modules(PGHA_LIBPQ QUIET IMPORTED_TARGET libpq)
  if(NOT PGHA_LIBPQ_FOUND)
    set(pgha_FOUND FALSE)
    set(pgha_NOT_FOUND_MESSAGE "pgha needs libpq: neither FindPostgreSQL nor pkg-config found it "
                               "(install libpq-dev, or set CMAKE_PREFIX_PATH/PKG_CONFIG_PATH)")
    return()
  endif()
  add_library(PostgreSQL::PostgreSQL INTERFACE IMPORTED)
  target_link_libraries(PostgreSQL::PostgreSQL INTERFACE PkgConfig::PGHA_LIBPQ)
endif()
