// tests/isolation.cpp: no leaks when the test process dies, no collisions between
// concurrent test processes.
#include <poll.h>
#include <sys/stat.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <boost/filesystem.hpp>
#include <sstream>
#include <thread>

#include "support.hpp"

using namespace std::chrono_literals;

namespace {
pid_t spawn_child(const char* mode, int* out_fd) {
  int p[2];
  REQUIRE(::pipe(p) == 0);
  pid_t pid = ::fork();
  if (pid == 0) {
    ::dup2(p[1], 1);
    ::close(p[0]);
    ::close(p[1]);
    ::execl(PGHA_CHILD_PROCESS, PGHA_CHILD_PROCESS, mode, static_cast<char*>(nullptr));
    ::_exit(127);
  }
  ::close(p[1]);
  if (out_fd) *out_fd = p[0]; else ::close(p[0]);
  return pid;
}

std::string read_line(int fd, std::chrono::milliseconds limit) {
  std::string line;
  auto deadline = std::chrono::steady_clock::now() + limit;
  char c;
  while (std::chrono::steady_clock::now() < deadline) {
    pollfd pf{fd, POLLIN, 0};
    if (::poll(&pf, 1, 100) <= 0) continue;
    if (::read(fd, &c, 1) != 1 || c == '\n') break;
    line += c;
  }
  return line;
}
}  // namespace

TEST_CASE("a SIGKILLed test process leaves no server and no directory behind") {
  int fd = -1;
  pid_t child = spawn_child("hold", &fd);
  std::istringstream in(read_line(fd, 60s));
  ::close(fd);
  std::string dir1, dir2;
  int pid1 = 0, pid2 = 0;
  in >> dir1 >> pid1 >> dir2 >> pid2;
  REQUIRE(pid1 > 0);
  REQUIRE(pid2 > 0);
  REQUIRE(boost::filesystem::exists(dir1));
  REQUIRE(pgha::detail::process_alive(pid1));
  ::kill(child, SIGKILL);
  ::waitpid(child, nullptr, 0);
  // Poll the real condition for at most 5 s: both servers gone, both directories removed.
  auto deadline = std::chrono::steady_clock::now() + 5s;
  auto clean = [&] {
    return !pgha::detail::process_alive(pid1) && !pgha::detail::process_alive(pid2) &&
           !boost::filesystem::exists(dir1) && !boost::filesystem::exists(dir2);
  };
  while (!clean() && std::chrono::steady_clock::now() < deadline) std::this_thread::sleep_for(10ms);
  CHECK_FALSE(pgha::detail::process_alive(pid1));
  CHECK_FALSE(pgha::detail::process_alive(pid2));
  CHECK_FALSE(boost::filesystem::exists(dir1));
  CHECK_FALSE(boost::filesystem::exists(dir2));
}

TEST_CASE("16 concurrent processes each create a primary and a standby") {
  std::vector<pid_t> children;
  for (int i = 0; i < 16; ++i) children.push_back(spawn_child("pair", nullptr));
  int passed = 0;
  for (pid_t c : children) {
    int st = 0;
    ::waitpid(c, &st, 0);  // each child bounds its own waits (30 s per step)
    if (WIFEXITED(st) && WEXITSTATUS(st) == 0) ++passed;
  }
  CHECK(passed == 16);
}

TEST_CASE("a node created on a short-lived thread outlives the thread") {
  std::unique_ptr<pgha::TempPrimary> node;
  std::thread([&] { node = std::make_unique<pgha::TempPrimary>(); }).join();
  CHECK(node->is_running());
  CHECK(node->query("SELECT 1").value(0, 0) == "1");
}

TEST_CASE("leftovers of a process that died without its watcher are swept by the next one") {
  // A node directory whose owner is dead, with a live server in it: what a kill of the
  // test process and its watcher (e.g. kill -9 of the whole process group) leaves behind.
  std::string base = "/tmp/pgha-sweep-test";
  boost::filesystem::remove_all(base);
  boost::filesystem::create_directories(base);
  ::chmod(base.c_str(), 0711);
  ::setenv("PGHA_TMPDIR", base.c_str(), 1);
  // Deliberately leaked: its destructor never runs, as when the process is killed.
  auto* victim = new pgha::TempPrimary;
  std::string root = boost::filesystem::path(victim->data_dir()).parent_path().string();
  int pid = victim->pid();
  pid_t dead = ::fork();  // a pid that is certainly gone
  if (dead == 0) ::_exit(0);
  ::waitpid(dead, nullptr, 0);
  pgha::detail::write_file(root + "/owner", pgha::detail::process_identity(dead) + "gone\n", {});
  REQUIRE(pgha::detail::process_alive(pid));
  REQUIRE(boost::filesystem::exists(root));
  // The first node of the next process sweeps the base directory.
  pid_t child = spawn_child("pair", nullptr);
  int st = 0;
  ::waitpid(child, &st, 0);
  ::unsetenv("PGHA_TMPDIR");
  CHECK(WIFEXITED(st));
  CHECK(WEXITSTATUS(st) == 0);
  CHECK_FALSE(pgha::detail::process_alive(pid));
  CHECK_FALSE(boost::filesystem::exists(root));
  boost::filesystem::remove_all(base);
}
