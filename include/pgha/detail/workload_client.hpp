// pgha/detail/workload_client.hpp: one Workload client's libpq session. Every wait (connect,
// send, result) also watches the workload's stop pipe, so stop() reaches a client blocked
// on a frozen or unreachable server at once. The notice receiver keeps the SQLSTATE of each
// warning: a COMMIT whose synchronous replication wait was cancelled answers success with a
// WARNING, and only that warning says the commit is local and not replicated.
#pragma once

#include <libpq-fe.h>
#include <poll.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "pgha/detail/libpq.hpp"
#include "pgha/detail/cancel.hpp"

namespace pgha::detail {

// What a statement came to.
struct Reply {
  enum Kind {
    Done,     // finished without error
    Error,    // the server answered ERROR; the session lives on
    Lost,     // the session ended (connection broke, FATAL such as 57P01, send failed)
    Timeout,  // no answer before the deadline; the session was closed
    Stopped   // the workload stopped and no answer came within the grace period; closed
  } kind = Done;
  std::string status;    // command tag when Done ("COMMIT", "ROLLBACK", "INSERT 0 1")
  std::string sqlstate;  // of the error (Error, or the FATAL of Lost), else ""
  std::string message;   // what happened, for notes
};

// Warnings (severity WARNING; plain notices are ignored) received since the last clear,
// with their SQLSTATE. A COMMIT whose synchronous replication wait was cancelled answers
// success after "WARNING: canceling wait for synchronous replication due to user request"
// with SQLSTATE 01000 (the generic warning code: PostgreSQL 11 to 18 give that wait's
// cancel no code of its own, not 57014); a terminated backend warns "canceling the wait for
// synchronous replication and terminating connection" (57P01) and then closes the
// connection without sending its FATAL. Messages may be translated, so any warning during
// COMMIT makes the outcome unknown: never ok, never failed.
struct WarningLog {
  std::vector<std::pair<std::string, std::string>> items;  // (sqlstate, message)
  static void receive(void* arg, const PGresult* r) {
    auto* self = static_cast<WarningLog*>(arg);
    const char* sev = PQresultErrorField(r, PG_DIAG_SEVERITY_NONLOCALIZED);
    if (!sev || std::strcmp(sev, "WARNING") != 0) return;
    const char* code = PQresultErrorField(r, PG_DIAG_SQLSTATE);
    try {
      if (self->items.size() < 100)
        self->items.emplace_back(code ? code : "", trim_message(PQresultErrorMessage(r)));
    } catch (...) {
    }
  }
  // The first warning with its SQLSTATE, or "" when there was none.
  std::string first() const {
    if (items.empty()) return "";
    const auto& w = items.front();
    return w.second + " (SQLSTATE " + (w.first.empty() ? std::string("none") : w.first) + ")";
  }
};

class ClientSession {
public:
  explicit ClientSession(int stop_fd) : stop_fd_(stop_fd) {}

  bool open() const noexcept { return conn_ && PQstatus(conn_.get()) == CONNECTION_OK; }
  void close() noexcept { conn_.reset(); }
  WarningLog& warnings() noexcept { return *warnings_; }

  // Connects; false with `why` set when it failed, timed out or the workload stopped.
  bool connect(const std::string& conninfo, std::chrono::milliseconds timeout, std::string& why) {
    close();
    auto deadline = Clock::now() + timeout;
    conn_.reset(PQconnectStart(conninfo.c_str()));
    if (!conn_) { why = "out of memory"; return false; }
    PQsetNoticeReceiver(conn_.get(), &WarningLog::receive, warnings_.get());
    for (;;) {
      if (PQstatus(conn_.get()) == CONNECTION_BAD) break;
      PostgresPollingStatusType st = PQconnectPoll(conn_.get());
      if (st == PGRES_POLLING_OK) {
        if (PQsetnonblocking(conn_.get(), 1) == 0) return true;
        break;
      }
      if (st == PGRES_POLLING_FAILED) break;
      Wake w = wait(st == PGRES_POLLING_READING ? POLLIN : POLLOUT, deadline, true);
      if (w == Wake::Stop) { why = "the workload stopped"; close(); return false; }
      if (w == Wake::Deadline) {
        why = "could not connect within " + std::to_string(timeout.count()) + " ms";
        close();
        return false;
      }
    }
    why = "could not connect: " + trim_message(PQerrorMessage(conn_.get()));
    close();
    return false;
  }

