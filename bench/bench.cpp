// pgha_bench: how long pgha's steps take, and the same steps done by hand as in the
// walkthrough (initdb, pg_ctl, pg_basebackup as the postgres user). Prints Markdown tables
// (median, p90, max in ms); it checks no thresholds.
//
//   pgha_bench [iterations] [processes]   defaults 7 and 32 (0 iterations: only the
//                                          N-process row; 0 processes: without it)
// It also runs itself as a child: --first-pair (a pair in a fresh process with no template
// yet) and --pair-guard (one of the N processes at once).
//   pgha_bench --cluster [iterations]   only a warm pair against a warm TempCluster(3)
#include <pgha/pgha.hpp>

#include <fcntl.h>
#include <libpq-fe.h>
#include <netinet/in.h>
#include <pwd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <functional>
#include <iostream>
#include <map>
#include <memory>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

namespace {

double ms_since(Clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
}

// --- samples and tables -------------------------------------------------------------

struct Samples {
  std::vector<double> v;
  void add(double x) { v.push_back(x); }
  std::vector<double> sorted() const { auto s = v; std::sort(s.begin(), s.end()); return s; }
  double median() const {
    auto s = sorted();
    if (s.empty()) return 0;
    size_t n = s.size();
    return n % 2 ? s[n / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
  }
  double p90() const {  // nearest rank
    auto s = sorted();
    if (s.empty()) return 0;
    size_t k = static_cast<size_t>(std::ceil(0.9 * static_cast<double>(s.size())));
    return s[std::max<size_t>(k, 1) - 1];
  }
  double max() const { return v.empty() ? 0 : *std::max_element(v.begin(), v.end()); }
};

std::string fmt(double x, int prec = 1) {
  char b[64];
  std::snprintf(b, sizeof b, "%.*f", prec, x);
  return b;
}

// --- naive way: Debian's tools as the postgres user ------------------------------------

const std::string kBin = "/usr/lib/postgresql/15/bin";

int free_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) throw std::runtime_error("socket() failed");
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = 0;
  socklen_t len = sizeof a;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) != 0) {
    ::close(fd);
    throw std::runtime_error("bind(127.0.0.1:0) failed");
  }
  int port = ntohs(a.sin_port);
  ::close(fd);
  return port;
}

// Runs `cmd` as postgres through the shell; output goes to `log`. Throws on failure.
void as_postgres(const std::string& cmd, const std::string& log) {
  std::string full = "runuser -u postgres -- " + cmd + " >>" + log + " 2>&1";
  int rc = std::system(full.c_str());
  if (rc != 0) {
    std::ifstream f(log);
    std::stringstream ss;
    ss << f.rdbuf();
    std::string t = ss.str();
    if (t.size() > 1500) t = t.substr(t.size() - 1500);
    throw std::runtime_error("naive command failed (rc " + std::to_string(rc) + "): " + full +
                             "\n" + t);
  }
}

struct PgUser {
  uid_t uid;
  gid_t gid;
};
PgUser postgres_user() {
  passwd* pw = ::getpwnam("postgres");
  if (!pw) throw std::runtime_error("no postgres user");
  return {pw->pw_uid, pw->pw_gid};
}

void chown_to_pg(const std::string& path) {
  static PgUser u = postgres_user();
  if (::chown(path.c_str(), u.uid, u.gid) != 0)
    throw std::runtime_error("chown " + path + " failed");
}

void append_owned(const std::string& path, const std::string& text) {
  {
    std::ofstream f(path, std::ios::app);
    f << text;
    if (!f.flush()) throw std::runtime_error("cannot write " + path);
  }
  chown_to_pg(path);
}

// A by-hand primary + standby in a fresh mkdtemp dir under /dev/shm. The destructor stops
// every server by data dir (immediate) and removes the directory, also after errors.
struct NaivePair {
  std::string root, sock, d1, d2, log;
  int p1 = 0, p2 = 0;

