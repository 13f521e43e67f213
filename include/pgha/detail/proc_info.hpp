// pgha/detail/proc_info.hpp: what /proc says about a process (Linux only): its children,
// its title, its state, its parent and start time. One parser reads /proc/<pid>/stat for
// all of them. Nothing here changes a process; a pid read here may be reused by the time
// the caller acts on it, which is why an identity pairs the pid with its start time.
#pragma once

#include <dirent.h>
#include <signal.h>
#include <sys/types.h>

#include <cstdlib>
#include <fstream>
#include <iterator>
#include <sstream>
#include <string>
#include <vector>

namespace pgha::detail {

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
      if (p <= 0) continue;
      std::ifstream s("/proc/" + std::string(e->d_name) + "/stat");
      std::string line;
      std::getline(s, line);
      auto rp = line.rfind(')');
      if (rp == std::string::npos) continue;
      std::istringstream rest(line.substr(rp + 2));
      char state;
      pid_t ppid = 0;
      rest >> state >> ppid;
      if (ppid == parent) out.push_back(p);
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
  std::ifstream s("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  std::getline(s, line);
  auto rp = line.rfind(')');
  return (rp == std::string::npos || rp + 2 >= line.size()) ? '?' : line[rp + 2];
}

// True for a process stopped by SIGSTOP (freeze()).
inline bool process_stopped(pid_t pid) { return process_state(pid) == 'T'; }

// True while the process exists and is not a zombie.
inline bool process_alive(pid_t pid) {
  if (pid <= 0 || ::kill(pid, 0) != 0) return false;
  std::ifstream s("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  std::getline(s, line);
  auto rp = line.rfind(')');
  return rp == std::string::npos || rp + 2 >= line.size() || line[rp + 2] != 'Z';
}

// "pid starttime" of a process, from /proc/<pid>/stat (field 22), or "" if it is gone.
// A zombie is gone: where PID 1 does not reap orphans (a container without an init),
// a dead test process or watcher stays a zombie for good.
inline std::string process_identity(pid_t pid) {
  std::ifstream f("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  if (!std::getline(f, line)) return {};
  auto rp = line.rfind(')');
  if (rp == std::string::npos) return {};
  std::istringstream rest(line.substr(rp + 2));
  std::string field;
  if (!(rest >> field) || field == "Z") return {};  // field 3: the state
  for (int i = 4; i <= 22 && (rest >> field); ++i) {}
  return std::to_string(pid) + " " + field;
}

}  // namespace pgha::detail
