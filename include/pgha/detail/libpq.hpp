// pgha/detail/libpq.hpp: the libpq plumbing under both of pgha's clients (pgha::Connection
// and the Workload's asynchronous client, detail/workload_client.hpp): owning pointers,
// the socket wait with a deadline, message trimming, conninfo parsing. Declarations; the
// definitions are in pgha/impl/libpq.ipp (inline in the header-only mode).
#pragma once

#include <libpq-fe.h>

#include <chrono>
#include <memory>
#include <string>

#include "pgha/build_mode.hpp"
#include "pgha/error.hpp"

namespace pgha {
namespace detail {
struct PgConnDeleter {
  void operator()(PGconn* c) const noexcept;
};
struct PgResultDeleter {
  void operator()(PGresult* r) const noexcept;
};
using ConnPtr = std::unique_ptr<PGconn, PgConnDeleter>;
using Clock = std::chrono::steady_clock;

PGHA_DECL std::string trim_message(std::string s);

PGHA_DECL std::string sql_excerpt(const std::string& sql);

enum class SocketWake { Ready, Stop, Deadline };

// Waits until the connection's socket is ready for `events`, `stop_fd` (when >= 0) is
// readable, or the deadline passes (a poll() error counts as the deadline).
PGHA_DECL SocketWake wait_socket(PGconn* c, short events, Clock::time_point deadline, int stop_fd);

// Waits until the connection's socket is ready for `events` or the deadline passes.
PGHA_DECL bool wait_socket(PGconn* c, short events, Clock::time_point deadline);

// Throws UsageError when libpq cannot parse `conninfo` (a key=value string or a URI),
// quoting libpq's own reason, so a garbage string is not reported as a failed connection.
// The conninfo itself is not quoted: it may hold a password.
PGHA_DECL void check_conninfo(const std::string& conninfo, const std::string& who);

}  // namespace detail
}  // namespace pgha

#ifndef PGHA_SEPARATE_COMPILATION
#include "pgha/impl/libpq.ipp"
#endif
