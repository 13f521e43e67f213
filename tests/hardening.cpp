// tests/hardening.cpp: the defects an adversarial run found (issue 10), each against real
// servers: data and topology safety, faults that must be survivable, inputs that must be
// quoted or rejected at once.
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <optional>
#include <thread>

#include "support.hpp"

using namespace std::chrono_literals;
using Catch::Matchers::ContainsSubstring;

namespace {
bool path_exists(const std::string& path) { return ::access(path.c_str(), F_OK) == 0; }
}  // namespace

// ---- data and topology safety ----

TEST_CASE("rejoin onto an unrelated primary re-clones instead of resuming on diverged data") {
  pgha::TempPrimary a;
  pgha::TempStandby b(a);
  a.execute("CREATE TABLE mine (x int); INSERT INTO mine VALUES (1)");
  pgha::TempPrimary other;  // same template, same system identifier, another cluster
  other.execute("CREATE TABLE theirs (y int); INSERT INTO theirs SELECT generate_series(1, 5000)");
  other.execute("SELECT pg_switch_wal()");  // the other cluster is ahead in WAL
  a.stop();
  CHECK(a.rejoin(other) == pgha::RejoinMethod::Recloned);
  CHECK(a.role() == pgha::Role::Standby);
  CHECK(a.query("SELECT count(*) FROM theirs").value(0, 0) == "5000");
  CHECK(a.query("SELECT to_regclass('mine') IS NULL").value(0, 0) == "t");
  CHECK(test::sync_state(other, a.application_name()) == "streaming/sync");
}

TEST_CASE("a fork()ed child that exits never tears down the parent's nodes") {
  auto n = std::make_unique<pgha::TempPrimary>();
  n->execute("CREATE TABLE t (x int)");  // the parent's session exists before the fork
  std::string data = n->data_dir();
  int pm = n->pid();
  pid_t child = ::fork();
  REQUIRE(child >= 0);
  if (child == 0) {
    n.reset();  // the child destroys its copy of the node, as a scope exit would
    ::_exit(0);
  }
  int st = 0;
  REQUIRE(::waitpid(child, &st, 0) == child);
  REQUIRE(WIFEXITED(st));
  CHECK(path_exists(data + "/PG_VERSION"));
  CHECK(n->pid() == pm);
  CHECK(n->is_running());
  n->execute("INSERT INTO t VALUES (1)");  // the parent's session was not terminated
  CHECK(n->query("SELECT count(*) FROM t").value(0, 0) == "1");
}

TEST_CASE("a fork()ed child calling execute() gets its own session, and the parent keeps its own") {
  pgha::TempPrimary n;
  std::string parent_backend = n.query("SELECT pg_backend_pid()").value(0, 0);
  n.execute("SET application_name = 'parent-session'");  // session state the child must not see
  int p[2];
  REQUIRE(::pipe(p) == 0);
  std::fflush(nullptr);
  pid_t child = ::fork();
  REQUIRE(child >= 0);
  if (child == 0) {
    ::close(p[0]);
    std::string out;
    try {
      pgha::Result r = n.query("SELECT pg_backend_pid() || ' ' || current_setting('application_name')");
      out = r.value(0, 0);
    } catch (const std::exception& e) {
      out = std::string("error: ") + e.what();
    }
    out += "\n";
    (void)!::write(p[1], out.data(), out.size());
    ::_exit(0);  // no destructors: the child's copy of the node is abandoned, as at exec or crash
  }
  ::close(p[1]);
  std::string got;
  char buf[256];
  for (ssize_t k; (k = ::read(p[0], buf, sizeof buf)) > 0;) got.append(buf, static_cast<std::size_t>(k));
  ::close(p[0]);
  int st = 0;
  REQUIRE(::waitpid(child, &st, 0) == child);
  CHECK(WIFEXITED(st));
  INFO("child said: " << got);
  CHECK(got.rfind("error", 0) != 0);
  CHECK(got.rfind(parent_backend + " ", 0) != 0);          // not the parent's backend
  CHECK(got.find("parent-session") == std::string::npos);  // nor its session state
  // The parent's session is intact: same backend, same state.
  CHECK(n.query("SELECT pg_backend_pid() || ' ' || current_setting('application_name')").value(0, 0) ==
        parent_backend + " parent-session");
}

