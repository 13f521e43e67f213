// tests/version_paths.cpp: prints one Markdown row saying which code paths the discovered
// PostgreSQL binaries take, read off a real run: a pair, a clean failover and rejoin, a
// crash failover and rejoin. scripts/test-matrix.sh collects the rows into the README's
// version table.
#include <pgha/pgha.hpp>
#include <unistd.h>

#include <boost/filesystem.hpp>
#include <iostream>

namespace fs = boost::filesystem;

int main() try {
  pgha::TempPrimary a;
  pgha::TempStandby b(a);
  std::string root = fs::path(b.data_dir()).parent_path().string();
  std::string standby_cfg = fs::exists(b.data_dir() + "/recovery.conf") ? "recovery.conf"
                            : fs::exists(b.data_dir() + "/standby.signal") ? "standby.signal"
                                                                           : "?";
  std::string clone = fs::exists(root + "/pg_basebackup.log")       ? "pg_basebackup"
                      : fs::exists(b.data_dir() + "/backup_label.old") ? "backup API"
                                                                        : "template copy";
  std::string keep = a.server_version_num() >= 130000 ? "wal_keep_size = " + a.query("SHOW wal_keep_size").value(0, 0)
                                                      : "wal_keep_segments = " + a.query("SHOW wal_keep_segments").value(0, 0);
  std::string backup = a.server_version_num() >= 150000 ? "pg_backup_start/stop" : "pg_start/stop_backup";
  std::string promote = a.server_version_num() >= 120000 ? "pg_promote()" : "promote file + SIGUSR1";
  a.execute("create table t (x int); insert into t values (1)");
  a.stop();
  b.promote();
  std::string clean = pgha::to_string(a.rejoin(b));
  pgha::RejoinMethod crash;
  {
    pgha::FailoverGuard g(b, a, pgha::StopMode::Crash);
    crash = g.rejoin();
  }
  bool ok = a.query("SELECT count(*) FROM t").value(0, 0) == "1" &&
            b.query("SELECT count(*) FROM t").value(0, 0) == "1";
  std::cout << "| " << a.server_version_num() / 10000 << "." << a.server_version_num() % 100
            << " | " << a.bin_dir() << " | " << standby_cfg << " | " << keep << " | " << backup
            << " | " << promote << " | " << clone << " | " << clean << " | "
            << pgha::to_string(crash) << " |\n";
  return ok ? 0 : 1;
} catch (const std::exception& e) {
  std::cerr << "version_paths failed: " << e.what() << "\n";
  return 1;
}
