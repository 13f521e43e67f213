// pgha/pending_query.hpp: a statement running on its own connection while the test goes
// on: the walkthrough's insert that blocks until a synchronous standby comes back.
#pragma once

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
  PendingQuery(Connection conn, std::string sql) : conn_(std::move(conn)), sql_(std::move(sql)) {
    conn_->send(sql_, nullptr);
  }
  /// Sends one statement with text parameters $1, $2, ... (see Connection::execute).
  PendingQuery(Connection conn, std::string sql, const std::vector<std::string>& params)
      : conn_(std::move(conn)), sql_(std::move(sql)) {
    conn_->send(sql_, &params);
  }
  PendingQuery(PendingQuery&&) noexcept = default;
  PendingQuery& operator=(PendingQuery&&) noexcept = default;
  ~PendingQuery() {
    if (conn_ && !done_) {
      conn_->request_cancel();
      conn_->drain(std::chrono::seconds(1));
    }
  }

  /// Waits up to `d` for the statement to finish; true if it has (successfully or not).
  bool wait_for(std::chrono::milliseconds d) {
    if (done_) return true;
    try {
      Result r;
      if (!conn_->collect(sql_, detail::Clock::now() + d, r)) {
        if (!blocked_ && d.count() > 0 && detail::events_on()) blocked_event();
        return false;
      }
      result_ = std::move(r);
    } catch (...) {
      error_ = std::current_exception();
    }
    done_ = true;
    if (blocked_ && detail::events_on()) released_event();
    return true;
  }
  /// Whether the statement finished, without waiting.
  bool ready() { return wait_for(std::chrono::milliseconds(0)); }
  /// The result; waits up to the connection's timeout, then throws TimeoutError.
  /// Rethrows the statement's QueryError if it failed, ConnectionError if the session was
  /// lost (node stopped or crashed, backend terminated), InDoubtError if it was lost while
  /// the statement could commit (see Connection).
  Result get() {
    if (!wait_for(conn_->timeout()))
      throw TimeoutError("pending statement did not finish within " +
                             std::to_string(conn_->timeout().count()) + " ms: " +
                             detail::sql_excerpt(sql_),
                         conn_->label());
    if (error_) std::rethrow_exception(error_);
    return *result_;
  }
  /// Cancels the statement if it is still running; true once the request was delivered.
  /// Bounded in time even against a frozen server: see Connection::cancel.
  bool cancel() noexcept { return !done_ && conn_->cancel(); }
  /// Notices and warnings received on the statement's connection, oldest first.
  std::vector<std::string> notices() const { return conn_->notices(); }
  /// Process id of the server backend running the statement.
  int backend_pid() const noexcept { return conn_->backend_pid(); }

private:
  // Events: a statement that outlived a wait_for is "blocked" (a commit waiting for a sync
  // standby, most often); when it finishes, "released" with how long it ran.
  void blocked_event() {
    blocked_ = true;
    auto ran = std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() - sent_);
    detail::emit(detail::node_of_label(conn_->label()), "blocked",
                 "blocked after " + detail::format_duration(ran) + ": " + detail::sql_excerpt(sql_), {},
                 {{"backend_pid", std::to_string(conn_->backend_pid())}});
  }
  void released_event() {
    auto ran = std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() - sent_);
    detail::emit(detail::node_of_label(conn_->label()), "released",
                 std::string(error_ ? "failed" : "returned") + ": " + detail::sql_excerpt(sql_), ran,
                 {{"backend_pid", std::to_string(conn_->backend_pid())}});
  }
  std::chrono::steady_clock::time_point sent_ = std::chrono::steady_clock::now();
  bool blocked_ = false;
  std::optional<Connection> conn_;
  std::string sql_;
  bool done_ = false;
  std::optional<Result> result_;
  std::exception_ptr error_;
};

}  // namespace pgha
