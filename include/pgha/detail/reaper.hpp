// pgha/detail/reaper.hpp: no server outlives its test process. RAII covers normal
// exits; a crash of the test process (SIGKILL, abort) skips every destructor. So the
// first node of a process starts a watcher, a tiny shell process in its own session that
// reads node directories from a pipe. When the pipe's write end closes (the kernel does
// that when the test process dies, however it dies, whatever thread created the node),
// the watcher kills the servers of the directories still registered (SIGKILL to the
// postmaster and its children, then removes the SysV segment, also of a server that died
// before) and removes the directories. Template builds are registered the same way.
// Directories left by a watcher that was itself killed are swept by the next process:
// each node directory and template build names its owner (pid + start time).
#pragma once

#include <dirent.h>
#include <pthread.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <ctime>
#include <fstream>
#include <mutex>
#include <new>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <utility>

#include "pgha/detail/file_ops.hpp"
#include "pgha/detail/postmaster_pid.hpp"
#include "pgha/detail/proc_info.hpp"
#include "pgha/detail/spawn.hpp"

namespace pgha::detail {

// The watcher's script. $1 is the identity of the test process (process_identity(), as
// its owner files hold it). It receives one line per change: "+<dir>" registers, "-<dir>"
// unregisters; pgha never sends a path holding a newline (Reaper refuses them), and the
// script never word-splits a path: every path stays one quoted word, lists are read back
// line by line. Before it touches a directory it checks that the directory is pgha's own:
// an absolute path named pgha-node-*, pgha-gone-*, pgha-spare-* or pgha-templates/build-*,
// a real directory (not a symlink), whose owner file (not a symlink) holds exactly $1 (and its newline). So
// a mangled path (a newline in PGHA_TMPDIR once made it remove the part of the path before
// the newline) or anybody else's directory is left alone.
inline const char* kWatcherScript = R"SH(
trap '' INT HUP TERM QUIT PIPE
owner=$1
nl='
'
dirs=$nl  # "\n<dir>\n<dir>\n": each path between two newlines
tables=''  # nftables tables of LinkCut::Drop (packet_drop.hpp)
while IFS= read -r line; do
  case "$line" in
    +/*) dirs="$dirs${line#+}$nl" ;;
    n*) tables="$tables ${line#n}" ;;
    -/*) gone=${line#-}  # no fork per line: the test process may send thousands
         while :; do
           case "$dirs" in
             *"$nl$gone$nl"*) dirs="${dirs%%"$nl$gone$nl"*}$nl${dirs#*"$nl$gone$nl"}" ;;
             *) break ;;
           esac
         done ;;
  esac
done
[ -n "$owner" ] || exit 0
for t in $tables; do
  case "$t" in pgha_[0-9]*_[0-9]*) ;; *) continue ;; esac
  case "$t" in *[!0-9a-z_]*) continue ;; esac
  PATH=$PATH:/usr/sbin:/sbin nft delete table inet "$t" 2>/dev/null
done
printf '%s\n' "$dirs" | while IFS= read -r d; do
  case "$d" in
    /*/pgha-node-?*|/*/pgha-gone-?*|/*/pgha-spare-?*|/*/pgha-templates/build-?*) ;;
    *) continue ;;
  esac
  [ -d "$d" ] && [ ! -L "$d" ] && [ -f "$d/owner" ] && [ ! -L "$d/owner" ] || continue
  [ "$(head -c 200 "$d/owner" 2>/dev/null)" = "$owner" ] || continue
  pf="$d/data/postmaster.pid"
  if [ -f "$pf" ]; then
    pid=$(head -n1 "$pf" | tr -d ' -')
    case "$pid" in *[!0-9]*) pid='' ;; esac
    # Still that server (a single-user postgres of initdb has no -D, but sits in its data dir)?
    if [ -n "$pid" ] && { tr '\0' ' ' < "/proc/$pid/cmdline" 2>/dev/null | grep -qF -- "$d/data" ||
                          [ "$(readlink "/proc/$pid/cwd" 2>/dev/null)" = "$d/data" ]; }; then
      kids=$(cat "/proc/$pid/task/$pid/children" 2>/dev/null)
      kill -KILL "$pid" $kids 2>/dev/null
      i=0
      while [ $i -lt 250 ] && [ -d "/proc/$pid" ] && ! grep -q ') Z' "/proc/$pid/stat" 2>/dev/null; do
        sleep 0.02; i=$((i+1))
      done
    fi
    # The SysV segment, also of a server that died before us: only if provably its own
    # (id and key of line 7, created by the pid of line 1), once nothing is attached.
    set -f
    set -- $(sed -n 7p "$pf")
    set +f
    i=0
    while [ -n "$pid" ] && [ -n "${2:-}" ] && [ $i -lt 250 ]; do
      n=$(awk -v k="$1" -v id="$2" -v p="$pid" '$2 == id && $5 == p {
            q = $1 + 0; if (q < 0) q += 18446744073709551616
            if (q == k + 0) print $7 }' /proc/sysvipc/shm 2>/dev/null)
      [ -n "$n" ] || break
      if [ "$n" = 0 ]; then ipcrm -m "$2" 2>/dev/null; break; fi
      sleep 0.02; i=$((i+1))
    done
  fi
  # Node::exhaust_wal_space's mount over pg_wal (a mount point cannot be removed).
  [ -f "$d/wal-mount" ] && umount -l -- "$d/data/pg_wal" 2>/dev/null
  # A process of a killed initdb may still be writing files for a moment.
  i=0
  while [ -e "$d" ] && [ ! -L "$d" ] && [ $i -lt 20 ]; do
    rm -rf -- "$d" 2>/dev/null || sleep 0.05; i=$((i+1))
  done
done
)SH";

// A path the watcher can be told about: absolute, no newline (its protocol is one path a
// line), no "." or ".." component.
inline bool watchable_path(const std::string& p) noexcept {
  if (p.empty() || p[0] != '/' || p.find('\n') != std::string::npos) return false;
  return p.find("/./") == std::string::npos && p.find("/../") == std::string::npos &&
         (p.size() < 2 || p.compare(p.size() - 2, 2, "/.") != 0) &&
         (p.size() < 3 || p.compare(p.size() - 3, 3, "/..") != 0);
}


class Reaper {
public:
  // A fork() copies mu_ as it is: held, if another thread (the background thread, a thread
  // making a node) had it then, and nobody in the child would ever release it. The child's
  // only thread is the forking one, outside pgha's locks (pgha's own forks exec at once).
  Reaper() {
    instance() = this;
    ::pthread_atfork(nullptr, nullptr, [] {
      if (Reaper* r = instance()) new (&r->mu_) std::mutex;
    });
  }
  // Registers a node directory; starts the watcher (and sweeps `base`) on first use.
  void watch(const std::string& root, const std::string& base) {
    if (!watchable_path(root))
      throw SetupError("pgha: refusing to register the directory '" + root + "' for cleanup: "
                       "expected an absolute path without a newline or a '.'/'..' component "
                       "(check PGHA_TMPDIR, TMPDIR and Options::tmp_dir)");
    std::lock_guard<std::mutex> lock(mu_);
    if (owner_ != ::getpid()) start_watcher();  // first use, or we are a fork()ed child
    if (swept_.insert(base).second) sweep(base);
    // The watcher, too: while it lives, the directory is its job, not a sweep's. (A file
    // of its own: older pgha versions compare the whole owner file with one identity.)
    if (!watcher_identity_.empty())
      write_file(root + "/watcher", watcher_identity_ + "\n", RunAs{});
    write_file(root + "/owner", process_identity(::getpid()) + "\n", RunAs{});
    send("+" + root);
  }
  // Registers a directory that already has its owner files (a node directory under a new
  // name while it is removed in the background).
  void track(const std::string& root) noexcept {
    std::lock_guard<std::mutex> lock(mu_);
    if (owner_ == ::getpid() && watchable_path(root)) send("+" + root);
  }
  // Has the watcher delete this process's nftables table (LinkCut::Drop) when the process
  // dies; starts the watcher if no node did yet.
  void watch_nft_table(const std::string& name) noexcept {
    std::lock_guard<std::mutex> lock(mu_);
    if (owner_ != ::getpid()) start_watcher();
    if (name.find('\n') == std::string::npos) send("n" + name);
  }
  // Unregisters a directory that was cleaned up (or is kept on purpose).
  void forget(const std::string& root) noexcept {
    std::lock_guard<std::mutex> lock(mu_);
    if (owner_ == ::getpid() && watchable_path(root)) send("-" + root);
  }

private:
  void start_watcher() {
    int p[2];
    if (::pipe2(p, O_CLOEXEC) != 0) return;  // no watcher: RAII still cleans normal exits
    Fd rd(p[0]);
    pipe_.reset(p[1]);
    SpawnSpec spec;
    spec.argv = {"/bin/sh", "-c", kWatcherScript, "pgha-watcher", process_identity(::getpid())};
    spec.stdin_fd = rd.get();
    try {
      watcher_ = spawn(spec);
      watcher_identity_ = process_identity(watcher_);
      owner_ = ::getpid();
    } catch (...) {
      pipe_.reset();
    }
  }
  void send(const std::string& line) noexcept {
    std::string l = line + "\n";
    if (pipe_.get() >= 0) (void)!::write(pipe_.get(), l.data(), l.size());
  }
  // True if `dir` belongs to no live process: neither the test process in its owner file
  // nor the watcher in its watcher file lives (a sweep racing a working watcher once
  // removed the directory between the watcher's kill and its read of the segment id,
  // leaking the segment), or it has no owner file and is older than a minute (a directory
  // is owned right after mkdtemp; older pgha versions wrote no owner for template builds).
  static bool orphaned(const std::string& dir) {
    struct stat st{};
    // Only a real directory: a symlink named like pgha's points at somebody else's.
    if (::lstat(dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) return false;
    if (::access((dir + "/keep").c_str(), F_OK) == 0) return false;  // PGHA_KEEP=1
    std::string owner = read_file(dir + "/owner");
    if (owner.empty()) return std::time(nullptr) - st.st_mtime >= 60;
    for (const std::string& file : {owner, read_file(dir + "/watcher")}) {
      std::istringstream l(file);
      pid_t pid = 0;
      if (l >> pid && pid > 0 && process_identity(pid) + "\n" == file) return false;  // alive
    }
    return true;
  }
  // Stops the server of an orphaned directory (the postmaster is still ours if its command
  // line names the data dir) and removes its SysV segment, also when it died before.
  // A single-user postgres (initdb's, pg_rewind's) has a negative pid there and no -D,
  // but every postgres works in its data dir.
  static void stop_leftover(const std::string& data) {
    std::string pidfile = data + "/postmaster.pid";
    pid_t pm = 0;
    key_t key;
    int shmid;
    pidfile_shm(pidfile, pm, key, shmid);  // pm is set even when line 7 is missing
    char cwd[4096];
    ssize_t n = pm > 0 ? ::readlink(("/proc/" + std::to_string(pm) + "/cwd").c_str(), cwd,
                                    sizeof cwd - 1)
                       : -1;
    std::string cwd_path = n > 0 ? std::string(cwd, static_cast<std::size_t>(n)) : std::string();
    if (pm > 0 && (process_title(pm).find(data) != std::string::npos || cwd_path == data))
      kill_server(pm, pidfile, std::chrono::seconds(1));
    else
      remove_postmaster_shm(pidfile, std::chrono::seconds(1));
  }
  // Removes node directories and template builds (<base>/pgha-templates/build-*) whose
  // owning process is gone, stopping their servers and removing their segments.
  static void sweep(const std::string& base) {
    for (const auto& [dir, prefix] : {std::pair<std::string, std::string>{base, "pgha-node-"},
                                      {base, "pgha-gone-"},
                                      {base, "pgha-spare-"},
                                      {base + "/pgha-templates", "build-"}}) {
      DIR* d = ::opendir(dir.c_str());
      if (!d) continue;
      std::unique_ptr<DIR, int (*)(DIR*)> guard(d, ::closedir);
      while (dirent* e = ::readdir(d)) {
        std::string name = e->d_name;
        if (name.rfind(prefix, 0) != 0) continue;
        std::string root = dir + "/" + name;
        if (!orphaned(root)) continue;
        stop_leftover(root + "/data");
        if (::access((root + "/wal-mount").c_str(), F_OK) == 0)  // Node::exhaust_wal_space
          ::umount2((root + "/data/pg_wal").c_str(), MNT_DETACH);
        // A process of a killed initdb may still be writing files for a moment.
        for (int i = 0; i < 20 && !remove_tree(root); ++i)
          std::this_thread::sleep_for(std::chrono::milliseconds(50));
      }
    }
  }
  static Reaper*& instance() noexcept {
    static Reaper* r = nullptr;  // constant-initialized: safe in a fork handler
    return r;
  }
  std::mutex mu_;
  pid_t owner_ = 0;
  pid_t watcher_ = 0;
  std::string watcher_identity_;
  Fd pipe_;
  std::set<std::string> swept_;
};

// Never destroyed: nodes in static storage may outlive any other static; the pipe to the
// watcher closes when the process exits.
inline Reaper& reaper() {
  static Reaper* r = new Reaper;
  return *r;
}

}  // namespace pgha::detail
