// tests/integrations/gtest_lean.cpp: pgha/gtest.hpp with PGHA_NO_UMBRELLA includes what its
// fixtures use and not the umbrella <pgha/pgha.hpp>, and that is enough to write a fixture
// test. A TU of pgha_gtest_fixtures.
#define PGHA_NO_UMBRELLA
#include <pgha/gtest.hpp>

#ifdef PGHA_DETAIL_UMBRELLA_INCLUDED
#error "pgha/gtest.hpp with PGHA_NO_UMBRELLA included the umbrella <pgha/pgha.hpp>"
#endif

namespace {
class LeanClusterTest : public pgha::gtest::ClusterTest {};
}  // namespace

TEST_F(LeanClusterTest, WithoutTheUmbrellaAFixtureTestReadsTheStandby) {
  primary().execute("CREATE TABLE lean (v int)");
  primary().execute("INSERT INTO lean VALUES (7)");
  EXPECT_EQ(standby().query("SELECT v FROM lean").value(0, 0), "7");
  EXPECT_EQ(standby().role(), pgha::Role::Standby);
}
