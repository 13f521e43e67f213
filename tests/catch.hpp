// tests/catch.hpp: one include for Catch2 v2 (Debian 12) and v3, plus what differs:
//  - matchers: the tests say Catch::Matchers::ContainsSubstring (v3's name); on v2 it is an
//    alias of v2's Contains. (v3's own Contains matches range elements, not substrings.)
//  - skips: PGHA_SKIP(reason), at the end of this file.
#pragma once
#if __has_include(<catch2/catch_all.hpp>)
#include <catch2/catch_all.hpp>
#define PGHA_TEST_CATCH2_V3 1
#else
#include <catch2/catch.hpp>
#define PGHA_TEST_CATCH2_V3 0
#endif

#include <iostream>
#include <sstream>
#include <string>
#include <vector>

#if !PGHA_TEST_CATCH2_V3
namespace Catch {
namespace Matchers {
inline StdString::ContainsMatcher ContainsSubstring(std::string const& str,
                                                    CaseSensitive::Choice cs = CaseSensitive::Yes) {
  return Contains(str, cs);
}
}  // namespace Matchers
}  // namespace Catch

namespace test {
// Catch2 v2 has no SKIP. PGHA_SKIP (below) records the test case here and
// throws Skipped, which derives from Catch::TestFailureException: v2 ends the current test
// case on it without recording an assertion (as after a failed REQUIRE, whose failure is
// already recorded). tests/main.cpp then reports the skips and exits with 4.
struct Skipped : Catch::TestFailureException {};

struct SkipRecord {
  std::string test_case;
  std::string reason;
};

inline std::vector<SkipRecord>& skip_records() {
  static std::vector<SkipRecord> records;
  return records;
}
}  // namespace test
#endif

// Reports the running test case as SKIPPED with a reason (a stream expression) and ends it.
// Catch2 v3: its own SKIP. Catch2 v2: prints "SKIPPED: <reason>", records the skip and
// throws test::Skipped (above), which ends only this test case. Either way
// tests/main.cpp exits with 4 when nothing failed and something was skipped, and ctest maps
// 4 to "Skipped" (SKIP_RETURN_CODE), so a skip is never counted as a pass.
// Call it before creating nodes.
#if PGHA_TEST_CATCH2_V3
#define PGHA_SKIP(reason) SKIP(reason)
#else
#define PGHA_SKIP(reason)                                                                  \
  do {                                                                                     \
    std::ostringstream pgha_skip_reason_;                                                  \
    pgha_skip_reason_ << reason;                                                           \
    std::cout << "SKIPPED: " << pgha_skip_reason_.str() << std::endl;                      \
    test::skip_records().push_back(                                                        \
        {Catch::getResultCapture().getCurrentTestName(), pgha_skip_reason_.str()});        \
    throw test::Skipped();                                                                 \
  } while (0)
#endif
