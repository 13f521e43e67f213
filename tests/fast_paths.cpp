// tests/fast_paths.cpp: the default fast paths and their fallbacks, each asserted by the
// state it leaves (timeline, sync_state, rows on each node), never by timing.
// A standby of a primary that came from pgha's template starts as a copy of that template
// and replays the primary's WAL (CloneMethod::TemplateCopy, chosen by Auto); a promoted
// upstream, one that recycled the WAL, or one of another template gets a real backup.
#include <sys/stat.h>

#include <boost/filesystem.hpp>

#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

#include "support.hpp"

using namespace std::chrono_literals;

namespace {
bool exists(const std::string& p) {
  struct stat st{};
  return ::stat(p.c_str(), &st) == 0;
}
// A template copy starts from the template's shutdown checkpoint: no backup_label ever
// existed in it. The backup API leaves backup_label.old with LABEL: pgha.
bool from_template(pgha::Node& n) {
  return !exists(n.data_dir() + "/backup_label.old") && !exists(n.data_dir() + "/backup_label") &&
         !exists(n.data_dir() + "/../pg_basebackup.log");
}
bool from_backup_api(pgha::Node& n) {
  std::string label = pgha::detail::read_file(n.data_dir() + "/backup_label.old");
  return label.find("LABEL: pgha\n") != std::string::npos;
}
std::uint32_t timeline(pgha::Node& n) { return pgha::detail::NodeAccess::of(n).current_timeline(); }
std::string count(pgha::Node& n, const std::string& table = "test") {
  return n.query("SELECT count(*) FROM " + table).value(0, 0);
}
// Settings with which a primary keeps only ~2 MB of WAL (1 MB segments).
pgha::Options small_wal_keep() {
  pgha::Options o;
  if (test::binaries().major >= 13) o.settings["wal_keep_size"] = "2MB";
  else o.settings["wal_keep_segments"] = "2";
  o.settings["max_wal_size"] = "32MB";
  o.settings["min_wal_size"] = "2MB";
  return o;
}
}  // namespace

TEST_CASE("a standby of a primary with data starts as a copy of its template and replays its WAL") {
  pgha::TempPrimary node1;
  node1.execute("create table test (id int); insert into test select generate_series(1, 1000)");
  pgha::TempStandby node2(node1);
  CHECK(from_template(node2));
  // Ready means caught up: every row the primary had is there as soon as the constructor returns.
  CHECK(count(node2) == "1000");
  CHECK(test::sync_state(node1) == "streaming/sync");
  CHECK(timeline(node1) == 1);
  CHECK(timeline(node2) == 1);
  CHECK(test::in_recovery(node2));
  // The standby replays the primary's later writes, and the passwords set after the copy.
  node1.execute("insert into test values (1001)");
  CHECK(count(node2) == "1001");
  pgha::Connection c(node2.conninfo());  // SCRAM with the primary's generated password
  CHECK(c.execute("SELECT 1").value(0, 0) == "1");
  // A second standby of the same primary takes the same path and becomes potential.
  pgha::TempStandby node3(node1);
  CHECK(from_template(node3));
  CHECK(count(node3) == "1001");
  CHECK(test::sync_state(node1, node3.application_name()) == "streaming/potential");
  // Failover onto a template copy works like onto any standby.
  node1.stop();
  node2.promote();
  CHECK(timeline(node2) == 2);
  CHECK(node1.rejoin(node2) == pgha::RejoinMethod::Resumed);
  node2.execute("insert into test values (1002)");  // waits for its sync standby, node1
  CHECK(count(node1) == "1002");
  CHECK(test::sync_state(node2) == "streaming/sync");
}

TEST_CASE("CloneMethod::TemplateCopy forced on a fresh primary") {
  pgha::Options o;
  o.clone_method = pgha::CloneMethod::TemplateCopy;
  pgha::TempPrimary node1(o);
  pgha::TempStandby node2(node1);
  CHECK(from_template(node2));
  node1.execute("create table test (id int); insert into test values (1)");
  CHECK(count(node2) == "1");
  CHECK(test::sync_state(node1) == "streaming/sync");
}

