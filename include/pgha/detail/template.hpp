// pgha/detail/template.hpp: a cached initdb per (binaries, server user). initdb costs
// 0.4-1.5 s; copying a finished data directory costs ~50 ms on tmpfs. The template is
// built once, in a temporary directory renamed into place, so concurrent processes
// never see a half-built one.
#pragma once

#include <sys/stat.h>

#include <dirent.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <mutex>
#include <exception>
#include <string>
#include <thread>
#include <vector>

#include "pgha/detail/binaries.hpp"
#include "pgha/detail/config.hpp"
#include "pgha/detail/file_ops.hpp"
#include "pgha/detail/postmaster_pid.hpp"
#include "pgha/detail/reaper.hpp"
#include "pgha/detail/spawn.hpp"
#include "pgha/events.hpp"
#include "pgha/detail/wal_history.hpp"

namespace pgha::detail {

inline const char* kTemplateFormat = "t3";  // bump when the template's contents change

// What a standby copied from a template needs to know about it: the shutdown checkpoint
// every copy starts from, and the cluster's system identifier (all copies share it).
struct TemplateInfo {
  std::string data;              // the template's data directory
  std::uint64_t system_id = 0;   // pg_control's system_identifier
  std::uint64_t checkpoint = 0;  // LSN of its shutdown checkpoint (= redo point)
  std::uint32_t timeline = 0;    // timeline of that checkpoint
};

inline TemplateInfo template_info(const std::string& data) {
  TemplateInfo t;
  t.data = data;
  std::string raw = read_file(data + "/global/pg_control");
  ControlInfo c = read_control(data);
  if (raw.size() < 8 || !c.ok) return t;
  std::memcpy(&t.system_id, raw.data(), 8);
  t.checkpoint = c.checkpoint;
  t.timeline = c.timeline;
  return t;
}

// Removes every WAL segment but the shutdown checkpoint's: a cleanly shut down cluster
// reads only its checkpoint record at the next start; older segments are dead, later ones
// are recycled files the server would overwrite (it creates new ones as needed). Every
// byte left out is one less to copy per node. Segment names are TTTTTTTTLLLLLLLLSSSSSSSS
// (timeline, then the segment number split at 4 GB); with `seg_bytes` segments.
inline void trim_template_wal(const std::string& data, std::uint64_t checkpoint,
                              std::uint64_t seg_bytes) {
  if (seg_bytes == 0) return;
  std::uint64_t keep_from = checkpoint / seg_bytes, per_id = 0x100000000ull / seg_bytes;
  std::string wal = data + "/pg_wal";
  DIR* d = ::opendir(wal.c_str());
  if (!d) return;
  std::vector<std::string> drop;
  while (dirent* e = ::readdir(d)) {
    std::string name = e->d_name;
    if (name.size() != 24 || name.find_first_not_of("0123456789ABCDEF") != std::string::npos) continue;
    std::uint64_t hi = std::strtoull(name.substr(8, 8).c_str(), nullptr, 16);
    std::uint64_t lo = std::strtoull(name.substr(16, 8).c_str(), nullptr, 16);
    if (hi * per_id + lo != keep_from) drop.push_back(wal + "/" + name);
  }
  ::closedir(d);
  for (auto& f : drop) ::unlink(f.c_str());
}

// initdb as pgha runs it for its template (pgha_bench times the same as the floor).
inline SpawnSpec initdb_spec(const Binaries& b, const std::string& data, const std::string& log,
                             const std::string& cwd, const RunAs& ra) {
  SpawnSpec spec;
  spec.argv = {b.bin_dir + "/initdb", "-D", data, "-U", "postgres", "-A", "trust", "-E", "UTF8",
               "--no-locale", "--no-sync", "--wal-segsize=1"};
  spec.log_file = log;
  spec.cwd = cwd;
  spec.run_as = ra;
  spec.env = {"LC_ALL=C", "LANG=C"};
  return spec;
}

// Returns the template's data directory, building it on first use.
inline std::string ensure_template(const Binaries& b, const RunAs& ra, const std::string& base,
                                   std::chrono::milliseconds timeout) {
  static std::mutex mu;
  std::lock_guard<std::mutex> lock(mu);
  std::string root = base + "/pgha-templates";
  if (::mkdir(root.c_str(), 01777) == 0) ::chmod(root.c_str(), 01777);
  std::string key = "pg" + b.version + "-u" + std::to_string(ra.uid) + "-" +
                    std::to_string(std::hash<std::string>{}(b.bin_dir) % 1000000007ull) + "-" +
                    kTemplateFormat;
  std::string final_dir = root + "/" + key;
  struct stat st{};
  if (::stat((final_dir + "/data/PG_VERSION").c_str(), &st) == 0) return final_dir + "/data";
  StepEvent built("", "template", [&](Event& e) { e.message = "initdb template of PostgreSQL " + b.version + " built in " + final_dir; });
  emit("", "progress", "building the initdb template of PostgreSQL " + b.version + " (once per version and user) ...");

  std::string tmp = make_private_dir(root, "build-", ra);
  // Owned and watched like a node directory: if this process is killed during initdb
  // (which then dies with it), the watcher or the next process's sweep removes the build.
  // Everything below that throws must call discard().
  auto discard = [&] {
    remove_postmaster_shm(tmp + "/data/postmaster.pid");  // a killed single-user postgres
    remove_tree(tmp);
    reaper().forget(tmp);
  };
  try {
    reaper().watch(tmp, base);
  } catch (...) {
    discard();
    throw;
  }
  ::chmod(tmp.c_str(), 0755);
  std::string data = tmp + "/data";
  SpawnSpec spec = initdb_spec(b, data, tmp + "/initdb.log", tmp, ra);
  int rc;
  try {
    rc = run(spec, timeout + std::chrono::seconds(60));
  } catch (...) {
    discard();
    throw;
  }
  if (rc != 0) {
    std::string log = tail_lines(spec.log_file);
    discard();
    throw SetupError("initdb failed (exit " + std::to_string(rc) + ") with binaries in '" +
                         b.bin_dir + "'; expected it to create a data directory",
                     "initdb", log);
  }
  // Every node includes its own pgha.conf; pg_hba is the same for all nodes.
  {
    std::ofstream f(data + "/postgresql.conf", std::ios::app);
    f << "\n# pgha: per-node settings\ninclude_if_exists = 'pgha.conf'\n";
  }
  try {
    write_file(data + "/pg_hba.conf", render_hba(), ra);
  } catch (...) {
    discard();
    throw;
  }
  // pg_control records the settings a hot standby must match or exceed (max_connections,
  // max_worker_processes, max_wal_senders, max_prepared_transactions,
  // max_locks_per_transaction), and a standby started as a copy of this template checks
  // them before it replays anything: initdb's 100 connections would stop a node with 40.
  // One single-user run with the minimum of each records values every node exceeds.
  SpawnSpec single;
  single.argv = {b.bin_dir + "/postgres", "--single", "-D", data, "-c", "max_connections=1",
                 "-c", "superuser_reserved_connections=0", "-c", "max_worker_processes=0",
                 "-c", "max_wal_senders=0", "-c", "max_prepared_transactions=0",
                 "-c", "max_locks_per_transaction=10", "-c", "fsync=off", "postgres"};
  single.log_file = tmp + "/single.log";
  single.cwd = tmp;
  single.run_as = ra;
  single.env = spec.env;
  try {
    rc = run(single, timeout);
  } catch (...) {
    discard();
    throw;
  }
  if (rc != 0) {
    std::string log = tail_lines(single.log_file);
    discard();
    throw SetupError("postgres --single on the new template failed (exit " + std::to_string(rc) +
                         "); expected it to record minimal settings in pg_control",
                     "initdb", log);
  }
  trim_template_wal(data, read_control(data).checkpoint, 1u << 20);  // --wal-segsize=1
  ::unlink((tmp + "/owner").c_str());  // a finished template belongs to everyone
  ::unlink((tmp + "/watcher").c_str());
  if (::rename(tmp.c_str(), final_dir.c_str()) != 0) remove_tree(tmp);  // another process won
  reaper().forget(tmp);
  return final_dir + "/data";
}

}  // namespace pgha::detail
