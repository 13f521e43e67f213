#!/usr/bin/env bash
# Builds and runs tiny consumer projects against pgha, the way users consume it:
#   find-package      find_package(pgha 0.1 CONFIG REQUIRED) against an installed tree
#   add-subdirectory  add_subdirectory(<pgha source> pgha)
#   fetch-content     FetchContent_Declare(pgha SOURCE_DIR <pgha source>) (no network)
#   pkg-config        g++ $(pkg-config --cflags --libs pgha) against the installed tree
#   missing-dependency  find_package(pgha QUIET) with Boost hidden: configures, pgha not found
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
  cmake -S "$consumers/$name" -B "$tmp/$name-build" -DCMAKE_BUILD_TYPE=Debug "$@"
  cmake --build "$tmp/$name-build" -j "$jobs"
  "$tmp/$name-build/consumer"
}

install_pgha() {
  cmake -S "$src" -B "$tmp/build" -DPGHA_BUILD_TESTS=OFF -DPGHA_BUILD_EXAMPLES=OFF \
        -DPGHA_BUILD_BENCH=OFF -DCMAKE_INSTALL_PREFIX="$tmp/prefix"
  cmake --install "$tmp/build"
}

pkg_config_consumer() {
  local flags
  flags="$(PKG_CONFIG_PATH="$tmp/prefix/share/pkgconfig" pkg-config --cflags --libs pgha)"
  echo "pkg-config --cflags --libs pgha: $flags"
  # shellcheck disable=SC2086  # word splitting of the flags is intended
  # The .pc file sets no -std (consumers choose theirs); pgha needs C++17 or later.
  case " $flags " in *" -std="*) echo "pgha.pc forces a -std flag: $flags"; return 1 ;; esac
  "${CXX:-g++}" -std=c++17 "$consumers/readme_snippet.cpp" -o "$tmp/pkg-config-consumer" $flags
  "$tmp/pkg-config-consumer"
}

if ( install_pgha ) >"$tmp/install.log" 2>&1; then
  run_consumer find-package cmake_consumer find-package -DCMAKE_PREFIX_PATH="$tmp/prefix"
  run_consumer pkg-config pkg_config_consumer
  run_consumer missing-dependency cmake_consumer missing-dependency -DCMAKE_PREFIX_PATH="$tmp/prefix" \
    -DCMAKE_DISABLE_FIND_PACKAGE_Boost=TRUE
else
  echo "install of pgha into $tmp/prefix FAILED (log follows)"
  sed 's/^/  | /' "$tmp/install.log" | tail -n 60
  for name in find-package pkg-config missing-dependency; do
    echo "consumer $name: FAILED (install failed)"
    failed=$((failed + 1))
    failed_names+=("$name")
  done
fi
run_consumer add-subdirectory cmake_consumer add-subdirectory -DPGHA_SOURCE_DIR="$src"
run_consumer fetch-content cmake_consumer fetch-content -DPGHA_SOURCE_DIR="$src"

if ((failed > 0)); then
  echo "failed consumers: ${failed_names[*]}"
fi
echo "$passed passed, $failed failed"
((failed == 0))
