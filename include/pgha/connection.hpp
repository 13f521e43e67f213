// pgha/connection.hpp: a small libpq client. Result, Connection and PendingQuery keep
// libpq types out of their public signatures (pgha's own code reaches the internals
// through detail::ConnectionAccess); every blocking call has a deadline, so a statement
// stuck behind a missing sync standby raises TimeoutError instead of hanging.
#pragma once

#include <libpq-fe.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "pgha/detail/cancel.hpp"
#include "pgha/detail/commit_point.hpp"
#include "pgha/error.hpp"

namespace pgha {

class Result;
class Connection;
class PendingQuery;

namespace detail {
struct PgConnDeleter {
  void operator()(PGconn* c) const noexcept { PQfinish(c); }
};
struct PgResultDeleter {
  void operator()(PGresult* r) const noexcept { PQclear(r); }
};
using ConnPtr = std::unique_ptr<PGconn, PgConnDeleter>;
using Clock = std::chrono::steady_clock;

inline std::string trim_message(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return s;
}

inline std::string sql_excerpt(const std::string& sql) {
  return sql.size() <= 120 ? sql : sql.substr(0, 117) + "...";
}

enum class SocketWake { Ready, Stop, Deadline };

// Waits until the connection's socket is ready for `events`, `stop_fd` (when >= 0) is
// readable, or the deadline passes (a poll() error counts as the deadline).
inline SocketWake wait_socket(PGconn* c, short events, Clock::time_point deadline, int stop_fd) {
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

// Waits until the connection's socket is ready for `events` or the deadline passes.
inline bool wait_socket(PGconn* c, short events, Clock::time_point deadline) {
  return wait_socket(c, events, deadline, -1) == SocketWake::Ready;
}


// Throws UsageError when libpq cannot parse `conninfo` (a key=value string or a URI),
// quoting libpq's own reason, so a garbage string is not reported as a failed connection.
// The conninfo itself is not quoted: it may hold a password.
inline void check_conninfo(const std::string& conninfo, const std::string& who) {
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

class ConnectionAccess;
}  // namespace detail

/// The rows of one statement: copyable, cheap to pass around, values as strings.
/// Copies share the rows; reading one Result from several threads is safe.
class Result {
public:
  Result() = default;
  /// Number of rows returned.
  int rows() const noexcept { return res_ ? PQntuples(res_.get()) : 0; }
  /// Number of columns returned.
  int columns() const noexcept { return res_ ? PQnfields(res_.get()) : 0; }
  /// The text of a value ("" for NULL; check is_null); throws Error when out of range.
  std::string value(int row, int column) const {
    check(row, column);
    return std::string(PQgetvalue(res_.get(), row, column),
                       static_cast<std::size_t>(PQgetlength(res_.get(), row, column)));
  }
  /// Whether a value is SQL NULL; throws Error when out of range.
  bool is_null(int row, int column) const {
    check(row, column);
    return PQgetisnull(res_.get(), row, column) != 0;
  }
  /// Name of a column; throws Error when out of range.
  std::string column_name(int column) const {
    check(0, column, false);
    return PQfname(res_.get(), column);
  }
  /// Rows affected by INSERT/UPDATE/DELETE (0 for other statements).
  long affected_rows() const noexcept {
    if (!res_) return 0;
    const char* t = PQcmdTuples(res_.get());
    return (t && *t) ? std::strtol(t, nullptr, 10) : 0;
  }
  /// The command tag, e.g. "INSERT 0 1".
  std::string command_status() const { return res_ ? PQcmdStatus(res_.get()) : ""; }

private:
  friend class Connection;
  friend class detail::ConnectionAccess;
  // Takes ownership of a libpq result.
  explicit Result(PGresult* r) : res_(r, detail::PgResultDeleter{}) {}

  void check(int row, int column, bool check_row = true) const {
    if (column < 0 || column >= columns())
      throw Error("column " + std::to_string(column) + " is out of range: the result has " +
                  std::to_string(columns()) + " column(s)");
    if (check_row && (row < 0 || row >= rows()))
      throw Error("row " + std::to_string(row) + " is out of range: the result has " +
                  std::to_string(rows()) + " row(s)");
  }
  std::shared_ptr<PGresult> res_;
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
                      std::string label = {})
      : label_(std::move(label)), timeout_(timeout) {
    detail::check_conninfo(conninfo, "Connection");
    auto deadline = detail::Clock::now() + timeout;
    conn_.reset(PQconnectStart(conninfo.c_str()));
    if (!conn_) throw ConnectionError("out of memory creating a libpq connection", "", label_);
    if (PQstatus(conn_.get()) == CONNECTION_BAD) fail_connect();
    for (;;) {
      PostgresPollingStatusType st = PQconnectPoll(conn_.get());
      if (st == PGRES_POLLING_OK) break;
      if (st == PGRES_POLLING_FAILED) fail_connect();
      short ev = st == PGRES_POLLING_READING ? POLLIN : POLLOUT;
      if (!detail::wait_socket(conn_.get(), ev, deadline))
        throw TimeoutError("could not connect within " + std::to_string(timeout.count()) +
                               " ms (is the server frozen or partitioned?); conninfo host/port: " +
                               safe_target(),
                           label_);
    }
    // Notices and warnings (e.g. "canceling wait for synchronous replication") are kept,
    // the last 100, in storage that stays put when the Connection is moved.
    PQsetNoticeProcessor(
        conn_.get(),
        [](void* arg, const char* msg) {
          auto* q = static_cast<NoticeLog*>(arg);
          q->items.push_back(detail::trim_message(msg));
          ++q->total;
          if (q->items.size() > 100) q->items.pop_front();
        },
        notices_.get());
  }
  Connection(Connection&&) noexcept = default;
  Connection& operator=(Connection&&) noexcept = default;
  ~Connection() = default;

  /// Runs SQL (one or more statements) and returns the last statement's result.
  /// Throws QueryError (with sqlstate) when the server rejects it, ConnectionError when
  /// the session is lost, TimeoutError after the deadline (the statement is cancelled),
  /// InDoubtError when the statement commits and its outcome is unknown (see the class).
  Result execute(const std::string& sql) { return run(sql, nullptr, timeout_); }
  /// Same as execute(sql) with an explicit deadline for this call.
  Result execute(const std::string& sql, std::chrono::milliseconds timeout) {
    return run(sql, nullptr, timeout);
  }
  /// Runs one statement with parameters $1, $2, ... sent apart from the SQL text (text
  /// format; a value is never parsed as SQL, so quotes and backslashes need no escaping).
  /// A parameter cannot be NULL (write NULL in the SQL) nor hold a NUL byte.
  Result execute(const std::string& sql, const std::vector<std::string>& params) {
    return run(sql, &params, timeout_);
  }
  /// Same as execute(sql, params) with an explicit deadline for this call.
  Result execute(const std::string& sql, const std::vector<std::string>& params,
                 std::chrono::milliseconds timeout) {
    return run(sql, &params, timeout);
  }
  /// Alias of execute, for statements that return rows.
  Result query(const std::string& sql) { return execute(sql); }
  /// Alias of execute(sql, params), for statements that return rows.
  Result query(const std::string& sql, const std::vector<std::string>& params) {
    return execute(sql, params);
  }
  /// The server's process id serving this connection.
  int backend_pid() const noexcept { return conn_ ? PQbackendPID(conn_.get()) : 0; }
  /// Whether the connection is still usable as far as libpq knows.
  bool is_open() const noexcept { return conn_ && PQstatus(conn_.get()) == CONNECTION_OK; }
  /// Server version as an integer, e.g. 150018.
  int server_version() const noexcept { return conn_ ? PQserverVersion(conn_.get()) : 0; }
  /// The per-call deadline used by execute/query.
  std::chrono::milliseconds timeout() const noexcept { return timeout_; }

  /// Asks the server to cancel the statement running on this connection; true once the
  /// request was delivered. A backend that pgha's core has shown to be a child of its own
  /// postmaster (still the same process: parent pid and start time are checked) gets a
  /// SIGINT at once, which also reaches a frozen server when it is thawed. Any other
  /// connection (a remote server, a conninfo() connection made by the test) goes through
  /// libpq's cancel request, never a signal: that waits for the server at most
  /// min(timeout(), 1 s); a frozen server makes it return false, and the request stays in
  /// flight on a helper thread and takes effect if the server resumes (see CancelFlight).
  /// Cancelling a statement that already finished does nothing. Never throws.
  bool cancel() noexcept {
    try {
      if (signal_local_backend()) return true;
      auto flight = cancel_via_libpq();
      return flight && flight->wait_for(std::min<std::chrono::milliseconds>(
                           timeout_, std::chrono::seconds(1)));
    } catch (...) {
      return false;
    }
  }
  /// Notices and warnings the server sent on this connection (the last 100), oldest first.
  std::vector<std::string> notices() const {
    return std::vector<std::string>(notices_->items.begin(), notices_->items.end());
  }
  /// Forgets the notices received so far.
  void clear_notices() noexcept { notices_->items.clear(); }
  /// The label used in messages.
  const std::string& label() const noexcept { return label_; }

private:
  friend class detail::ConnectionAccess;
  friend class PendingQuery;
  enum class CancelSent { Signal, Libpq, InFlight, No };
  // How a drain ended: every result read (none an error), an error result read, or no
  // end in time (the connection was closed).
  enum class DrainEnd { Done, Failed, Closed };
  struct NoticeLog {
    std::deque<std::string> items;  // the last 100
    std::size_t total = 0;          // received in all
  };

  Result run(const std::string& sql, const std::vector<std::string>* params,
             std::chrono::milliseconds timeout) {
    send(sql, params);
    Result r;
    if (!collect(sql, detail::Clock::now() + timeout, r)) {
      std::size_t seen = notices_->total;
      request_cancel();
      DrainEnd end = drain_end(std::chrono::seconds(2));
      if (may_commit_ && end != DrainEnd::Failed) {
        // A ConnectionError leaves the Connection unusable: closed, so that no cancel still
        // on its way can reach the session's next statement.
        conn_.reset();
        std::string after = end == DrainEnd::Closed
            ? "no answer came after pgha cancelled it"
            : "pgha cancelled it and the server then answered success";
        if (end == DrainEnd::Done) {
          std::string warned;
          for (std::size_t i = std::max(seen, notices_->total - notices_->items.size());
               i < notices_->total; ++i) {
            const std::string& n = notices_->items[i - (notices_->total - notices_->items.size())];
            if (n.rfind("WARNING", 0) == 0) warned += (warned.empty() ? "" : " / ") + n;
          }
          after += warned.empty() ? " without a warning" : ", with " + warned;
        }
        throw InDoubtError("outcome unknown, it may have committed: the statement did not finish "
                               "within " + std::to_string(timeout.count()) + " ms; " + after +
                               " (a commit whose wait for a synchronous standby is cancelled "
                               "stays committed locally, not replicated); the connection is "
                               "closed: check the data on a new one before retrying [" +
                               detail::sql_excerpt(sql) + "]",
                           "", label_);
      }
      throw TimeoutError("statement did not finish within " + std::to_string(timeout.count()) +
                             " ms and was cancelled: " + detail::sql_excerpt(sql),
                         label_);
    }
    return r;
  }

  // What the session's state before `sql` makes of it: whether `sql` can commit.
  bool commits(const std::string& sql) const noexcept {
    try {
      auto st = PQtransactionStatus(conn_.get());
      return detail::may_commit(sql, st == PQTRANS_INTRANS ? detail::TxBefore::InBlock
                                     : st == PQTRANS_INERROR ? detail::TxBefore::Failed
                                                             : detail::TxBefore::Idle);
    } catch (...) {
      return true;
    }
  }
  // The session ended during the statement: InDoubtError when it commits, else
  // ConnectionError.
  [[noreturn]] void throw_ended(const std::string& message, const std::string& code) const {
    if (may_commit_)
      throw InDoubtError("outcome unknown, it may have committed: " + message +
                             "; check the data before retrying",
                         code, label_);
    throw ConnectionError(message, code, label_);
  }

  void require_open(const std::string& sql) const {
    if (!conn_)
      throw ConnectionError("the connection is closed (moved from, closed because a timed-out "
                            "statement did not end after its cancel, or after an InDoubtError); "
                            "expected an open "
                            "connection: open a new one [" + detail::sql_excerpt(sql) + "]",
                            "", label_);
  }

  // Sends SQL (with parameters if `params`) without waiting for the result.
  void send(const std::string& sql, const std::vector<std::string>* params) {
    require_open(sql);
    may_commit_ = commits(sql);
    int ok;
    if (!params) {
      ok = PQsendQuery(conn_.get(), sql.c_str());
    } else {
      std::vector<const char*> values;
      for (std::size_t i = 0; i < params->size(); ++i) {
        const std::string& v = (*params)[i];
        if (v.find('\0') != std::string::npos)
          throw Error("parameter $" + std::to_string(i + 1) +
                          " holds a NUL byte, which PostgreSQL text cannot store [" +
                          detail::sql_excerpt(sql) + "]",
                      label_);
        values.push_back(v.c_str());
      }
      if (values.size() > 65535)
        throw Error("a statement takes at most 65535 parameters, got " +
                        std::to_string(values.size()) + " [" + detail::sql_excerpt(sql) + "]",
                    label_);
      ok = PQsendQueryParams(conn_.get(), sql.c_str(), static_cast<int>(values.size()), nullptr,
                             values.data(), nullptr, nullptr, 0);
    }
    if (ok) return;
    std::string why = detail::trim_message(PQerrorMessage(conn_.get()));
    if (PQstatus(conn_.get()) == CONNECTION_BAD)
      throw ConnectionError("could not send the statement, the connection is lost (" + why +
                                "); expected an open connection: open a new one [" +
                                detail::sql_excerpt(sql) + "]",
                            "", label_);
    throw Error("could not send the statement: " + why + " [" + detail::sql_excerpt(sql) + "]",
                label_);
  }

  // Reads results until the statement finished or the deadline passed; false on timeout.
  bool collect(const std::string& sql, detail::Clock::time_point deadline, Result& out) {
    require_open(sql);
    std::unique_ptr<PGresult, detail::PgResultDeleter> error;  // the first error result
    for (;;) {
      while (!PQisBusy(conn_.get())) {
        PGresult* r = PQgetResult(conn_.get());
        if (!r) {
          if (error) throw_error(error.get(), sql);
          return true;
        }
        auto st = PQresultStatus(r);
        if (st == PGRES_FATAL_ERROR || st == PGRES_BAD_RESPONSE || st == PGRES_NONFATAL_ERROR) {
          if (error) PQclear(r); else error.reset(r);
        } else {
          out = Result(r);
        }
      }
      if (!detail::wait_socket(conn_.get(), POLLIN, deadline)) return false;
      if (!PQconsumeInput(conn_.get())) throw_lost(error.get(), sql);
    }
  }

  static bool ends_session(const PGresult* r) {
    const char* sev = PQresultErrorField(r, PG_DIAG_SEVERITY_NONLOCALIZED);
    if (!sev) sev = PQresultErrorField(r, PG_DIAG_SEVERITY);
    return sev && (std::strcmp(sev, "FATAL") == 0 || std::strcmp(sev, "PANIC") == 0);
  }
  static std::string sqlstate_of(const PGresult* r) {
    const char* s = PQresultErrorField(r, PG_DIAG_SQLSTATE);
    return s ? s : "";
  }
  static std::string explain(const std::string& code) {
    if (code == "57P01") return " (SQLSTATE 57P01 admin_shutdown: pg_terminate_backend() or a shutdown)";
    if (code == "57P02") return " (SQLSTATE 57P02 crash_shutdown: another server process crashed)";
    if (code == "57P03") return " (SQLSTATE 57P03 cannot_connect_now)";
    return " (SQLSTATE " + (code.empty() ? std::string("none") : code) + ")";
  }

  // A FATAL error result (or any error on a connection libpq saw break) ends the session:
  // ConnectionError; any other error result: QueryError.
  [[noreturn]] void throw_error(const PGresult* r, const std::string& sql) const {
    std::string code = sqlstate_of(r);
    std::string msg = detail::trim_message(PQresultErrorMessage(r));
    if (ends_session(r) || PQstatus(conn_.get()) == CONNECTION_BAD)
      throw_ended("the server ended the session" + explain(code) +
                      " while running the statement: " + msg +
                      "; expected its result: open a new connection [" +
                      detail::sql_excerpt(sql) + "]",
                  code);
    throw QueryError(msg + explain(code) + " [" + detail::sql_excerpt(sql) + "]", code, label_);
  }
  // The socket broke; `held` is an error result read before that (e.g. 57P01), or null.
  [[noreturn]] void throw_lost(const PGresult* held, const std::string& sql) const {
    std::string why = detail::trim_message(PQerrorMessage(conn_.get()));
    std::string code;
    if (held && ends_session(held)) {
      code = sqlstate_of(held);
      std::string first = detail::trim_message(PQresultErrorMessage(held));
      if (why.find(first) == std::string::npos) why = first + "; then: " + why;
    }
    throw_ended("connection lost" + (code.empty() ? std::string() : explain(code)) +
                    " while running the statement: " + why +
                    "; expected its result: open a new connection [" +
                    detail::sql_excerpt(sql) + "]",
                code);
  }
  [[noreturn]] void fail_connect() {
    throw ConnectionError("could not connect to " + safe_target() + ": " +
                              detail::trim_message(PQerrorMessage(conn_.get())),
                          "", label_);
  }
  std::string safe_target() const {
    const char* h = PQhost(conn_.get());
    const char* p = PQport(conn_.get());
    return std::string(h ? h : "?") + ":" + (p ? p : "?");
  }

  // The pid the SIGINT shortcut would signal (tests may substitute a decoy).
  int recorded_backend_pid() const noexcept {
    return backend_pid_override_ > 0 ? backend_pid_override_ : backend_pid();
  }
  // SIGINT to the backend, only when set_local_postmaster() proved it a child of pgha's
  // own postmaster and it is still that same process.
  bool signal_local_backend() noexcept {
    if (!backend_identity_.ppid || !is_open()) return false;
    return detail::sigint_if_identity(recorded_backend_pid(), backend_identity_);
  }
  // A new libpq cancel flight, or the one still going (never two at a time).
  std::shared_ptr<detail::CancelFlight> cancel_via_libpq() noexcept {
    try {
      if (cancel_flight_ && !cancel_flight_->finished()) return cancel_flight_;
    } catch (...) {
      return nullptr;
    }
    cancel_flight_ = detail::launch_libpq_cancel(conn_.get());
    return cancel_flight_;
  }
  // Sends a cancel without waiting for it.
  CancelSent request_cancel() noexcept {
    if (signal_local_backend()) return CancelSent::Signal;
    try {
      if (cancel_flight_ && !cancel_flight_->finished()) return CancelSent::InFlight;
    } catch (...) {
      return CancelSent::No;
    }
    return cancel_via_libpq() ? CancelSent::Libpq : CancelSent::No;
  }

  // Discards pending results for at most `limit`; closes the connection if they don't come.
  // A cancel that lands before the backend starts the statement is ignored by the server,
  // so the cancel is re-sent while waiting: a SIGINT every 10 ms; a libpq cancel (a new
  // server connection each) only after the previous one finished, 10 ms after the first
  // and with the gap doubling up to 200 ms.
  void drain(std::chrono::milliseconds limit) noexcept { drain_end(limit); }
  DrainEnd drain_end(std::chrono::milliseconds limit) noexcept {
    if (!conn_) return DrainEnd::Closed;
    bool failed = false;
    using std::chrono::milliseconds;
    auto deadline = detail::Clock::now() + limit;
    auto next_cancel = detail::Clock::now() + milliseconds(10);
    milliseconds gap(10);
    try {
      for (;;) {
        while (!PQisBusy(conn_.get())) {
          PGresult* r = PQgetResult(conn_.get());
          if (!r) return failed ? DrainEnd::Failed : DrainEnd::Done;
          auto st = PQresultStatus(r);
          if (st == PGRES_FATAL_ERROR || st == PGRES_BAD_RESPONSE || st == PGRES_NONFATAL_ERROR) {
            if (ends_session(r)) {  // the session ended: what it did is not known
              PQclear(r);
              conn_.reset();
              return DrainEnd::Closed;
            }
            failed = true;
          }
          PQclear(r);
        }
        auto slice = std::min(deadline, detail::Clock::now() + milliseconds(10));
        if (!detail::wait_socket(conn_.get(), POLLIN, slice)) {
          auto now = detail::Clock::now();
          if (now >= deadline) { conn_.reset(); return DrainEnd::Closed; }
          if (now >= next_cancel) {
            CancelSent how = request_cancel();
            if (how == CancelSent::Libpq) {
              next_cancel = now + gap;
              gap = std::min(gap * 2, milliseconds(200));
            } else {
              next_cancel = now + milliseconds(10);
            }
          }
          continue;
        }
        if (!PQconsumeInput(conn_.get())) { conn_.reset(); return DrainEnd::Closed; }
      }
    } catch (...) {
      conn_.reset();
      return DrainEnd::Closed;
    }
  }

  std::unique_ptr<NoticeLog> notices_ = std::make_unique<NoticeLog>();
  detail::ConnPtr conn_;
  std::string label_;
  std::chrono::milliseconds timeout_;
  detail::ProcIdentity backend_identity_;  // ppid 0: no SIGINT shortcut
  int backend_pid_override_ = 0;
  std::shared_ptr<detail::CancelFlight> cancel_flight_;
  bool may_commit_ = false;  // the statement sent last can commit (see commits())
};

namespace detail {
/// pgha's own access to Connection and Result internals that take or give libpq types.
/// Not for users: the names and signatures may change in any release.
class ConnectionAccess {
public:
  /// Sends SQL without waiting (PendingQuery and the core's asynchronous paths).
  static void send(Connection& c, const std::string& sql) { c.send(sql, nullptr); }
  /// Sends one statement with text parameters without waiting.
  static void send(Connection& c, const std::string& sql, const std::vector<std::string>& params) {
    c.send(sql, &params);
  }
  /// Reads results until the statement finished (true) or `deadline` passed (false).
  static bool collect(Connection& c, const std::string& sql, Clock::time_point deadline,
                      Result& out) {
    return c.collect(sql, deadline, out);
  }
  /// Sends a cancel without waiting for it.
  static void request_cancel(Connection& c) noexcept { c.request_cancel(); }
  /// Discards pending results for at most `limit`, closing the connection if they don't come.
  static void drain(Connection& c, std::chrono::milliseconds limit) noexcept { c.drain(limit); }
  /// Wraps a libpq result (ownership passes to the Result).
  static Result adopt(PGresult* r) { return Result(r); }
  /// Marks `c` as a connection to pgha's own server whose postmaster is
  /// `postmaster_pid`: if the connection's backend is that postmaster's child right now,
  /// cancel() may then SIGINT it directly (it re-checks the parent pid and the start time
  /// each time). Returns whether the shortcut is armed; false leaves cancels to libpq.
  static bool set_local_postmaster(Connection& c, int postmaster_pid) noexcept {
    c.backend_identity_ = ProcIdentity{};
    ProcIdentity id;
    if (postmaster_pid <= 0 || !c.is_open() || !read_proc_identity(c.recorded_backend_pid(), id) ||
        id.ppid != postmaster_pid)
      return false;
    c.backend_identity_ = id;
    return true;
  }
  /// Tests only: makes the SIGINT shortcut see `pid` as the backend (0 restores
  /// PQbackendPID()), to prove that a pid that is not the backend never gets a signal.
  static void set_backend_pid_for_testing(Connection& c, int pid) noexcept {
    c.backend_pid_override_ = pid;
  }
};
}  // namespace detail

}  // namespace pgha
