// pgha/detail/proc_info.hpp: what /proc says about a process (Linux only): its children,
// its title, its state, its parent and start time. One parser reads /proc/<pid>/stat for
// all of them. Nothing here changes a process; a pid read here may be reused by the time
// the caller acts on it, which is why an identity pairs the pid with its start time.
#pragma once

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/types.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

namespace pgha::detail {

// The fields of /proc/<pid>/stat that pgha reads.
struct ProcStat {
  char state = '?';              // field 3: 'R', 'S', 'D', 'T' stopped, 'Z' zombie, ...
  int ppid = 0;                  // field 4: the parent's pid
  unsigned long long start = 0;  // field 22: start time, clock ticks since boot
};

// Reads /proc/<pid>/stat into `out`; false (and `out` unchanged) if the process is gone or
// the line is not as expected. The command name (field 2, in parentheses) may hold spaces
// and ')' (a thread may name itself "a) b"; prctl(PR_SET_NAME) takes any bytes), so the
// fields are read after the LAST ')'. No allocation: safe where memory may be short.
inline bool read_proc_stat(int pid, ProcStat& out) noexcept {
  if (pid <= 0) return false;
  char path[32];
  std::snprintf(path, sizeof path, "/proc/%d/stat", pid);
  int fd = ::open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  char buf[1024];  // a name of at most 64 bytes, then 19 numbers before field 22
  ssize_t n;
  do n = ::read(fd, buf, sizeof buf - 1); while (n < 0 && errno == EINTR);
  ::close(fd);
  if (n <= 0) return false;
  buf[n] = '\0';
  const char* p = std::strrchr(buf, ')');
  if (!p || p[1] != ' ' || p[2] == '\0' || p[2] == ' ') return false;
  ProcStat s;
  s.state = p[2];
  p += 2;  // at field 3; each step moves to the start of the next field
  for (int field = 4; field <= 22; ++field) {
    p = std::strchr(p, ' ');
    if (!p) return false;
    ++p;
    if (field == 4) s.ppid = static_cast<int>(std::strtol(p, nullptr, 10));
    if (field == 22) s.start = std::strtoull(p, nullptr, 10);
  }
  out = s;
  return true;
}

// Parent pid and start time of a process. Together they name one process: a reused pid
// has another start time (cancel.hpp signals a backend only when both still match).
struct ProcIdentity {
  int ppid = 0;
  unsigned long long start = 0;
};
inline bool read_proc_identity(int pid, ProcIdentity& out) noexcept {
  ProcStat s;
  if (!read_proc_stat(pid, s)) return false;
  out.ppid = s.ppid;
  out.start = s.start;
  return true;
}

// Direct children of a process (postgres backends, walsender, walreceiver, ...).
inline std::vector<pid_t> child_pids(pid_t parent) {
  std::vector<pid_t> out;
  std::ifstream f("/proc/" + std::to_string(parent) + "/task/" + std::to_string(parent) +
                  "/children");
  if (f) {
    pid_t p;
    while (f >> p) out.push_back(p);
    return out;
  }
  // Kernels without CONFIG_PROC_CHILDREN: scan /proc for the parent pid.
  if (DIR* d = ::opendir("/proc")) {
    while (dirent* e = ::readdir(d)) {
      pid_t p = static_cast<pid_t>(std::atoi(e->d_name));
      ProcStat st;
      if (p > 0 && read_proc_stat(p, st) && st.ppid == parent) out.push_back(p);
    }
    ::closedir(d);
  }
  return out;
}

// The command line of a process as shown by ps ("postgres: walreceiver ..."), or "".
inline std::string process_title(pid_t pid) {
  std::ifstream f("/proc/" + std::to_string(pid) + "/cmdline");
  std::string s((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  for (auto& c : s) if (c == '\0') c = ' ';
  while (!s.empty() && s.back() == ' ') s.pop_back();
  return s;
}

// Whether a server child's title ("postgres: <cluster_name>: <type> <details>", or without
// the cluster name when it is empty) is of process type `type` ("walsender", "background
// writer"): the words right after the prefix, followed by a space or the end.
inline bool is_process_type(const std::string& title, const std::string& cluster_name,
                            const std::string& type) {
  std::string prefix = "postgres: " + (cluster_name.empty() ? std::string() : cluster_name + ": ");
  if (title.compare(0, prefix.size(), prefix) != 0) return false;
  if (title.compare(prefix.size(), type.size(), type) != 0) return false;
  std::size_t end = prefix.size() + type.size();
  return end == title.size() || title[end] == ' ';
}

// The state letter of /proc/<pid>/stat ('R', 'S', 'T' stopped, 'Z' zombie), or '?'.
inline char process_state(pid_t pid) {
  ProcStat s;
  return read_proc_stat(pid, s) ? s.state : '?';
}

// True for a process stopped by SIGSTOP (freeze()).
inline bool process_stopped(pid_t pid) { return process_state(pid) == 'T'; }

// True while the process exists and is not a zombie.
inline bool process_alive(pid_t pid) {
  if (pid <= 0 || ::kill(pid, 0) != 0) return false;
  ProcStat s;  // unreadable: kill() said it exists, so it counts as alive
  return !read_proc_stat(pid, s) || s.state != 'Z';
}

// "pid starttime" of a process, from /proc/<pid>/stat (field 22), or "" if it is gone.
// A zombie is gone: where PID 1 does not reap orphans (a container without an init),
// a dead test process or watcher stays a zombie for good.
inline std::string process_identity(pid_t pid) {
  ProcStat s;
  if (!read_proc_stat(pid, s) || s.state == 'Z') return {};
  return std::to_string(pid) + " " + std::to_string(s.start);
}

}  // namespace pgha::detail
