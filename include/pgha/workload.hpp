// pgha/workload.hpp: a ready-made workload. N client threads append unique values through
// any conninfo into the workload's table, reconnect on errors and record in a History
// what each client was told. After the test, check(node) compares it with the table on
// that node. Every row carries the workload's run id (column `run`) and check() reads only
// its own run's rows, so any number of Workloads may share one table, one after the other
// or at once: a clean run's verdict is ok whatever else wrote there. With read_fraction,
// the clients also read the key they last wrote, through read_conninfo (a standby, say),
// and the verdict names the stale reads.
//
// Or the application's own call on the client threads: Workload(call, clients, opts) calls
// call(op, attempt) in a loop on each client; returning without an outcome on `op` is ok,
// throwing is unknown (what() is the note), an outcome the call recorded on `op` wins.
// check(node, query) compares the history with the rows (key, value) the query returns.
//
// Either way, an acknowledged write at least gap_event after the previous one (any client)
// emits a pgha::Event of kind "gap" in lane "workload": the outage drawn in the Timeline.
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

#include "pgha/build_mode.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <cctype>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "pgha/connection.hpp"
#ifndef PGHA_SEPARATE_COMPILATION  // the separate mode compiles these in the library
#include "pgha/detail/fd.hpp"
#include "pgha/detail/wait.hpp"
#include "pgha/detail/workload_client.hpp"
#endif
#include "pgha/events.hpp"
#include "pgha/history.hpp"
#include "pgha/node.hpp"

// Forward declarations: the separate mode does not include detail/ here.
namespace pgha {
namespace detail {
class ClientSession;
class Fd;
struct CallbackRun;
}  // namespace detail
}  // namespace pgha

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
  /// After stop(), how long a cancelled in-flight statement (the built-in workload) or a
  /// running call (Workload(call, ...)) may take to end.
  std::chrono::milliseconds stop_grace = std::chrono::seconds(1);
  /// Built-in workload: the chance, from 0.0 to 1.0, that an operation is a read of the key
  /// the client last appended to (read-your-writes) instead of an append. 0: no reads.
  double read_fraction = 0.0;
  /// Built-in workload: the conninfo reads go through (a Route::Standby Endpoint, a
  /// standby); empty: the write conninfo.
  std::string read_conninfo;
  /// An acknowledged write at least this long after the previous one emits a "gap" event
  /// (lane "workload", drawn by pgha::Timeline); 0: none.
  std::chrono::milliseconds gap_event = std::chrono::milliseconds(100);
};

/// One attempt handed to the application's call by Workload(call, ...): which client, its
/// n-th attempt, and the key and value to write (key "k<n % keys>", value "<client>-<n>",
/// unique in the run).
struct Attempt {
  int client = 0;          ///< the client (thread), 0 to clients - 1
  std::uint64_t n = 0;     ///< the client's attempt number, from 0
  std::string key;         ///< the key to append to
  std::string value;       ///< the value to append (unique in the Workload)
  /// True once stop() began: the call should return soon (it has stop_grace).
  bool stopping() const noexcept { return stopping_ && stopping_->load(); }

private:
  friend struct detail::CallbackRun;
  const std::atomic<bool>* stopping_ = nullptr;
};

/// Client threads appending unique values ("<client>-<n>") to keys through a conninfo,
/// one transaction (BEGIN; INSERT; COMMIT) per operation, or running the application's own
/// call, recorded in history().
/// Not copyable nor movable. The destructor stops the clients (bounded, never throws).
class Workload {
public:
  /// The application's call: write attempt.value to attempt.key as the application does.
  using Call = std::function<void(Op& op, const Attempt& attempt)>;

  /// `clients` threads will write through `conninfo` (any libpq conninfo: one node, a
  /// multi-host list with target_session_attrs=read-write, a proxy). Nothing runs yet.
  /// Throws UsageError for arguments it cannot run with: clients outside 1 to 1000, keys
  /// below 1, a table name that is not a plain identifier, a connect or statement timeout
  /// that is not positive, a negative stop_grace or gap_event, read_fraction outside 0 to 1,
  /// a conninfo or read_conninfo libpq cannot parse.
  explicit Workload(std::string conninfo, int clients = 4, WorkloadOptions opts = {});
  /// `clients` threads will call `call` in a loop, each call with a fresh Attempt, until
  /// stop(). The call returning normally: ok (acknowledged); throwing: unknown, what() the
  /// note; an outcome it recorded on its Op (ok, fail, unknown) wins. After a call that was
  /// not ok the client pauses 20 ms (or until stop). The call runs on the client threads,
  /// concurrently: it must be thread-safe. Of the options, keys, stop_grace and gap_event
  /// apply. Throws UsageError for a null call, clients outside 1 to 1000, keys below 1, a
  /// negative stop_grace or gap_event, or a read_fraction other than 0 (the call's own
  /// reads: history().read(key), recorded by the call).
  explicit Workload(Call call, int clients = 4, WorkloadOptions opts = {});
  Workload(const Workload&) = delete;
  Workload& operator=(const Workload&) = delete;
  /// Stops the clients if they run; bounded by about stop_grace (see stop()), twice for a
  /// call that does not return (its thread is then detached, see stop()). Never throws.
  ~Workload();

