// pgha/impl/client.ipp: the definitions of pgha/detail/client.hpp. Header-only: included at
// the end of that header (PGHA_DECL is `inline`). Separate compilation: compiled once, by
// pgha/implementation.hpp.
#pragma once

#include "pgha/detail/client.hpp"
#include "pgha/detail/commit_point.hpp"

#include <poll.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>

namespace pgha::detail {

PGHA_DECL auto Rows::rows() const noexcept -> int { return res_ ? PQntuples(res_.get()) : 0; }

PGHA_DECL auto Rows::columns() const noexcept -> int { return res_ ? PQnfields(res_.get()) : 0; }

PGHA_DECL auto Rows::value(int row, int column) const -> std::string {
    check(row, column);
    return std::string(PQgetvalue(res_.get(), row, column),
                       static_cast<std::size_t>(PQgetlength(res_.get(), row, column)));
  }

PGHA_DECL auto Rows::is_null(int row, int column) const -> bool {
    check(row, column);
    return PQgetisnull(res_.get(), row, column) != 0;
  }

PGHA_DECL auto Rows::column_name(int column) const -> std::string {
    check(0, column, false);
    return PQfname(res_.get(), column);
  }

PGHA_DECL auto Rows::affected_rows() const noexcept -> long {
    if (!res_) return 0;
    const char* t = PQcmdTuples(res_.get());
    return (t && *t) ? std::strtol(t, nullptr, 10) : 0;
  }

PGHA_DECL auto Rows::command_status() const -> std::string { return res_ ? PQcmdStatus(res_.get()) : ""; }

PGHA_DECL Rows::Rows(PGresult* r) : res_(r, PgResultDeleter{}) {}

PGHA_DECL void Rows::check(int row, int column, bool check_row) const {
    if (column < 0 || column >= columns())
      throw Error("column " + std::to_string(column) + " is out of range: the result has " +
                  std::to_string(columns()) + " column(s)");
    if (check_row && (row < 0 || row >= rows()))
      throw Error("row " + std::to_string(row) + " is out of range: the result has " +
                  std::to_string(rows()) + " row(s)");
  }

PGHA_DECL Client::Client(const std::string& conninfo, std::chrono::milliseconds timeout, std::string label) : label_(std::move(label)), timeout_(timeout) {
    check_conninfo(conninfo, "Connection");
    auto deadline = Clock::now() + timeout;
    conn_.reset(PQconnectStart(conninfo.c_str()));
    if (!conn_) throw ConnectionError("out of memory creating a libpq connection", "", label_);
    if (PQstatus(conn_.get()) == CONNECTION_BAD) fail_connect();
    for (;;) {
      PostgresPollingStatusType st = PQconnectPoll(conn_.get());
      if (st == PGRES_POLLING_OK) break;
      if (st == PGRES_POLLING_FAILED) fail_connect();
      short ev = st == PGRES_POLLING_READING ? POLLIN : POLLOUT;
      if (!wait_socket(conn_.get(), ev, deadline))
        throw TimeoutError("could not connect within " + std::to_string(timeout.count()) +
                               " ms (is the server frozen or partitioned?); conninfo host/port: " +
                               safe_target(),
                           label_);
    }
    // Notices and warnings (e.g. "canceling wait for synchronous replication") are kept,
    // the last 100, in storage that stays put when the Client is moved.
    PQsetNoticeProcessor(
        conn_.get(),
        [](void* arg, const char* msg) {
          auto* q = static_cast<NoticeLog*>(arg);
          q->items.push_back(trim_message(msg));
          ++q->total;
          if (q->items.size() > 100) q->items.pop_front();
        },
        notices_.get());
  }

PGHA_DECL Client::Client(Client&&) noexcept = default;

PGHA_DECL auto Client::operator=(Client&&) noexcept -> Client& = default;

PGHA_DECL Client::~Client() = default;

PGHA_DECL auto Client::backend_pid() const noexcept -> int { return conn_ ? PQbackendPID(conn_.get()) : 0; }

PGHA_DECL auto Client::is_open() const noexcept -> bool { return conn_ && PQstatus(conn_.get()) == CONNECTION_OK; }

PGHA_DECL auto Client::server_version() const noexcept -> int { return conn_ ? PQserverVersion(conn_.get()) : 0; }

PGHA_DECL auto Client::cancel() noexcept -> bool {
    try {
      if (signal_local_backend()) return true;
      auto flight = cancel_via_libpq();
      return flight && flight->wait_for(std::min<std::chrono::milliseconds>(
                           timeout_, std::chrono::seconds(1)));
    } catch (...) {
      return false;
    }
  }

PGHA_DECL auto Client::notices() const -> std::vector<std::string> {
    return std::vector<std::string>(notices_->items.begin(), notices_->items.end());
  }

PGHA_DECL void Client::clear_notices() noexcept { notices_->items.clear(); }

PGHA_DECL auto Client::run(const std::string& sql, const std::vector<std::string>* params, std::chrono::milliseconds timeout) -> Rows {
    send(sql, params);
    Rows r;
    if (!collect(sql, Clock::now() + timeout, r)) {
      std::size_t seen = notices_->total;
      request_cancel();
      DrainEnd end = drain_end(std::chrono::seconds(2));
      if (may_commit_ && end != DrainEnd::Failed) {
        // A ConnectionError leaves the Client unusable: closed, so that no cancel still
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
                               sql_excerpt(sql) + "]",
                           "", label_);
      }
      throw TimeoutError("statement did not finish within " + std::to_string(timeout.count()) +
                             " ms and was cancelled: " + sql_excerpt(sql),
                         label_);
    }
    return r;
  }

