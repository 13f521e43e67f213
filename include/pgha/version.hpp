// pgha/version.hpp: the library's version.
#pragma once

#define PGHA_VERSION_MAJOR 0
#define PGHA_VERSION_MINOR 1
#define PGHA_VERSION_PATCH 0
#define PGHA_VERSION_STRING "0.1.0"
