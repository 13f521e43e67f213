// The definitions of pgha/detail/libpq.hpp. Header-only: included at the end of that
// header (PGHA_DECL is `inline`). Separate compilation: compiled once, by
// pgha/implementation.hpp.
#pragma once

#include <poll.h>

#include <algorithm>
#include <cerrno>

#include "pgha/detail/libpq.hpp"

namespace pgha {
namespace detail {

PGHA_DECL void PgConnDeleter::operator() ( PGconn * c ) const noexcept { PQfinish(c); }

PGHA_DECL void PgResultDeleter::operator() ( PGresult * r ) const noexcept { PQclear(r); }

PGHA_DECL std::string trim_message(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return s;
}

PGHA_DECL std::string sql_excerpt(const std::string& sql) {
  return sql.size() <= 120 ? sql : sql.substr(0, 117) + "...";
}

PGHA_DECL SocketWake wait_socket(PGconn* c, short events, Clock::time_point deadline, int stop_fd) {
  for (;;) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    if (left.count() <= 0) return SocketWake::Deadline;
    pollfd p[2] = {{PQsocket(c), events, 0}, {stop_fd, POLLIN, 0}};
    int rc = ::poll(p, stop_fd >= 0 ? 2 : 1, static_cast<int>(std::min<long long>(left.count() + 1, 1 << 30)));
    if (rc < 0 && errno != EINTR) return SocketWake::Deadline;
    if (rc <= 0) continue;
    if (stop_fd >= 0 && p[1].revents) return SocketWake::Stop;
    if (p[0].revents) return SocketWake::Ready;
  }
}

PGHA_DECL bool wait_socket(PGconn* c, short events, Clock::time_point deadline) {
  return wait_socket(c, events, deadline, -1) == SocketWake::Ready;
}

PGHA_DECL void check_conninfo(const std::string& conninfo, const std::string& who) {
  char* err = nullptr;
  PQconninfoOption* opts = PQconninfoParse(conninfo.c_str(), &err);
  if (opts) {
    PQconninfoFree(opts);
    return;
  }
  std::string why = err ? trim_message(err) : "out of memory";
  if (err) PQfreemem(err);
  throw UsageError(who + ": the conninfo is not a libpq connection string: " + why +
                   "; expected key=value pairs (host=... port=... user=...) or a "
                   "postgresql:// URI");
}

}  // namespace detail
}  // namespace pgha