PGHA_DECL auto Client::commits(const std::string& sql) const noexcept -> bool {
    try {
      auto st = PQtransactionStatus(conn_.get());
      return may_commit(sql, st == PQTRANS_INTRANS ? TxBefore::InBlock
                                     : st == PQTRANS_INERROR ? TxBefore::Failed
                                                             : TxBefore::Idle);
    } catch (...) {
      return true;
    }
  }

PGHA_DECL void Client::throw_ended(const std::string& message, const std::string& code) const {
    if (may_commit_)
      throw InDoubtError("outcome unknown, it may have committed: " + message +
                             "; check the data before retrying",
                         code, label_);
    throw ConnectionError(message, code, label_);
  }

PGHA_DECL void Client::require_open(const std::string& sql) const {
    if (!conn_)
      throw ConnectionError("the connection is closed (moved from, closed because a timed-out "
                            "statement did not end after its cancel, or after an InDoubtError); "
                            "expected an open "
                            "connection: open a new one [" + sql_excerpt(sql) + "]",
                            "", label_);
  }

PGHA_DECL void Client::send(const std::string& sql, const std::vector<std::string>* params) {
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
                          sql_excerpt(sql) + "]",
                      label_);
        values.push_back(v.c_str());
      }
      if (values.size() > 65535)
        throw Error("a statement takes at most 65535 parameters, got " +
                        std::to_string(values.size()) + " [" + sql_excerpt(sql) + "]",
                    label_);
      ok = PQsendQueryParams(conn_.get(), sql.c_str(), static_cast<int>(values.size()), nullptr,
                             values.data(), nullptr, nullptr, 0);
    }
    if (ok) return;
    std::string why = trim_message(PQerrorMessage(conn_.get()));
    if (PQstatus(conn_.get()) == CONNECTION_BAD)
      throw ConnectionError("could not send the statement, the connection is lost (" + why +
                                "); expected an open connection: open a new one [" +
                                sql_excerpt(sql) + "]",
                            "", label_);
    throw Error("could not send the statement: " + why + " [" + sql_excerpt(sql) + "]",
                label_);
  }

PGHA_DECL auto Client::collect(const std::string& sql, Clock::time_point deadline, Rows& out) -> bool {
    require_open(sql);
    std::unique_ptr<PGresult, PgResultDeleter> error;  // the first error result
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
          out = Rows(r);
        }
      }
      if (!wait_socket(conn_.get(), POLLIN, deadline)) return false;
      if (!PQconsumeInput(conn_.get())) throw_lost(error.get(), sql);
    }
  }

PGHA_DECL auto Client::ends_session(const PGresult* r) -> bool {
    const char* sev = PQresultErrorField(r, PG_DIAG_SEVERITY_NONLOCALIZED);
    if (!sev) sev = PQresultErrorField(r, PG_DIAG_SEVERITY);
    return sev && (std::strcmp(sev, "FATAL") == 0 || std::strcmp(sev, "PANIC") == 0);
  }

PGHA_DECL auto Client::sqlstate_of(const PGresult* r) -> std::string {
    const char* s = PQresultErrorField(r, PG_DIAG_SQLSTATE);
    return s ? s : "";
  }

