// tests/unit_mechanics.cpp: process, port, file and shared-memory mechanics, no server.
#include <pgha/pgha.hpp>
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/shm.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <boost/filesystem.hpp>
#include <algorithm>
#include <cerrno>
#include <fstream>
#include <random>

#include "catch.hpp"

using namespace pgha::detail;
using Catch::Matchers::ContainsSubstring;
namespace fs = boost::filesystem;

namespace {
std::string scratch(const std::string& name) {
  std::string d = "/tmp/" + name;
  fs::remove_all(d);
  fs::create_directories(d);
  return d;
}

// Runs `f` in a forked child; true if it returned true there.
template <class F>
bool in_child(F f) {
  pid_t pid = ::fork();
  if (pid == 0) ::_exit(f() ? 0 : 1);
  int st = 0;
  ::waitpid(pid, &st, 0);
  return WIFEXITED(st) && WEXITSTATUS(st) == 0;
}
}  // namespace

TEST_CASE("close_inherited_fds closes everything from 3 on but the one to keep") {
  for (bool use_close_range : {true, false}) {
    CAPTURE(use_close_range);
    CHECK(in_child([&] {
      int a = ::open("/dev/null", O_RDONLY), keep = ::open("/dev/null", O_RDONLY);
      int b = ::open("/dev/null", O_RDONLY), far = ::dup2(a, 900);
      close_inherited_fds(keep, use_close_range);
      auto open = [](int fd) { return ::fcntl(fd, F_GETFD) != -1; };
      return a >= 3 && far == 900 && !open(a) && !open(b) && !open(900) && open(keep) &&
             open(0) && open(1) && open(2);
    }));
  }
}

TEST_CASE("a spawned program holds none of the test process's descriptors") {
  std::string d = scratch("pgha-unit-fds");
  int fd = ::open((d + "/held").c_str(), O_WRONLY | O_CREAT, 0600);  // no O_CLOEXEC
  REQUIRE(fd >= 0);
  SpawnSpec spec;
  spec.argv = {"/bin/ls", "-l", "/proc/self/fd/"};
  std::string out;
  REQUIRE(run(spec, std::chrono::seconds(10), &out) == 0);
  CHECK_THAT(out, ContainsSubstring("/proc/") && !ContainsSubstring(d + "/held"));
  ::close(fd);
  fs::remove_all(d);
}

TEST_CASE("run captures standard output without a shell") {
  SpawnSpec spec;
  spec.argv = {"/bin/echo", "it's a \"quoted\" $HOME"};
  std::string out;
  CHECK(run(spec, std::chrono::seconds(10), &out) == 0);
  CHECK(out == "it's a \"quoted\" $HOME\n");
}

TEST_CASE("fixed ports outside 1024..65535 are SetupErrors and create no lock file") {
  for (int port : {1, 1023, 65536, 70000, -5}) {
    CAPTURE(port);
    std::string lock = "/tmp/pgha-ports/" + std::to_string(port) + ".lock";
    ::unlink(lock.c_str());
    CHECK_THROWS_AS(reserve_port(port), pgha::SetupError);
    CHECK_THROWS_WITH(reserve_port(port), ContainsSubstring("port " + std::to_string(port)) &&
                                              ContainsSubstring("1024 to 65535"));
    CHECK_FALSE(fs::exists(lock));
  }
  CHECK_NOTHROW(check_port(0));
  CHECK_NOTHROW(check_port(1024));
  CHECK_NOTHROW(check_port(65535));
}

