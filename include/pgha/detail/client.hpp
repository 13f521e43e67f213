// pgha/detail/client.hpp: pgha's libpq client, the one under pgha::Connection and
// pgha::Result (thin public faces over it) and under the node's own sessions (admin
// queries, the user's per-thread sessions, a PendingQuery). Every blocking call has a
// deadline, so a statement stuck behind a missing sync standby raises TimeoutError instead
// of hanging; a statement that commits and whose outcome cannot be known is an
// InDoubtError. Declarations; the definitions are in pgha/impl/client.ipp (inline in the
// header-only mode).
#pragma once

#include <libpq-fe.h>

#include <chrono>
#include <cstddef>
#include <deque>
#include <memory>
#include <string>
#include <vector>

#include "pgha/build_mode.hpp"
#include "pgha/detail/cancel.hpp"
#include "pgha/detail/libpq.hpp"
#include "pgha/error.hpp"

namespace pgha::detail {

/// The rows of one statement, values as text. Copies share the rows.
class Rows {
public:
  Rows() = default;
  /// Takes ownership of a libpq result.
  explicit Rows(PGresult* r);
  int rows() const noexcept;
  int columns() const noexcept;
  /// Throws Error when out of range.
  std::string value(int row, int column) const;
  bool is_null(int row, int column) const;
  std::string column_name(int column) const;
  long affected_rows() const noexcept;
  std::string command_status() const;

private:
  void check(int row, int column, bool check_row = true) const;
  std::shared_ptr<PGresult> res_;
};

/// One libpq connection with deadlines (pgha::Connection documents the behaviour). Move-only;
/// one thread at a time.
class Client {
public:
  Client(const std::string& conninfo, std::chrono::milliseconds timeout, std::string label);
  Client(Client&&) noexcept;
  Client& operator=(Client&&) noexcept;
  ~Client();

  Rows execute(const std::string& sql) { return run(sql, nullptr, timeout_); }
  Rows execute(const std::string& sql, std::chrono::milliseconds timeout) {
    return run(sql, nullptr, timeout);
  }
  Rows execute(const std::string& sql, const std::vector<std::string>& params) {
    return run(sql, &params, timeout_);
  }
  Rows execute(const std::string& sql, const std::vector<std::string>& params,
               std::chrono::milliseconds timeout) {
    return run(sql, &params, timeout);
  }
  Rows query(const std::string& sql) { return execute(sql); }
  Rows query(const std::string& sql, const std::vector<std::string>& params) {
    return execute(sql, params);
  }

  int backend_pid() const noexcept;
  bool is_open() const noexcept;
  int server_version() const noexcept;
  std::chrono::milliseconds timeout() const noexcept { return timeout_; }
  const std::string& label() const noexcept { return label_; }

  /// See pgha::Connection::cancel.
  bool cancel() noexcept;
  std::vector<std::string> notices() const;
  void clear_notices() noexcept;

  /// Marks this as a connection to pgha's own server whose postmaster is `postmaster_pid`:
  /// if the backend is that postmaster's child right now, cancel() may SIGINT it directly
  /// (re-checking the parent pid and the start time each time). Returns whether the
  /// shortcut is armed; false leaves cancels to libpq.
  bool set_local_postmaster(int postmaster_pid) noexcept;
  /// Tests only: makes the SIGINT shortcut see `pid` as the backend (0 restores
  /// PQbackendPID()), to prove that a pid that is not the backend never gets a signal.
  void set_backend_pid_for_testing(int pid) noexcept { backend_pid_override_ = pid; }

  // The pieces of a statement run apart, for a statement that runs while the test goes on
  // (pgha::PendingQuery).
  /// Sends SQL (with parameters if `params`) without waiting for the result.
  void send(const std::string& sql, const std::vector<std::string>* params);
  /// Reads results until the statement finished or the deadline passed; false on timeout.
  bool collect(const std::string& sql, Clock::time_point deadline, Rows& out);
  /// Sends a cancel without waiting for it.
  void request_cancel_now() noexcept { request_cancel(); }
  /// Discards pending results for at most `limit`; closes the connection if they don't
  /// come (re-sending the cancel while waiting).
  void drain(std::chrono::milliseconds limit) noexcept;

private:
  enum class CancelSent { Signal, Libpq, InFlight, No };
  // How a drain ended: every result read (none an error), an error result read, or no
  // end in time (the connection was closed).
  enum class DrainEnd { Done, Failed, Closed };
  struct NoticeLog {
    std::deque<std::string> items;  // the last 100
    std::size_t total = 0;          // received in all
  };

  Rows run(const std::string& sql, const std::vector<std::string>* params,
           std::chrono::milliseconds timeout);

  // What the session's state before `sql` makes of it: whether `sql` can commit.
  bool commits(const std::string& sql) const noexcept;
  // The session ended during the statement: InDoubtError when it commits, else
  // ConnectionError.
  [[noreturn]] void throw_ended(const std::string& message, const std::string& code) const;

  void require_open(const std::string& sql) const;

  static bool ends_session(const PGresult* r);
  static std::string sqlstate_of(const PGresult* r);
  static std::string explain(const std::string& code);

  // A FATAL error result (or any error on a connection libpq saw break) ends the session:
  // ConnectionError; any other error result: QueryError.
  [[noreturn]] void throw_error(const PGresult* r, const std::string& sql) const;
  // The socket broke; `held` is an error result read before that (e.g. 57P01), or null.
  [[noreturn]] void throw_lost(const PGresult* held, const std::string& sql) const;
  [[noreturn]] void fail_connect();
  std::string safe_target() const;

  // The pid the SIGINT shortcut would signal (tests may substitute a decoy).
  int recorded_backend_pid() const noexcept;
  // SIGINT to the backend, only when set_local_postmaster() proved it a child of pgha's
  // own postmaster and it is still that same process.
  bool signal_local_backend() noexcept;
  // A new libpq cancel flight, or the one still going (never two at a time).
  std::shared_ptr<CancelFlight> cancel_via_libpq() noexcept;
  CancelSent request_cancel() noexcept;

  // A cancel that lands before the backend starts the statement is ignored by the server,
  // so the cancel is re-sent while waiting: a SIGINT every 10 ms; a libpq cancel (a new
  // server connection each) only after the previous one finished, 10 ms after the first
  // and with the gap doubling up to 200 ms.
  DrainEnd drain_end(std::chrono::milliseconds limit) noexcept;

  std::unique_ptr<NoticeLog> notices_ = std::make_unique<NoticeLog>();
  ConnPtr conn_;
  std::string label_;
  std::chrono::milliseconds timeout_;
  ProcIdentity backend_identity_;  // ppid 0: no SIGINT shortcut
  int backend_pid_override_ = 0;
  std::shared_ptr<CancelFlight> cancel_flight_;
  bool may_commit_ = false;  // the statement sent last can commit (see commits())
};

}  // namespace pgha::detail

#ifndef PGHA_SEPARATE_COMPILATION
#include "pgha/impl/client.ipp"
#endif
