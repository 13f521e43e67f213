// pgha/detail/verdict_data.hpp: what History::check found, as pgha::Verdict holds it (the
// checker that fills it is detail/history_check.hpp). Apart so that pgha/history.hpp needs
// only this, not the checker.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "pgha/history_types.hpp"

namespace pgha {
namespace detail {

struct VerdictData {
  std::vector<OpRecord> lost, revived;
  std::vector<Row> phantom, duplicated;
  std::size_t unknown_present = 0, unknown_absent = 0, acknowledged = 0, failed = 0,
              attempted = 0, rows = 0;
  // Reads (detail/read_check.hpp): the anomalies, how many were invoked and how many ok.
  std::vector<OpRecord> stale_reads, phantom_reads;
  std::vector<std::string> stale_missed;  // per stale read (the first 10): the append missed
  std::size_t reads = 0, reads_ok = 0;
  std::vector<std::int64_t> ack_times;  // completion times of the acknowledged appends, sorted
};

}  // namespace detail
}  // namespace pgha
