// pgha/conninfo.hpp: connection strings an application under test would use, built from
// nodes: the multi-host form with target_session_attrs that lets a libpq client follow a
// failover by itself.
#pragma once

#include "pgha/build_mode.hpp"

#include <string>
#include <vector>

#ifndef PGHA_SEPARATE_COMPILATION  // the separate mode compiles these in the library
#include "pgha/detail/quote.hpp"
#endif
#include "pgha/error.hpp"
#include "pgha/node.hpp"

namespace pgha {

/// A libpq multi-host conninfo over `nodes` ("host=127.0.0.1,127.0.0.1 port=P1,P2 ...").
/// `target_session_attrs` is libpq's: "read-write" connects to whichever node is the
/// primary, "any" to the first that answers. Throws Error if `nodes` is empty or the
/// nodes do not share one superuser password (nodes of one cluster always do).
PGHA_DECL std::string multi_host_conninfo(const std::vector<Node*>& nodes,
                                       const std::string& target_session_attrs = "read-write",
                                       const std::string& dbname = "postgres",
                                       int connect_timeout_s = 2);

}  // namespace pgha

#ifndef PGHA_SEPARATE_COMPILATION
#include "pgha/impl/conninfo.ipp"
#endif
