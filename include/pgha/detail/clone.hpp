// pgha/detail/clone.hpp: how a node gets its data from another: the clone strategy
// (clone_from: a copy of the template plus the source's WAL when that is enough, else a
// real backup) and the repair of a diverged node (rewind). pg_basebackup and pg_rewind are
// used only when a version-matched one exists (server-only builds ship neither); both run
// as the server user, so the files they write have the right owner.
#pragma once

#include <string>

#include "pgha/detail/node_state.hpp"
#include "pgha/detail/replication.hpp"
#include "pgha/detail/template.hpp"

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

// How a clone was made, and what its start must wait for besides streaming.
struct CloneOutcome {
  bool from_template = false;  // a copy of the template: replays upstream's WAL after start
  std::string catch_up_lsn;    // upstream's WAL end when copied: replayed before it is ready
};

// Whether `target` can start as a copy of the template `source` was made from: `source` is
// a primary with the same system identifier as that template, still on the template's
// timeline, whose pg_wal still holds the template's checkpoint segment (segments go oldest
// first, so it holds every later one too), and which wrote at most half its wal_keep_* since
// (so nothing the copy needs is recycled while it starts). Returns "" when it applies,
// else why not; `lsn` is then upstream's WAL end.
inline std::string template_copy_blocker(NodeState& target, NodeState& source,
                                         const TemplateInfo& t, std::string& lsn) {
  if (source.topo().standby()) return "the upstream is a standby (only a primary's WAL is checked)";
  if (t.system_id == 0) return "the template's pg_control is unreadable";
  std::string ck = sql_literal(format_lsn(t.checkpoint)) + "::pg_lsn";
  std::string keep = target.bins().major >= 13
                         ? "pg_size_bytes(current_setting('wal_keep_size'))"
                         : "current_setting('wal_keep_segments')::bigint * "
                           "pg_size_bytes(current_setting('wal_segment_size'))";
  Rows r;
  try {
    r = source.admin_query(
        "SELECT pg_is_in_recovery(), system_identifier::text, CASE WHEN NOT pg_is_in_recovery() "
        "THEN substr(pg_walfile_name(pg_current_wal_lsn()), 1, 8) END, CASE WHEN NOT "
        "pg_is_in_recovery() THEN (pg_stat_file('pg_wal/' || pg_walfile_name(" + ck +
        "), true)).size IS NOT NULL END, CASE WHEN NOT pg_is_in_recovery() THEN "
        "(pg_current_wal_lsn() - " + ck + ") * 2 <= " + keep + " END, "
        "CASE WHEN NOT pg_is_in_recovery() THEN pg_current_wal_lsn()::text END "
        "FROM pg_control_system()");
  } catch (const Error& e) {
    return std::string("the upstream could not be asked (") + e.what() + ")";
  }
  if (r.value(0, 0) == "t") return "the upstream is in recovery";
  if (r.value(0, 1) != std::to_string(static_cast<long long>(t.system_id)))
    return "the upstream was not created from this template (another system identifier)";
  char tli[16];
  std::snprintf(tli, sizeof tli, "%08X", t.timeline);
  if (r.value(0, 2) != tli)
    return "the upstream switched timelines since the template (it was promoted)";
  if (r.value(0, 3) != "t") return "the upstream recycled WAL since the template's checkpoint";
  if (r.value(0, 4) != "t")
    return "the upstream wrote more than half its wal_keep_* since the template's checkpoint";
  lsn = r.value(0, 5);
  return {};
}

// Replaces target.data with a clone of `source`, with the configured method (`allow_template`
// false: a real backup even when Auto would copy the template).
inline CloneOutcome clone_from(NodeState& target, NodeState& source, bool allow_template = true) {
  CloneMethod m = target.opts().clone_method;
  std::string method;  // set by the branch taken, reported when the step ends
  StepEvent ev(target.dir().name(), "clone", [&](Event& e) {
    e.message = "cloned from " + source.dir().name() + " with " +
                (method == "template copy" ? "a copy of its template" : "the " + method);
    if (method == "pg_basebackup") e.message = "cloned from " + source.dir().name() + " with pg_basebackup";
    e.facts = {{"peer", source.dir().name()}, {"method", method}};
  });
  // A server that died on its own leaves its SysV segment: remove it (when provably that
  // server's) before its postmaster.pid goes with the old data.
  remove_postmaster_shm(target.dir().data() + "/postmaster.pid");
  background().remove(target.dir().data());  // a fresh node's empty dir, or a diverged node's old data
  CloneOutcome out;
  if (m == CloneMethod::TemplateCopy || (m == CloneMethod::Auto && allow_template)) {
    const NodeDir& d = target.dir();
    TemplateInfo t = template_info(
        ensure_template(d.bins(), d.run_as(), d.base(), target.opts().timeout));
    std::string why = template_copy_blocker(target, source, t, out.catch_up_lsn);
    if (why.empty()) {
      make_owned_dir(d.data(), d.run_as());
      background().fresh_copy(t.data, d.base(), d.data(), d.run_as());
      out.from_template = true;
      method = "template copy";
      return out;
    }
    if (m == CloneMethod::TemplateCopy)
      throw SetupError("CloneMethod::TemplateCopy does not apply: " + why +
                           "; expected a primary created from pgha's template that never "
                           "switched timelines. Use CloneMethod::Auto or BackupApi",
                       target.label());
  }
  if (m == CloneMethod::BaseBackup) {
    basebackup(target, source);
    method = "pg_basebackup";
  } else {
    make_owned_dir(target.dir().data(), target.dir().run_as());
    clone_data(target, source);
    method = "backup API";
  }
  return out;
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
