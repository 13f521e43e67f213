#!/usr/bin/env bash
# Builds and runs tiny consumer projects against pgha, the way users consume it:
#   find-package      find_package(pgha 0.1 CONFIG REQUIRED) against an installed tree
#   add-subdirectory  add_subdirectory(<pgha source> pgha)
#   fetch-content     FetchContent_Declare(pgha SOURCE_DIR <pgha source>) (no network)
#   pkg-config        g++ $(pkg-config --cflags --libs pgha) against the installed tree
#   missing-dependency  find_package(pgha QUIET) with Boost hidden: configures, pgha not found
# and each of the first four again in the separate compilation mode (<name>-compiled:
# pgha::compiled, pkg-config pgha-compiled), plus:
#   manual-compiled   no CMake: -DPGHA_SEPARATE_COMPILATION and pgha/implementation.hpp in one TU
#   mixed-modes       a header-only TU linked with pgha::compiled's library must fail to
#                     link, naming pgha_mixes_header_only_and_separate_compilation
# Each consumer starts real PostgreSQL servers. Prints "consumer <name>: passed|FAILED"
# per consumer and "<n> passed, <m> failed" at the end; exits non-zero if any failed.
# Env: CXX, CMAKE_GENERATOR and the pgha variables (PGHA_PG_BINDIR, PGHA_RUN_AS, ...) are
# honoured; PGHA_TMPDIR is set to a private directory so the servers can be cleaned up.
set -euo pipefail

src="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
consumers="$src/tests/consumers"
jobs="$(nproc 2>/dev/null || echo 2)"

tmp="$(mktemp -d "${TMPDIR:-/tmp}/pgha-consumers.XXXXXX")"
# The servers run as an unprivileged user when we are root: let it traverse to its dirs.
chmod 711 "$tmp"
mkdir -m 711 "$tmp/nodes"
export PGHA_TMPDIR="$tmp/nodes"

cleanup() {
  local pid args
  # Stop any server a failed consumer left behind (only ours: their data dir is in $tmp).
  while read -r pid args; do
    case "$args" in
      *"postgres -D $tmp/"*) kill -QUIT "$pid" 2>/dev/null || true ;;
    esac
  done < <(ps -eo pid=,args=)
  sleep 0.5
  while read -r pid args; do
    case "$args" in
      *"postgres -D $tmp/"*) kill -KILL "$pid" 2>/dev/null || true ;;
    esac
  done < <(ps -eo pid=,args=)
  rm -rf "$tmp"
}
trap cleanup EXIT

passed=0
failed=0
failed_names=()

# run_consumer <name> <command...>: runs the command with its output in a log; shows the
# log only on failure.
run_consumer() {
  local name="$1"; shift
  local log="$tmp/$name.log"
  if ( set -euo pipefail; "$@" ) >"$log" 2>&1; then
    echo "consumer $name: passed"
    passed=$((passed + 1))
  else
    echo "consumer $name: FAILED (log follows)"
    sed 's/^/  | /' "$log" | tail -n 60
    failed=$((failed + 1))
    failed_names+=("$name")
  fi
}

cmake_consumer() {  # <name> <extra cmake args...>
  local name="$1"; shift
  local build="$tmp/$name-build"
  case " $* " in *"pgha::compiled"*) build="$tmp/$name-compiled-build" ;; esac
  cmake -S "$consumers/$name" -B "$build" -DCMAKE_BUILD_TYPE=Debug "$@"
  cmake --build "$build" -j "$jobs"
  "$build/consumer"
}

install_pgha() {
  cmake -S "$src" -B "$tmp/build" -DPGHA_BUILD_TESTS=OFF -DPGHA_BUILD_EXAMPLES=OFF \
        -DPGHA_BUILD_BENCH=OFF -DCMAKE_INSTALL_PREFIX="$tmp/prefix"
  cmake --build "$tmp/build" -j "$jobs"  # pgha::compiled's library
  cmake --install "$tmp/build"
}

pkg_config_consumer() {  # [pc name: pgha (default) or pgha-compiled]
  local flags pc="${1:-pgha}" defs=""
  flags="$(PKG_CONFIG_PATH="$tmp/prefix/share/pkgconfig" pkg-config --cflags --libs "$pc")"
  [[ "$pc" == pgha-compiled ]] && defs="-DPGHA_CONSUMER_COMPILED"
  echo "pkg-config --cflags --libs $pc: $flags"
  # shellcheck disable=SC2086  # word splitting of the flags is intended
  # The .pc file sets no -std (consumers choose theirs); pgha needs C++17 or later.
  case " $flags " in *" -std="*) echo "pgha.pc forces a -std flag: $flags"; return 1 ;; esac
  "${CXX:-g++}" -std=c++17 $defs "$consumers/readme_snippet.cpp" "$consumers/mode_check.cpp" \
    -o "$tmp/$pc-consumer" $flags
  "$tmp/$pc-consumer"
}

