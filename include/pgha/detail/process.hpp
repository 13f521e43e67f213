// pgha/detail/process.hpp: spawning and reaping server processes. Servers are launched
// as our own children (not through pg_ctl, whose postmaster is re-parented to PID 1 and
// lingers as a zombie after SIGKILL), each in its own process group, with exec failure
// reported through a close-on-exec pipe, and with privileges dropped when we are root.
#pragma once

#include <dirent.h>
#include <fcntl.h>
#include <grp.h>
#include <signal.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <poll.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "pgha/detail/privilege.hpp"
#include "pgha/error.hpp"

extern char** environ;

namespace pgha::detail {

struct SpawnSpec {
  std::vector<std::string> argv;
  std::string log_file;  // stdout+stderr appended here; empty = /dev/null
  std::string cwd = "/";
  RunAs run_as;
  std::vector<std::string> env;  // extra NAME=value entries (override inherited ones)
  int stdin_fd = -1;             // becomes the child's stdin; -1 = /dev/null
};

class Fd {
public:
  explicit Fd(int fd = -1) noexcept : fd_(fd) {}
  Fd(Fd&& o) noexcept : fd_(o.release()) {}
  Fd& operator=(Fd&& o) noexcept { reset(o.release()); return *this; }
  ~Fd() { reset(); }
  int get() const noexcept { return fd_; }
  int release() noexcept { int f = fd_; fd_ = -1; return f; }
  void reset(int f = -1) noexcept { if (fd_ >= 0) ::close(fd_); fd_ = f; }
private:
  int fd_;
};

// Starts a process; returns its pid once exec succeeded. Throws SetupError if it did not.
inline pid_t spawn(const SpawnSpec& spec) {
  std::vector<char*> argv;
  for (auto& a : spec.argv) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  std::vector<std::string> env_store;
  for (char** e = environ; e && *e; ++e) {
    std::string s(*e);
    bool overridden = false;
    for (auto& x : spec.env)
      if (s.compare(0, x.find('=') + 1, x, 0, x.find('=') + 1) == 0) overridden = true;
    if (!overridden) env_store.push_back(s);
  }
  for (auto& x : spec.env) env_store.push_back(x);
  std::vector<char*> envp;
  for (auto& s : env_store) envp.push_back(const_cast<char*>(s.c_str()));
  envp.push_back(nullptr);

  Fd log(::open(spec.log_file.empty() ? "/dev/null" : spec.log_file.c_str(),
                O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600));
  if (log.get() < 0)
    throw SetupError("cannot open log file '" + spec.log_file + "': " + std::strerror(errno));
  if (spec.run_as.drop && !spec.log_file.empty())
    (void)::fchown(log.get(), spec.run_as.uid, spec.run_as.gid);
  Fd devnull(::open("/dev/null", O_RDONLY | O_CLOEXEC));
  int p[2];
  if (::pipe2(p, O_CLOEXEC) != 0)
    throw SetupError(std::string("pipe2 failed: ") + std::strerror(errno));
  Fd rd(p[0]), wr(p[1]);

  pid_t pid = ::fork();
  if (pid < 0) throw SetupError(std::string("fork failed: ") + std::strerror(errno));
  if (pid == 0) {
    // Child: only async-signal-safe calls until exec.
    auto fail = [&](int s) {
      int msg[2] = {s, errno};
      (void)!::write(wr.get(), msg, sizeof msg);
      ::_exit(127);
    };
    ::setpgid(0, 0);
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    for (int s = 1; s < 32; ++s)
      if (s != SIGKILL && s != SIGSTOP) ::signal(s, SIG_DFL);
    if (::dup2(spec.stdin_fd >= 0 ? spec.stdin_fd : devnull.get(), 0) < 0) fail(1);
    if (::dup2(log.get(), 1) < 0 || ::dup2(log.get(), 2) < 0) fail(2);
    if (spec.run_as.drop) {
      if (::setgroups(0, nullptr) != 0) fail(3);
      if (::setgid(spec.run_as.gid) != 0) fail(4);
      if (::setuid(spec.run_as.uid) != 0) fail(5);
    }
    if (::chdir(spec.cwd.c_str()) != 0) fail(6);
    ::umask(077);
    ::execve(argv[0], argv.data(), envp.data());
    fail(7);
  }
  wr.reset();
  int msg[2];
  ssize_t n;
  do n = ::read(rd.get(), msg, sizeof msg); while (n < 0 && errno == EINTR);
  if (n == static_cast<ssize_t>(sizeof msg)) {
    int st;
    ::waitpid(pid, &st, 0);
    static const char* steps[] = {"", "redirect stdin", "redirect output", "setgroups",
                                  "setgid", "setuid", "chdir", "exec"};
    std::string what = (msg[0] >= 1 && msg[0] <= 7) ? steps[msg[0]] : "start";
    throw SetupError("could not start '" + spec.argv[0] + "': " + what + " failed: " +
                     std::strerror(msg[1]) +
                     (spec.run_as.drop ? " (running as user '" + spec.run_as.user + "')" : ""));
  }
  return pid;
}

// Waits up to `limit` for child `pid` to exit. True (and *status) if it did.
// Uses a pidfd so the wait is an event, not a polling loop; falls back to 1 ms polling.
inline bool wait_exit(pid_t pid, std::chrono::milliseconds limit, int* status = nullptr) {
  int st = 0;
  auto deadline = std::chrono::steady_clock::now() + limit;
#ifdef SYS_pidfd_open
  Fd pfd(static_cast<int>(::syscall(SYS_pidfd_open, pid, 0)));
#else
  Fd pfd;
#endif
  for (;;) {
    pid_t r = ::waitpid(pid, &st, WNOHANG);
    if (r == pid || (r < 0 && errno == ECHILD)) {
      if (status) *status = (r == pid) ? st : 0;
      return true;
    }
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return false;
    if (pfd.get() >= 0) {
      pollfd p{pfd.get(), POLLIN, 0};
      ::poll(&p, 1, static_cast<int>(left.count()) + 1);
    } else {
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
  }
}

// Runs a program to completion with a deadline; returns its exit status (-1 on signal).
// Its output goes to `log_file`. On timeout the process group is killed and
// TimeoutError is thrown.
inline int run(const SpawnSpec& spec, std::chrono::milliseconds limit) {
  pid_t pid = spawn(spec);
  int st = 0;
  if (!wait_exit(pid, limit, &st)) {
    ::kill(-pid, SIGKILL);
    wait_exit(pid, std::chrono::seconds(5), &st);
    throw TimeoutError("'" + spec.argv[0] + "' did not finish within " +
                       std::to_string(limit.count()) + " ms and was killed");
  }
  return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
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

}  // namespace pgha::detail
