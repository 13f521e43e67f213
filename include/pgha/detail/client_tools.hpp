// pgha/detail/client_tools.hpp: pg_basebackup and pg_rewind, used only when a
// version-matched one exists (server-only builds ship neither). Both run as the server
// user, so the files they write have the right owner.
#pragma once

#include <string>

#include "pgha/detail/node_state.hpp"
#include "pgha/detail/replication.hpp"

namespace pgha::detail {

inline int run_tool(NodeState& target, const std::vector<std::string>& argv,
                    const std::string& log_name) {
  SpawnSpec spec;
  spec.argv = argv;
  spec.log_file = target.dir().root() + "/" + log_name;
  spec.cwd = target.dir().root();
  spec.run_as = target.dir().run_as();
  spec.env = {"LC_ALL=C", "LANG=C", "PGAPPNAME=pgha"};
  ::unlink(spec.log_file.c_str());
  return run(spec, target.opts().timeout);
}

// Copies `source` into target.data with pg_basebackup (streaming the WAL it needs).
inline void basebackup(NodeState& target, NodeState& source) {
  const Binaries& b = target.bins();
  const std::string& tool = b.pg_basebackup;
  if (tool.empty())
    throw SetupError("CloneMethod::BaseBackup needs pg_basebackup " + std::to_string(b.major) +
                     ", and none was found in '" + b.bin_dir + "' or /usr/lib/postgresql/" +
                     std::to_string(b.major) + "/bin; use CloneMethod::BackupApi");
  const std::string& data = target.dir().data();
  int rc = run_tool(target,
                    {tool, "-D", data, "-h", source.dir().socket_dir(), "-p",
                     std::to_string(source.dir().port()), "-U", "postgres", "-X", "stream",
                     "-c", "fast", "--no-sync"},
                    "pg_basebackup.log");
  if (rc != 0)
    throw SetupError("pg_basebackup from " + source.label() + " failed (exit " +
                         std::to_string(rc) + "); expected a copy of its data directory",
                     target.label(), tail_lines(target.dir().root() + "/pg_basebackup.log"));
  ::chmod(data.c_str(), 0700);
  for (const char* f : {"/pgha.conf", "/standby.signal", "/recovery.conf", "/recovery.done"})
    ::unlink((data + f).c_str());
}

// Replaces target.data with a clone of `source`, with the configured method.
inline void clone_from(NodeState& target, NodeState& source) {
  CloneMethod m = target.opts().clone_method;
  StepEvent ev(target.dir().name(), "clone", [&](Event& e) { bool bb = m == CloneMethod::BaseBackup || (m == CloneMethod::Auto && !target.bins().pg_basebackup.empty()); e.message = std::string("cloned from ") + source.dir().name() + (bb ? " with pg_basebackup" : " with the backup API"); e.facts = {{"peer", source.dir().name()}, {"method", bb ? "pg_basebackup" : "backup API"}}; });
  // A server that died on its own leaves its SysV segment: remove it (when provably that
  // server's) before its postmaster.pid goes with the old data.
  remove_postmaster_shm(target.dir().data() + "/postmaster.pid");
  remove_tree(target.dir().data());  // a fresh node's empty dir, or a diverged node's old data
  if (m == CloneMethod::BaseBackup ||
      (m == CloneMethod::Auto && !target.bins().pg_basebackup.empty())) {
    basebackup(target, source);
  } else {
    make_owned_dir(target.dir().data(), target.dir().run_as());
    clone_data(target, source);
  }
}

// Rewinds the stopped target onto the new primary's timeline. False if pg_rewind
// failed (the caller re-clones); the reason is left in <root>/pg_rewind.log.
inline bool rewind(NodeState& target, NodeState& source) {
  // Right after a promote the new primary's control file still shows the old timeline
  // until its end-of-recovery checkpoint, and pg_rewind then says "no rewind required".
  source.admin_query("CHECKPOINT");
  std::vector<std::string> argv = {target.bins().pg_rewind, "--target-pgdata=" + target.dir().data(),
                                   "--source-server=" + source.dir().admin_conninfo(), "--no-sync"};
  int rc = run_tool(target, argv, "pg_rewind.log");
  // pg_rewind copies the source's configuration files and leaves no standby
  // configuration: the next start rewrites pgha.conf and the standby files.
  return rc == 0;
}

}  // namespace pgha::detail