TEST_CASE("two threads on one node each get their own results", "[tsan]") {
  pgha::TempPrimary n;
  std::atomic<int> wrong{0}, errors{0};
  auto worker = [&](const std::string& tag) {
    for (int i = 0; i < 200; ++i) {
      try {
        if (n.query("SELECT '" + tag + "' || " + std::to_string(i)).value(0, 0) != tag + std::to_string(i))
          ++wrong;
      } catch (const std::exception&) {
        ++errors;
      }
    }
  };
  std::thread t1(worker, "a"), t2(worker, "b");
  worker("c");
  t1.join();
  t2.join();
  CHECK(wrong == 0);
  CHECK(errors == 0);
}

TEST_CASE("a writer thread keeps writing while the main thread fails over and back", "[tsan]") {
  pgha::TempPrimary node1;
  pgha::TempStandby node2(node1);
  node1.execute("CREATE TABLE t (x int)");
  std::atomic<bool> stop{false};
  std::atomic<int> ok{0};
  std::vector<std::string> odd;  // errors other than a lost or refused connection
  std::mutex odd_mu;
  std::thread writer([&] {
    for (int i = 0; !stop; ++i) {
      try {
        node1.execute("SET synchronous_commit = local; INSERT INTO t VALUES (" + std::to_string(i) + ")");
        ++ok;
      } catch (const pgha::ConnectionError&) {
      } catch (const pgha::StateError&) {  // node1 is stopped, or a standby now
      } catch (const pgha::QueryError& e) {
        if (e.sqlstate() != "25006" && e.sqlstate() != "57P01") {
          std::lock_guard<std::mutex> l(odd_mu);
          odd.push_back(e.what());
        }
      } catch (const std::exception& e) {
        std::lock_guard<std::mutex> l(odd_mu);
        odd.push_back(e.what());
      }
    }
  });
  node1.wait_until("SELECT count(*) > 10 FROM t");
  {
    pgha::FailoverGuard g(node1, node2, pgha::StopMode::Crash);
    CHECK(node2.role() == pgha::Role::Primary);
  }
  CHECK(node1.role() == pgha::Role::Standby);
  stop = true;
  writer.join();
  CHECK(ok > 10);
  CHECK(odd == std::vector<std::string>{});
}

// ---- faults that must be survivable ----

TEST_CASE("a frozen primary can be failed over: FailoverGuard with StopMode::Crash") {
  pgha::Options o;
  o.timeout = 5s;  // the old code asked the frozen server for its role until this ran out
  pgha::TempPrimary node1(o);
  pgha::TempStandby node2(node1);
  node1.execute("CREATE TABLE test (id int); INSERT INTO test VALUES (1)");
  node1.freeze();
  CHECK(node1.role() == pgha::Role::Primary);  // what pgha made it; the server cannot answer
  {
    pgha::FailoverGuard g(node1, node2, pgha::StopMode::Crash);
    CHECK_FALSE(node1.is_running());
    node2.execute("SET synchronous_commit = local; INSERT INTO test VALUES (2)");
  }
  CHECK(node1.role() == pgha::Role::Standby);
  CHECK(test::ids(node1) == std::vector<int>{1, 2});
}

TEST_CASE("every stop mode stops a frozen node") {
  pgha::Options o;
  o.timeout = 5s;
  pgha::TempPrimary node1(o);
  pgha::TempStandby node2(node1);
  for (int round = 0; round < 3; ++round) {
    for (pgha::StopMode m : {pgha::StopMode::Fast, pgha::StopMode::Immediate, pgha::StopMode::Smart,
                             pgha::StopMode::Crash}) {
      INFO("round " << round << ", mode " << m);
      node2.freeze();
      CHECK_NOTHROW(node2.stop(m));
      CHECK_FALSE(node2.is_running());
      node2.start();
      node1.wait_for_catchup(node2);
    }
  }
}