  NaivePair() {
    char tmpl[] = "/dev/shm/pgha-naive-XXXXXX";
    if (!::mkdtemp(tmpl)) throw std::runtime_error("mkdtemp failed");
    root = tmpl;
    chown_to_pg(root);
    sock = root + "/sock";
    fs::create_directory(sock);
    chown_to_pg(sock);
    d1 = root + "/d1";
    d2 = root + "/d2";
    log = root + "/commands.log";
    append_owned(log, "");
  }
  ~NaivePair() {
    for (const auto& d : {d2, d1})
      if (fs::exists(d + "/postmaster.pid"))
        std::system(("runuser -u postgres -- " + kBin + "/pg_ctl -D " + d +
                     " -m immediate -w stop >/dev/null 2>&1").c_str());
    std::error_code ec;
    fs::remove_all(root, ec);
  }
  std::string opts(int port) const {
    return "-o \"-p " + std::to_string(port) + " -k " + sock + " -c listen_addresses=''\"";
  }
  void start(const std::string& d, int port) {
    as_postgres(kBin + "/pg_ctl -D " + d + " -l " + d + ".log " + opts(port) + " -w start", log);
  }
  // initdb + start
  void primary_up() {
    p1 = free_port();
    as_postgres("env LC_ALL=C.UTF-8 " + kBin + "/initdb -D " + d1 + " --no-sync -U postgres -A trust",
                log);
    start(d1, p1);
  }
  // pg_basebackup + standby.signal/primary_conninfo/port + start
  void standby_up() {
    p2 = free_port();
    as_postgres(kBin + "/pg_basebackup -h " + sock + " -p " + std::to_string(p1) +
                    " -U postgres -D " + d2 + " -X stream -c fast",
                log);
    append_owned(d2 + "/standby.signal", "");
    append_owned(d2 + "/postgresql.auto.conf",
                 "port = " + std::to_string(p2) + "\nprimary_conninfo = 'host=" + sock +
                     " port=" + std::to_string(p1) +
                     " user=postgres application_name=pgslave001'\n");
    start(d2, p2);
  }
  void promote(const std::string& d) { as_postgres(kBin + "/pg_ctl -D " + d + " -w promote", log); }
  void stop_fast(const std::string& d) {
    as_postgres(kBin + "/pg_ctl -D " + d + " -w stop -m fast", log);
  }
};

// --- RSS of a server tree ------------------------------------------------------------

// A "Key:   123 kB" field of a /proc file.
long proc_kb(const std::string& path, const std::string& key) {
  std::ifstream f(path);
  std::string line;
  while (std::getline(f, line))
    if (line.rfind(key, 0) == 0) return std::atol(line.c_str() + key.size());
  return 0;
}
long vmrss_kb(int pid) { return proc_kb("/proc/" + std::to_string(pid) + "/status", "VmRSS:"); }
// Proportional set size: shared pages (shared_buffers, binaries) divided among sharers.
long pss_kb(int pid) { return proc_kb("/proc/" + std::to_string(pid) + "/smaps_rollup", "Pss:"); }

void tree_pids(int pid, std::vector<int>& out) {
  out.push_back(pid);
  std::ifstream f("/proc/" + std::to_string(pid) + "/task/" + std::to_string(pid) + "/children");
  int c;
  while (f >> c) tree_pids(c, out);
}

long tree_rss_kb(int pid, int* nprocs, long* pss = nullptr) {
  std::vector<int> pids;
  if (pid > 0) tree_pids(pid, pids);
  long sum = 0;
  for (int p : pids) {
    sum += vmrss_kb(p);
    if (pss) *pss += pss_kb(p);
  }
  if (nprocs) *nprocs += static_cast<int>(pids.size());
  return sum;
}

// --- child modes: a fresh process ------------------------------------------------------

// `pgha_bench --first-pair`: a pair in this fresh process (PGHA_TMPDIR has no template yet).
// Prints the ms from main() to both nodes ready.
int child_first_pair(Clock::time_point started) try {
  pgha::TempPrimary p;
  pgha::TempStandby s(p);
  std::cout << ms_since(started) << "\n";
  return 0;
} catch (const std::exception& e) {
  std::cerr << "pgha_bench --first-pair: " << e.what() << "\n";
  return 1;
}

