// tests/api.cpp: every public call of Node, Connection, Result and the options.
#include <sys/shm.h>
#include <sys/stat.h>

#include <boost/filesystem.hpp>
#include <chrono>
#include <thread>
#include <fstream>
#include <sstream>

#include <pgha/shared_cluster.hpp>

#include "support.hpp"

using namespace std::chrono_literals;

namespace {
uid_t process_uid(int pid) {
  struct stat st{};
  ::stat(("/proc/" + std::to_string(pid)).c_str(), &st);
  return st.st_uid;
}
}  // namespace

TEST_CASE("Result exposes rows, columns, values and NULLs") {
  pgha::TempPrimary n;
  pgha::Result r = n.query("SELECT 1 AS a, NULL::text AS b UNION ALL SELECT 2, 'x' ORDER BY 1");
  CHECK(r.rows() == 2);
  CHECK(r.columns() == 2);
  CHECK(r.column_name(1) == "b");
  CHECK(r.value(0, 0) == "1");
  CHECK(r.is_null(0, 1));
  CHECK_FALSE(r.is_null(1, 1));
  CHECK(r.value(1, 1) == "x");
  CHECK_THROWS_AS(r.value(2, 0), pgha::Error);
  CHECK_THROWS_AS(r.value(0, 2), pgha::Error);
  n.execute("CREATE TABLE t (x int)");
  pgha::Result ins = n.execute("INSERT INTO t SELECT generate_series(1, 5)");
  CHECK(ins.affected_rows() == 5);
  CHECK(ins.command_status() == "INSERT 0 5");
}

TEST_CASE("identity: port, host, conninfo, data_dir, version") {
  pgha::TempPrimary n;
  CHECK(n.query("SHOW port").value(0, 0) == std::to_string(n.port()));
  CHECK(n.host() == "127.0.0.1");
  CHECK(n.query("SHOW data_directory").value(0, 0) == n.data_dir());
  CHECK(n.query("SHOW server_version_num").value(0, 0) == std::to_string(n.server_version_num()) );
  // conninfo works as is for any libpq client: TCP with SCRAM.
  pgha::Connection c(n.conninfo());
  CHECK(c.query("SELECT inet_server_addr()::text").value(0, 0) == "127.0.0.1/32");
  pgha::Connection c2 = n.connect();
  CHECK(c2.query("SELECT current_user").value(0, 0) == "postgres");
  // Without the generated password, TCP is refused: no trust over TCP.
  std::string no_pw = "host=127.0.0.1 port=" + std::to_string(n.port()) + " user=postgres dbname=postgres";
  CHECK_THROWS_AS(pgha::Connection(no_pw, 5s), pgha::ConnectionError);
  CHECK(n.query("SELECT count(*) FROM pg_hba_file_rules WHERE type = 'host' AND auth_method = 'trust'")
            .value(0, 0) == "0");
  CHECK(n.query("SELECT rolpassword LIKE 'SCRAM-SHA-256$%' FROM pg_authid WHERE rolname = 'replicauser'")
            .value(0, 0) == "t");
}

TEST_CASE("conninfo_as: the service's own role and database, on a node and through an Endpoint") {
  pgha::TempPrimary p;
  pgha::TempStandby s(p);
  // A password with a quote and a space: conninfo_as quotes every value.
  p.execute("CREATE ROLE app LOGIN PASSWORD 'it''s secret'");
  p.execute("CREATE DATABASE orders OWNER app");
  pgha::Connection c(p.conninfo_as("app", "it's secret", "orders"), 5s);
  pgha::Result who = c.query("SELECT current_user, current_database()");
  CHECK(who.value(0, 0) == "app");
  CHECK(who.value(0, 1) == "orders");
  // Not a superuser: the service meets the permissions it has in production.
  CHECK(c.query("SELECT rolsuper FROM pg_roles WHERE rolname = current_user").value(0, 0) == "f");
  pgha::Endpoint ep({&p, &s}, pgha::Route::Primary);
  pgha::Connection via(ep.conninfo_as("app", "it's secret", "orders"), 5s);
  CHECK(via.query("SELECT current_user, pg_is_in_recovery()::text").value(0, 0) == "app");
  CHECK(via.query("SELECT inet_server_port()").value(0, 0) == std::to_string(p.port()));
  // A role that does not exist: the server's error names the user.
  CHECK_THROWS_WITH(pgha::Connection(p.conninfo_as("nosuchrole", "x"), 5s),
                    Catch::Matchers::ContainsSubstring("\"nosuchrole\""));
  CHECK_THROWS_WITH(pgha::Connection(ep.conninfo_as("app", "wrong password", "orders"), 5s),
                    Catch::Matchers::ContainsSubstring("\"app\""));
  CHECK_THROWS_AS(p.conninfo_as("", "x"), pgha::UsageError);
  CHECK_THROWS_AS(ep.conninfo_as("app", "x", ""), pgha::UsageError);
}