TEST_CASE("FailoverGuard's destructor survives a moved-from node") {
  std::optional<pgha::TempPrimary> node1;
  node1.emplace();
  pgha::TempStandby node2(*node1);
  {
    pgha::FailoverGuard g(*node1, node2);
    pgha::TempPrimary moved(std::move(*node1));  // the guard's old primary is now moved-from
    CHECK_THROWS_AS(node1->name(), pgha::StateError);
  }  // ~moved, then ~FailoverGuard: logs the failed rejoin, does not terminate
  CHECK(node2.role() == pgha::Role::Primary);
}

TEST_CASE("a FailoverGuard outlived by neither node gives a pgha error, never a use after free") {
  auto node1 = std::make_unique<pgha::TempPrimary>();
  auto node2 = std::make_unique<pgha::TempStandby>(*node1);
  std::string name1 = node1->name();
  auto g = std::make_unique<pgha::FailoverGuard>(*node1, *node2);
  node1.reset();  // the old primary goes before its guard
  CHECK_THROWS_AS(g->rejoin(), pgha::StateError);
  CHECK_THROWS_WITH(g->rejoin(), ContainsSubstring(name1) && ContainsSubstring("destroyed"));
  CHECK_FALSE(g->has_rejoined());
  CHECK_THROWS_AS(g->old_primary(), pgha::StateError);
  CHECK(g->new_primary().role() == pgha::Role::Primary);
  node2.reset();  // and the new primary too: the destructor has nothing left to touch
  CHECK_THROWS_AS(g->new_primary(), pgha::StateError);
  g.reset();
}

TEST_CASE("a node's destructor on another thread waits for a FailoverGuard's rejoin of it") {
  auto node1 = std::make_unique<pgha::TempPrimary>();
  pgha::TempStandby node2(*node1);
  pgha::FailoverGuard g(*node1, node2);
  std::atomic<bool> started{false};
  std::thread rejoiner([&] {
    started = true;
    try { g.rejoin(); } catch (const pgha::Error&) {}  // either order is fine; no crash
  });
  while (!started) std::this_thread::yield();
  node1.reset();
  rejoiner.join();
  CHECK(node2.role() == pgha::Role::Primary);
}

TEST_CASE("has_rejoined() tells 'no rejoin yet' apart from Resumed") {
  pgha::TempPrimary node1;
  pgha::TempStandby node2(node1);
  CHECK_FALSE(node1.has_rejoined());
  CHECK_FALSE(node1.last_rejoin().has_value());
  CHECK(node1.last_rejoin_method() == pgha::RejoinMethod::Resumed);  // the old name stays
  pgha::FailoverGuard g(node1, node2);
  CHECK_FALSE(g.has_rejoined());
  CHECK_FALSE(g.rejoined_method().has_value());
  pgha::RejoinMethod m = g.rejoin();
  CHECK(g.has_rejoined());
  CHECK(g.rejoined_method() == m);
  CHECK(g.method() == m);
  CHECK(node1.has_rejoined());
  CHECK(node1.last_rejoin() == m);
  CHECK(node1.last_rejoin_method() == m);
}

TEST_CASE("FailoverGuard refuses a frozen standby before it stops anything") {
  pgha::TempPrimary node1;
  pgha::TempStandby node2(node1);
  node2.freeze();
  CHECK_THROWS_WITH(pgha::FailoverGuard(node1, node2), ContainsSubstring("frozen") && ContainsSubstring("thaw"));
  CHECK(node1.is_running());
  node2.thaw();
  CHECK(node1.role() == pgha::Role::Primary);
}

