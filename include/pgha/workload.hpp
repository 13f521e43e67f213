// pgha/workload.hpp: a ready-made workload. N client threads append unique values through
// any conninfo into the workload's table, reconnect on errors and record in a History
// what each client was told. After the test, check(node) compares it with the table on
// that node. Every row carries the workload's run id (column `run`) and check() reads only
// its own run's rows, so any number of Workloads may share one table, one after the other
// or at once: a clean run's verdict is ok whatever else wrote there.
//
// How an outcome is classified (what PostgreSQL guarantees):
// - an error, or a lost connection, before COMMIT was sent: fail (nothing can commit);
// - COMMIT answered "COMMIT" without warnings: ok;
// - COMMIT answered with an ERROR, or with "ROLLBACK": fail;
// - COMMIT answered success with a WARNING, such as "canceling wait for synchronous
//   replication" (SQLSTATE 01000, see detail/workload_client.hpp): unknown, the commit is
//   local and may be lost on failover;
// - the connection lost, the backend terminated (57P01) or no answer in time, once COMMIT
//   was sent: unknown;
// - an operation still open when stop() is called (its statement is cancelled and gets a
//   grace period to answer): unknown, unless the answer arrives within the grace period.
#pragma once

#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <cctype>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "pgha/connection.hpp"
#include "pgha/detail/fd.hpp"
#include "pgha/detail/wait.hpp"
#include "pgha/detail/workload_client.hpp"
#include "pgha/history.hpp"
#include "pgha/node.hpp"

