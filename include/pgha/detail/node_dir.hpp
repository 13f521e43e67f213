// pgha/detail/node_dir.hpp: a node's private directory and what lives in it: the data
// directory, the Unix socket directory, the server log, the WAL archive, the port lease,
// and the configuration files pgha writes. Created once, removed once, and only by the
// process that created it: a fork()ed child that exits never removes its parent's node.
#pragma once

#include <sys/mount.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <iostream>
#include <mutex>
#include <string>

#include "pgha/detail/background.hpp"
#include "pgha/detail/binaries.hpp"
#include "pgha/detail/config.hpp"
#include "pgha/detail/file_ops.hpp"
#include "pgha/detail/live_nodes.hpp"
#include "pgha/detail/ports.hpp"
#include "pgha/detail/privilege.hpp"
#include "pgha/detail/quote.hpp"
#include "pgha/detail/reaper.hpp"
#include "pgha/detail/temp_base.hpp"
#include "pgha/options.hpp"

namespace pgha::detail {

class NodeDir {
public:
  NodeDir() = default;
  NodeDir(const NodeDir&) = delete;
  NodeDir& operator=(const NodeDir&) = delete;

  // Creates the directories (mode 0700, owned by the server user), registers them with the
  // watcher and reserves the port. On failure nothing is left behind.
  void create(const Options& opts, const Binaries& bins, const RunAs& ra, const std::string& name) {
    bins_ = bins;
    ra_ = ra;
    name_ = name;
    creator_ = ::getpid();
    base_ = temp_base(opts.tmp_dir);  // resolved once: the node, its template and spare share it
    check_traversable(base_, ra_);  // a clear error instead of a start-up timeout
    root_ = make_private_dir(base_, "pgha-node-", ra_);
    try {
      reaper().watch(root_, base_);
      data_ = root_ + "/data";
      sock_ = root_ + "/sock";
      check_socket_dir(sock_);  // the socket path must fit in sun_path (107 bytes)
      log_ = root_ + "/server.log";
      make_owned_dir(data_, ra_);
      make_owned_dir(sock_, ra_);
      if (opts.archive) {
        archive_ = root_ + "/archive";
        make_owned_dir(archive_, ra_, 0755);
      }
      lease_ = reserve_port(opts.port);
      fixed_port_ = opts.port != 0;
      live_nodes().add({this, name_, lease_.port(), log_});
    } catch (...) {
      destroy();
      throw;
    }
  }

  const Binaries& bins() const noexcept { return bins_; }
  const RunAs& run_as() const noexcept { return ra_; }
  const std::string& name() const noexcept { return name_; }
  /// The server's cluster_name: the node's name with every byte outside printable ASCII as
  /// '_', so every version shows it verbatim in its process titles ("postgres: <cluster_name>:
  /// walsender ..."; PostgreSQL itself masks such bytes, differently before and after 16).
  std::string cluster_name() const {
    std::string c = name_;
    for (char& ch : c)
      if (static_cast<unsigned char>(ch) < 32 || static_cast<unsigned char>(ch) > 126) ch = '_';
    return c;
  }
  const std::string& root() const noexcept { return root_; }
  /// The temporary base the node lives under (Options::tmp_dir, PGHA_TMPDIR, /dev/shm,
  /// TMPDIR or /tmp), resolved once when the node was created: its template copies and
  /// spare directories are made there too, on the same file system.
  const std::string& base() const noexcept { return base_; }
  const std::string& data() const noexcept { return data_; }
  const std::string& socket_dir() const noexcept { return sock_; }
  const std::string& log() const noexcept { return log_; }
  const std::string& archive() const noexcept { return archive_; }
  int port() const noexcept { return lease_.port(); }
  bool fixed_port() const noexcept { return fixed_port_; }
  /// Whether this process created the node (and so may stop and remove it).
  bool owned_here() const noexcept { return creator_ == ::getpid(); }

  std::string label() const { return name_ + " (port " + std::to_string(port()) + ")"; }
  std::string log_tail(int lines = 20) const { return tail_lines(log_, lines); }

  // The library's own connection: the private Unix socket, trust authentication.
  std::string admin_conninfo() const {
    return conninfo_param("host", sock_) + " port=" + std::to_string(port()) +
           " user=postgres dbname=postgres application_name=pgha";
  }

  // A port lost to another program between reservation and bind: take a fresh one.
  void replace_port() {
    lease_ = reserve_port(0);
    live_nodes().set_port(this, lease_.port());
  }

