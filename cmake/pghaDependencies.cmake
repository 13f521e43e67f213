# What pgha links: libpq, Boost.Filesystem, threads. Shared by the build and by the
# installed pghaConfig.cmake (through find_dependency there).
include(GNUInstallDirs)
find_package(Threads REQUIRED)
find_package(Boost 1.66 REQUIRED COMPONENTS filesystem)
find_package(PostgreSQL QUIET)
if(NOT TARGET PostgreSQL::PostgreSQL)
  # FindPostgreSQL wants server headers on some CMake versions; libpq.pc is enough.
  find_package(PkgConfig REQUIRED)
  pkg_check_modules(PGHA_LIBPQ REQUIRED IMPORTED_TARGET libpq)
  add_library(PostgreSQL::PostgreSQL INTERFACE IMPORTED)
  target_link_libraries(PostgreSQL::PostgreSQL INTERFACE PkgConfig::PGHA_LIBPQ)
endif()
