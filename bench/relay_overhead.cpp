// relay_overhead: what an Endpoint with no toxics costs a client. A pgbench-like loop of
// simple statements (SELECT 1, then single-row INSERTs) runs directly against a primary
// and through pgha::Endpoint, alternating rounds so load on the machine hits both alike.
// Prints a Markdown table (median per-statement latency in microseconds, statements per
// second); it checks no thresholds.
//
//   pgha_relay_overhead [statements per round]   default 2000
#include <pgha/pgha.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;

// Mean microseconds per statement over `n` statements on one connection.
double round_us(const std::string& conninfo, const std::string& sql, int n) {
  pgha::Connection c(conninfo);
  c.execute("SET synchronous_commit = local");  // measure the path, not the standby
  const auto t0 = Clock::now();
  for (int i = 0; i < n; ++i) c.execute(sql);
  return std::chrono::duration<double, std::micro>(Clock::now() - t0).count() / n;
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
  std::printf("| statement (%d per round, median of %d rounds) | direct us | endpoint us | overhead us | direct/s | endpoint/s |\n",
              n, rounds);
  std::printf("| --- | ---: | ---: | ---: | ---: | ---: |\n");
  for (const std::string sql : {"SELECT 1", "INSERT INTO t VALUES (1)"}) {
    std::vector<double> direct, via;
    round_us(node.conninfo(), sql, n / 10 + 1);  // warm up both paths
    round_us(db.conninfo(), sql, n / 10 + 1);
    for (int r = 0; r < rounds; ++r) {
      direct.push_back(round_us(node.conninfo(), sql, n));
      via.push_back(round_us(db.conninfo(), sql, n));
    }
    const double d = median(direct), e = median(via);
    std::printf("| `%s` | %.1f | %.1f | %.1f | %.0f | %.0f |\n", sql.c_str(), d, e, e - d, 1e6 / d, 1e6 / e);
  }
  std::printf("\nbytes through the endpoint: up %llu, down %llu\n",
              static_cast<unsigned long long>(db.link().bytes_up()),
              static_cast<unsigned long long>(db.link().bytes_down()));
  return 0;
}