  // pgha.conf (included by postgresql.conf) and the standby files of this version:
  // PG 12+ use standby.signal; PG 11 ignores it (and would come up as a primary): it
  // needs recovery.conf, which 12+ refuse to start with.
  void write_config(const ConfigInput& in) const {
    write_file(data_ + "/pgha.conf", render_conf(in), ra_);
    std::string signal = data_ + "/standby.signal", recovery = data_ + "/recovery.conf";
    ::unlink(signal.c_str());
    ::unlink(recovery.c_str());
    if (in.standby) {
      if (bins_.major >= 12) write_file(signal, "", ra_);
      else write_file(recovery, render_recovery_conf(in), ra_);
    }
  }

  // --- Node::exhaust_wal_space ---
  /// Mounts a file system of one page over pg_wal (tmpfs, owned by the server's user): the
  /// server keeps writing into the WAL segment it has open, and the next segment it creates
  /// fails with ENOSPC, as on a full disk (the segments before are hidden meanwhile: a crash
  /// recovery finds no checkpoint record, so a server that crashes stays down).
  /// SetupError, saying what is missing, where mounting is not allowed (not root, no
  /// CAP_SYS_ADMIN).
  void limit_wal_space() {
    if (wal_limited_) return;
    const std::string wal = data_ + "/pg_wal", marker = root_ + "/wal-mount";
    write_file(marker, "a tmpfs over data/pg_wal (Node::exhaust_wal_space)\n", RunAs{});
    const std::string opts = "size=4k,nr_inodes=64,mode=0700,uid=" + std::to_string(ra_.uid) +
                             ",gid=" + std::to_string(ra_.gid);
    if (::mount("pgha-full-wal", wal.c_str(), "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, opts.c_str()) != 0) {
      const int e = errno;
      ::unlink(marker.c_str());
      throw SetupError("pgha::Node::exhaust_wal_space: could not mount a size-limited tmpfs over " + wal + ": " +
                           std::strerror(e) + "; expected root (or CAP_SYS_ADMIN): a full WAL disk is a mount "
                           "of its own here",
                       label());
    }
    wal_limited_ = true;
  }
  /// Lifts limit_wal_space(): the WAL written before it is back in place. Never throws.
  void unlimit_wal_space() noexcept {
    if (!wal_limited_) return;
    const std::string wal = data_ + "/pg_wal", marker = root_ + "/wal-mount";
    // Lazy (MNT_DETACH): a server process may still hold the mount's files open.
    if (::umount2(wal.c_str(), MNT_DETACH) == 0 || errno == EINVAL) {
      ::unlink(marker.c_str());
      wal_limited_ = false;
    }
  }
  bool wal_space_limited() const noexcept { return wal_limited_; }
  /// Whether limit_wal_space() can work here (a probe mount, once per process).
  static bool wal_space_limit_available(std::string* why) {
    static std::once_flag once;
    static std::string reason;
    std::call_once(once, [] {
      char tmpl[] = "/tmp/pgha-mount-probe-XXXXXX";
      if (!::mkdtemp(tmpl)) {
        reason = std::string("mkdtemp failed: ") + std::strerror(errno);
        return;
      }
      if (::mount("pgha-probe", tmpl, "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, "size=4k") != 0)
        reason = std::string("mount(2) of a tmpfs failed: ") + std::strerror(errno) +
                 " (needs root or CAP_SYS_ADMIN)";
      else
        ::umount2(tmpl, MNT_DETACH);
      ::rmdir(tmpl);
    });
    if (why) *why = reason;
    return reason.empty();
  }

  // Removes the directory (PGHA_KEEP=1 keeps it) and releases the port. The server must
  // be stopped by then. In a process that did not create the node: does nothing.
  void destroy() noexcept {
    if (root_.empty() || !owned_here()) return;
    unlimit_wal_space();  // a mount point cannot be removed
    try {
      live_nodes().remove(this);  // before the log file goes
      const char* keep = std::getenv("PGHA_KEEP");
      if (keep && std::string(keep) == "1") {
        std::cerr << "pgha: PGHA_KEEP=1: kept " << name_ << " at " << root_ << " (log: " << log_
                  << "); its server is stopped\n";
        write_file(root_ + "/keep", "kept by PGHA_KEEP=1; later sweeps leave it alone\n", RunAs{});
        reaper().forget(root_);
      } else if (std::uncaught_exceptions() > 0) {
        remove_tree(root_);  // a failed setup: nothing is left when the error arrives
        reaper().forget(root_);
      } else {
        background().remove(root_);  // renamed now, removed in the background
      }
      lease_.release();
    } catch (...) {
    }
    root_.clear();
  }

private:
  Binaries bins_;
  RunAs ra_;
  std::string name_, base_, root_, data_, sock_, log_, archive_;
  PortLease lease_;
  bool fixed_port_ = false;
  bool wal_limited_ = false;  // limit_wal_space() mounted a tmpfs over pg_wal
  pid_t creator_ = 0;
};

}  // namespace pgha::detail
