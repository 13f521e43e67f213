// The library of pgha's separate compilation mode (CMake target pgha::compiled): every
// non-template definition of pgha, compiled once. See pgha/build_mode.hpp.
#ifndef PGHA_SEPARATE_COMPILATION
#define PGHA_SEPARATE_COMPILATION
#endif
#include "pgha/implementation.hpp"
