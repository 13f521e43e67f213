// tests/mechanics.cpp: the process, port and directory mechanics seen from real servers:
// what a server inherits, port reuse, unusual bin and temp dirs, a full disk.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <boost/filesystem.hpp>
#include <cstdlib>
#include <fstream>
#include <memory>

#include "support.hpp"

using namespace std::chrono_literals;
using Catch::Matchers::ContainsSubstring;
namespace fs = boost::filesystem;

namespace {
// A fresh directory under /tmp, removed with everything in it at scope exit.
struct ScratchDir {
  std::string path;
  explicit ScratchDir(const std::string& name) : path("/tmp/" + name) {
    fs::remove_all(path);
    fs::create_directories(path);
  }
  ~ScratchDir() {
    boost::system::error_code ec;
    fs::remove_all(path, ec);
  }
};

// Targets of /proc/<pid>/fd/* (what the process holds open).
std::vector<std::string> open_files(int pid) {
  std::vector<std::string> out;
  boost::system::error_code ec;
  for (fs::directory_iterator it("/proc/" + std::to_string(pid) + "/fd", ec), end;
       !ec && it != end; it.increment(ec)) {
    boost::system::error_code rec;
    out.push_back(fs::read_symlink(it->path(), rec).string());
  }
  return out;
}

// How many sockets on 127.0.0.1:port are in TIME_WAIT (from /proc/net/tcp, state 06).
int time_wait_sockets(int port) {
  std::ifstream f("/proc/net/tcp");
  std::string line;
  std::getline(f, line);
  char want[16];
  std::snprintf(want, sizeof want, "0100007F:%04X", port);
  int n = 0;
  while (std::getline(f, line)) {
    std::istringstream l(line);
    std::string slot, local, remote, state;
    l >> slot >> local >> remote >> state;
    if (local == want && state == "06") ++n;
  }
  return n;
}
}  // namespace

TEST_CASE("a server does not inherit the test process's open files") {
  ScratchDir d("pgha-fd-inherit-test");
  std::string file = d.path + "/held-open";
  int fd = ::open(file.c_str(), O_WRONLY | O_CREAT, 0600);  // no O_CLOEXEC on purpose
  REQUIRE(fd >= 0);
  pgha::TempPrimary node;
  auto held = open_files(node.pid());
  REQUIRE_FALSE(held.empty());  // we can read the postmaster's fd table
  CHECK(std::count(held.begin(), held.end(), file) == 0);
  ::close(fd);
}