# Without CMake or pkg-config: PGHA_SEPARATE_COMPILATION in every TU, implementation.hpp in one.
manual_compiled_consumer() {
  local cxx="${CXX:-g++}" inc="-I$src/include" pq
  pq="$(pkg-config --cflags --libs libpq)"
  echo '#include <pgha/implementation.hpp>' >"$tmp/pgha_impl.cpp"
  # shellcheck disable=SC2086
  "$cxx" -std=c++17 -DPGHA_SEPARATE_COMPILATION -DPGHA_CONSUMER_COMPILED $inc \
    "$consumers/readme_snippet.cpp" "$consumers/mode_check.cpp" "$tmp/pgha_impl.cpp" \
    -o "$tmp/manual-consumer" $pq -lboost_filesystem -pthread
  "$tmp/manual-consumer"
}

# A program that mixes the modes must not link, and the linker must say why: the README
# snippet compiled header-only, mode_check.cpp in the compiled mode, and the library.
mixed_modes_consumer() {
  local cxx="${CXX:-g++}" libs log="$tmp/mixed.log" pq
  libs="$(PKG_CONFIG_PATH="$tmp/prefix/share/pkgconfig" pkg-config --libs pgha-compiled)"
  pq="$(pkg-config --cflags libpq)"
  # shellcheck disable=SC2086
  "$cxx" -std=c++17 -I"$tmp/prefix/include" $pq -c "$consumers/readme_snippet.cpp" -o "$tmp/mixed-a.o"
  # shellcheck disable=SC2086
  "$cxx" -std=c++17 -I"$tmp/prefix/include" $pq -DPGHA_SEPARATE_COMPILATION -DPGHA_CONSUMER_COMPILED \
    -c "$consumers/mode_check.cpp" -o "$tmp/mixed-b.o"
  # shellcheck disable=SC2086
  if "$cxx" "$tmp/mixed-a.o" "$tmp/mixed-b.o" -o "$tmp/mixed" $libs $(pkg-config --libs libpq) >"$log" 2>&1; then
    echo "a program with a header-only and a compiled-mode TU linked (expected a link error)"
    return 1
  fi
  grep "pgha_mixes_header_only_and_separate_compilation" "$log"
}

if ( install_pgha ) >"$tmp/install.log" 2>&1; then
  run_consumer find-package cmake_consumer find-package -DCMAKE_PREFIX_PATH="$tmp/prefix"
  run_consumer pkg-config pkg_config_consumer
  run_consumer find-package-compiled cmake_consumer find-package -DCMAKE_PREFIX_PATH="$tmp/prefix" \
    -DPGHA_CONSUMER_TARGET=pgha::compiled
  run_consumer pkg-config-compiled pkg_config_consumer pgha-compiled
  run_consumer mixed-modes mixed_modes_consumer
  run_consumer missing-dependency cmake_consumer missing-dependency -DCMAKE_PREFIX_PATH="$tmp/prefix" \
    -DCMAKE_DISABLE_FIND_PACKAGE_Boost=TRUE
else
  echo "install of pgha into $tmp/prefix FAILED (log follows)"
  sed 's/^/  | /' "$tmp/install.log" | tail -n 60
  for name in find-package pkg-config missing-dependency find-package-compiled pkg-config-compiled mixed-modes; do
    echo "consumer $name: FAILED (install failed)"
    failed=$((failed + 1))
    failed_names+=("$name")
  done
fi
run_consumer add-subdirectory cmake_consumer add-subdirectory -DPGHA_SOURCE_DIR="$src"
run_consumer fetch-content cmake_consumer fetch-content -DPGHA_SOURCE_DIR="$src"
run_consumer add-subdirectory-compiled cmake_consumer add-subdirectory -DPGHA_SOURCE_DIR="$src" \
  -DPGHA_CONSUMER_TARGET=pgha::compiled
run_consumer fetch-content-compiled cmake_consumer fetch-content -DPGHA_SOURCE_DIR="$src" \
  -DPGHA_CONSUMER_TARGET=pgha::compiled
run_consumer manual-compiled manual_compiled_consumer

if ((failed > 0)); then
  echo "failed consumers: ${failed_names[*]}"
fi
echo "$passed passed, $failed failed"
((failed == 0))