PGHA_DECL auto Client::explain(const std::string& code) -> std::string {
    if (code == "57P01") return " (SQLSTATE 57P01 admin_shutdown: pg_terminate_backend() or a shutdown)";
    if (code == "57P02") return " (SQLSTATE 57P02 crash_shutdown: another server process crashed)";
    if (code == "57P03") return " (SQLSTATE 57P03 cannot_connect_now)";
    return " (SQLSTATE " + (code.empty() ? std::string("none") : code) + ")";
  }

PGHA_DECL void Client::throw_error(const PGresult* r, const std::string& sql) const {
    std::string code = sqlstate_of(r);
    std::string msg = trim_message(PQresultErrorMessage(r));
    if (ends_session(r) || PQstatus(conn_.get()) == CONNECTION_BAD)
      throw_ended("the server ended the session" + explain(code) +
                      " while running the statement: " + msg +
                      "; expected its result: open a new connection [" +
                      sql_excerpt(sql) + "]",
                  code);
    throw QueryError(msg + explain(code) + " [" + sql_excerpt(sql) + "]", code, label_);
  }

PGHA_DECL void Client::throw_lost(const PGresult* held, const std::string& sql) const {
    std::string why = trim_message(PQerrorMessage(conn_.get()));
    std::string code;
    if (held && ends_session(held)) {
      code = sqlstate_of(held);
      std::string first = trim_message(PQresultErrorMessage(held));
      if (why.find(first) == std::string::npos) why = first + "; then: " + why;
    }
    throw_ended("connection lost" + (code.empty() ? std::string() : explain(code)) +
                    " while running the statement: " + why +
                    "; expected its result: open a new connection [" +
                    sql_excerpt(sql) + "]",
                code);
  }

PGHA_DECL void Client::fail_connect() {
    throw ConnectionError("could not connect to " + safe_target() + ": " +
                              trim_message(PQerrorMessage(conn_.get())),
                          "", label_);
  }

PGHA_DECL auto Client::safe_target() const -> std::string {
    const char* h = PQhost(conn_.get());
    const char* p = PQport(conn_.get());
    return std::string(h ? h : "?") + ":" + (p ? p : "?");
  }

PGHA_DECL auto Client::recorded_backend_pid() const noexcept -> int {
    return backend_pid_override_ > 0 ? backend_pid_override_ : backend_pid();
  }

PGHA_DECL auto Client::signal_local_backend() noexcept -> bool {
    if (!backend_identity_.ppid || !is_open()) return false;
    return sigint_if_identity(recorded_backend_pid(), backend_identity_);
  }

PGHA_DECL auto Client::cancel_via_libpq() noexcept -> std::shared_ptr<CancelFlight> {
    try {
      if (cancel_flight_ && !cancel_flight_->finished()) return cancel_flight_;
    } catch (...) {
      return nullptr;
    }
    cancel_flight_ = launch_libpq_cancel(conn_.get());
    return cancel_flight_;
  }

PGHA_DECL auto Client::request_cancel() noexcept -> CancelSent {
    if (signal_local_backend()) return CancelSent::Signal;
    try {
      if (cancel_flight_ && !cancel_flight_->finished()) return CancelSent::InFlight;
    } catch (...) {
      return CancelSent::No;
    }
    return cancel_via_libpq() ? CancelSent::Libpq : CancelSent::No;
  }

PGHA_DECL void Client::drain(std::chrono::milliseconds limit) noexcept { drain_end(limit); }

PGHA_DECL auto Client::drain_end(std::chrono::milliseconds limit) noexcept -> DrainEnd {
    if (!conn_) return DrainEnd::Closed;
    bool failed = false;
    using std::chrono::milliseconds;
    auto deadline = Clock::now() + limit;
    auto next_cancel = Clock::now() + milliseconds(10);
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
        auto slice = std::min(deadline, Clock::now() + milliseconds(10));
        if (!wait_socket(conn_.get(), POLLIN, slice)) {
          auto now = Clock::now();
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

PGHA_DECL auto Client::set_local_postmaster(int postmaster_pid) noexcept -> bool {
    backend_identity_ = ProcIdentity{};
    ProcIdentity id;
    if (postmaster_pid <= 0 || !is_open() || !read_proc_identity(recorded_backend_pid(), id) ||
        id.ppid != postmaster_pid)
      return false;
    backend_identity_ = id;
    return true;
  }

}  // namespace pgha::detail