TEST_CASE("a FailoverGuard whose promote fails restarts the old primary and says so") {
  pgha::TempPrimary node1;
  pgha::Options so = node1.options();
  so.timeout = 3s;  // how long node2's promote is waited for
  pgha::TempStandby node2(node1, so);
  node1.execute("CREATE TABLE test (id int); INSERT INTO test VALUES (1)");
  // node2's startup process, frozen alone, never finishes a promote: the promote times out.
  std::vector<pid_t> startup;
  for (pid_t c : pgha::detail::child_pids(node2.pid()))
    if (pgha::detail::process_title(c).find("startup") != std::string::npos) startup.push_back(c);
  REQUIRE(startup.size() == 1);
  ::kill(startup[0], SIGSTOP);
  CHECK_THROWS_WITH(pgha::FailoverGuard(node1, node2),
                    ContainsSubstring("promoting " + node2.name() + " failed") &&
                        ContainsSubstring(node1.name() + " was started again"));
  CHECK(node1.role() == pgha::Role::Primary);
  node1.execute("SET synchronous_commit = local; INSERT INTO test VALUES (2)");
  CHECK(test::ids(node1) == std::vector<int>{1, 2});
  ::kill(startup[0], SIGCONT);  // node2 now finishes the promote it was asked for
  node2.wait_until("SELECT NOT pg_is_in_recovery()");
}

TEST_CASE("a FailoverGuard whose promote fails rethrows the promote's own error type") {
  pgha::TempPrimary node1;
  pgha::TempStandby node2(node1);
  if (node2.server_version_num() < 120000) PGHA_SKIP("PG 11 promotes with a file pgha writes itself");
  // The server user cannot create promote.signal in a read-only data directory: pg_promote()
  // fails with SQLSTATE 42501, a QueryError.
  ::chmod(node2.data_dir().c_str(), 0500);
  try {
    pgha::FailoverGuard g(node1, node2);
    FAIL("the promote succeeded in a read-only data directory");
  } catch (const pgha::QueryError& e) {
    CHECK(e.sqlstate() == "42501");
    CHECK_THAT(e.what(), ContainsSubstring("promoting " + node2.name() + " failed") &&
                             ContainsSubstring(node1.name() + " was started again"));
  } catch (const pgha::Error& e) {
    FAIL("sliced to a less specific type: " << e.what());
  }
  ::chmod(node2.data_dir().c_str(), 0700);
  CHECK(node1.role() == pgha::Role::Primary);
  CHECK(node2.role() == pgha::Role::Standby);
}

TEST_CASE("a FailoverGuard destructor's failure is an event, not only a line on stderr") {
  std::mutex mu;
  std::vector<pgha::Event> seen;
  pgha::set_log_sink([&](const pgha::Event& e) {
    std::lock_guard<std::mutex> l(mu);
    seen.push_back(e);
  });
  std::optional<pgha::TempPrimary> node1;
  node1.emplace();
  pgha::TempStandby node2(*node1);
  std::string name1 = node1->name();
  {
    pgha::FailoverGuard g(*node1, node2);
    node1.reset();
  }  // the rejoin of a destroyed node fails in the destructor
  pgha::set_log_sink(nullptr);
  bool found = false;
  for (const auto& e : seen)
    if (e.kind == "error" && e.message.find("FailoverGuard could not rejoin") != std::string::npos &&
        e.message.find(name1) != std::string::npos)
      found = true;
  CHECK(found);
}