TEST_CASE("files and processes: private 0700 data dir, unprivileged server, all gone after destruction") {
  std::string root, data;
  int pid = 0;
  {
    pgha::TempPrimary n;
    data = n.data_dir();
    root = boost::filesystem::path(data).parent_path().string();
    pid = n.pid();
    struct stat st{};
    REQUIRE(::stat(data.c_str(), &st) == 0);
    CHECK((st.st_mode & 0777) == 0700);
    CHECK(process_uid(pid) != 0);
    CHECK(::kill(pid, 0) == 0);
  }
  CHECK_FALSE(boost::filesystem::exists(root));
  CHECK(::kill(pid, 0) != 0);
  // Its files are removed in the background under another name (pgha-gone-<n>-<name>), soon.
  boost::filesystem::path p(root);
  auto gone = [&] {
    for (auto& e : boost::filesystem::directory_iterator(p.parent_path())) {
      std::string n = e.path().filename().string();
      if (n.rfind("pgha-gone-", 0) == 0 && n.size() > p.filename().string().size() &&
          n.compare(n.size() - p.filename().string().size(), std::string::npos, p.filename().string()) == 0)
        return true;
    }
    return false;
  };
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (gone() && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  CHECK_FALSE(gone());
}

TEST_CASE("PGHA_KEEP=1 keeps the directory (servers still stop)") {
  std::string root;
  int pid = 0;
  ::setenv("PGHA_KEEP", "1", 1);
  {
    pgha::TempPrimary n;
    root = boost::filesystem::path(n.data_dir()).parent_path().string();
    pid = n.pid();
  }
  ::unsetenv("PGHA_KEEP");
  CHECK(boost::filesystem::exists(root + "/data/PG_VERSION"));
  CHECK(boost::filesystem::exists(root + "/keep"));  // later sweeps leave it alone
  CHECK(::kill(pid, 0) != 0);
  boost::filesystem::remove_all(root);
}

TEST_CASE("stop modes, start, restart, is_running, log_tail") {
  pgha::TempPrimary n;
  n.execute("CREATE TABLE t (x int); INSERT INTO t VALUES (1)");
  int first = n.pid();
  n.restart();
  CHECK(n.pid() != first);
  CHECK(n.query("SELECT count(*) FROM t").value(0, 0) == "1");
  for (auto mode : {pgha::StopMode::Smart, pgha::StopMode::Fast, pgha::StopMode::Immediate,
                    pgha::StopMode::Crash}) {
    int pid = n.pid();
    n.stop(mode);
    CHECK_FALSE(n.is_running());
    CHECK(::kill(pid, 0) != 0);
    n.start();
    CHECK(n.is_running());
    CHECK(n.query("SELECT count(*) FROM t").value(0, 0) == "1");
  }
  // The last stop was a crash: the server log says it recovered.
  CHECK(n.log_tail(50).find("not properly shut down") != std::string::npos);
  n.stop();
  n.stop();  // stopping a stopped node is a no-op
  CHECK_FALSE(n.is_running());
}

TEST_CASE("execute_async, PendingQuery::get rethrows, cancel of a sync wait") {
  pgha::TempPrimary node1;
  pgha::TempStandby node2(node1);
  auto ok = node1.execute_async("SELECT pg_sleep(0.05), 42");
  CHECK(ok.get().value(0, 1) == "42");
  auto bad = node1.execute_async("SELECT * FROM missing_table");
  CHECK_THROWS_AS(bad.get(), pgha::QueryError);
  node1.execute("CREATE TABLE t (x int)");
  node2.stop();
  // The primary notices the standby's disconnection asynchronously.
  node1.wait_until("SELECT count(*) = 0 FROM pg_stat_replication");
  CHECK(test::sync_state(node1) == "absent");
  auto blocked = node1.execute_async("INSERT INTO t VALUES (7)");
  CHECK_FALSE(blocked.wait_for(200ms));
  CHECK(test::wait_event(node1, blocked.backend_pid()) == "SyncRep");
  int backend = blocked.backend_pid();
  blocked.cancel();
  REQUIRE(blocked.wait_for(5s));
  CHECK_NOTHROW(blocked.get());  // the cancel ends the wait; the commit stays local
  CHECK(node1.query("SELECT count(*) FROM t").value(0, 0) == "1");
  CHECK(test::wait_event(node1, backend) != "SyncRep");
}

TEST_CASE("wait helpers: current_lsn, wait_for_catchup, wait_until") {
  pgha::Options async_opts;
  async_opts.sync_mode = pgha::SyncMode::Async;
  pgha::TempPrimary node1(async_opts);
  pgha::TempStandby node2(node1);
  CHECK(test::sync_state(node1) == "streaming/async");
  node1.execute("CREATE TABLE t AS SELECT generate_series(1, 1000) x");
  node1.wait_for_catchup(node2);
  CHECK(node2.query("SELECT count(*) FROM t").value(0, 0) == "1000");
  node1.wait_until("SELECT count(*) = 1 FROM pg_stat_replication");
  CHECK_THROWS_AS(node1.wait_until("SELECT false", 50ms), pgha::TimeoutError);
}

TEST_CASE("sync modes map to synchronous_commit, Async has no sync standby") {
  for (auto [mode, setting] : std::vector<std::pair<pgha::SyncMode, std::string>>{
           {pgha::SyncMode::RemoteWrite, "remote_write"},
           {pgha::SyncMode::On, "on"},
           {pgha::SyncMode::RemoteApply, "remote_apply"}}) {
    pgha::Options o;
    o.sync_mode = mode;
    pgha::TempPrimary p(o);
    CHECK(p.query("SHOW synchronous_commit").value(0, 0) == setting);
    // A lone primary does not wait for anyone; the first standby arms sync replication.
    CHECK(p.query("SHOW synchronous_standby_names").value(0, 0) == "");
    pgha::TempStandby s(p);
    CHECK(p.query("SHOW synchronous_standby_names").value(0, 0) == "pgslave001");
    CHECK(test::sync_state(p) == "streaming/sync");
  }
  pgha::Options o;
  o.sync_mode = pgha::SyncMode::Async;
  pgha::TempPrimary p(o);
  pgha::TempStandby s(p);
  CHECK(p.query("SHOW synchronous_standby_names").value(0, 0) == "");
  CHECK(test::sync_state(p) == "streaming/async");
}

TEST_CASE("set_sync_mode switches a primary between sync and async at run time") {
  pgha::TempPrimary node1;
  pgha::TempStandby node2(node1);
  node1.execute("CREATE TABLE t (x int)");
  node2.stop();
  node1.set_sync_mode(pgha::SyncMode::Async);
  node1.wait_until("SELECT current_setting('synchronous_standby_names') = ''");
  pgha::PendingQuery p = node1.execute_async("INSERT INTO t VALUES (1)");
  CHECK(p.wait_for(5s));  // no sync standby needed any more
  node1.set_sync_mode(pgha::SyncMode::RemoteApply);
  node1.wait_until("SELECT current_setting('synchronous_standby_names') <> ''");
  node2.start();
  node1.wait_until("SELECT count(*) = 1 FROM pg_stat_replication WHERE sync_state = 'sync'");
  pgha::PendingQuery q = node1.execute_async("INSERT INTO t VALUES (2)");
  CHECK(q.wait_for(5s));
  CHECK(node2.query("SELECT count(*) FROM t").value(0, 0) == "2");  // remote_apply again
}

TEST_CASE("options: extra settings, application_name, archiving as in the walkthrough") {
  pgha::Options o;
  o.settings["work_mem"] = "8MB";
  o.archive = true;
  o.application_name = "replica_a";
  o.name = "archived";
  pgha::TempPrimary node1(o);
  CHECK(node1.name() == "archived");
  CHECK(node1.query("SHOW work_mem").value(0, 0) == "8MB");
  CHECK(node1.query("SHOW archive_mode").value(0, 0) == "on");
  pgha::TempStandby node2(node1);
  CHECK(test::sync_state(node1, "replica_a") == "streaming/sync");
  // PG 11 keeps recovery settings in recovery.conf; 12+ made them server settings.
  std::string restore = node2.server_version_num() < 120000
                            ? pgha::detail::read_file(node2.data_dir() + "/recovery.conf")
                            : node2.query("SHOW restore_command").value(0, 0);
  // The path is shell-quoted; recovery.conf doubles the quotes once more (its own quoting).
  CHECK(restore.find(node2.server_version_num() < 120000 ? "/archive''/%f %p" : "/archive'/%f %p") !=
        std::string::npos);
  node1.execute("SELECT pg_switch_wal()");
  node1.wait_until("SELECT archived_count > 0 FROM pg_stat_archiver");
}

TEST_CASE("standbys with their own names become sync candidates of a default primary") {
  pgha::TempPrimary node1;
  pgha::Options o = node1.options();
  o.application_name = "s1";
  pgha::TempStandby s1(node1, o);
  o.application_name = "s2";
  pgha::TempStandby s2(node1, o);
  CHECK(node1.query("SHOW synchronous_standby_names").value(0, 0) ==
        "FIRST 1 (pgslave001, s1, s2)");
  CHECK(test::sync_state(node1, "s1") == "streaming/sync");
  CHECK(test::sync_state(node1, "s2") == "streaming/potential");
  node1.execute("CREATE TABLE t (x int); INSERT INTO t VALUES (1)");
  CHECK(s1.query("SELECT count(*) FROM t").value(0, 0) == "1");  // remote_apply on s1
  s1.stop();
  node1.wait_until("SELECT count(*) = 1 FROM pg_stat_replication WHERE sync_state = 'sync'");
  CHECK(test::sync_state(node1, "s2") == "streaming/sync");  // s2 took over
  CHECK(node1.execute("INSERT INTO t VALUES (2)").command_status() == "INSERT 0 1");
  CHECK(s2.query("SELECT count(*) FROM t").value(0, 0) == "2");
}

TEST_CASE("a crashed or destroyed node leaves no SysV shared memory segment") {
  auto shm_of = [](pgha::Node& n) {
    std::istringstream in(pgha::detail::read_file(n.data_dir() + "/postmaster.pid"));
    std::string line;
    for (int i = 1; i <= 7; ++i) std::getline(in, line);
    std::istringstream l(line);
    long key = 0, id = -1;
    l >> key >> id;
    return static_cast<int>(id);
  };
  struct shmid_ds ds{};
  pgha::TempPrimary a;
  int id = shm_of(a);
  REQUIRE(id >= 0);
  REQUIRE(::shmctl(id, IPC_STAT, &ds) == 0);
  a.stop(pgha::StopMode::Crash);
  CHECK(::shmctl(id, IPC_STAT, &ds) == -1);
  int id2 = -1;
  {
    pgha::TempPrimary b;
    id2 = shm_of(b);
    REQUIRE(::shmctl(id2, IPC_STAT, &ds) == 0);
  }
  CHECK(::shmctl(id2, IPC_STAT, &ds) == -1);
}

TEST_CASE("SharedCluster::reset() lifts every fault and drops slots, publications and subscriptions") {
  pgha::Options o;
  o.relay = true;
  o.settings["wal_level"] = "logical";
  o.timeout = 10s;  // reset() of a link that still closes every connection after 4 kB ends here
  pgha::SharedCluster c(o);
  {
    pgha::Link& l = c.standby().replication_link();
    l.delay(200ms, 5ms);
    l.bandwidth(1000000);
    c.primary().create_logical_slot("test_cdc", "test_decoding");
    c.primary().execute("CREATE TABLE pub_t (x int)");
    c.primary().execute("CREATE PUBLICATION test_pub FOR TABLE pub_t");
    c.primary().execute("CREATE SUBSCRIPTION test_sub CONNECTION " +
                        pgha::detail::sql_literal(c.primary().conninfo()) +
                        " PUBLICATION test_pub WITH (connect = false)");
    c.standby().freeze_walreceiver();
    l.limit_data(4096);
    l.slicer(512, 64, 100us);
    l.slow_close(50ms);
    l.reset_after(1h);
    l.timeout(1h, pgha::Direction::Upstream);  // no feedback reaches the primary until reset()
    l.toxicity(0.5);
  }
  REQUIRE_NOTHROW(c.reset());
  pgha::Node& p = c.primary();
  pgha::Node& s = c.standby();
  pgha::detail::Toxics t = pgha::detail::LinkAccess::of(s.replication_link()).relay().toxics();
  CHECK(t.delay.count() == 0);
  CHECK(t.jitter.count() == 0);
  CHECK(t.bandwidth == 0);
  CHECK(t.limit == 0);
  CHECK(t.slow_close.count() == 0);
  CHECK(t.reset_after.count() == 0);
  CHECK(t.timeout[0].count() + t.timeout[1].count() == 0);
  CHECK(t.slicer[0].average + t.slicer[1].average == 0);
  CHECK(t.toxicity == 1.0);
  CHECK_FALSE(s.replication_link().is_cut());
  CHECK(p.query("SELECT count(*) FROM pg_replication_slots WHERE slot_type = 'logical'").value(0, 0) == "0");
  CHECK(p.query("SELECT count(*) FROM pg_publication").value(0, 0) == "0");
  CHECK(p.query("SELECT count(*) FROM pg_subscription").value(0, 0) == "0");
  CHECK(test::sync_state(p, s.application_name()) == "streaming/sync");
  // No byte limit left: some 400 kB of WAL cross on the walreceiver's one connection.
  std::string receiver = s.query("SELECT pid FROM pg_stat_wal_receiver").value(0, 0);
  p.execute("CREATE TABLE big AS SELECT md5(i::text) AS v FROM generate_series(1, 5000) i");
  p.wait_for_catchup(s);
  CHECK(s.query("SELECT pid FROM pg_stat_wal_receiver").value(0, 0) == receiver);
}