// `pgha_bench --pair-guard`: a pair, a row, a crash FailoverGuard, and the row on both
// nodes afterwards. Prints the ms it took; exit 0 only if every check held.
int child_pair_guard(Clock::time_point started) try {
  pgha::TempPrimary p;
  pgha::TempStandby s(p);
  p.execute("create table t (x int); insert into t values (1)");
  {
    pgha::FailoverGuard g(p, s, pgha::StopMode::Crash);
  }
  s.execute("insert into t values (2)");  // waits for p, the rejoined sync standby
  bool ok = s.role() == pgha::Role::Primary && p.role() == pgha::Role::Standby &&
            s.query("select count(*) from t").value(0, 0) == "2" &&
            p.query("select count(*) from t").value(0, 0) == "2";
  std::cout << ms_since(started) << "\n";
  return ok ? 0 : 1;
} catch (const std::exception& e) {
  std::cerr << "pgha_bench --pair-guard: " << e.what() << "\n";
  return 1;
}

// A fresh directory the server user can traverse, for a child's PGHA_TMPDIR.
std::string fresh_base(const std::string& tag) {
  std::string t = "/dev/shm/pgha-bench-" + tag + "-XXXXXX";
  std::vector<char> buf(t.begin(), t.end());
  buf.push_back('\0');
  if (!::mkdtemp(buf.data())) throw std::runtime_error("mkdtemp failed");
  ::chmod(buf.data(), 0755);
  return buf.data();
}

// Starts `self mode` with PGHA_TMPDIR=base; its stdout goes to `out`.
pid_t spawn_child(const std::string& self, const std::string& mode, const std::string& base,
                  const std::string& out) {
  pid_t pid = ::fork();
  if (pid < 0) throw std::runtime_error("fork failed");
  if (pid == 0) {
    ::setenv("PGHA_TMPDIR", base.c_str(), 1);
    int fd = ::open(out.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd >= 0) { ::dup2(fd, 1); ::close(fd); }
    ::execl(self.c_str(), self.c_str(), mode.c_str(), static_cast<char*>(nullptr));
    ::_exit(127);
  }
  return pid;
}

double read_ms(const std::string& file) {
  std::ifstream f(file);
  double v = -1;
  f >> v;
  return v;
}

