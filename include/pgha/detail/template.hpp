// pgha/detail/template.hpp: a cached initdb per (binaries, server user). initdb costs
// 0.4-1.5 s; copying a finished data directory costs ~50 ms on tmpfs. The template is
// built once, in a temporary directory renamed into place, so concurrent processes
// never see a half-built one.
#pragma once

#include <sys/stat.h>

#include <chrono>
#include <functional>
#include <mutex>
#include <string>

#include "pgha/detail/binaries.hpp"
#include "pgha/detail/config.hpp"
#include "pgha/detail/files.hpp"
#include "pgha/detail/process.hpp"
#include "pgha/detail/reaper.hpp"
#include "pgha/events.hpp"

namespace pgha::detail {

inline const char* kTemplateFormat = "t1";  // bump when the template's contents change

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
  SpawnSpec spec;
  spec.argv = {b.bin_dir + "/initdb", "-D", data, "-U", "postgres", "-A", "trust", "-E", "UTF8",
               "--no-locale", "--no-sync", "--wal-segsize=1"};
  spec.log_file = tmp + "/initdb.log";
  spec.cwd = tmp;
  spec.run_as = ra;
  spec.env = {"LC_ALL=C", "LANG=C"};
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
  ::unlink((tmp + "/owner").c_str());  // a finished template belongs to everyone
  ::unlink((tmp + "/watcher").c_str());
  if (::rename(tmp.c_str(), final_dir.c_str()) != 0) remove_tree(tmp);  // another process won
  reaper().forget(tmp);
  return final_dir + "/data";
}

}  // namespace pgha::detail