  /// Creates the table (if it does not exist) through the conninfo, then starts the
  /// clients (Workload(call, ...): only starts them). Throws ConnectionError/QueryError/
  /// TimeoutError when the table cannot be created, StateError when started before. A
  /// Workload runs once.
  void start();

  /// Stops the clients and joins them: open operations are cancelled and, unless their
  /// answer arrives within stop_grace, recorded as unknown. The built-in workload never
  /// throws here; bounded by about stop_grace even when clients are blocked on a frozen or
  /// unreachable server (every client wait, connecting included, also watches a stop pipe).
  /// Workload(call, ...): Attempt::stopping() turns true and each client ends after its
  /// current call; a call still running after stop_grace has its op recorded as unknown
  /// and stop() throws TimeoutError naming the clients (the destructor waits for them once
  /// more, then detaches them). A second stop() does nothing.
  void stop();
  /// Whether the clients run (started and not stopped).
  bool running() const noexcept;

  /// Appends acknowledged so far (reads not counted).
  std::size_t acknowledged() const;
  /// Waits until at least `n` operations were acknowledged in total; throws TimeoutError
  /// with the clients' last error when that does not happen in time, UsageError for a
  /// negative timeout.
  void wait_for_acknowledged(std::size_t n,
                             std::chrono::milliseconds timeout = std::chrono::seconds(30)) const;
  /// The last error a client saw (connect failures included), or "none".
  std::string last_error() const;

  /// Compares the history with the workload's table on `node` (usually the new primary).
  /// Throws StateError before start() and while the clients run (stop() first), Error when
  /// the table is missing there (it was created through the conninfo: did that replicate to
  /// `node`?). UsageError for Workload(call, ...), which has no table: check(node, query).
  Verdict check(Node& node);
  /// Compares the history with the rows `query` returns on `node`: its first two columns are
  /// key and value ("select customer, id::text from orders"). StateError before start()
  /// and while the clients run; UsageError when the result has fewer than two columns.
  Verdict check(Node& node, const std::string& query);

  /// The History the clients recorded.
  History& history() noexcept;
  /// The History the clients recorded.
  const History& history() const noexcept;
  /// The workload's table name.
  const std::string& table() const noexcept;
  /// This workload's run id: the value of the `run` column in each row it writes, unique
  /// to this Workload object (process id, clock and a counter). check() reads only the rows
  /// of this run, so Workloads that share a table do not see each other's rows.
  const std::string& run_id() const noexcept;

private:
  static std::string new_run_id();

  // Creates the table if it does not exist, and adds the run column to a table made by an
  // older pgha (its rows have run '' and belong to no Workload). Two Workloads starting at
  // once may race on CREATE TABLE IF NOT EXISTS (23505 on the catalog, or 42P07): the loser
  // tries again and finds the table.
  void create_table();

  void note_error(const std::string& e);

  // Throws UsageError for options no Workload runs with.
  void check_options(const char* who) const;

  // One client: connect (again after any lost session), then BEGIN; INSERT; COMMIT per
  // operation until stop(); with read_fraction, some operations read instead.
  void client(int process) noexcept;

  // A read of `key` through `rs` (connected to read_conninfo first).
  void read_once(detail::ClientSession& rs, const std::string& key, int process);

  // Workload(call, ...): waits for the clients until `grace` has passed; joins the ended
  // ones and returns the others (still in their call).
  std::vector<int> join_callback_clients(std::chrono::milliseconds grace);

  // Runs one operation; returns whether the client was told it committed.
  bool attempt(detail::ClientSession& s, Op& op, const std::string& insert,
               const std::vector<std::string>& params);

  // A refused connection or a read-only server fails at once: wait 20 ms (or until stop)
  // before the next try, so failing clients do not spin.
  void pause();

  const std::string begin_ = "BEGIN";
  std::string conninfo_;
  int clients_;
  WorkloadOptions opts_;
  std::string run_id_;
  std::shared_ptr<History> history_ = std::make_shared<History>();
  std::shared_ptr<detail::CallbackRun> run_;  // Workload(call, ...) only
  detail::Fd stop_read_, stop_write_;
  std::vector<std::thread> threads_;
  std::atomic<bool> running_{false};
  bool started_ = false;
  mutable std::mutex m_;
  std::string last_error_;
};

}  // namespace pgha

#ifndef PGHA_SEPARATE_COMPILATION
#include "pgha/impl/workload.ipp"
#endif