// Whether anything of a run is left under `base`: a node directory, or a live process
// whose command line or working directory is in it.
std::string leftovers(const std::string& base) {
  std::string found;
  std::error_code ec;
  for (auto& e : fs::directory_iterator(base, ec)) {
    std::string n = e.path().filename().string();
    if (n.rfind("pgha-node-", 0) == 0) found += " dir " + n;
  }
  for (auto& e : fs::directory_iterator("/proc", ec)) {
    std::string pid = e.path().filename().string();
    if (pid.find_first_not_of("0123456789") != std::string::npos) continue;
    std::ifstream f(e.path() / "cmdline");
    std::string cmd((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
    std::error_code ec2;
    std::string cwd = fs::read_symlink(e.path() / "cwd", ec2).string();
    if (cmd.find(base) != std::string::npos || cwd.rfind(base, 0) == 0) found += " process " + pid;
  }
  return found;
}

// The walkthrough scenario (examples/walkthrough.cpp) without its two 300 ms waits that
// only demonstrate a blocked insert: a pair with archiving, a row, two failover rounds each
// with an insert that waits for the rejoin, and all rows checked on both nodes.
// --- the floor: what the server and the compiler need, with no pgha step around them ----

// postgres spawned directly on a fresh copy of pgha's template (pgha's settings), until
// its postmaster.pid says "ready"; then one backend connection over the Unix socket.
// Adds both times (ms) to `start` and `connect`.
void raw_start(Samples& start, Samples& connect) {
  namespace d = pgha::detail;
  auto bins = d::find_binaries("");
  auto ra = d::run_as();
  std::string base = d::temp_base("");
  std::string tmpl = d::ensure_template(bins, ra, base, std::chrono::seconds(60));
  std::string root = d::make_private_dir(base, "pgha-floor-", ra);
  std::string data = root + "/data", sock = root + "/sock";
  pid_t pid = -1;
  try {
    d::make_owned_dir(data, ra);
    d::make_owned_dir(sock, ra);
    d::copy_template(tmpl, data, ra);
    d::ConfigInput in;
    in.major = bins.major;
    in.port = free_port();
    in.socket_dir = sock;
    in.cluster_name = "floor";
    d::write_file(data + "/pgha.conf", d::render_conf(in), ra);
    auto t0 = Clock::now();
    pid = d::spawn(d::postgres_spec(bins, data, root + "/server.log", root, ra));
    while (d::postmaster_status(data + "/postmaster.pid", pid) != "ready") {
      if (ms_since(t0) > 30000) throw std::runtime_error("raw postgres did not start: " + d::tail_lines(root + "/server.log"));
      std::this_thread::sleep_for(std::chrono::microseconds(200));
    }
    start.add(ms_since(t0));
    std::string ci = "host=" + sock + " port=" + std::to_string(in.port) + " user=postgres dbname=postgres";
    t0 = Clock::now();
    PGconn* c = PQconnectdb(ci.c_str());
    bool ok = PQstatus(c) == CONNECTION_OK;
    connect.add(ms_since(t0));
    PQfinish(c);
    if (!ok) throw std::runtime_error("raw connection failed");
  } catch (...) {
    if (pid > 0) d::kill_server(pid, data + "/postmaster.pid", std::chrono::seconds(5));
    if (pid > 0) ::waitpid(pid, nullptr, 0);
    d::remove_tree(root);
    throw;
  }
  d::kill_server(pid, data + "/postmaster.pid", std::chrono::seconds(5));
  ::waitpid(pid, nullptr, 0);
  d::remove_tree(root);
}

// initdb alone, exactly as pgha runs it for its template (ms).
double raw_initdb() {
  namespace d = pgha::detail;
  auto bins = d::find_binaries("");
  auto ra = d::run_as();
  std::string root = d::make_private_dir(d::temp_base(""), "pgha-floor-", ra);
  auto t0 = Clock::now();
  int rc = d::run(d::initdb_spec(bins, root + "/data", root + "/initdb.log", root, ra), std::chrono::seconds(120));
  double ms = ms_since(t0);
  d::remove_tree(root);
  if (rc != 0) throw std::runtime_error("initdb failed");
  return ms;
}

// The standard and libpq headers pgha.hpp includes, without pgha itself.
const char* kStdHeaders =
    "#include <algorithm>\n#include <array>\n#include <atomic>\n#include <cctype>\n#include <cerrno>\n"
    "#include <chrono>\n#include <climits>\n#include <condition_variable>\n#include <cstdint>\n"
    "#include <cstdio>\n#include <cstdlib>\n#include <cstring>\n#include <ctime>\n#include <deque>\n"
    "#include <exception>\n#include <fstream>\n#include <functional>\n#include <iostream>\n"
    "#include <list>\n#include <map>\n#include <memory>\n#include <mutex>\n#include <optional>\n"
    "#include <set>\n#include <sstream>\n#include <stdexcept>\n#include <string>\n#include <thread>\n"
    "#include <unordered_map>\n#include <utility>\n#include <vector>\n#include <libpq-fe.h>\n"
    "#include <dirent.h>\n#include <fcntl.h>\n#include <poll.h>\n#include <signal.h>\n"
    "#include <sys/socket.h>\n#include <netinet/in.h>\n#include <sys/wait.h>\n#include <unistd.h>\n";

void walkthrough() {
  pgha::Options o;
  o.archive = true;
  pgha::TempPrimary node1(o);
  pgha::TempStandby node2(node1, o);
  node1.execute("create table test (id int, name varchar(100)); insert into test values (1,'1')");
  pgha::Node* a = &node1;
  pgha::Node* b = &node2;
  for (int id = 2; id <= 3; ++id) {
    a->stop();
    b->promote();
    pgha::PendingQuery ins = b->execute_async("insert into test values (" + std::to_string(id) + ",'x')");
    if (ins.wait_for(std::chrono::milliseconds(0))) throw std::runtime_error("insert did not block");
    if (a->rejoin(*b) != pgha::RejoinMethod::Resumed) throw std::runtime_error("not resumed");
    if (ins.get().command_status() != "INSERT 0 1") throw std::runtime_error("insert failed");
    for (pgha::Node* n : {a, b})
      if (n->query("select count(*) from test").value(0, 0) != std::to_string(id))
        throw std::runtime_error("rows differ");
    std::swap(a, b);
  }
}

}  // namespace

#ifndef PGHA_BENCH_INCLUDE_DIR
#define PGHA_BENCH_INCLUDE_DIR "include"
#endif

// `pgha_bench --cluster [iterations]` (default 9): only a warm pair (TempPrimary +
// TempStandby until streaming + sync) against a warm TempCluster(3) until all three are
// ready, alternately, each once the background work of the one before is done (spare
// copies, removals), and the ratio of their medians (issue 23 asks for at most 1.3).
int cluster_vs_pair(int iters) try {
  { pgha::TempPrimary warm; }  // the template exists
  Samples pair, cluster;
  for (int i = 0; i < iters; ++i) {
    pgha::detail::background().wait_idle(std::chrono::seconds(30));  // the last one's copies and removals are done
    auto t0 = Clock::now();
    {
      pgha::TempPrimary p;
      pgha::TempStandby s(p);
      pair.add(ms_since(t0));
    }
    pgha::detail::background().wait_idle(std::chrono::seconds(30));
    t0 = Clock::now();
    {
      pgha::TempCluster c(3);
      cluster.add(ms_since(t0));
    }
  }
  std::cout << "| step | n | median | p90 | max |\n|---|---:|---:|---:|---:|\n";
  std::cout << "| primary + sync standby together, warm, default options | " << pair.v.size() << " | "
            << fmt(pair.median()) << " | " << fmt(pair.p90()) << " | " << fmt(pair.max()) << " |\n";
  std::cout << "| TempCluster(3): primary + 2 standbys started in parallel, warm | " << cluster.v.size() << " | "
            << fmt(cluster.median()) << " | " << fmt(cluster.p90()) << " | " << fmt(cluster.max()) << " |\n";
  std::cout << "\nTempCluster(3) / pair (medians): " << fmt(cluster.median() / pair.median(), 2) << "\n";
  return 0;
} catch (const std::exception& e) {
  std::cerr << "pgha_bench --cluster: " << e.what() << "\n";
  return 1;
}

int main(int argc, char** argv) {
  auto started = Clock::now();
  if (argc > 1 && std::string(argv[1]) == "--cluster") return cluster_vs_pair(argc > 2 ? std::atoi(argv[2]) : 9);
  if (argc > 1 && std::string(argv[1]) == "--first-pair") return child_first_pair(started);
  if (argc > 1 && std::string(argv[1]) == "--pair-guard") return child_pair_guard(started);
  int iters = argc > 1 ? std::atoi(argv[1]) : 7;  // 0: only the N-process row
  if (iters < 0) iters = 0;
  int procs = argc > 2 ? std::atoi(argv[2]) : 32;
  std::string self = fs::canonical("/proc/self/exe").string();

  // Steps in print order (the rows of pgha issue 11's table first).
  const std::vector<std::string> order = {
      "primary + sync standby together, warm, default options",
      "TempPrimary, warm template",
      "TempStandby of a running primary with data (until streaming + sync)",
      "promote() until writable",
      "clean rejoin until sync",
      "crash failover, FailoverGuard(Crash) incl. scope exit, default options",
      "destroying a pair",
      "first pair in a fresh process, no template yet",
      "the walkthrough scenario without its two 300 ms demonstration waits",
      "`#include <pgha/pgha.hpp>`, `g++ -std=c++17 -fsyntax-only`",
      "fast stop (node.stop())",
      "commit with remote_apply (1-row insert)",
      "TempStandby with CloneMethod::BackupApi (forced)",
      "TempStandby with CloneMethod::BaseBackup (forced)",
      "crash failover with RepairMethod::Rewind (forced)",
      "TempCluster(3): primary + 2 standbys started in parallel, warm",
  };
  std::map<std::string, Samples> pg;
  std::map<std::string, Samples> naive;
  Samples rss_kb, pss_total_kb, rss_procs;
  std::map<std::string, Samples> crash_parts;
  std::map<std::string, Samples> floor;  // the same steps with no pgha step around them
  const std::vector<std::string> floor_order = {
      "postgres spawned on a copy of the template until postmaster.pid says ready",
      "one backend connection over the Unix socket (trust)",
      "initdb alone, as pgha runs it",
      "`g++ -std=c++17 -fsyntax-only` of the standard and libpq headers pgha.hpp includes",
  };
  int version = 0;
  std::map<std::string, int> rejoin_methods;
  std::string procs_row;

  try {
    { pgha::TempPrimary warm; version = warm.server_version_num(); }  // the template exists

    for (int i = 0; i < iters; ++i) {
      std::cerr << "iteration " << (i + 1) << "/" << iters << "\n";

      // --- naive way ---
      {
        NaivePair n;
        auto t0 = Clock::now();
        n.primary_up();
        naive["primary up"].add(ms_since(t0));
        t0 = Clock::now();
        n.standby_up();
        naive["standby up"].add(ms_since(t0));
        t0 = Clock::now();
        n.stop_fast(n.d1);
        naive["fast stop"].add(ms_since(t0));
        t0 = Clock::now();
        n.promote(n.d2);
        naive["promote"].add(ms_since(t0));
        n.stop_fast(n.d2);
      }

      // --- pgha way ---
      // unique_ptr, not std::optional: TempStandby(TempStandby&) (cascading) counts as a
      // non-const copy constructor, which clang 14 rejects in libstdc++'s optional.
      std::unique_ptr<pgha::TempPrimary> p;
      std::unique_ptr<pgha::TempStandby> s;
      // A pair together, then destroyed.
      auto t0 = Clock::now();
      p = std::make_unique<pgha::TempPrimary>();
      s = std::make_unique<pgha::TempStandby>(*p);
      pg[order[0]].add(ms_since(t0));
      int nprocs = 0;
      long pss = 0;
      long kb = tree_rss_kb(p->pid(), &nprocs, &pss) + tree_rss_kb(s->pid(), &nprocs, &pss);
      rss_kb.add(static_cast<double>(kb));
      pss_total_kb.add(static_cast<double>(pss));
      rss_procs.add(nprocs);
      t0 = Clock::now();
      s.reset();
      p.reset();
      pg[order[6]].add(ms_since(t0));

      // The same with a third node (issue 23: at most 1.3x the pair).
      t0 = Clock::now();
      {
        pgha::TempCluster c(3);
        pg[order[15]].add(ms_since(t0));
      }

      // A primary, data, then its standby.
      t0 = Clock::now();
      p = std::make_unique<pgha::TempPrimary>();
      pg[order[1]].add(ms_since(t0));
      p->execute("create table bench (id int); insert into bench select generate_series(1, 1000)");
      t0 = Clock::now();
      s = std::make_unique<pgha::TempStandby>(*p);
      pg[order[2]].add(ms_since(t0));

      t0 = Clock::now();
      p->execute("INSERT INTO bench VALUES (1)");
      pg[order[11]].add(ms_since(t0));

      // Clean failovers back and forth: fast stop, promote, rejoin (4 promotes each).
      pgha::Node* a = p.get();
      pgha::Node* b = s.get();
      for (int k = 0; k < 4; ++k) {
        t0 = Clock::now();
        a->stop();
        pg[order[10]].add(ms_since(t0));
        t0 = Clock::now();
        b->promote();
        pg[order[3]].add(ms_since(t0));
        t0 = Clock::now();
        pgha::RejoinMethod m = a->rejoin(*b);
        pg[order[4]].add(ms_since(t0));
        rejoin_methods[std::string("clean: ") + pgha::to_string(m)]++;
        std::swap(a, b);
      }
      // a is the primary again (an even number of rounds): p.

      // Crash failover and back.
      t0 = Clock::now();
      {
        pgha::FailoverGuard g(*p, *s, pgha::StopMode::Crash);
      }
      pg[order[5]].add(ms_since(t0));
      rejoin_methods[std::string("crash: ") + pgha::to_string(p->last_rejoin_method())]++;

      // Breakdown of a crash failover done by hand (s is the primary now, p its standby).
      t0 = Clock::now();
      s->stop(pgha::StopMode::Crash);
      crash_parts["a. stop(Crash) of the primary"].add(ms_since(t0));
      t0 = Clock::now();
      p->promote();
      crash_parts["b. promote() of the standby"].add(ms_since(t0));
      t0 = Clock::now();
      pgha::RejoinMethod m = s->rejoin(*p);
      crash_parts["c. rejoin() of the crashed node until sync"].add(ms_since(t0));
      rejoin_methods[std::string("crash (by hand): ") + pgha::to_string(m)]++;
      s.reset();
      p.reset();

      // The selectable methods, forced.
      pgha::Options api;
      api.clone_method = pgha::CloneMethod::BackupApi;
      p = std::make_unique<pgha::TempPrimary>(api);
      t0 = Clock::now();
      s = std::make_unique<pgha::TempStandby>(*p);
      pg[order[12]].add(ms_since(t0));
      s.reset();
      p.reset();
      if (!pgha::detail::find_binaries("").pg_basebackup.empty()) {
        pgha::Options bb;
        bb.clone_method = pgha::CloneMethod::BaseBackup;
        p = std::make_unique<pgha::TempPrimary>(bb);
        t0 = Clock::now();
        s = std::make_unique<pgha::TempStandby>(*p);
        pg[order[13]].add(ms_since(t0));
        s.reset();
        p.reset();
      }
      if (!pgha::detail::find_binaries("").pg_rewind.empty()) {
        pgha::Options rw;
        rw.repair = pgha::RepairMethod::Rewind;
        p = std::make_unique<pgha::TempPrimary>(rw);
        s = std::make_unique<pgha::TempStandby>(*p);
        t0 = Clock::now();
        {
          pgha::FailoverGuard g(*p, *s, pgha::StopMode::Crash);
        }
        pg[order[14]].add(ms_since(t0));
        rejoin_methods[std::string("crash, Rewind forced: ") + pgha::to_string(p->last_rejoin_method())]++;
        s.reset();
        p.reset();
      }

      t0 = Clock::now();
      walkthrough();
      pg[order[8]].add(ms_since(t0));

      raw_start(floor[floor_order[0]], floor[floor_order[1]]);
      if (i < 3) floor[floor_order[2]].add(raw_initdb());
    }

    // First pair in a fresh process with no template: a child of this program per sample.
    for (int i = 0; i < std::min(iters, 3); ++i) {
      std::string base = fresh_base("first");
      std::string out = base + "/child.out";
      pid_t pid = spawn_child(self, "--first-pair", base, out);
      int st = 0;
      ::waitpid(pid, &st, 0);
      double ms = read_ms(out);
      std::error_code ec;
      fs::remove_all(base, ec);
      if (!WIFEXITED(st) || WEXITSTATUS(st) != 0 || ms < 0)
        throw std::runtime_error("the --first-pair child failed");
      pg[order[7]].add(ms);
    }

    // Compile time of the umbrella header.
    if (iters > 0) {
      std::string cmd = "echo '#include <pgha/pgha.hpp>' | g++ -std=c++17 -fsyntax-only -x c++ - -I" +
                        std::string(PGHA_BENCH_INCLUDE_DIR) + " -isystem /usr/include/postgresql";
      for (int i = 0; i < 5; ++i) {
        auto t0 = Clock::now();
        if (std::system(cmd.c_str()) != 0) throw std::runtime_error("compile failed: " + cmd);
        pg[order[9]].add(ms_since(t0));
      }
      std::string std_file = fresh_base("stdheaders") + "/std.cpp";
      { std::ofstream f(std_file); f << kStdHeaders; }
      std::string std_cmd = "g++ -std=c++17 -fsyntax-only -isystem /usr/include/postgresql " + std_file;
      for (int i = 0; i < 5; ++i) {
        auto t0 = Clock::now();
        if (std::system(std_cmd.c_str()) != 0) throw std::runtime_error("compile failed: " + std_cmd);
        floor[floor_order[3]].add(ms_since(t0));
      }
      std::error_code ec;
      fs::remove_all(fs::path(std_file).parent_path(), ec);
    }

    // N processes at once, each a pair + a crash FailoverGuard, in a private temp base.
    if (procs > 0) {
      std::string base = fresh_base("procs");
      { pgha::Options o; o.tmp_dir = base; pgha::TempPrimary warm(o); }  // its template
      std::vector<pid_t> pids;
      auto t0 = Clock::now();
      for (int i = 0; i < procs; ++i)
        pids.push_back(spawn_child(self, "--pair-guard", base, base + "/child" + std::to_string(i) + ".out"));
      int passed = 0;
      Samples each;
      for (int i = 0; i < procs; ++i) {
        int st = 0;
        ::waitpid(pids[i], &st, 0);
        if (WIFEXITED(st) && WEXITSTATUS(st) == 0) ++passed;
        double ms = read_ms(base + "/child" + std::to_string(i) + ".out");
        if (ms >= 0) each.add(ms);
      }
      double wall = ms_since(t0);
      std::string left = leftovers(base);
      std::error_code ec;
      fs::remove_all(base, ec);
      procs_row = "| " + std::to_string(procs) + " processes at once, each a pair + a FailoverGuard(Crash) | " +
                  std::to_string(passed) + "/" + std::to_string(procs) + " passed | per process: median " +
                  fmt(each.median()) + ", p90 " + fmt(each.p90()) + ", max " + fmt(each.max()) +
                  " | all done in " + fmt(wall) + " | left behind: " + (left.empty() ? "nothing" : left) + " |";
    }
  } catch (const std::exception& e) {
    std::cerr << "pgha_bench: error: " << e.what() << "\n";
    return 1;
  }

  // One Markdown table: a row per step of `rows` (in that order) that has samples.
  auto table = [](const std::string& title, const std::vector<std::string>& rows,
                  std::map<std::string, Samples>& samples) {
    std::cout << "## " << title << "\n\n| step | n | median | p90 | max |\n|---|---:|---:|---:|---:|\n";
    for (const auto& k : rows) {
      const Samples& s = samples[k];
      if (s.v.empty()) continue;
      std::cout << "| " << k << " | " << s.v.size() << " | " << fmt(s.median()) << " | "
                << fmt(s.p90()) << " | " << fmt(s.max()) << " |\n";
    }
  };
  table("pgha steps (" + std::to_string(iters) + " iterations, ms)", order, pg);
  if (!procs_row.empty()) std::cout << "\n" << procs_row << "\n";
  std::cout << "\n";
  table("the floor: the same work with no pgha step around it (ms)", floor_order, floor);
  std::vector<std::string> parts;
  for (const auto& kv : crash_parts) parts.push_back(kv.first);
  std::cout << "\n";
  table("crash failover by hand, step by step (ms)", parts, crash_parts);

  std::cout << "\n## naive vs pgha (median ms)\n\n";
  std::cout << "| step | naive | pgha | naive/pgha |\n|---|---:|---:|---:|\n";
  const std::vector<std::pair<std::string, std::string>> cmp = {
      {"primary up", order[1]}, {"standby up", order[2]},
      {"promote", order[3]},    {"fast stop", order[10]}};
  const std::map<std::string, std::string> label = {
      {"primary up", "primary up (initdb + pg_ctl start vs TempPrimary)"},
      {"standby up", "standby up (pg_basebackup + pg_ctl start vs TempStandby)"},
      {"promote", "promote (pg_ctl -w promote vs promote())"},
      {"fast stop", "fast stop (pg_ctl -w stop -m fast vs stop())"}};
  for (const auto& [nk, pk] : cmp) {
    double x = naive[nk].median(), y = pg[pk].median();
    std::cout << "| " << label.at(nk) << " | " << fmt(x) << " | " << fmt(y) << " | "
              << (y > 0 ? fmt(x / y, 2) + "x" : "-") << " |\n";
  }

  std::cout << "\nRSS of a pair's servers (primary + standby postmasters and children, after"
               " both are up): median "
            << fmt(rss_kb.median() / 1024.0) << " MiB, max " << fmt(rss_kb.max() / 1024.0)
            << " MiB over " << fmt(rss_procs.median(), 0) << " processes (VmRSS counts shared"
               " memory in every process; PSS total: median "
            << fmt(pss_total_kb.median() / 1024.0) << " MiB)\n";
  std::cout << "Rejoin methods:";
  for (const auto& [k, v] : rejoin_methods) std::cout << " " << k << " x" << v << ";";
  std::cout << "\n";

  char date[64];
  std::time_t now = std::time(nullptr);
  std::strftime(date, sizeof date, "%Y-%m-%d %H:%M:%S UTC", std::gmtime(&now));
  utsname u{};
  ::uname(&u);
  double load[3] = {0, 0, 0};
  ::getloadavg(load, 3);
  std::cout << "\n" << date << ", " << u.machine << ", nproc " << ::sysconf(_SC_NPROCESSORS_ONLN)
            << ", load average at the end " << fmt(load[0], 2) << ", PostgreSQL " << version << "\n";
  return 0;
}