TEST_CASE("a fixed port whose last server just died (TIME_WAIT) is usable at once") {
  int port = 0;
  REQUIRE(pgha::detail::try_bind(0, &port) == 0);
  pgha::Options o;
  o.port = port;
  {
    auto node = std::make_unique<pgha::TempPrimary>(o);
    // A raw client: libpq would send a Terminate message to the dead server's socket,
    // which answers with a reset instead of leaving TIME_WAIT. The SSLRequest's answer
    // ('N') proves a backend owns the connection.
    pgha::detail::Fd c(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(static_cast<uint16_t>(port));
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(::connect(c.get(), reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
    uint32_t ssl_request[2] = {htonl(8), htonl(80877103)};
    REQUIRE(::write(c.get(), ssl_request, sizeof ssl_request) == 8);
    char answer = 0;
    REQUIRE(::read(c.get(), &answer, 1) == 1);
    REQUIRE(answer == 'N');
    node.reset();  // the server side closes first...
    // ...(after a goodbye message, if it had time for one); its FIN arrived when read
    // returns 0, and our close then puts its side in TIME_WAIT.
    char buf[512];
    pollfd p{c.get(), POLLIN, 0};
    ssize_t n = 1;
    while (n > 0 && ::poll(&p, 1, 10000) == 1) n = ::read(c.get(), buf, sizeof buf);
    REQUIRE(n == 0);
  }
  REQUIRE(time_wait_sockets(port) > 0);
  pgha::TempPrimary again(o);
  CHECK(again.port() == port);
  CHECK(again.query("SELECT 1").value(0, 0) == "1");
}

TEST_CASE("ports outside 1024..65535 are rejected before anything is created") {
  for (int port : {1, 1023, 65536, 70000, -5}) {
    std::string lock = "/tmp/pgha-ports/" + std::to_string(port) + ".lock";
    ::unlink(lock.c_str());
    pgha::Options o;
    o.port = port;
    CHECK_THROWS_AS(pgha::TempPrimary(o), pgha::SetupError);
    CHECK_THROWS_WITH(pgha::TempPrimary(o), ContainsSubstring(std::to_string(port)) && ContainsSubstring("1024"));
    CHECK_FALSE(fs::exists(lock));
  }
}

TEST_CASE("a bin dir whose path holds a space and a quote works") {
  auto real = test::binaries();
  ScratchDir d("pgha bin 'quoted' test");
  // Symlinks to each binary in a directory with the odd name: find_binaries keeps the
  // directory's own path (it resolves the directory, not the files in it).
  std::string bin = d.path + "/it's bin";
  fs::create_directories(bin);
  for (fs::directory_iterator it(real.bin_dir), end; it != end; ++it)
    fs::create_symlink(it->path(), bin + "/" + it->path().filename().string());
  auto b = pgha::detail::find_binaries(bin);
  CHECK(b.bin_dir == bin);
  CHECK(b.version == real.version);
  if (!real.pg_basebackup.empty() && real.pg_basebackup.rfind(real.bin_dir, 0) == 0)
    CHECK(b.pg_basebackup == bin + "/pg_basebackup");
  ScratchDir tmp("pgha-odd-bindir-base");  // the template for this bin dir goes with it
  ::chmod(tmp.path.c_str(), 0711);
  pgha::Options o;
  o.bin_dir = bin;
  o.tmp_dir = tmp.path;
  pgha::TempPrimary node(o);
  CHECK(node.server_version_num() == b.version_num);
}

TEST_CASE("a temp dir whose socket path would be too long is refused, naming the path") {
  // base + "/pgha-node-XXXXXX/sock/.s.PGSQL.65535" must stay within 107 bytes.
  ScratchDir d("pgha-long-socket-test");
  std::string base = d.path + "/" + std::string(70, 'd');
  fs::create_directories(base);
  ::chmod(d.path.c_str(), 0755);
  ::chmod(base.c_str(), 0755);
  pgha::Options o;
  o.tmp_dir = base;
  try {
    pgha::TempPrimary node(o);
    FAIL("a node with a socket path over 107 bytes was created");
  } catch (const pgha::SetupError& e) {
    CHECK_THAT(e.what(), ContainsSubstring(base + "/pgha-node-") && ContainsSubstring("/sock/.s.PGSQL.") &&
                             ContainsSubstring("107") && ContainsSubstring("PGHA_TMPDIR"));
  }
  int left = 0;
  for (fs::directory_iterator it(base), end; it != end; ++it)
    if (it->path().filename().string().rfind("pgha-node-", 0) == 0) ++left;
  CHECK(left == 0);
}

TEST_CASE("a temp dir the server user cannot enter is refused, naming the directory") {
  if (::geteuid() != 0) PGHA_SKIP("needs root: the servers run as another user only then");
  ScratchDir d("pgha-untraversable-test");
  std::string blocked = d.path + "/root-only";
  fs::create_directories(blocked + "/base");
  ::chmod(d.path.c_str(), 0755);
  ::chmod(blocked.c_str(), 0700);  // owned by root: postgres cannot enter
  ::chmod((blocked + "/base").c_str(), 01777);
  pgha::Options o;
  o.tmp_dir = blocked + "/base";
  std::string user = pgha::detail::run_as().user;
  try {
    pgha::TempPrimary node(o);
    FAIL("a node was created in a directory its server cannot reach");
  } catch (const pgha::SetupError& e) {
    CHECK_THAT(e.what(), ContainsSubstring("'" + blocked + "'") && ContainsSubstring("'" + user + "'") &&
                             ContainsSubstring("0700") && ContainsSubstring("cannot enter"));
  }
}

TEST_CASE("a standby clone on a full disk says the disk is full") {
  if (::geteuid() != 0) PGHA_SKIP("needs root to mount a small tmpfs");
  ScratchDir d("pgha-full-disk-test");
  std::string mnt = d.path + "/small";
  fs::create_directories(mnt);
  // 8 MB: the node directory fits, a copy of the data directory (28 MB) does not.
  if (::mount("tmpfs", mnt.c_str(), "tmpfs", 0, "size=8m,mode=0755") != 0)
    PGHA_SKIP(std::string("cannot mount a tmpfs here: ") + std::strerror(errno));
  struct Unmount {
    std::string dir;
    ~Unmount() { ::umount2(dir.c_str(), MNT_DETACH); }
  } unmount{mnt};
  pgha::TempPrimary primary;
  pgha::Options o;
  o.tmp_dir = mnt;
  o.clone_method = pgha::CloneMethod::BackupApi;  // pgha's own copy (pg_basebackup logs its own)
  try {
    pgha::TempStandby standby(primary, o);
    FAIL("a standby was cloned onto an 8 MB disk");
  } catch (const pgha::SetupError& e) {
    CHECK_THAT(e.what(), ContainsSubstring("the disk holding '" + mnt + "/pgha-node-") &&
                             ContainsSubstring("is full (") && ContainsSubstring("bytes free)") &&
                             ContainsSubstring("expected room for a copy of the data directory"));
  }
  int left = 0;
  for (fs::directory_iterator it(mnt), end; it != end; ++it) ++left;
  CHECK(left == 0);
}
