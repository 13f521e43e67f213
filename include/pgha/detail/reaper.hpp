// pgha/detail/reaper.hpp: no server outlives its test process. RAII covers normal
// exits; a crash of the test process (SIGKILL, abort) skips every destructor. So the
// first node of a process starts a watcher, a tiny shell process in its own session that
// reads node directories from a pipe. When the pipe's write end closes (the kernel does
// that when the test process dies, however it dies, whatever thread created the node),
// the watcher kills the servers of the directories still registered (SIGKILL to the
// postmaster and its children, then removes the SysV segment) and removes the directories. Directories left by a watcher that was itself killed are
// swept by the next process: each node directory names its owner (pid + start time).
#pragma once

#include <dirent.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <ctime>
#include <fstream>
#include <mutex>
#include <set>
#include <sstream>
#include <string>

#include "pgha/detail/files.hpp"
#include "pgha/detail/process.hpp"

namespace pgha::detail {

inline const char* kWatcherScript = R"SH(
trap '' INT HUP TERM QUIT PIPE
dirs=''
while IFS= read -r line; do
  case "$line" in
    +*) dirs="$dirs
${line#+}" ;;
    -*) dirs=$(printf '%s\n' "$dirs" | grep -vxF -- "${line#-}") ;;
  esac
done
printf '%s\n' "$dirs" | while IFS= read -r d; do
  [ -n "$d" ] || continue
  pf="$d/data/postmaster.pid"
  if [ -f "$pf" ]; then
    pid=$(head -n1 "$pf")
    if [ -n "$pid" ] && tr '\0' ' ' < "/proc/$pid/cmdline" 2>/dev/null | grep -qF -- "$d/data"; then
      kids=$(cat "/proc/$pid/task/$pid/children" 2>/dev/null)
      kill -KILL "$pid" $kids 2>/dev/null
      i=0
      while [ $i -lt 250 ] && [ -d "/proc/$pid" ] && ! grep -q ') Z' "/proc/$pid/stat" 2>/dev/null; do
        sleep 0.02; i=$((i+1))
      done
      shmid=$(sed -n 7p "$pf" | awk '{print $2}')
      [ -n "$shmid" ] && ipcrm -m "$shmid" 2>/dev/null
    fi
  fi
  rm -rf "$d"
done
)SH";

// "pid starttime" of a process, from /proc/<pid>/stat (field 22), or "" if it is gone.
inline std::string process_identity(pid_t pid) {
  std::ifstream f("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  if (!std::getline(f, line)) return {};
  auto rp = line.rfind(')');
  if (rp == std::string::npos) return {};
  std::istringstream rest(line.substr(rp + 2));
  std::string field;
  for (int i = 3; i <= 22 && (rest >> field); ++i) {}
  return std::to_string(pid) + " " + field;
}

class Reaper {
public:
  // Registers a node directory; starts the watcher (and sweeps `base`) on first use.
  void watch(const std::string& root, const std::string& base) {
    std::lock_guard<std::mutex> lock(mu_);
    if (owner_ != ::getpid()) start_watcher();  // first use, or we are a fork()ed child
    if (swept_.insert(base).second) sweep(base);
    write_file(root + "/owner", process_identity(::getpid()) + "\n", RunAs{});
    send("+" + root);
  }
  // Unregisters a directory that was cleaned up (or is kept on purpose).
  void forget(const std::string& root) noexcept {
    std::lock_guard<std::mutex> lock(mu_);
    if (owner_ == ::getpid()) send("-" + root);
  }
  pid_t watcher_pid() const noexcept { return watcher_; }

private:
  void start_watcher() {
    int p[2];
    if (::pipe2(p, O_CLOEXEC) != 0) return;  // no watcher: RAII still cleans normal exits
    Fd rd(p[0]);
    pipe_.reset(p[1]);
    SpawnSpec spec;
    spec.argv = {"/bin/sh", "-c", kWatcherScript, "pgha-watcher"};
    spec.stdin_fd = rd.get();
    try {
      watcher_ = spawn(spec);
      owner_ = ::getpid();
    } catch (...) {
      pipe_.reset();
    }
  }
  void send(const std::string& line) noexcept {
    std::string l = line + "\n";
    if (pipe_.get() >= 0) (void)!::write(pipe_.get(), l.data(), l.size());
  }
  // Removes node directories whose owning process is gone, stopping their servers.
  static void sweep(const std::string& base) {
    DIR* d = ::opendir(base.c_str());
    if (!d) return;
    std::unique_ptr<DIR, int (*)(DIR*)> guard(d, ::closedir);
    while (dirent* e = ::readdir(d)) {
      std::string name = e->d_name;
      if (name.rfind("pgha-node-", 0) != 0) continue;
      std::string root = base + "/" + name;
      std::string owner = read_file(root + "/owner");
      struct stat st{};
      if (::stat(root.c_str(), &st) != 0) continue;
      if (::access((root + "/keep").c_str(), F_OK) == 0) continue;  // PGHA_KEEP=1
      if (owner.empty() && std::time(nullptr) - st.st_mtime < 60) continue;  // being created
      std::istringstream o(owner);
      pid_t pid = 0;
      o >> pid;
      if (!owner.empty() && process_identity(pid) + "\n" == owner) continue;  // owner alive
      std::istringstream pf(read_file(root + "/data/postmaster.pid"));
      pid_t pm = 0;
      if (pf >> pm && pm > 0 && process_title(pm).find(root + "/data") != std::string::npos)
        kill_server(pm, root + "/data/postmaster.pid", std::chrono::seconds(1));
      remove_tree(root);
    }
  }
  std::mutex mu_;
  pid_t owner_ = 0;
  pid_t watcher_ = 0;
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
