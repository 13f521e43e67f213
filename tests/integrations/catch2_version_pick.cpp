// tests/integrations/catch2_version_pick.cpp: compile-only. With both Catch2 v2 and v3 on
// the include path, pgha/catch2.hpp must follow the Catch2 a TU already included (v2 here),
// not the one __has_include finds first. Built (not linked) where both are present.
#include <catch2/catch.hpp>
#include <pgha/catch2.hpp>

#ifndef PGHA_DETAIL_CATCH2_V3
#error "pgha/catch2.hpp no longer defines PGHA_DETAIL_CATCH2_V3: update this check"
#endif
static_assert(CATCH_VERSION_MAJOR == 2, "this TU included Catch2 v2");
static_assert(PGHA_DETAIL_CATCH2_V3 == 0, "pgha/catch2.hpp must use the v2 already included");