  // Runs one statement ($1, $2, ... bound to `params`). After the stop pipe fires, the
  // statement is cancelled and gets `grace` to answer before the session is closed. With
  // `rows`, the first column of every row returned is appended to it.
  Reply run(const std::string& sql, const std::vector<std::string>& params,
            std::chrono::milliseconds timeout, std::chrono::milliseconds grace,
            std::vector<std::string>* rows = nullptr) {
    Reply out;
    if (!open()) return lost(out, "no open connection");
    std::vector<const char*> values;
    for (const auto& p : params) values.push_back(p.c_str());
    if (!PQsendQueryParams(conn_.get(), sql.c_str(), static_cast<int>(values.size()), nullptr,
                           values.data(), nullptr, nullptr, 0))
      return lost(out, "could not send " + sql + ": " + trim_message(PQerrorMessage(conn_.get())));
    auto deadline = Clock::now() + timeout;
    bool stopping = false;
    for (;;) {  // flush (the socket is non-blocking)
      int f = PQflush(conn_.get());
      if (f == 0) break;
      if (f < 0) return lost(out, "could not send " + sql + ": " + trim_message(PQerrorMessage(conn_.get())));
      Wake w = wait(POLLOUT | POLLIN, deadline, !stopping);
      if (w == Wake::Stop) { stopping = true; deadline = std::min(deadline, Clock::now() + grace); continue; }
      if (w == Wake::Deadline) return give_up(out, stopping, sql, timeout);
      if (!PQconsumeInput(conn_.get())) return lost(out, trim_message(PQerrorMessage(conn_.get())));
    }
    std::unique_ptr<PGresult, PgResultDeleter> error;
    for (;;) {
      while (!PQisBusy(conn_.get())) {
        PGresult* r = PQgetResult(conn_.get());
        if (!r) return finish(out, error.get());
        auto st = PQresultStatus(r);
        if (st == PGRES_FATAL_ERROR || st == PGRES_BAD_RESPONSE || st == PGRES_NONFATAL_ERROR) {
          if (error) PQclear(r); else error.reset(r);
        } else {
          out.status = PQcmdStatus(r);
          if (rows && st == PGRES_TUPLES_OK && PQnfields(r) > 0)
            for (int i = 0; i < PQntuples(r); ++i) rows->emplace_back(PQgetvalue(r, i, 0));
          PQclear(r);
        }
      }
      Wake w = wait(POLLIN, deadline, !stopping);
      if (w == Wake::Stop) {
        stopping = true;
        deadline = std::min(deadline, Clock::now() + grace);
        launch_libpq_cancel(conn_.get());  // bounded helper thread; may never be answered
        continue;
      }
      if (w == Wake::Deadline) return give_up(out, stopping, sql, timeout);
      if (!PQconsumeInput(conn_.get())) {
        std::string why = trim_message(PQerrorMessage(conn_.get()));
        if (error) {
          const char* code = PQresultErrorField(error.get(), PG_DIAG_SQLSTATE);
          out.sqlstate = code ? code : "";
          why = trim_message(PQresultErrorMessage(error.get())) + "; then: " + why;
        }
        return lost(out, why);
      }
    }
  }

private:
  using Wake = SocketWake;

  // Waits for the socket (or the stop pipe when `watch_stop`) until the deadline.
  Wake wait(short events, Clock::time_point deadline, bool watch_stop) {
    return wait_socket(conn_.get(), events, deadline, watch_stop ? stop_fd_ : -1);
  }
  Reply& lost(Reply& out, const std::string& why) {
    out.kind = Reply::Lost;
    out.message = "connection lost" + (out.sqlstate.empty() ? std::string() : " (" + out.sqlstate + ")") +
                  ": " + why;
    close();
    return out;
  }
  Reply& give_up(Reply& out, bool stopping, const std::string& sql, std::chrono::milliseconds timeout) {
    out.kind = stopping ? Reply::Stopped : Reply::Timeout;
    out.message = stopping ? "the workload stopped and " + sql + " did not answer its cancel"
                           : sql + " did not finish within " + std::to_string(timeout.count()) + " ms";
    close();
    return out;
  }
  Reply& finish(Reply& out, const PGresult* error) {
    if (!error) return out;
    const char* code = PQresultErrorField(error, PG_DIAG_SQLSTATE);
    out.sqlstate = code ? code : "";
    out.message = trim_message(PQresultErrorMessage(error));
    const char* sev = PQresultErrorField(error, PG_DIAG_SEVERITY_NONLOCALIZED);
    bool fatal = sev && (std::strcmp(sev, "FATAL") == 0 || std::strcmp(sev, "PANIC") == 0);
    if (fatal || PQstatus(conn_.get()) == CONNECTION_BAD) {
      out.kind = Reply::Lost;
      out.message = "the server ended the session (" + out.sqlstate + "): " + out.message;
      close();
    } else {
      out.kind = Reply::Error;
    }
    return out;
  }

  int stop_fd_;
  std::unique_ptr<WarningLog> warnings_ = std::make_unique<WarningLog>();
  ConnPtr conn_;
};

}  // namespace pgha::detail
