// A second translation unit of each consumer: pgha's definitions must link from two TUs
// in either mode, and the mode must be the one the consumer asked for.
#include <pgha/pgha.hpp>

#include <string>

#if defined(PGHA_CONSUMER_COMPILED) && !defined(PGHA_SEPARATE_COMPILATION)
#error "the compiled mode (pgha::compiled, pgha-compiled.pc) did not define PGHA_SEPARATE_COMPILATION"
#endif
#if !defined(PGHA_CONSUMER_COMPILED) && defined(PGHA_SEPARATE_COMPILATION)
#error "the header-only mode (pgha::pgha, pgha.pc) defined PGHA_SEPARATE_COMPILATION"
#endif

std::string pgha_consumer_second_tu(pgha::Node& n) { return n.name() + " " + pgha::to_string(pgha::Role::Primary); }
