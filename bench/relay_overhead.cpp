// relay_overhead: what an Endpoint with no toxics costs a client. A pgbench-like loop of
// simple statements (SELECT 1, then single-row INSERTs) runs directly against a primary
// and through pgha::Endpoint, alternating rounds so load on the machine hits both alike.
// Prints a Markdown table (median per-statement latency in microseconds, statements per
// second); it checks no thresholds.
//
//   pgha_relay_overhead [statements per round]   default 2000
#include <pgha/pgha.hpp>

#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;

double cpu_us() {  // this process: the client and, through an Endpoint, the relay's thread
  rusage ru{};
  ::getrusage(RUSAGE_SELF, &ru);
  return (ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1e6 + ru.ru_utime.tv_usec + ru.ru_stime.tv_usec;
}

// Mean wall-clock microseconds per statement over `n` statements on one connection;
// `cpu` gets the mean CPU microseconds this process spent per statement.
double round_us(const std::string& conninfo, const std::string& sql, int n, double* cpu = nullptr) {
  pgha::Connection c(conninfo);
  c.execute("SET synchronous_commit = local");  // measure the path, not the standby
  const double c0 = cpu_us();
  const auto t0 = Clock::now();
  for (int i = 0; i < n; ++i) c.execute(sql);
  const double wall = std::chrono::duration<double, std::micro>(Clock::now() - t0).count() / n;
  if (cpu) *cpu = (cpu_us() - c0) / n;
  return wall;
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
  const int n = argc > 1 ? std::max(1, std::atoi(argv[1])) : 2000;
  const int rounds = 5;
  pgha::TempPrimary node;
  node.execute("CREATE TABLE t (x int)");
  pgha::Endpoint db(node);
  std::printf("| statement (%d per round, median of %d rounds) | direct us | endpoint us | overhead us | direct/s | endpoint/s | "
              "process CPU us/stmt direct | via endpoint |\n", n, rounds);
  std::printf("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n");
  for (const std::string sql : {"SELECT 1", "INSERT INTO t VALUES (1)"}) {
    std::vector<double> direct, via, cpu_direct, cpu_via;
    round_us(node.conninfo(), sql, n / 10 + 1);  // warm up both paths
    round_us(db.conninfo(), sql, n / 10 + 1);
    for (int r = 0; r < rounds; ++r) {
      double cd = 0, cv = 0;
      direct.push_back(round_us(node.conninfo(), sql, n, &cd));
      via.push_back(round_us(db.conninfo(), sql, n, &cv));
      cpu_direct.push_back(cd);
      cpu_via.push_back(cv);
    }
    const double d = median(direct), e = median(via);
    std::printf("| `%s` | %.1f | %.1f | %.1f | %.0f | %.0f | %.1f | %.1f |\n", sql.c_str(), d, e, e - d, 1e6 / d,
                1e6 / e, median(cpu_direct), median(cpu_via));
  }
  std::printf("\nbytes through the endpoint: up %llu, down %llu\n",
              static_cast<unsigned long long>(db.link().bytes_up()),
              static_cast<unsigned long long>(db.link().bytes_down()));
  return 0;
}
