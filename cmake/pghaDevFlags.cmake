# Warnings and sanitizers for pgha's own targets (tests, examples, bench).
#
#   -DPGHA_WARNINGS=ON        -Wall -Wextra -Wpedantic -Wshadow (default: ON when top-level)
#   -DPGHA_WERROR=ON          ... and -Werror (default OFF; .ci/run sets it where clean)
#   -DPGHA_SANITIZE=address,undefined | thread | address | undefined   (default: none)
#   -DPGHA_UNITY_BUILD=ON     each test program's own .cpp files compile as one translation
#                             unit (default: ON; tests/CMakeLists.txt says why)
#
# The top-level CMakeLists.txt includes this right before it adds tests/, examples/ and
# bench/: the flags are directory-scoped compile/link options there, so they reach only the
# targets defined below this directory. pgha::pgha is an INTERFACE target and carries none
# of them, so projects that link it (find_package, add_subdirectory, FetchContent) never see
# them.
option(PGHA_WARNINGS "Compile pgha's own targets with -Wall -Wextra -Wpedantic -Wshadow"
       ${PGHA_TOPLEVEL})
option(PGHA_WERROR "Treat warnings as errors in pgha's own targets (needs PGHA_WARNINGS)" OFF)
option(PGHA_UNITY_BUILD "Compile each of pgha's test programs as one translation unit" ON)
set(PGHA_SANITIZE "" CACHE STRING
    "Sanitizers for pgha's own targets: address,undefined | thread | address | undefined")

if(PGHA_WARNINGS)
  if(CMAKE_CXX_COMPILER_ID MATCHES "GNU|Clang")
    add_compile_options(-Wall -Wextra -Wpedantic -Wshadow)
    if(PGHA_WERROR)
      add_compile_options(-Werror)
    endif()
  else()
    message(WARNING "pgha: PGHA_WARNINGS knows only GCC and Clang flags; none added")
  endif()
elseif(PGHA_WERROR)
  message(FATAL_ERROR "pgha: PGHA_WERROR=ON needs PGHA_WARNINGS=ON")
endif()

if(PGHA_SANITIZE)
  string(REPLACE "," ";" _pgha_sanitizers "${PGHA_SANITIZE}")
  foreach(_s IN LISTS _pgha_sanitizers)
    if(NOT _s MATCHES "^(address|undefined|thread)$")
      message(FATAL_ERROR "pgha: unknown sanitizer '${_s}' in PGHA_SANITIZE=${PGHA_SANITIZE} "
                          "(use address,undefined or thread)")
    endif()
  endforeach()
  if("thread" IN_LIST _pgha_sanitizers AND "address" IN_LIST _pgha_sanitizers)
    message(FATAL_ERROR "pgha: ThreadSanitizer and AddressSanitizer cannot be combined")
  endif()
  # -fno-sanitize-recover: a UBSan finding ends the test process, so the test fails
  # instead of printing a report nobody reads.
  set(_pgha_san_flags -fsanitize=${PGHA_SANITIZE} -fno-omit-frame-pointer
      -fno-sanitize-recover=all)
  add_compile_options(${_pgha_san_flags})
  # GCC 12's -Wmaybe-uninitialized fires hundreds of times inside libstdc++'s <regex> when
  # sanitizers instrument it (false positives; the unsanitized build keeps the warning).
  if(PGHA_WARNINGS AND CMAKE_CXX_COMPILER_ID STREQUAL "GNU")
    add_compile_options(-Wno-maybe-uninitialized)
  endif()
  add_link_options(${_pgha_san_flags})
  message(STATUS "pgha: sanitizers for pgha's own targets: ${PGHA_SANITIZE}")
endif()
