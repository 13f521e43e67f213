// pgha/pending_query.hpp: a statement running on its own connection while the test goes
// on: the walkthrough's insert that blocks until a synchronous standby comes back.
#pragma once

#include "pgha/build_mode.hpp"

#include <chrono>
#include <exception>
#include <optional>
#include <string>
#include <vector>

#include "pgha/connection.hpp"
#include "pgha/events.hpp"

namespace pgha {

/// A statement sent but not necessarily finished. Move-only. If it is still running when
/// destroyed, it is cancelled (a commit waiting for a sync standby then stays committed
/// locally, as PostgreSQL documents) and the connection is closed; the destructor waits
/// at most about a second for that and never throws.
/// Like Connection, a PendingQuery serves one thread at a time.
class PendingQuery {
public:
  /// Sends `sql` on `conn`, which the PendingQuery then owns.
  PendingQuery(Connection conn, std::string sql);
  /// Sends one statement with text parameters $1, $2, ... (see Connection::execute).
  PendingQuery(Connection conn, std::string sql, const std::vector<std::string>& params);
  PendingQuery(PendingQuery&&) noexcept;
  PendingQuery& operator=(PendingQuery&&) noexcept;
  ~PendingQuery();

  /// Waits up to `d` for the statement to finish; true if it has (successfully or not).
  bool wait_for(std::chrono::milliseconds d);
  /// Whether the statement finished, without waiting.
  bool ready();
  /// The result; waits up to the connection's timeout, then throws TimeoutError.
  /// Rethrows the statement's QueryError if it failed, ConnectionError if the session was
  /// lost (node stopped or crashed, backend terminated), InDoubtError if it was lost while
  /// the statement could commit (see Connection).
  Result get();
  /// Cancels the statement if it is still running; true once the request was delivered.
  /// Bounded in time even against a frozen server: see Connection::cancel.
  bool cancel() noexcept;
  /// Notices and warnings received on the statement's connection, oldest first.
  std::vector<std::string> notices() const;
  /// Process id of the server backend running the statement.
  int backend_pid() const noexcept;

private:
  // Events: a statement that outlived a wait_for is "blocked" (a commit waiting for a sync
  // standby, most often); when it finishes, "released" with how long it ran.
  void blocked_event();
  void released_event();
  std::chrono::steady_clock::time_point sent_ = std::chrono::steady_clock::now();
  bool blocked_ = false;
  std::optional<detail::Client> conn_;
  std::string sql_;
  bool done_ = false;
  std::optional<Result> result_;
  std::exception_ptr error_;
};

}  // namespace pgha

#ifndef PGHA_SEPARATE_COMPILATION
#include "pgha/impl/pending_query.ipp"
#endif
