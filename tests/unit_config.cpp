// tests/unit_config.cpp: configuration dialects and parsers, no server.
#include <pgha/pgha.hpp>

#include "catch.hpp"

using namespace pgha::detail;
using Catch::Matchers::ContainsSubstring;

namespace {
ConfigInput standby_input(int major) {
  ConfigInput in;
  in.major = major;
  in.port = 5432;
  in.socket_dir = "/tmp/s";
  in.cluster_name = "n";
  in.standby = true;
  in.primary_conninfo = "host=127.0.0.1 port=6432 user=replicauser application_name=pgslave001";
  in.restore_dir = "/x/archive";
  return in;
}
}  // namespace

TEST_CASE("WAL retention: wal_keep_segments up to 12, wal_keep_size from 13") {
  CHECK(server_settings(standby_input(11)).count("wal_keep_segments") == 1);
  CHECK(server_settings(standby_input(12)).count("wal_keep_size") == 0);
  CHECK(server_settings(standby_input(13)).count("wal_keep_size") == 1);
  CHECK(server_settings(standby_input(18)).count("wal_keep_segments") == 0);
}

TEST_CASE("Async clears synchronous_standby_names even when a user setting lists names") {
  ConfigInput in = standby_input(15);
  in.standby = false;
  in.sync_names = "FIRST 1 (standby1, primary)";
  in.settings["synchronous_standby_names"] = "FIRST 1 (standby1, primary)";
  in.sync_mode = pgha::SyncMode::Async;
  CHECK(server_settings(in).at("synchronous_standby_names") == "");
  CHECK_THAT(render_conf(in), ContainsSubstring("synchronous_standby_names = ''"));
  in.sync_mode = pgha::SyncMode::RemoteApply;  // a sync mode: the user's names win
  CHECK(server_settings(in).at("synchronous_standby_names") == "FIRST 1 (standby1, primary)");
}

TEST_CASE("standby settings: recovery.conf on 11, postgresql.conf on 12+") {
  auto s11 = server_settings(standby_input(11));
  CHECK(s11.count("primary_conninfo") == 0);  // PG 11 refuses to start with it there
  std::string rc = render_recovery_conf(standby_input(11));
  CHECK_THAT(rc, ContainsSubstring("standby_mode = 'on'"));
  CHECK_THAT(rc, ContainsSubstring("recovery_target_timeline = 'latest'"));
  CHECK_THAT(rc, ContainsSubstring("application_name=pgslave001"));
  CHECK_THAT(rc, ContainsSubstring("restore_command = 'test -f ''/x/archive''/%f && cp ''/x/archive''/%f %p'"));
  auto s16 = server_settings(standby_input(16));
  // 12+ default to 'latest'; the setting is restart-only, so pgha does not write it (a
  // promoted node's reload would be refused for dropping it).
  CHECK(s16.count("recovery_target_timeline") == 0);
  CHECK(s16.at("primary_conninfo").find("port=6432") != std::string::npos);
  CHECK(s16.count("promote_trigger_file") == 0);  // removed in 16: refuses to start
}

TEST_CASE("restart-only recovery settings stay as the server started until it restarts") {
  CHECK(restart_only_recovery_settings(11).empty());
  CHECK(restart_only_recovery_settings(12) ==
        std::vector<std::string>{"primary_conninfo", "primary_slot_name", "restore_command"});
  CHECK(restart_only_recovery_settings(13) == std::vector<std::string>{"restore_command"});
  CHECK(restart_only_recovery_settings(14).empty());
  ConfigInput promoted;  // a primary now, still running as it started: a standby of 12
  promoted.major = 12;
  promoted.pinned = {{"primary_conninfo", "host=127.0.0.1 port=1"}};
  auto s = server_settings(promoted);
  CHECK(s.at("primary_conninfo") == "host=127.0.0.1 port=1");
  CHECK(s.count("restore_command") == 0);
}

TEST_CASE("sync modes and user settings") {
  ConfigInput in = standby_input(15);
  in.standby = false;
  in.sync_names = "pgslave001";
  in.sync_mode = pgha::SyncMode::RemoteApply;
  CHECK(server_settings(in).at("synchronous_commit") == "remote_apply");
  CHECK(server_settings(in).at("synchronous_standby_names") == "pgslave001");
  in.sync_mode = pgha::SyncMode::Async;
  CHECK(server_settings(in).at("synchronous_standby_names").empty());
  in.settings["fsync"] = "on";
  CHECK(server_settings(in).at("fsync") == "on");
  CHECK(conf_quote("it's") == "'it''s'");
  CHECK_THAT(render_conf(in), ContainsSubstring("fsync = 'on'"));
}

TEST_CASE("backup function names changed in 15") {
  CHECK_THAT(backup_start_sql(14), ContainsSubstring("pg_start_backup"));
  CHECK_THAT(backup_start_sql(15), ContainsSubstring("pg_backup_start"));
  CHECK_THAT(backup_stop_sql(11), ContainsSubstring("pg_stop_backup(false, false)"));
  CHECK_THAT(backup_stop_sql(18), ContainsSubstring("pg_backup_stop(false)"));
}

TEST_CASE("version strings") {
  int major = 0, num = 0;
  std::string v;
  REQUIRE(parse_version("postgres (PostgreSQL) 15.18 (Debian 15.18-0+deb12u1)", major, num, v));
  CHECK(major == 15);
  CHECK(num == 150018);
  REQUIRE(parse_version("postgres (PostgreSQL) 11.22", major, num, v));
  CHECK(num == 110022);
  REQUIRE(parse_version("postgres (PostgreSQL) 18beta1", major, num, v));
  CHECK(major == 18);
  REQUIRE(parse_version("postgres (PostgreSQL) 9.6.24", major, num, v));
  CHECK(major == 9);  // parsed, so that the range check can name it
  CHECK_FALSE(parse_version("bash: postgres: not found", major, num, v));
}

TEST_CASE("LSNs and timeline history") {
  CHECK(parse_lsn("0/3000108") == 0x3000108ull);
  CHECK(parse_lsn("1/0") == (1ull << 32));
  CHECK(format_lsn(0x10300A0ull) == "0/10300A0");
  std::string hist = "1\t0/3000110\tno recovery target specified\n\n"
                     "2\t0/5000060\tno recovery target specified\n";
  CHECK(switchpoint(hist, 1) == 0x3000110ull);
  CHECK(switchpoint(hist, 2) == 0x5000060ull);
  CHECK(switchpoint(hist, 3) == 0);
  CHECK(parent_timeline(hist) == 2);  // the file of timeline 3: it forked from 2
  CHECK(parent_timeline("1\t0/3000110\tno recovery target specified\n") == 1);
  CHECK(parent_timeline("") == 0);
  CHECK(parent_timeline("# a comment\nnot a line\n") == 0);
  CHECK(history_entries(hist).size() == 2);
  CHECK(history_file_name(3) == "00000003.history");
  CHECK(history_file_name(26) == "0000001A.history");
}

TEST_CASE("base backup leaves out server-private files") {
  CHECK(backup_skips("postmaster.pid", false));
  CHECK(backup_skips("global/pg_control", false));
  CHECK(backup_skips("pg_wal", true));
  CHECK(backup_skips("base/1/pg_internal.init", false));
  CHECK_FALSE(backup_skips("base/1/1259", false));
  CHECK_FALSE(backup_skips("base", true));
}