namespace pgha {

/// Options of a Workload.
struct WorkloadOptions {
  /// The workload's table (a plain SQL identifier: lower-case letters, digits, '_').
  /// Workloads may share it: each one's rows carry its run id (see Workload::run_id()).
  std::string table = "pgha_workload";
  /// Number of distinct keys the clients append to ("k0", "k1", ...).
  int keys = 4;
  /// Bound on each connection attempt.
  std::chrono::milliseconds connect_timeout = std::chrono::seconds(2);
  /// Bound on each statement; a COMMIT past it is unknown, anything before it fails.
  std::chrono::milliseconds statement_timeout = std::chrono::seconds(30);
  /// After stop(), how long a cancelled in-flight statement may take to answer.
  std::chrono::milliseconds stop_grace = std::chrono::seconds(1);
};

/// Client threads appending unique values ("<client>-<n>") to keys through a conninfo,
/// one transaction (BEGIN; INSERT; COMMIT) per operation, recorded in history().
/// Not copyable nor movable. The destructor stops the clients (bounded, never throws).
class Workload {
public:
  /// `clients` threads will write through `conninfo` (any libpq conninfo: one node, a
  /// multi-host list with target_session_attrs=read-write, a proxy). Nothing runs yet.
  /// Throws UsageError for arguments it cannot run with: clients outside 1 to 1000, keys
  /// below 1, a table name that is not a plain identifier, a connect or statement timeout
  /// that is not positive, a negative stop_grace, a conninfo libpq cannot parse.
  explicit Workload(std::string conninfo, int clients = 4, WorkloadOptions opts = {})
      : conninfo_(std::move(conninfo)), clients_(clients), opts_(std::move(opts)),
        run_id_(new_run_id()) {
    if (clients_ < 1 || clients_ > 1000)
      throw UsageError("Workload: " + std::to_string(clients_) + " clients; expected 1 to 1000");
    if (opts_.keys < 1)
      throw UsageError("Workload: WorkloadOptions::keys is " + std::to_string(opts_.keys) +
                       "; expected at least 1");
    auto positive = [](std::chrono::milliseconds d, const char* name, bool zero_ok) {
      if (d.count() > 0 || (zero_ok && d.count() == 0)) return;
      throw UsageError(std::string("Workload: WorkloadOptions::") + name + " is " +
                       std::to_string(d.count()) + " ms; expected " +
                       (zero_ok ? "0 or more" : "more than 0"));
    };
    positive(opts_.connect_timeout, "connect_timeout", false);
    positive(opts_.statement_timeout, "statement_timeout", false);
    positive(opts_.stop_grace, "stop_grace", true);
    bool ident = !opts_.table.empty() && opts_.table.size() < 64 && !std::isdigit(static_cast<unsigned char>(opts_.table[0]));
    for (char ch : opts_.table)
      ident = ident && ((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '_');
    if (!ident)
      throw UsageError("Workload: table name '" + opts_.table + "' is not a plain SQL identifier; "
                       "expected lower-case letters, digits and '_', not starting with a digit");
    detail::check_conninfo(conninfo_, "Workload");
  }
  Workload(const Workload&) = delete;
  Workload& operator=(const Workload&) = delete;
  /// Stops the clients if they run; bounded by about stop_grace (see stop()).
  ~Workload() { stop(); }

  /// Creates the table (if it does not exist) through the conninfo, then starts the
  /// clients. Throws ConnectionError/QueryError/TimeoutError when the table cannot be
  /// created, StateError when started before. A Workload runs once.
  void start() {
    if (started_)
      throw StateError("Workload::start: this workload was started before; a Workload runs once, "
                       "create a new one (with another table) for another run");
    create_table();
    int p[2];
    if (::pipe2(p, O_CLOEXEC) != 0) throw SetupError("Workload::start: pipe2 failed");
    stop_read_.reset(p[0]);
    stop_write_.reset(p[1]);
    started_ = true;
    running_ = true;
    try {
      for (int i = 0; i < clients_; ++i) threads_.emplace_back([this, i] { client(i); });
    } catch (...) {
      stop();
      throw;
    }
  }

  /// Stops the clients and joins them: open operations are cancelled and, unless their
  /// answer arrives within stop_grace, recorded as unknown. Never throws; bounded by about
  /// stop_grace even when clients are blocked on a frozen or unreachable server (every
  /// client wait, connecting included, also watches a stop pipe).
  void stop() noexcept {
    if (!running_.exchange(false)) return;
    if (stop_write_) {
      char b = 1;
      while (::write(stop_write_.get(), &b, 1) < 0 && errno == EINTR) {
      }
    }
    for (auto& t : threads_)
      if (t.joinable()) t.join();
    threads_.clear();
  }
  /// Whether the clients run (started and not stopped).
  bool running() const noexcept { return running_; }

  /// Operations acknowledged so far.
  std::size_t acknowledged() const { return history_.count(Outcome::Ok); }
  /// Waits until at least `n` operations were acknowledged in total; throws TimeoutError
  /// with the clients' last error when that does not happen in time, UsageError for a
  /// negative timeout.
  void wait_for_acknowledged(std::size_t n,
                             std::chrono::milliseconds timeout = std::chrono::seconds(30)) const {
    if (timeout.count() < 0)
      throw UsageError("Workload::wait_for_acknowledged: timeout is " +
                       std::to_string(timeout.count()) + " ms; expected 0 or more");
    detail::wait_until("the workload to have " + std::to_string(n) + " acknowledged writes",
                       timeout, "workload", [&](std::string& seen) {
                         seen = std::to_string(acknowledged()) + " acknowledged, " +
                                std::to_string(history_.count(Outcome::Fail)) + " failed, " +
                                std::to_string(history_.count(Outcome::Unknown)) +
                                " unknown; last client error: " + last_error();
                         return acknowledged() >= n;
                       },
                       [] { return std::string(); });
  }
  /// The last error a client saw (connect failures included), or "none".
  std::string last_error() const {
    std::lock_guard<std::mutex> l(m_);
    return last_error_.empty() ? "none" : last_error_;
  }

  /// Compares the history with the workload's table on `node` (usually the new primary).
  /// Throws StateError before start() and while the clients run (stop() first), Error when
  /// the table is missing there (it was created through the conninfo: did that replicate to
  /// `node`?).
  Verdict check(Node& node) {
    if (running_)
      throw StateError("Workload::check while the clients still write; call stop() first");
    if (!started_)
      throw StateError("Workload::check before start(): this workload never wrote; expected "
                       "start(), the test's steps, stop(), then check(node)");
    try {
      return history_.check(
          node.query("SELECT key, value FROM " + opts_.table + " WHERE run = $1", {run_id_}));
    } catch (const QueryError& e) {
      if (e.sqlstate() != "42P01") throw;
      throw Error("Workload::check: table " + opts_.table + " does not exist on " + node.name() +
                      "; expected the table the workload created at start(): did its creation "
                      "reach this node before the failover? (" + e.message() + ")",
                  node.name());
    }
  }

  /// The History the clients recorded.
  History& history() noexcept { return history_; }
  /// The History the clients recorded.
  const History& history() const noexcept { return history_; }
  /// The workload's table name.
  const std::string& table() const noexcept { return opts_.table; }
  /// This workload's run id: the value of the `run` column in each row it writes, unique
  /// to this Workload object (process id, clock and a counter). check() reads only the rows
  /// of this run, so Workloads that share a table do not see each other's rows.
  const std::string& run_id() const noexcept { return run_id_; }

private:
  static std::string new_run_id() {
    static std::atomic<std::uint64_t> counter{0};
    auto now = std::chrono::duration_cast<std::chrono::microseconds>(
                   std::chrono::system_clock::now().time_since_epoch()).count();
    return std::to_string(::getpid()) + "-" + std::to_string(now) + "-" +
           std::to_string(counter.fetch_add(1) + 1);
  }

  // Creates the table if it does not exist, and adds the run column to a table made by an
  // older pgha (its rows have run '' and belong to no Workload). Two Workloads starting at
  // once may race on CREATE TABLE IF NOT EXISTS (23505 on the catalog, or 42P07): the loser
  // tries again and finds the table.
  void create_table() {
    Connection c(conninfo_, opts_.connect_timeout + opts_.statement_timeout, "workload");
    for (int attempt = 0;; ++attempt) {
      try {
        c.execute("CREATE TABLE IF NOT EXISTS " + opts_.table +
                  " (key text NOT NULL, value text NOT NULL, process int NOT NULL,"
                  " written_at timestamptz NOT NULL DEFAULT clock_timestamp(),"
                  " run text NOT NULL DEFAULT '')");
        break;
      } catch (const QueryError& e) {
        if (attempt > 0 || (e.sqlstate() != "23505" && e.sqlstate() != "42P07")) throw;
      }
    }
    // Only when it is missing: ALTER TABLE would wait for a lock behind another Workload's
    // open transactions (which may be blocked on a sync standby).
    if (c.execute("SELECT count(*) FROM pg_attribute WHERE attrelid = to_regclass($1) AND "
                  "attname = 'run' AND NOT attisdropped", {opts_.table}).value(0, 0) == "0")
      c.execute("ALTER TABLE " + opts_.table + " ADD COLUMN IF NOT EXISTS run text NOT NULL DEFAULT ''");
  }

  void note_error(const std::string& e) {
    std::lock_guard<std::mutex> l(m_);
    last_error_ = e;
  }

  // One client: connect (again after any lost session), then BEGIN; INSERT; COMMIT per
  // operation until stop().
  void client(int process) noexcept {
    try {
      detail::ClientSession s(stop_read_.get());
      const std::string insert =
          "INSERT INTO " + opts_.table + " (key, value, process, run) VALUES ($1, $2, $3, $4)";
      const std::string proc = std::to_string(process);
      for (std::size_t seq = 0; running_; ++seq) {
        if (!s.open()) {
          std::string why;
          if (!s.connect(conninfo_, opts_.connect_timeout, why)) {
            note_error("client " + proc + ": " + why);
            pause();
            continue;
          }
        }
        std::string key = "k" + std::to_string(seq % static_cast<std::size_t>(opts_.keys));
        std::string value = proc + "-" + std::to_string(seq);
        Op op = history_.invoke(key, value, process);
        // After a failure, pause briefly (or until stop) rather than spin on, e.g., a
        // read-only standby.
        if (!attempt(s, op, insert, {key, value, proc, run_id_})) pause();
      }
    } catch (const std::exception& e) {  // out of memory or threads: note it, end this client
      note_error(std::string("client stopped by an exception: ") + e.what());
    } catch (...) {
      note_error("client stopped by an unknown exception");
    }
  }

  // Runs one operation; returns whether the client was told it committed.
  bool attempt(detail::ClientSession& s, Op& op, const std::string& insert,
               const std::vector<std::string>& params) {
    using R = detail::Reply;
    for (const std::string* sql : {&begin_, &insert}) {
      if (!running_) {
        s.close();  // the open transaction is rolled back with the session
        op.unknown("open when the workload stopped, before COMMIT was sent");
        return false;
      }
      R r = s.run(*sql, sql == &insert ? params : std::vector<std::string>{},
                  opts_.statement_timeout, opts_.stop_grace);
      if (r.kind == R::Done) continue;
      note_error(r.message);
      if (r.kind == R::Stopped || !running_) {
        s.close();
        op.unknown("open when the workload stopped, before COMMIT was sent: " + r.message);
      } else {
        if (r.kind == R::Error) s.run("ROLLBACK", {}, opts_.statement_timeout, opts_.stop_grace);
        op.fail("before COMMIT was sent: " + r.message);
      }
      return false;
    }
    s.warnings().items.clear();
    R r = s.run("COMMIT", {}, opts_.statement_timeout, opts_.stop_grace);
    if (r.kind == R::Done) {
      std::string w = s.warnings().first();
      if (!w.empty()) {
        op.unknown("COMMIT answered with a warning (a cancelled synchronous replication wait "
                   "leaves the commit local, not replicated): " + w);
        return false;
      }
      if (r.status == "COMMIT") {
        op.ok();
        return true;
      }
      op.fail("COMMIT answered " + r.status);
      return false;
    }
    note_error(r.message);
    if (r.kind == R::Error) {
      op.fail("COMMIT failed: " + r.message);
    } else {
      std::string w = s.warnings().first();
      op.unknown("during COMMIT: " + r.message + (w.empty() ? "" : "; the server warned: " + w));
    }
    return false;
  }

  // A refused connection or a read-only server fails at once: wait 20 ms (or until stop)
  // before the next try, so failing clients do not spin.
  void pause() {
    pollfd p{stop_read_.get(), POLLIN, 0};
    ::poll(&p, 1, 20);
  }

  const std::string begin_ = "BEGIN";
  std::string conninfo_;
  int clients_;
  WorkloadOptions opts_;
  std::string run_id_;
  History history_;
  detail::Fd stop_read_, stop_write_;
  std::vector<std::thread> threads_;
  std::atomic<bool> running_{false};
  bool started_ = false;
  mutable std::mutex m_;
  std::string last_error_;
};

}  // namespace pgha
