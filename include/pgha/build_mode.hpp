// pgha/build_mode.hpp: header-only (the default) or separate compilation (issue 22).
//
// Header-only: `#include <pgha/pgha.hpp>` and nothing else; every definition is `inline`
// and compiled in each translation unit that includes pgha.
// Separate compilation: define PGHA_SEPARATE_COMPILATION in every translation unit (the
// CMake target pgha::compiled does it) and compile `#include <pgha/implementation.hpp>`
// in exactly one of them (pgha::compiled's library does). pgha's headers then hold
// declarations only and do not pull pgha/detail/ in.
//
// Mixing the two modes in one program is an error the linker reports: a header-only
// translation unit defines the symbol pgha_mixes_header_only_and_separate_compilation,
// and so does the compiled library ("multiple definition of
// `pgha_mixes_header_only_and_separate_compilation'"). Pick one mode per program.
#pragma once

#if defined(PGHA_SEPARATE_COMPILATION)
/// Marks pgha's non-template definitions: nothing in the separate mode (compiled once).
#define PGHA_DECL
#if defined(__GNUC__)
// Every compiled-mode translation unit references the library's object (defined by
// pgha/implementation.hpp): the linker always pulls it in, so a header-only translation
// unit in the same program clashes with it (below) instead of silently standing in for
// it, and a program without the library fails with "undefined reference to
// `pgha_separate_compilation_needs_the_pgha_compiled_library'".
extern "C" int pgha_separate_compilation_needs_the_pgha_compiled_library;
namespace pgha {
namespace detail {
__attribute__((used)) static const int* const separate_compilation_link_tag =
    &pgha_separate_compilation_needs_the_pgha_compiled_library;
}  // namespace detail
}  // namespace pgha
#endif
#else
/// Marks pgha's non-template definitions: `inline` in the header-only mode.
#define PGHA_DECL inline
#if defined(__GNUC__)
// One definition per program, kept even if unused (see above).
extern "C" {
__attribute__((used)) inline int pgha_mixes_header_only_and_separate_compilation = 0;
}
#endif
#endif
