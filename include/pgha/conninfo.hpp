// pgha/conninfo.hpp: connection strings an application under test would use, built from
// nodes: the multi-host form with target_session_attrs that lets a libpq client follow a
// failover by itself.
#pragma once

#include <string>
#include <vector>

#include "pgha/detail/quote.hpp"
#include "pgha/error.hpp"
#include "pgha/node.hpp"

namespace pgha {

/// A libpq multi-host conninfo over `nodes` ("host=127.0.0.1,127.0.0.1 port=P1,P2 ...").
/// `target_session_attrs` is libpq's: "read-write" connects to whichever node is the
/// primary, "any" to the first that answers. Throws Error if `nodes` is empty or the
/// nodes do not share one superuser password (nodes of one cluster always do).
inline std::string multi_host_conninfo(const std::vector<Node*>& nodes,
                                       const std::string& target_session_attrs = "read-write",
                                       const std::string& dbname = "postgres",
                                       int connect_timeout_s = 2) {
  if (nodes.empty()) throw Error("multi_host_conninfo: no nodes given; expected at least one");
  std::string hosts, ports;
  const std::string& password = nodes.front()->password();
  for (Node* n : nodes) {
    if (n->password() != password)
      throw Error("multi_host_conninfo: " + n->name() + " has a different password than " +
                  nodes.front()->name() + "; expected nodes of one cluster (a primary, its "
                  "standbys, and nodes that rejoined them)");
    hosts += (hosts.empty() ? "" : ",") + n->host();
    ports += (ports.empty() ? "" : ",") + std::to_string(n->port());
  }
  return "host=" + hosts + " port=" + ports + " user=postgres " +
         detail::conninfo_param("password", password) + " " + detail::conninfo_param("dbname", dbname) +
         " " + detail::conninfo_param("target_session_attrs", target_session_attrs) +
         " connect_timeout=" + std::to_string(connect_timeout_s);
}

}  // namespace pgha
