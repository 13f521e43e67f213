// bench/history_bench.cpp: how long History::check takes for a large history. Builds a
// history of N operations (default 100,000: 80% ok, 10% failed, 10% unknown, 8 keys, 16
// processes) and a final-state Result built with libpq (no server) holding the ok rows and
// half the unknown ones, then times check() `runs` times and prints the median.
//   pgha_history_bench [operations] [runs]   (defaults 100000 and 7)
// It only prints numbers; it checks no thresholds.
#include <libpq-fe.h>

#include <pgha/history.hpp>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <ctime>
#include <iostream>
#include <string>
#include <vector>

namespace {
pgha::Result make_result(const std::vector<std::pair<std::string, std::string>>& rows) {
  PGresult* r = PQmakeEmptyPGresult(nullptr, PGRES_TUPLES_OK);
  PGresAttDesc cols[2] = {};
  cols[0].name = const_cast<char*>("key");
  cols[1].name = const_cast<char*>("value");
  cols[0].typid = cols[1].typid = 25;
  cols[0].typlen = cols[1].typlen = -1;
  cols[0].atttypmod = cols[1].atttypmod = -1;
  if (!r || !PQsetResultAttrs(r, 2, cols)) throw pgha::Error("could not build a result");
  for (std::size_t i = 0; i < rows.size(); ++i) {
    int row = static_cast<int>(i);
    if (!PQsetvalue(r, row, 0, const_cast<char*>(rows[i].first.c_str()), static_cast<int>(rows[i].first.size())) ||
        !PQsetvalue(r, row, 1, const_cast<char*>(rows[i].second.c_str()), static_cast<int>(rows[i].second.size())))
      throw pgha::Error("could not fill the result");
  }
  return pgha::detail::ConnectionAccess::adopt(r);
}
}  // namespace

int main(int argc, char** argv) try {
  const long n = argc > 1 ? std::atol(argv[1]) : 100000;
  const int runs = argc > 2 ? std::atoi(argv[2]) : 7;
  if (n < 1 || runs < 1) {
    std::cerr << "usage: pgha_history_bench [operations >= 1] [runs >= 1]\n";
    return 2;
  }
  pgha::History h;
  std::vector<std::pair<std::string, std::string>> rows;
  for (long i = 0; i < n; ++i) {
    std::string key = "k" + std::to_string(i % 8);
    std::string value = std::to_string(i % 16) + "-" + std::to_string(i);
    pgha::Op op = h.invoke(key, value, static_cast<int>(i % 16));
    long kind = i % 10;
    if (kind < 8) {
      op.ok();
      rows.emplace_back(key, value);
    } else if (kind == 8) {
      op.fail();
    } else {
      op.unknown("connection lost during COMMIT");
      if (i % 20 == 9) rows.emplace_back(key, value);
    }
  }
  pgha::Result final_state = make_result(rows);
  std::vector<double> ms, cpu;  // wall-clock and CPU time of this process, ms
  pgha::Verdict v = h.check(final_state);
  for (int r = 0; r < runs; ++r) {
    auto t0 = std::chrono::steady_clock::now();
    std::clock_t c0 = std::clock();
    v = h.check(final_state);
    cpu.push_back(1000.0 * static_cast<double>(std::clock() - c0) / CLOCKS_PER_SEC);
    ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
  }
  std::sort(ms.begin(), ms.end());
  std::sort(cpu.begin(), cpu.end());
  std::cout << "History::check of " << n << " operations, " << rows.size() << " rows: median "
            << ms[ms.size() / 2] << " ms, min " << ms.front() << " ms, max " << ms.back()
            << " ms over " << runs << " runs (CPU time: median " << cpu[cpu.size() / 2]
            << " ms)\n"
            << v.summary() << "\n";
  return v.ok() ? 0 : 1;
} catch (const std::exception& e) {
  std::cerr << "history_bench failed: " << e.what() << "\n";
  return 1;
}
