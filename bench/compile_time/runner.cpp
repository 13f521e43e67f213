// bench/compile_time.sh: Catch2 v2's runner, paid once per test program in either mode.
#define CATCH_CONFIG_MAIN
#include <catch2/catch.hpp>