TEST_CASE("a port with a connection in TIME_WAIT is free for a server that binds like postgres") {
  int port = 0;
  REQUIRE(try_bind(0, &port) == 0);
  Fd listener(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  int one = 1;
  ::setsockopt(listener.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(::bind(listener.get(), reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
  REQUIRE(::listen(listener.get(), 1) == 0);
  Fd client(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  REQUIRE(::connect(client.get(), reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
  Fd served(::accept(listener.get(), nullptr, nullptr));
  REQUIRE(served);
  listener.reset();
  served.reset();  // the server side closes first: it ends in TIME_WAIT once the client closes
  char c;
  REQUIRE(::read(client.get(), &c, 1) == 0);  // the FIN arrived
  client.reset();
  CHECK(try_bind(port) == 0);
}

TEST_CASE("tail_lines returns the last lines of a file") {
  std::string d = scratch("pgha-unit-tail");
  write_file(d + "/log", "a\nb\nc\nd\n", RunAs{});
  CHECK(tail_lines(d + "/log", 2) == "c\nd\n");
  CHECK(tail_lines(d + "/missing") == "(log is empty)");
  fs::remove_all(d);
}

TEST_CASE("a write to a full disk says which disk is full and how much room is left") {
  std::string d = scratch("pgha-unit-full");
  write_file(d + "/src", std::string(100000, 'x'), RunAs{});
  try {
    copy_regular(d + "/src", "/dev/full", 0600, RunAs{});
    FAIL("copying to /dev/full succeeded");
  } catch (const pgha::SetupError& e) {
    CHECK_THAT(e.what(), ContainsSubstring("the disk holding '/dev' is full (") &&
                             ContainsSubstring("bytes free); expected room for a copy of the data directory"));
  }
  CHECK_THAT(write_error("/x/y/z", ENOSPC).what(), ContainsSubstring("the disk holding '/x/y' is full"));
  CHECK_THAT(write_error("/x/y/z", EACCES).what(), ContainsSubstring("Permission denied"));
  fs::remove_all(d);
}

TEST_CASE("socket paths over 107 bytes are refused with the path, its length and the limit") {
  std::string ok(107 - std::string("/.s.PGSQL.65535").size(), 's');
  CHECK_NOTHROW(check_socket_dir(ok));
  std::string dir = ok + "x";
  try {
    check_socket_dir(dir);
    FAIL("a 108-byte socket path was accepted");
  } catch (const pgha::SetupError& e) {
    CHECK_THAT(e.what(), ContainsSubstring("'" + dir + "/.s.PGSQL.65535'") && ContainsSubstring("108 bytes") &&
                             ContainsSubstring("at most 107") && ContainsSubstring("PGHA_TMPDIR"));
  }
  CHECK_NOTHROW(check_socket_dir(dir, 5432));  // 4 digits fit
}

TEST_CASE("a directory the server user cannot enter is named with the user") {
  if (::geteuid() != 0) return;  // not root: servers run as ourselves, nothing to check
  RunAs ra = run_as();
  std::string d = scratch("pgha-unit-traverse");
  ::chmod(d.c_str(), 0755);
  fs::create_directories(d + "/closed/inner");
  ::chmod((d + "/closed").c_str(), 0700);
  CHECK_NOTHROW(check_traversable(d, ra));
  try {
    check_traversable(d + "/closed/inner", ra);
    FAIL("an untraversable directory passed");
  } catch (const pgha::SetupError& e) {
    CHECK_THAT(e.what(), ContainsSubstring("'" + ra.user + "' cannot enter '" + d + "/closed'") &&
                             ContainsSubstring("mode 0700, owner root") && ContainsSubstring("PGHA_TMPDIR"));
  }
  ::chmod((d + "/closed").c_str(), 0711);
  CHECK_NOTHROW(check_traversable(d + "/closed/inner", ra));
  fs::remove_all(d);
}

TEST_CASE("/proc/<pid>/stat of a process whose name holds ') ' is read after the last ')'") {
  // A parser that stops at the first ')' would read this child's state as 'Z' and its
  // parent as pid 1: a live process taken for a zombie, an orphan.
  const char* name = "x) Z 1 (y) b";
  int ready[2];
  REQUIRE(::pipe2(ready, O_CLOEXEC) == 0);
  pid_t pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {  // async-signal-safe calls only
    ::prctl(PR_SET_NAME, name);
    (void)!::write(ready[1], "x", 1);
    for (;;) ::pause();
  }
  struct Reap {  // a failed REQUIRE leaves no child behind
    pid_t pid;
    bool done = false;
    ~Reap() {
      if (done) return;
      ::kill(pid, SIGKILL);
      ::waitpid(pid, nullptr, 0);
    }
  } reap{pid};
  ::close(ready[1]);
  char byte = 0;
  ssize_t got;
  do got = ::read(ready[0], &byte, 1); while (got < 0 && errno == EINTR);
  ::close(ready[0]);
  REQUIRE(got == 1);  // the child is named now
  std::ifstream comm("/proc/" + std::to_string(pid) + "/comm");
  std::string shown;
  std::getline(comm, shown);
  CHECK(shown == name);

  ProcStat st;
  REQUIRE(read_proc_stat(pid, st));
  CHECK((st.state == 'R' || st.state == 'S'));  // on its way to pause(), or in it
  CHECK(st.ppid == ::getpid());
  CHECK(st.start > 0);
  ProcStat self;
  REQUIRE(read_proc_stat(::getpid(), self));
  CHECK(st.start >= self.start);
  ProcIdentity id;
  REQUIRE(read_proc_identity(pid, id));
  CHECK(id.ppid == ::getpid());
  CHECK(id.start == st.start);
  CHECK(process_alive(pid));
  CHECK(process_identity(pid) == std::to_string(pid) + " " + std::to_string(st.start));
  auto kids = child_pids(::getpid());
  CHECK(std::find(kids.begin(), kids.end(), pid) != kids.end());

  ::kill(pid, SIGSTOP);
  int status = 0;
  REQUIRE(::waitpid(pid, &status, WUNTRACED) == pid);
  REQUIRE(WIFSTOPPED(status));
  CHECK(process_stopped(pid));
  REQUIRE(read_proc_stat(pid, st));
  CHECK(st.state == 'T');
  CHECK(st.ppid == ::getpid());

  ::kill(pid, SIGKILL);
  siginfo_t info{};
  REQUIRE(::waitid(P_PID, static_cast<id_t>(pid), &info, WEXITED | WNOWAIT) == 0);  // a zombie now
  CHECK(process_state(pid) == 'Z');
  CHECK_FALSE(process_alive(pid));
  CHECK(process_identity(pid) == "");
  REQUIRE(::waitpid(pid, &status, 0) == pid);
  reap.done = true;
  ProcStat none;
  CHECK_FALSE(read_proc_stat(0, none));
  CHECK_FALSE(read_proc_stat(-1, none));
  CHECK(none.state == '?');
}

TEST_CASE("postmaster.pid line 7: a negative pid and a sign-extended key are read right") {
  std::string d = scratch("pgha-unit-pidfile");
  write_file(d + "/postmaster.pid",
             "-4242\n/data\n1700000000\n5432\n/sock\nlocalhost\n18446744073709551611     65538\nready\n",
             RunAs{});
  pid_t pid = 0;
  key_t key = 0;
  int shmid = -1;
  REQUIRE(pidfile_shm(d + "/postmaster.pid", pid, key, shmid));
  CHECK(pid == 4242);
  CHECK(key == -5);
  CHECK(shmid == 65538);
  write_file(d + "/postmaster.pid", "4242\n/data\n", RunAs{});
  CHECK_FALSE(pidfile_shm(d + "/postmaster.pid", pid, key, shmid));
  fs::remove_all(d);
}

TEST_CASE("postmaster.pid line 8: the status counts only when the file is that server's and complete") {
  std::string d = scratch("pgha-unit-pmstatus");
  std::string pf = d + "/postmaster.pid";
  const std::string head = "4242\n/data\n1700000000\n5432\n/sock\n127.0.0.1\n  7001 65538\n";
  CHECK(postmaster_status(pf, 4242) == "");  // no file yet
  write_file(pf, head, RunAs{});
  CHECK(postmaster_status(pf, 4242) == "");  // no status line yet
  write_file(pf, head + "starting\n", RunAs{});
  CHECK(postmaster_status(pf, 4242) == "starting");
  write_file(pf, head + "ready   \n", RunAs{});  // padded to the width of "stopping"
  CHECK(postmaster_status(pf, 4242) == "ready");
  CHECK(postmaster_status(pf, 4243) == "");  // another server's file (left by a crash)
  write_file(pf, head + "standby \n", RunAs{});
  CHECK(postmaster_status(pf, 4242) == "standby");
  write_file(pf, head + "ready", RunAs{});  // a line still being written
  CHECK(postmaster_status(pf, 4242) == "");
  fs::remove_all(d);
}

TEST_CASE("a postmaster's segment is removed only when it is provably that server's") {
  std::string d = scratch("pgha-unit-shm");
  std::mt19937 rng(std::random_device{}());
  key_t key = static_cast<key_t>(0x70000000 + rng() % 0x0fffffff);
  int shmid = ::shmget(key, 56, IPC_CREAT | IPC_EXCL | 0600);
  REQUIRE(shmid >= 0);
  auto exists = [&] { shmid_ds ds{}; return ::shmctl(shmid, IPC_STAT, &ds) == 0; };
  std::string pf = d + "/postmaster.pid";
  auto pidfile = [&](long pid, long long k) {
    write_file(pf, std::to_string(pid) + "\n/d\n0\n5432\n/s\n*\n" + std::to_string(k) + " " +
                       std::to_string(shmid) + "\nready\n", RunAs{});
  };
  using std::chrono::milliseconds;
  pidfile(::getpid() + 1, key);  // another creator: the id was reused by someone else
  CHECK_FALSE(remove_postmaster_shm(pf, milliseconds(0)));
  CHECK(exists());
  pidfile(::getpid(), key + 1);  // another key
  CHECK_FALSE(remove_postmaster_shm(pf, milliseconds(0)));
  CHECK(exists());
  pidfile(::getpid(), key);
  void* at = ::shmat(shmid, nullptr, SHM_RDONLY);  // still attached
  REQUIRE(at != reinterpret_cast<void*>(-1));
  CHECK_FALSE(remove_postmaster_shm(pf, milliseconds(20)));
  CHECK(exists());
  ::shmdt(at);
  CHECK(remove_postmaster_shm(pf, milliseconds(0)));  // ours and detached
  CHECK_FALSE(exists());
  if (exists()) ::shmctl(shmid, IPC_RMID, nullptr);
  fs::remove_all(d);
}

TEST_CASE("a temp base with a newline or a relative path is a SetupError naming where it came from") {
  auto message = [](auto f) -> std::string {
    try {
      f();
    } catch (const pgha::SetupError& e) {
      return e.what();
    }
    return "no SetupError";
  };
  const char* saved = std::getenv("PGHA_TMPDIR");
  std::string restore = saved ? saved : "";
  ::setenv("PGHA_TMPDIR", "/tmp/a\nb", 1);
  CHECK_THAT(message([] { temp_base(""); }), ContainsSubstring("PGHA_TMPDIR holds a newline"));
  ::setenv("PGHA_TMPDIR", "relative/dir", 1);
  CHECK_THAT(message([] { temp_base(""); }),
             ContainsSubstring("PGHA_TMPDIR is the relative path 'relative/dir'") && ContainsSubstring("absolute"));
  CHECK_THAT(message([] { temp_base("rel"); }), ContainsSubstring("Options::tmp_dir is the relative path 'rel'"));
  CHECK_THAT(message([] { temp_base("/x\ny"); }), ContainsSubstring("Options::tmp_dir holds a newline"));
  ::setenv("PGHA_TMPDIR", "/tmp/fine", 1);
  CHECK(temp_base("") == "/tmp/fine");
  if (restore.empty()) ::unsetenv("PGHA_TMPDIR"); else ::setenv("PGHA_TMPDIR", restore.c_str(), 1);
}
