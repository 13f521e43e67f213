// tests/integrations/catch2_lean.cpp: pgha/catch2.hpp with PGHA_NO_UMBRELLA includes what
// its fixtures use and nothing more (neither <pgha/pgha.hpp> nor, with Catch2 v3,
// <catch2/catch_all.hpp>), and that is enough to write a fixture test. A TU of
// pgha_catch2_fixtures.
#define PGHA_NO_UMBRELLA
#include <pgha/catch2.hpp>

#ifdef PGHA_DETAIL_UMBRELLA_INCLUDED
#error "pgha/catch2.hpp with PGHA_NO_UMBRELLA included the umbrella <pgha/pgha.hpp>"
#endif
#ifdef CATCH_ALL_HPP_INCLUDED
#error "pgha/catch2.hpp with PGHA_NO_UMBRELLA included <catch2/catch_all.hpp>"
#endif

TEST_CASE_METHOD(pgha::catch2::ClusterFixture<1>,
                 "catch2.hpp without the umbrella: a fixture test reads the standby") {
  primary().execute("CREATE TABLE lean (v int)");
  primary().execute("INSERT INTO lean VALUES (7)");
  CHECK(standby().query("SELECT v FROM lean").value(0, 0) == "7");
  CHECK(standby().role() == pgha::Role::Standby);
}
