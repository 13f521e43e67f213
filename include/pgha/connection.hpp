// pgha/connection.hpp: a small libpq client. Result and Connection are the public faces of
// the library's own client (detail/client.hpp: detail::Rows, detail::Client), the one its
// nodes use too; they keep libpq types out of their public signatures (pgha's own code
// reaches the internals through detail::ConnectionAccess). Every blocking call has a
// deadline, so a statement stuck behind a missing sync standby raises TimeoutError instead
// of hanging.
#pragma once

#include "pgha/build_mode.hpp"

#include <chrono>
#include <string>
#include <utility>
#include <vector>

#include "pgha/detail/client.hpp"
#include "pgha/error.hpp"

namespace pgha {

class Result;
class Connection;
class PendingQuery;

namespace detail {
class ConnectionAccess;
}  // namespace detail

/// The rows of one statement: copyable, cheap to pass around, values as strings.
/// Copies share the rows; reading one Result from several threads is safe.
class Result {
public:
  Result() = default;
  /// Number of rows returned.
  int rows() const noexcept;
  /// Number of columns returned.
  int columns() const noexcept;
  /// The text of a value ("" for NULL; check is_null); throws Error when out of range.
  std::string value(int row, int column) const;
  /// Whether a value is SQL NULL; throws Error when out of range.
  bool is_null(int row, int column) const;
  /// Name of a column; throws Error when out of range.
  std::string column_name(int column) const;
  /// Rows affected by INSERT/UPDATE/DELETE (0 for other statements).
  long affected_rows() const noexcept;
  /// The command tag, e.g. "INSERT 0 1".
  std::string command_status() const;

private:
  friend class Connection;
  friend class detail::ConnectionAccess;
  explicit Result(detail::Rows rows) noexcept : rows_(std::move(rows)) {}
  detail::Rows rows_;
};

/// One libpq connection. Move-only. Statements run with a deadline; on timeout the
/// statement is cancelled and TimeoutError is thrown. A server-side error is a QueryError
/// and leaves the connection usable; a lost session is a ConnectionError (see error.hpp).
/// A statement that commits (COMMIT or END of an open transaction block, or outside a
/// block any statement that may write: INSERT, CREATE, ..., not SELECT or SHOW) whose
/// outcome cannot be known is an InDoubtError instead: the session ended during it, or its
/// deadline passed and the cancel did not end it with an error (a commit waiting for a
/// synchronous standby answers a cancel with success and a warning: committed locally,
/// not replicated). After an InDoubtError, as after any ConnectionError, the connection is
/// closed.
/// Like a libpqxx connection, a Connection serves one thread at a time: calls on the same
/// Connection from several threads must be serialized by the caller.
class Connection {
public:
  /// Connects using a libpq conninfo string; throws ConnectionError or TimeoutError, and
  /// UsageError at once when libpq cannot parse the string. `label` names the node in
  /// messages.
  explicit Connection(const std::string& conninfo,
                      std::chrono::milliseconds timeout = std::chrono::seconds(30),
                      std::string label = {});
  Connection(Connection&&) noexcept;
  Connection& operator=(Connection&&) noexcept;
  ~Connection();

  /// Runs SQL (one or more statements) and returns the last statement's result.
  /// Throws QueryError (with sqlstate) when the server rejects it, ConnectionError when
  /// the session is lost, TimeoutError after the deadline (the statement is cancelled),
  /// InDoubtError when the statement commits and its outcome is unknown (see the class).
  Result execute(const std::string& sql);
  /// Same as execute(sql) with an explicit deadline for this call.
  Result execute(const std::string& sql, std::chrono::milliseconds timeout);
  /// Runs one statement with parameters $1, $2, ... sent apart from the SQL text (text
  /// format; a value is never parsed as SQL, so quotes and backslashes need no escaping).
  /// A parameter cannot be NULL (write NULL in the SQL) nor hold a NUL byte.
  Result execute(const std::string& sql, const std::vector<std::string>& params);
  /// Same as execute(sql, params) with an explicit deadline for this call.
  Result execute(const std::string& sql, const std::vector<std::string>& params,
                 std::chrono::milliseconds timeout);
  /// Alias of execute, for statements that return rows.
  Result query(const std::string& sql);
  /// Alias of execute(sql, params), for statements that return rows.
  Result query(const std::string& sql, const std::vector<std::string>& params);
  /// The server's process id serving this connection.
  int backend_pid() const noexcept;
  /// Whether the connection is still usable as far as libpq knows.
  bool is_open() const noexcept;
  /// Server version as an integer, e.g. 150018.
  int server_version() const noexcept;
  /// The per-call deadline used by execute/query.
  std::chrono::milliseconds timeout() const noexcept;

  /// Asks the server to cancel the statement running on this connection; true once the
  /// request was delivered. A backend that pgha's core has shown to be a child of its own
  /// postmaster (still the same process: parent pid and start time are checked) gets a
  /// SIGINT at once, which also reaches a frozen server when it is thawed. Any other
  /// connection (a remote server, a conninfo() connection made by the test) goes through
  /// libpq's cancel request, never a signal: that waits for the server at most
  /// min(timeout(), 1 s); a frozen server makes it return false, and the request stays in
  /// flight on a helper thread and takes effect if the server resumes (see CancelFlight).
  /// Cancelling a statement that already finished does nothing. Never throws.
  bool cancel() noexcept;
  /// Notices and warnings the server sent on this connection (the last 100), oldest first.
  std::vector<std::string> notices() const;
  /// Forgets the notices received so far.
  void clear_notices() noexcept;
  /// The label used in messages.
  const std::string& label() const noexcept;

private:
  friend class detail::ConnectionAccess;
  explicit Connection(detail::Client client) noexcept : client_(std::move(client)) {}
  detail::Client client_;
};

namespace detail {
/// pgha's own access to Connection and Result internals that take or give libpq types.
/// Not for users: the names and signatures may change in any release.
class ConnectionAccess {
public:
  /// Wraps a libpq result (ownership passes to the Result).
  static Result adopt(PGresult* r);
  /// The public face of rows the library's client read.
  static Result wrap(detail::Rows rows) noexcept { return Result(std::move(rows)); }
  /// The public face of a client the library opened (Node::connect, execute_async).
  static Connection wrap(detail::Client client) noexcept { return Connection(std::move(client)); }
  /// The client under a Connection.
  static detail::Client& client(Connection& c) noexcept { return c.client_; }
  static detail::Client&& take(Connection&& c) noexcept { return std::move(c.client_); }
  /// Marks `c` as a connection to pgha's own server whose postmaster is
  /// `postmaster_pid`: if the connection's backend is that postmaster's child right now,
  /// cancel() may then SIGINT it directly (it re-checks the parent pid and the start time
  /// each time). Returns whether the shortcut is armed; false leaves cancels to libpq.
  static bool set_local_postmaster(Connection& c, int postmaster_pid) noexcept;
  /// Tests only: makes the SIGINT shortcut see `pid` as the backend (0 restores
  /// PQbackendPID()), to prove that a pid that is not the backend never gets a signal.
  static void set_backend_pid_for_testing(Connection& c, int pid) noexcept;
};
}  // namespace detail

}  // namespace pgha

#ifndef PGHA_SEPARATE_COMPILATION
#include "pgha/impl/connection.ipp"
#endif
