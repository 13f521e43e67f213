// pgha/connection.hpp: a small libpq client. Result, Connection and PendingQuery keep
// libpq types out of their public signatures; every blocking call has a deadline, so a
// statement stuck behind a missing sync standby raises TimeoutError instead of hanging.
#pragma once

#include <libpq-fe.h>
#include <poll.h>
#include <signal.h>

#include <cerrno>
#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <deque>
#include <vector>
#include <memory>
#include <string>
#include <utility>

#include "pgha/error.hpp"

namespace pgha {

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

// Waits until the connection's socket is ready for `events` or the deadline passes.
inline bool wait_socket(PGconn* c, short events, Clock::time_point deadline) {
  for (;;) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    if (left.count() <= 0) return false;
    pollfd p{PQsocket(c), events, 0};
    int rc = ::poll(&p, 1, static_cast<int>(std::min<long long>(left.count() + 1, 1 << 30)));
    if (rc > 0) return true;
    if (rc < 0 && errno != EINTR) return false;
  }
}
}  // namespace detail

/// The rows of one statement: copyable, cheap to pass around, values as strings.
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

  /// Takes ownership of a libpq result (internal; users get Results from execute/query).
  explicit Result(PGresult* r) : res_(r, detail::PgResultDeleter{}) {}

private:
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
/// statement is cancelled and TimeoutError is thrown.
class Connection {
public:
  /// Connects using a libpq conninfo string; throws ConnectionError or TimeoutError.
  /// `label` names the node in messages.
  explicit Connection(const std::string& conninfo,
                      std::chrono::milliseconds timeout = std::chrono::seconds(30),
                      std::string label = {})
      : label_(std::move(label)), timeout_(timeout) {
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
          auto* q = static_cast<std::deque<std::string>*>(arg);
          q->push_back(detail::trim_message(msg));
          if (q->size() > 100) q->pop_front();
        },
        notices_.get());
  }
  Connection(Connection&&) noexcept = default;
  Connection& operator=(Connection&&) noexcept = default;
  ~Connection() = default;

  /// Runs SQL (one or more statements) and returns the last statement's result.
  /// Throws QueryError (with sqlstate) on failure, TimeoutError after the deadline.
  Result execute(const std::string& sql) { return execute(sql, timeout_); }
  /// Same as execute(sql) with an explicit deadline for this call.
  Result execute(const std::string& sql, std::chrono::milliseconds timeout) {
    send(sql);
    Result r;
    if (!collect(sql, detail::Clock::now() + timeout, r)) {
      cancel();
      drain(std::chrono::seconds(2));
      throw TimeoutError("statement did not finish within " + std::to_string(timeout.count()) +
                             " ms and was cancelled: " + detail::sql_excerpt(sql),
                         label_);
    }
    return r;
  }
  /// Alias of execute, for statements that return rows.
  Result query(const std::string& sql) { return execute(sql); }
  /// The server's process id serving this connection.
  int backend_pid() const noexcept { return conn_ ? PQbackendPID(conn_.get()) : 0; }
  /// Whether the connection is still usable as far as libpq knows.
  bool is_open() const noexcept { return conn_ && PQstatus(conn_.get()) == CONNECTION_OK; }
  /// Server version as an integer, e.g. 150018.
  int server_version() const noexcept { return conn_ ? PQserverVersion(conn_.get()) : 0; }
  /// The per-call deadline used by execute/query.
  std::chrono::milliseconds timeout() const noexcept { return timeout_; }

  // --- used by PendingQuery ---
  /// Sends SQL without waiting for the result (internal; see Node::execute_async).
  void send(const std::string& sql) {
    if (!conn_) throw ConnectionError("connection was moved from", "", label_);
    if (!PQsendQuery(conn_.get(), sql.c_str()))
      throw ConnectionError("could not send statement: " +
                                detail::trim_message(PQerrorMessage(conn_.get())) + " [" +
                                detail::sql_excerpt(sql) + "]",
                            "", label_);
  }
  /// Reads results until the statement finished or the deadline passed; false on timeout.
  bool collect(const std::string& sql, detail::Clock::time_point deadline, Result& out) {
    PGresult* error = nullptr;
    for (;;) {
      while (!PQisBusy(conn_.get())) {
        PGresult* r = PQgetResult(conn_.get());
        if (!r) {
          if (error) throw_error(error, sql);
          return true;
        }
        auto st = PQresultStatus(r);
        if (st == PGRES_FATAL_ERROR || st == PGRES_BAD_RESPONSE || st == PGRES_NONFATAL_ERROR) {
          if (error) PQclear(r); else error = r;
        } else {
          out = Result(r);
        }
      }
      if (!detail::wait_socket(conn_.get(), POLLIN, deadline)) {
        if (error) PQclear(error);
        return false;
      }
      if (!PQconsumeInput(conn_.get())) {
        if (error) PQclear(error);
        throw ConnectionError("connection lost while running: " + detail::sql_excerpt(sql) +
                                  ": " + detail::trim_message(PQerrorMessage(conn_.get())),
                              "", label_);
      }
    }
  }
  /// Asks the server to cancel the running statement (SIGINT to the local backend, which
  /// never blocks, unlike PQcancel against a frozen server).
  void cancel() noexcept {
    if (int pid = backend_pid(); pid > 0) ::kill(pid, SIGINT);
  }
  /// Discards pending results for at most `limit`; closes the connection if they don't come.
  void drain(std::chrono::milliseconds limit) noexcept {
    auto deadline = detail::Clock::now() + limit;
    try {
      for (;;) {
        while (!PQisBusy(conn_.get())) {
          PGresult* r = PQgetResult(conn_.get());
          if (!r) return;
          PQclear(r);
        }
        // Re-send the cancel every 10 ms: a SIGINT that lands before the backend starts
        // the statement is ignored by the server.
        auto slice = std::min(deadline, detail::Clock::now() + std::chrono::milliseconds(10));
        if (!detail::wait_socket(conn_.get(), POLLIN, slice)) {
          if (detail::Clock::now() >= deadline) { conn_.reset(); return; }
          cancel();
          continue;
        }
        if (!PQconsumeInput(conn_.get())) { conn_.reset(); return; }
      }
    } catch (...) {
      conn_.reset();
    }
  }
  /// Notices and warnings the server sent on this connection (the last 100), oldest first.
  std::vector<std::string> notices() const {
    return std::vector<std::string>(notices_->begin(), notices_->end());
  }
  /// Forgets the notices received so far.
  void clear_notices() noexcept { notices_->clear(); }
  /// The label used in messages.
  const std::string& label() const noexcept { return label_; }

private:
  [[noreturn]] void throw_error(PGresult* r, const std::string& sql) const {
    const char* state = PQresultErrorField(r, PG_DIAG_SQLSTATE);
    std::string msg = detail::trim_message(PQresultErrorMessage(r));
    std::string code = state ? state : "";
    PQclear(r);
    throw QueryError(msg + " (SQLSTATE " + (code.empty() ? "none" : code) + ") [" +
                         detail::sql_excerpt(sql) + "]",
                     code, label_);
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
  std::unique_ptr<std::deque<std::string>> notices_ = std::make_unique<std::deque<std::string>>();
  detail::ConnPtr conn_;
  std::string label_;
  std::chrono::milliseconds timeout_;
};

}  // namespace pgha
