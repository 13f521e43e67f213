// pgha/detail/quote.hpp: quoting by the rules of each language pgha writes into: libpq
// conninfo strings, SQL literals and identifiers (also the names in
// synchronous_standby_names), and /bin/sh words (archive_command, restore_command).
// Paths with spaces or quotes, names with '=' or non-ASCII: every value pgha pastes into
// another language goes through one of these.
#pragma once

#include <string>

#include "pgha/error.hpp"

namespace pgha::detail {

// A libpq conninfo value: always single-quoted, with ' and \ escaped by a backslash
// (libpq's rule), so "host='/tmp/a b'" and "password='it\'s'" parse as one value.
inline std::string conninfo_quote(const std::string& v) {
  std::string out = "'";
  for (char c : v) {
    if (c == '\'' || c == '\\') out += '\\';
    out += c;
  }
  return out + "'";
}

// "key='value'" for a conninfo string.
inline std::string conninfo_param(const std::string& key, const std::string& value) {
  return key + "=" + conninfo_quote(value);
}

// The one loopback TCP conninfo pgha builds (nodes, endpoints, PgBouncer, its own
// upstream connections): host 127.0.0.1, every value quoted. `extra` is appended as is
// ("connect_timeout=5", an application_name param). An empty `dbname` is left out (a
// physical replication connection names none).
inline std::string tcp_conninfo(int port, const std::string& user, const std::string& password,
                                const std::string& dbname, const std::string& extra = {}) {
  return "host=127.0.0.1 port=" + std::to_string(port) + " " + conninfo_param("user", user) + " " +
         conninfo_param("password", password) + (dbname.empty() ? "" : " " + conninfo_param("dbname", dbname)) +
         (extra.empty() ? "" : " " + extra);
}

// The arguments of a conninfo_as(): a role and a database must be named.
inline void require_role_and_db(const char* call, const std::string& user, const std::string& dbname) {
  if (user.empty())
    throw UsageError(std::string(call) + ": the user is empty; expected the role the service "
                     "connects as (create it first: CREATE ROLE app LOGIN PASSWORD '...')");
  if (dbname.empty())
    throw UsageError(std::string(call) + ": the database name is empty; expected one, such as \"postgres\"");
}

// An SQL string literal with standard_conforming_strings = on (the default since 9.1):
// quotes doubled, backslashes literal.
inline std::string sql_literal(const std::string& v) {
  std::string out = "'";
  for (char c : v) {
    if (c == '\'') out += '\'';
    out += c;
  }
  return out + "'";
}

// An SQL identifier, always double-quoted: "my ""odd"" name". The same rule quotes the
// names in synchronous_standby_names.
inline std::string sql_ident(const std::string& v) {
  std::string out = "\"";
  for (char c : v) {
    if (c == '"') out += '"';
    out += c;
  }
  return out + "\"";
}

// `v` with A-Z turned into a-z and every other byte kept: how the server folds the names in
// synchronous_standby_names and application_name when it compares them.
inline std::string ascii_lower(std::string v) {
  for (char& c : v)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  return v;
}

// A name in synchronous_standby_names: bare when it is a plain identifier (as the
// walkthrough writes 'pgslave001'), else double-quoted. FIRST and ANY are keywords there.
inline std::string sync_name(const std::string& v) {
  bool plain = !v.empty() && !(v[0] >= '0' && v[0] <= '9');
  for (char c : v)
    plain = plain && ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_');
  const std::string lower = ascii_lower(v);
  if (lower == "first" || lower == "any") plain = false;
  return plain ? v : sql_ident(v);
}

// A /bin/sh word: single-quoted, a ' becomes '\''.
inline std::string shell_quote(const std::string& v) {
  std::string out = "'";
  for (char c : v) {
    if (c == '\'') out += "'\\''";
    else out += c;
  }
  return out + "'";
}

}  // namespace pgha::detail