TEST_CASE("a template copy shows a commit that waited for a sync standby when it was made") {
  pgha::TempPrimary node1;
  node1.execute("create table test (id int); insert into test values (1)");
  { pgha::TempStandby gone(node1); }  // armed, and its sync standby is gone: commits wait
  pgha::PendingQuery pending = node1.execute_async("insert into test values (2)");
  REQUIRE_FALSE(pending.wait_for(200ms));
  CHECK(test::wait_event(node1, pending.backend_pid()) == "SyncRep");
  pgha::TempStandby node2(node1);  // pgslave002: potential, and sync while pgslave001 is gone
  CHECK(from_template(node2));
  REQUIRE(pending.wait_for(10s));
  CHECK(pending.get().command_status() == "INSERT 0 1");
  // Visible at once, with no later write or checkpoint on node1.
  CHECK(test::ids(node2) == std::vector<int>{1, 2});
  std::string xid = node1.query("SELECT xmin FROM test WHERE id = 2").value(0, 0);
  CHECK(node2.query("SELECT txid_status(" + xid + ")").value(0, 0) == "committed");
}

TEST_CASE("a standby of a promoted node takes a real backup, and TemplateCopy says why not") {
  pgha::TempPrimary node1;
  node1.execute("create table test (id int); insert into test values (1)");
  pgha::TempStandby node2(node1);
  REQUIRE(from_template(node2));
  node1.stop();
  node2.promote();  // timeline 2: a template copy would replay timeline 1 only
  node2.execute("SET synchronous_commit = local; insert into test values (2)");
  pgha::TempStandby node3(static_cast<pgha::Node&>(node2));
  CHECK(from_backup_api(node3));
  CHECK(timeline(node3) == 2);
  CHECK(test::ids(node3) == std::vector<int>{1, 2});
  CHECK(test::sync_state(node2, node3.application_name()) == "streaming/sync");
  pgha::Options forced = node2.options();
  forced.name.clear();
  forced.port = 0;
  forced.clone_method = pgha::CloneMethod::TemplateCopy;
  CHECK_THROWS_AS(pgha::TempStandby(node2, forced), pgha::SetupError);
  CHECK_THROWS_WITH(pgha::TempStandby(node2, forced),
                    Catch::Matchers::ContainsSubstring("switched timelines"));
}

TEST_CASE("a standby of a primary that recycled the template's WAL takes a real backup") {
  pgha::TempPrimary node1(small_wal_keep());
  node1.execute("create table test (id int); insert into test values (1)");
  // Several MB of WAL, then checkpoints: the template's checkpoint segment is recycled.
  node1.execute("create table filler as select g, repeat('x', 200) as pad from generate_series(1, 40000) g");
  node1.execute("CHECKPOINT");
  node1.execute("SELECT pg_switch_wal()");
  node1.execute("CHECKPOINT");
  pgha::TempStandby node2(node1);
  CHECK(from_backup_api(node2));
  CHECK(timeline(node2) == 1);
  CHECK(test::ids(node2) == std::vector<int>{1});
  CHECK(count(node2, "filler") == "40000");
  CHECK(test::sync_state(node1) == "streaming/sync");
  pgha::Options forced = node1.options();
  forced.name.clear();
  forced.port = 0;
  forced.clone_method = pgha::CloneMethod::TemplateCopy;
  CHECK_THROWS_WITH(pgha::TempStandby(node1, forced),
                    Catch::Matchers::ContainsSubstring("recycled WAL"));
}

TEST_CASE("a standby whose template is another than its primary's takes a real backup") {
  char tmpl[] = "/tmp/pgha-fast-paths-XXXXXX";
  REQUIRE(::mkdtemp(tmpl) != nullptr);
  ::chmod(tmpl, 0755);
  std::string other_base = tmpl;
  {
    pgha::TempPrimary node1;
    node1.execute("create table test (id int); insert into test values (1)");
    pgha::Options o = node1.options();
    o.name.clear();
    o.port = 0;
    o.tmp_dir = other_base;  // its own template there: another initdb, another system id
    pgha::TempStandby node2(node1, o);
    CHECK(from_backup_api(node2));
    CHECK(test::ids(node2) == std::vector<int>{1});
    CHECK(test::sync_state(node1) == "streaming/sync");
    CHECK(timeline(node2) == 1);
  }
  CHECK(pgha::detail::remove_tree(other_base));
}

TEST_CASE("a user-chosen backup method is used even where the template copy applies") {
  pgha::Options o;
  o.clone_method = pgha::CloneMethod::BackupApi;
  pgha::TempPrimary node1(o);
  node1.execute("create table test (id int); insert into test values (1)");
  pgha::TempStandby node2(node1);
  CHECK(from_backup_api(node2));
  CHECK(test::ids(node2) == std::vector<int>{1});
  CHECK(test::sync_state(node1) == "streaming/sync");
}