TEST_CASE("role() answers while the server shuts down, instead of a connection error", "[tsan]") {
  pgha::Options o;
  o.timeout = 10s;
  pgha::TempPrimary n(o);
  pgha::Connection client = n.connect();  // a smart shutdown waits for this client
  std::thread stopper([&] { n.stop(pgha::StopMode::Smart); });
  // Wait until the server refuses new connections because it shuts down.
  auto deadline = std::chrono::steady_clock::now() + 10s;
  std::string refused;
  while (refused.empty() && std::chrono::steady_clock::now() < deadline) {
    try {
      pgha::Connection probe(n.conninfo(), 2s);
    } catch (const pgha::ConnectionError& e) {
      if (std::string(e.what()).find("shutting down") != std::string::npos) refused = e.what();
    }
  }
  REQUIRE_FALSE(refused.empty());
  CHECK(n.role() == pgha::Role::Primary);
  { pgha::Connection gone = std::move(client); }  // the last client leaves: the stop ends
  stopper.join();
  CHECK(n.role() == pgha::Role::Stopped);
}

TEST_CASE("role() answers while the server runs crash recovery, instead of a connection error", "[tsan]") {
  pgha::TempPrimary n;
  n.execute("CREATE TABLE test (id int); INSERT INTO test SELECT generate_series(1, 20000)");
  n.stop(pgha::StopMode::Crash);  // the next start replays the WAL before it accepts clients
  std::atomic<bool> started{false};
  std::thread starter([&] { n.start(); started = true; });
  int answers = 0, standby_answers = 0;
  std::vector<std::string> errors;
  while (!started) {
    try {
      if (n.role() == pgha::Role::Standby) ++standby_answers;
      ++answers;
    } catch (const std::exception& e) {
      errors.push_back(e.what());
    }
  }
  starter.join();
  CHECK(errors == std::vector<std::string>{});
  CHECK(answers > 0);
  CHECK(standby_answers == 0);
  CHECK(n.role() == pgha::Role::Primary);
  CHECK(test::ids(n).size() == 20000);
}

TEST_CASE("waits that cannot end fail at once with StateError") {
  pgha::Options o;
  o.timeout = 20s;  // the old code waited this long, then threw TimeoutError
  pgha::TempPrimary node1(o);
  pgha::TempStandby node2(node1);
  auto t0 = std::chrono::steady_clock::now();
  CHECK_THROWS_AS(node1.wait_for_catchup(node1), pgha::StateError);
  CHECK_THROWS_AS(node1.wait_for_replay(node1.current_lsn()), pgha::StateError);
  CHECK_THROWS_AS(node2.wait_for_catchup(node1), pgha::StateError);  // node1 is a primary
  CHECK(std::chrono::steady_clock::now() - t0 < o.timeout);  // a hang guard, not a timing claim
}

// ---- inputs ----

TEST_CASE("a temp dir whose path holds a space and a quote works, archiving included") {
  std::string base = "/dev/shm/pgha odd 'dir' %p";
  ::mkdir(base.c_str(), 0755);
  // The base ends up holding the template built for it and the spare copies the background
  // thread makes there: removed once that thread is idle (also when the test fails early).
  struct RemoveBase {
    std::string dir;
    ~RemoveBase() {
      pgha::detail::background().wait_idle(10s);
      pgha::detail::remove_tree(dir);
    }
  } cleanup{base};
  pgha::Options o;
  o.tmp_dir = base;
  o.archive = true;
  {
    pgha::TempPrimary node1(o);
    pgha::TempStandby node2(node1);
    node1.execute("CREATE TABLE test (id int); INSERT INTO test VALUES (1)");
    std::string seg = node1.query("SELECT pg_walfile_name(pg_current_wal_lsn())").value(0, 0);
    node1.execute("SELECT pg_switch_wal()");
    node1.wait_until("SELECT last_archived_wal = '" + seg + "' FROM pg_stat_archiver");
    CHECK(node1.query("SELECT failed_count FROM pg_stat_archiver").value(0, 0) == "0");
    CHECK(path_exists(node1.data_dir() + "/../archive/" + seg));
    CHECK(test::ids(node2) == std::vector<int>{1});
    CHECK(node1.connect().query("SELECT 1").value(0, 0) == "1");
  }
  REQUIRE(pgha::detail::background().wait_idle(10s));  // no copy or removal runs there now
  CHECK(pgha::detail::remove_tree(base));
  CHECK_FALSE(path_exists(base));
}

