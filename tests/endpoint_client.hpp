// tests/endpoint_client.hpp: a bare libpq client for the endpoint and partition tests, so
// the faults are seen exactly as an application's driver sees them (no pgha in between).
#pragma once

#include <libpq-fe.h>
#include <dirent.h>
#include <poll.h>

#include <chrono>
#include <memory>
#include <string>

namespace test {

struct Reply {
  bool ok = false;
  std::string value;     // first cell, if any
  std::string sqlstate;  // "" for errors libpq raises itself (a broken connection has none)
  std::string error;
};

class Client {
public:
  explicit Client(const std::string& conninfo) : c_(PQconnectdb(conninfo.c_str()), &PQfinish) {}
  bool ok() const { return PQstatus(c_.get()) == CONNECTION_OK; }
  std::string error() const { return PQerrorMessage(c_.get()); }
  Reply exec(const std::string& sql) {
    std::unique_ptr<PGresult, decltype(&PQclear)> r(PQexec(c_.get(), sql.c_str()), &PQclear);
    return reply(r.get());
  }
  // The server port the session runs on, as the server sees it.
  int server_port() { return std::stoi(exec("SELECT inet_server_port()").value); }
  bool send(const std::string& sql) { return PQsendQuery(c_.get(), sql.c_str()) == 1; }
  // Waits up to `timeout` for the reply to send(): the application's own query deadline.
  // Returns false if none came.
  bool wait_reply(std::chrono::milliseconds timeout, Reply* out = nullptr) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
      if (PQconsumeInput(c_.get()) == 0) break;
      if (!PQisBusy(c_.get())) break;
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0) return false;
      pollfd p{PQsocket(c_.get()), POLLIN, 0};
      ::poll(&p, 1, static_cast<int>(left.count()));
    }
    Reply last;
    bool first = true;
    while (PGresult* r = PQgetResult(c_.get())) {
      if (first) last = reply(r);
      first = false;
      PQclear(r);
    }
    if (first) last = reply(nullptr);
    if (out) *out = last;
    return true;
  }

private:
  Reply reply(PGresult* r) const {
    Reply out;
    const auto st = r ? PQresultStatus(r) : PGRES_FATAL_ERROR;
    out.ok = st == PGRES_TUPLES_OK || st == PGRES_COMMAND_OK;
    if (r && st == PGRES_TUPLES_OK && PQntuples(r) > 0) out.value = PQgetvalue(r, 0, 0);
    if (r) if (const char* s = PQresultErrorField(r, PG_DIAG_SQLSTATE)) out.sqlstate = s;
    out.error = r ? PQresultErrorMessage(r) : "";
    if (out.error.empty() && !out.ok) out.error = PQerrorMessage(c_.get());
    return out;
  }
  std::unique_ptr<PGconn, decltype(&PQfinish)> c_;
};

// Open descriptors and threads of this process (from /proc/self).
inline int count_entries(const char* dir) {
  int n = 0;
  if (DIR* d = ::opendir(dir)) {
    while (::readdir(d)) ++n;
    ::closedir(d);
  }
  return n;
}
inline int open_fds() { return count_entries("/proc/self/fd"); }
inline int threads() { return count_entries("/proc/self/task"); }

}  // namespace test
