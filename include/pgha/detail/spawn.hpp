// pgha/detail/spawn.hpp: starting and reaping child processes. Servers are launched as
// our own children (not through pg_ctl, whose postmaster is re-parented to PID 1 and
// lingers as a zombie after SIGKILL), each in its own process group, with exec failure
// reported through a close-on-exec pipe, and with privileges dropped when we are root.
// run() is the same for programs that run to completion (initdb, pg_basebackup, nft).
#pragma once

#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "pgha/detail/fd.hpp"
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
  int stdout_fd = -1;            // becomes the child's stdout (stderr still goes to log_file)
  bool die_with_parent = false;  // SIGKILL the child if the spawning thread dies (run())
};

struct LinuxDirent64 {  // the record getdents64(2) returns; glibc does not declare it
  std::uint64_t d_ino;
  std::int64_t d_off;
  unsigned short d_reclen;
  unsigned char d_type;
  char d_name[1];
};

// Closes every descriptor >= 3 except `keep`, so a child never holds the test process's
// files, sockets or pipes (a pipe held open by a server hides EOF from its reader for as
// long as the server lives). Runs between fork and exec: async-signal-safe calls only.
// close_range(2) (Linux 5.9) when available and wanted; else the entries of /proc/self/fd
// read with getdents64; else every number up to RLIMIT_NOFILE (at most 65536).
inline void close_inherited_fds(int keep, bool try_close_range = true) noexcept {
  unsigned k = keep >= 3 ? static_cast<unsigned>(keep) : 0;
#ifdef SYS_close_range
  if (try_close_range) {
    bool ok = k == 0 ? ::syscall(SYS_close_range, 3u, ~0u, 0u) == 0
                     : (k == 3 || ::syscall(SYS_close_range, 3u, k - 1, 0u) == 0) &&
                           ::syscall(SYS_close_range, k + 1, ~0u, 0u) == 0;
    if (ok) return;
  }
#else
  (void)try_close_range;
#endif
  int dir = ::open("/proc/self/fd", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir >= 0) {
    alignas(8) char buf[4096];
    long n;
    while ((n = ::syscall(SYS_getdents64, dir, buf, sizeof buf)) > 0) {
      for (long off = 0; off < n;) {
        auto* e = reinterpret_cast<LinuxDirent64*>(buf + off);
        off += e->d_reclen;
        int fd = 0;
        const char* c = e->d_name;
        if (*c < '0' || *c > '9') continue;  // "." and ".."
        while (*c >= '0' && *c <= '9') fd = fd * 10 + (*c++ - '0');
        if (fd >= 3 && fd != keep && fd != dir) ::close(fd);
      }
    }
    ::close(dir);
    return;
  }
  rlimit rl{};
  int top = ::getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < 65536
                ? static_cast<int>(rl.rlim_cur) : 65536;
  for (int fd = 3; fd < top; ++fd)
    if (fd != keep) ::close(fd);
}

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

  pid_t parent = ::getpid();
  pid_t pid = ::fork();
  if (pid < 0) throw SetupError(std::string("fork failed: ") + std::strerror(errno));
  if (pid == 0) {
    // Child: only async-signal-safe calls until exec.
    int err_fd = wr.get();
    auto fail = [&](int s) {
      int msg[2] = {s, errno};
      (void)!::write(err_fd, msg, sizeof msg);
      ::_exit(127);
    };
    ::setpgid(0, 0);
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    for (int s = 1; s < 32; ++s)
      if (s != SIGKILL && s != SIGSTOP) ::signal(s, SIG_DFL);
    // Every source first moves to a number >= 3, so no dup2 below overwrites another
    // source (a test that closed its stdin gets pipes and files on 0, 1 or 2).
    if (err_fd < 3) err_fd = ::fcntl(err_fd, F_DUPFD_CLOEXEC, 3);
    int in = ::fcntl(spec.stdin_fd >= 0 ? spec.stdin_fd : devnull.get(), F_DUPFD_CLOEXEC, 3);
    int out = ::fcntl(spec.stdout_fd >= 0 ? spec.stdout_fd : log.get(), F_DUPFD_CLOEXEC, 3);
    int err = ::fcntl(log.get(), F_DUPFD_CLOEXEC, 3);
    if (err_fd < 0 || in < 0 || out < 0 || err < 0) fail(8);
    if (::dup2(in, 0) < 0) fail(1);
    if (::dup2(out, 1) < 0 || ::dup2(err, 2) < 0) fail(2);
    close_inherited_fds(err_fd);
    if (spec.run_as.drop) {
      if (::setgroups(0, nullptr) != 0) fail(3);
      if (::setgid(spec.run_as.gid) != 0) fail(4);
      if (::setuid(spec.run_as.uid) != 0) fail(5);
    }
    // After setuid, which clears it. The check catches a parent that died before.
    if (spec.die_with_parent &&
        (::prctl(PR_SET_PDEATHSIG, SIGKILL) != 0 || ::getppid() != parent))
      ::_exit(127);
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
                                  "setgid", "setuid", "chdir", "exec", "dup"};
    std::string what = (msg[0] >= 1 && msg[0] <= 8) ? steps[msg[0]] : "start";
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
// Its stderr (and stdout, unless `output` is given) goes to `log_file`; with `output`, its
// stdout is captured there through a pipe. No shell is involved, so paths with spaces or
// quotes need no quoting. The child dies with the calling thread (PR_SET_PDEATHSIG): a
// test process killed during initdb does not leave an orphaned initdb writing on.
// On timeout the process group is killed and TimeoutError is thrown.
inline int run(const SpawnSpec& spec, std::chrono::milliseconds limit,
               std::string* output = nullptr) {
  SpawnSpec s = spec;
  s.die_with_parent = true;
  Fd rd;
  Fd wr;
  if (output) {
    int p[2];
    if (::pipe2(p, O_CLOEXEC) != 0)
      throw SetupError(std::string("pipe2 failed: ") + std::strerror(errno));
    rd.reset(p[0]);
    wr.reset(p[1]);
    s.stdout_fd = wr.get();
  }
  auto deadline = std::chrono::steady_clock::now() + limit;
  pid_t pid = spawn(s);
  wr.reset();
  auto left = [&] {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
  };
  bool timed_out = false;
  if (output) {
    output->clear();
    char buf[4096];
    for (;;) {
      auto ms = left().count();
      if (ms <= 0) { timed_out = true; break; }
      pollfd p{rd.get(), POLLIN, 0};
      int r = ::poll(&p, 1, static_cast<int>(ms) + 1);
      if (r < 0 && errno == EINTR) continue;
      if (r <= 0) continue;
      ssize_t n = ::read(rd.get(), buf, sizeof buf);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) break;  // EOF: every holder of the write end is gone
      output->append(buf, static_cast<size_t>(n));
    }
  }
  int st = 0;
  if (timed_out || !wait_exit(pid, std::max(left(), std::chrono::milliseconds(0)), &st)) {
    ::kill(-pid, SIGKILL);
    wait_exit(pid, std::chrono::seconds(5), &st);
    throw TimeoutError("'" + spec.argv[0] + "' did not finish within " +
                       std::to_string(limit.count()) + " ms and was killed");
  }
  return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

}  // namespace pgha::detail
