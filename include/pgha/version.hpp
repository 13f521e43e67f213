// pgha/version.hpp: the library's version. Generated from project(VERSION) in
// CMakeLists.txt (cmake/version.hpp.in); the build checks that this copy is current.
#pragma once

#define PGHA_VERSION_MAJOR 0
#define PGHA_VERSION_MINOR 1
#define PGHA_VERSION_PATCH 0
#define PGHA_VERSION_STRING "0.1.0"