TEST_CASE("application_name with a space, a quote and '=' is a sync standby") {
  pgha::TempPrimary node1;
  pgha::Options so = node1.options();
  so.application_name = "standby 1's = x";
  pgha::TempStandby node2(node1, so);
  CHECK(node2.application_name() == "standby 1's = x");
  CHECK(node1.query("SELECT sync_state FROM pg_stat_replication WHERE application_name = "
                    "'standby 1''s = x'").value(0, 0) == "sync");
  pgha::Options bad = so;
  bad.application_name = "caf\xc3\xa9";
  auto t0 = std::chrono::steady_clock::now();
  CHECK_THROWS_AS(pgha::TempStandby(node1, bad), pgha::SetupError);
  bad.application_name = std::string(64, 's');
  CHECK_THROWS_AS(pgha::TempStandby(node1, bad), pgha::SetupError);
  CHECK(std::chrono::steady_clock::now() - t0 < 20s);  // a hang guard: no 30 s timeout
}

TEST_CASE("a database name with a space connects") {
  pgha::TempPrimary n;
  n.execute("CREATE DATABASE \"my db\"");
  CHECK(n.connect("my db").query("SELECT current_database()").value(0, 0) == "my db");
  // Values travel as parameters, never pasted into SQL.
  CHECK(n.query("SELECT $1::text || $2", {"it's a \\ test", "'; DROP TABLE x; --"}).value(0, 0) ==
        "it's a \\ test'; DROP TABLE x; --");
}

TEST_CASE("settings pgha owns are rejected at once") {
  pgha::Options o;
  o.settings["port"] = "5999";
  CHECK_THROWS_WITH(pgha::TempPrimary(o), ContainsSubstring("owned by pgha"));
  pgha::Options p;
  p.settings["primary_conninfo"] = "host=elsewhere";
  CHECK_THROWS_AS(pgha::TempPrimary(p), pgha::SetupError);
}

TEST_CASE("standbys that do not choose a name get distinct ones, and the first is sync") {
  pgha::TempPrimary node1;
  pgha::TempStandby s1(node1), s2(node1), s3(node1);
  CHECK(s1.application_name() == "pgslave001");
  CHECK(s2.application_name() == "pgslave002");
  CHECK(s3.application_name() == "pgslave003");
  pgha::Result r = node1.query("SELECT application_name, sync_state, sync_priority FROM "
                               "pg_stat_replication ORDER BY application_name");
  REQUIRE(r.rows() == 3);
  CHECK(r.value(0, 1) == "sync");
  CHECK(r.value(1, 1) == "potential");
  CHECK(r.value(2, 1) == "potential");
  for (int i = 0; i < 3; ++i) CHECK(r.value(i, 2) != "0");
  pgha::Options taken = node1.options();
  taken.application_name = "pgslave002";
  CHECK_THROWS_WITH(pgha::TempStandby(node1, taken), ContainsSubstring("already used"));
  taken.application_name = "PGSLAVE002";  // the server compares the names case-insensitively
  CHECK_THROWS_WITH(pgha::TempStandby(node1, taken), ContainsSubstring("already used"));
  // The first one goes: the next in line becomes sync.
  s1.stop();
  node1.wait_until("SELECT sync_state = 'sync' FROM pg_stat_replication WHERE application_name = 'pgslave002'");
}

TEST_CASE("a cascading standby is made from pgha::Upstream") {
  pgha::TempPrimary node1;
  pgha::TempStandby node2(node1);
  std::optional<pgha::TempStandby> node3;
  node3.emplace(pgha::Upstream(node2));
  node1.execute("CREATE TABLE test (id int); INSERT INTO test VALUES (1)");
  node1.wait_for_catchup(*node3);
  CHECK(test::ids(*node3) == std::vector<int>{1});
  CHECK(test::sync_state(node2, node3->application_name()) == "streaming/async");
}