TEST_CASE("a crash failover repairs with a re-clone by default") {
  pgha::TempPrimary node1;
  pgha::TempStandby node2(node1);
  node1.execute("create table test (id int); insert into test values (1)");
  {
    pgha::FailoverGuard g(node1, node2, pgha::StopMode::Crash);
    CHECK(timeline(node2) == 2);
    node2.execute("SET synchronous_commit = local; insert into test values (2)");
    CHECK(g.rejoin() == pgha::RejoinMethod::Recloned);
    CHECK(from_backup_api(node1));  // node2 is on timeline 2: no template copy
    CHECK(test::ids(node1) == std::vector<int>{1, 2});
    CHECK(test::sync_state(node2) == "streaming/sync");
  }
  CHECK(node2.role() == pgha::Role::Primary);
  CHECK(node1.role() == pgha::Role::Standby);
  CHECK(test::ids(node1) == std::vector<int>{1, 2});
}

// The spare copy of the template (made in the background after a node took one) is per
// temp dir: a node never takes one from another directory, and nodes made at the same
// time by several threads each get a whole copy of their own.
TEST_CASE("pairs made at once by four threads, in two temp dirs, each work on their own copy") {
  std::string other = "/dev/shm/pgha-fast-paths-other";
  pgha::detail::remove_tree(other);
  REQUIRE(::mkdir(other.c_str(), 0711) == 0);
  std::vector<std::string> failures(4);
  std::vector<std::string> dirs(4);
  std::vector<std::thread> threads;
  for (int i = 0; i < 4; ++i)
    threads.emplace_back([&, i] {
      try {
        pgha::Options o;
        if (i % 2) o.tmp_dir = other;
        pgha::TempPrimary p(o);
        pgha::TempStandby s(p);
        p.execute("CREATE TABLE test (id int); INSERT INTO test SELECT generate_series(1, " +
                  std::to_string(i + 1) + ")");
        dirs[i] = p.data_dir() + " " + s.data_dir();
        if (count(s) != std::to_string(i + 1)) failures[i] = "standby has " + count(s) + " rows";
        if (!from_template(s)) failures[i] += " standby not from the template";
      } catch (const std::exception& e) {
        failures[i] = e.what();
      }
    });
  for (auto& t : threads) t.join();
  for (int i = 0; i < 4; ++i) {
    CAPTURE(i, dirs[i]);
    CHECK(failures[i] == "");
    std::string base = (i % 2 ? other : pgha::detail::temp_base("")) + "/";
    CHECK(dirs[i].rfind(base + "pgha-node-", 0) == 0);
    CHECK(dirs[i].find(" " + base + "pgha-node-") != std::string::npos);
  }
  REQUIRE(pgha::detail::background().wait_idle(10s));
  pgha::detail::remove_tree(other);  // its spare copy, if any: nothing runs there
}

TEST_CASE("while the background thread is held a node still gets its copy, and removals wait for the hold's end") {
  { pgha::TempPrimary warm; }  // the template and its spare exist
  REQUIRE(pgha::detail::background().wait_idle(10s));
  std::string gone;
  {
    pgha::detail::Background::Hold hold;
    // The first takes the spare; the second finds the next copy queued behind the hold and
    // waits for it: the thread makes it while held (else: a 30 s wait, then its own copy).
    pgha::TempPrimary a;
    pgha::TempPrimary b;
    CHECK(a.query("SELECT 1").value(0, 0) == "1");
    CHECK(b.query("SELECT 1").value(0, 0) == "1");
    gone = a.data_dir();
    boost::filesystem::path root = boost::filesystem::path(gone).parent_path();
    std::string base = root.parent_path().string(), name = root.filename().string();
    { pgha::TempPrimary moved(std::move(a)); }  // destroyed: renamed to pgha-gone-*, removal queued
    CHECK_FALSE(boost::filesystem::exists(gone));
    int held = 0;  // the renamed directory is still there: its removal waits for the hold
    for (boost::filesystem::directory_iterator it(base), end; it != end; ++it) {
      std::string f = it->path().filename().string();
      if (f.rfind("pgha-gone-", 0) == 0 && f.size() > name.size() && f.compare(f.size() - name.size(), name.size(), name) == 0) ++held;
    }
    CHECK(held == 1);
    CHECK_FALSE(pgha::detail::background().wait_idle(0ms));
  }
  REQUIRE(pgha::detail::background().wait_idle(10s));  // the held work ran after the hold
}
