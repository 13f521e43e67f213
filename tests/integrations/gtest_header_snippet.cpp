// tests/integrations/gtest_header_snippet.cpp: the usage lines at the top of
// include/pgha/gtest.hpp, line for line, so they cannot stop compiling (the header once
// showed TEST_F(pgha::gtest::SharedClusterTest, Z), which does not: TEST_F pastes its first
// argument into a class name). Compiled only (an OBJECT library); the bodies' "..." are
// the header's placeholders. check_header_snippet.sh (ctest docs.gtest_header_snippet)
// checks that every code line of that comment stands here.
#include <pgha/gtest.hpp>

namespace pgha_gtest_header_snippet {

using PrimaryTest = pgha::gtest::PrimaryTest;
TEST_F(PrimaryTest, X) { primary().execute("..."); }
class MyClusterTest : public pgha::gtest::ClusterTest {};  // primary + 1 sync standby
TEST_F(MyClusterTest, Y) { standby().query("..."); }

inline void in_main() {
  // shared per test run (register once, e.g. in main, before RUN_ALL_TESTS()):
  ::testing::AddGlobalTestEnvironment(new pgha::gtest::SharedClusterEnvironment);
}

using SharedClusterTest = pgha::gtest::SharedClusterTest;  // TEST_F takes a plain name
TEST_F(SharedClusterTest, Z) { cluster().primary().execute("..."); }

}  // namespace pgha_gtest_header_snippet
