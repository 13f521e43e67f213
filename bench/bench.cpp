// pgha_bench: how long pgha's steps take, and the same steps done by hand as in the
// walkthrough (initdb, pg_ctl, pg_basebackup as the postgres user). Prints Markdown tables
// (median, p90, max in ms); it checks no thresholds.
//
//   pgha_bench [iterations]      default 7
#include <pgha/pgha.hpp>

#include <netinet/in.h>
#include <pwd.h>
#include <sys/socket.h>
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
#include <functional>
#include <iostream>
#include <map>
#include <memory>
#include <sstream>
#include <stdexcept>
#include <string>
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

}  // namespace

int main(int argc, char** argv) {
  int iters = argc > 1 ? std::atoi(argv[1]) : 7;
  if (iters < 1) iters = 1;

  // Steps in print order.
  const std::vector<std::string> order = {
      "first primary, cold template",
      "TempPrimary construction (warm template)",
      "TempStandby construction (until streaming + sync)",
      "primary + sync standby together (warm)",
      "promote() until writable",
      "clean rejoin until sync (after fast stop + promote)",
      "crash failover: FailoverGuard(Crash) incl. scope exit",
      "fast stop (node.stop())",
      "destroying a pair (servers gone, dirs removed)",
      "commit with remote_apply (1-row insert)",
      "fast options: TempStandby with CloneMethod::BackupApi",
      "fast options: primary + sync standby together (warm)",
      "fast options: crash failover with RepairMethod::Reclone",
  };
  std::map<std::string, Samples> pg;
  std::map<std::string, Samples> naive;
  Samples rss_kb, pss_total_kb, rss_procs;
  std::map<std::string, Samples> crash_parts;  // manual crash failover, step by step
  int version = 0;
  std::map<std::string, int> rejoin_methods;

  try {
    // 1. Cold template: remove the cache once, then time the first construction.
    {
      const char* e = std::getenv("PGHA_TMPDIR");
      std::string base = (e && *e) ? e : "/dev/shm";
      std::error_code ec;
      fs::remove_all(base + "/pgha-templates", ec);
      auto t0 = Clock::now();
      pgha::TempPrimary first;
      pg[order[0]].add(ms_since(t0));
      version = first.server_version_num();
    }

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
      auto t0 = Clock::now();
      p = std::make_unique<pgha::TempPrimary>();
      auto t1 = Clock::now();
      s = std::make_unique<pgha::TempStandby>(*p);
      auto t2 = Clock::now();
      pg[order[1]].add(std::chrono::duration<double, std::milli>(t1 - t0).count());
      pg[order[2]].add(std::chrono::duration<double, std::milli>(t2 - t1).count());
      pg[order[3]].add(std::chrono::duration<double, std::milli>(t2 - t0).count());

      // RSS of the pair's servers once both are up.
      int procs = 0;
      long pss = 0;
      long kb = tree_rss_kb(p->pid(), &procs, &pss) + tree_rss_kb(s->pid(), &procs, &pss);
      rss_kb.add(static_cast<double>(kb));
      pss_total_kb.add(static_cast<double>(pss));
      rss_procs.add(procs);

      // 10. A remote_apply commit.
      p->execute("CREATE TABLE IF NOT EXISTS bench (id int)");
      t0 = Clock::now();
      p->execute("INSERT INTO bench VALUES (1)");
      pg[order[9]].add(ms_since(t0));

      // 8. fast stop of the primary; 5. promote of the standby.
      t0 = Clock::now();
      p->stop();
      pg[order[7]].add(ms_since(t0));
      t0 = Clock::now();
      s->promote();
      pg[order[4]].add(ms_since(t0));

      // 6. the stopped old primary rejoins cleanly.
      t0 = Clock::now();
      pgha::RejoinMethod m = p->rejoin(*s);
      pg[order[5]].add(ms_since(t0));
      rejoin_methods[std::string("clean: ") + pgha::to_string(m)]++;

      // 7. crash failover and back (s is the primary now, p its standby).
      t0 = Clock::now();
      {
        pgha::FailoverGuard g(*s, *p, pgha::StopMode::Crash);
      }
      pg[order[6]].add(ms_since(t0));
      rejoin_methods[std::string("crash: ") + pgha::to_string(s->last_rejoin_method())]++;

      // Breakdown of a crash failover done by hand (p is the primary again, s its standby).
      t0 = Clock::now();
      p->stop(pgha::StopMode::Crash);
      crash_parts["a. stop(Crash) of the primary"].add(ms_since(t0));
      t0 = Clock::now();
      s->promote();
      crash_parts["b. promote() of the standby"].add(ms_since(t0));
      t0 = Clock::now();
      m = p->rejoin(*s);
      crash_parts["c. rejoin() of the crashed node until sync"].add(ms_since(t0));
      rejoin_methods[std::string("crash (by hand): ") + pgha::to_string(m)]++;

      // 9. destroy the pair.
      t0 = Clock::now();
      s.reset();
      p.reset();
      pg[order[8]].add(ms_since(t0));

      // The floor paths: low-level backup API instead of pg_basebackup, re-clone instead
      // of pg_rewind (the defaults use the tools when version-matched ones exist).
      pgha::Options fast;
      fast.clone_method = pgha::CloneMethod::BackupApi;
      fast.repair = pgha::RepairMethod::Reclone;
      t0 = Clock::now();
      p = std::make_unique<pgha::TempPrimary>(fast);
      t1 = Clock::now();
      s = std::make_unique<pgha::TempStandby>(*p);
      t2 = Clock::now();
      pg[order[10]].add(std::chrono::duration<double, std::milli>(t2 - t1).count());
      pg[order[11]].add(std::chrono::duration<double, std::milli>(t2 - t0).count());
      t0 = Clock::now();
      {
        pgha::FailoverGuard g(*p, *s, pgha::StopMode::Crash);
      }
      pg[order[12]].add(ms_since(t0));
      rejoin_methods[std::string("crash, fast options: ") + pgha::to_string(p->last_rejoin_method())]++;
      s.reset();
      p.reset();
    }
  } catch (const std::exception& e) {
    std::cerr << "pgha_bench: error: " << e.what() << "\n";
    return 1;
  }

  std::cout << "## pgha steps (" << iters << " iterations, ms)\n\n";
  std::cout << "| step | n | median | p90 | max |\n|---|---:|---:|---:|---:|\n";
  for (const auto& k : order) {
    const Samples& s = pg[k];
    std::cout << "| " << k << " | " << s.v.size() << " | " << fmt(s.median()) << " | "
              << fmt(s.p90()) << " | " << fmt(s.max()) << " |\n";
  }

  std::cout << "\n## crash failover by hand, step by step (ms)\n\n";
  std::cout << "| step | n | median | p90 | max |\n|---|---:|---:|---:|---:|\n";
  for (const auto& [k, s] : crash_parts)
    std::cout << "| " << k << " | " << s.v.size() << " | " << fmt(s.median()) << " | "
              << fmt(s.p90()) << " | " << fmt(s.max()) << " |\n";

  std::cout << "\n## naive vs pgha (median ms)\n\n";
  std::cout << "| step | naive | pgha | naive/pgha |\n|---|---:|---:|---:|\n";
  const std::vector<std::pair<std::string, std::string>> cmp = {
      {"primary up", order[1]}, {"standby up", order[2]},
      {"promote", order[4]},    {"fast stop", order[7]}};
  const std::map<std::string, std::string> label = {
      {"primary up", "primary up (initdb + pg_ctl start vs TempPrimary)"},
      {"standby up", "standby up (pg_basebackup + pg_ctl start vs TempStandby)"},
      {"promote", "promote (pg_ctl -w promote vs promote())"},
      {"fast stop", "fast stop (pg_ctl -w stop -m fast vs stop())"}};
  for (const auto& [nk, pk] : cmp) {
    double a = naive[nk].median(), b = pg[pk].median();
    std::cout << "| " << label.at(nk) << " | " << fmt(a) << " | " << fmt(b) << " | "
              << (b > 0 ? fmt(a / b, 2) + "x" : "-") << " |\n";
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
  std::cout << "\n" << date << ", " << u.machine << ", nproc " << ::sysconf(_SC_NPROCESSORS_ONLN)
            << ", PostgreSQL " << version << "\n";
  return 0;
}
