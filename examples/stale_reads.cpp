// examples/stale_reads.cpp: reads from a standby right after an acknowledged write. The
// same read-heavy workload runs against three pairs that differ only in the primary's
// synchronous_commit: remote_apply (the commit waits until the standby applied it), on
// (until the standby flushed it to disk, not applied) and async (waits for nobody). Its
// clients write through the primary and, half of the time, read the key they last wrote
// through a Route::Standby endpoint; the Verdict lists the reads that were invoked after
// an acknowledged write to their key and did not see it (stale reads).
// Exit 0 if remote_apply has no stale read and async and on have some.
#include <pgha/pgha.hpp>

#include "teaching.hpp"

#include <chrono>
#include <iostream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

using namespace std::chrono_literals;
using teaching::expect;
using teaching::step;

namespace {

// Runs the workload on a fresh pair with `mode` until `reads` reads were answered; returns
// its verdict (checked against the primary's table).
pgha::Verdict run(pgha::SyncMode mode, std::size_t reads) {
  pgha::Options opts;
  opts.sync_mode = mode;
  pgha::TempPrimary node1(opts);
  pgha::TempStandby node2(node1);
  pgha::Endpoint replica({&node1, &node2}, pgha::Route::Standby);  // reads: the standby

  pgha::WorkloadOptions wo;
  wo.read_fraction = 0.5;                 // half of the operations read ...
  wo.read_conninfo = replica.conninfo();  // ... through the standby, right after a write
  pgha::Workload w(node1.conninfo(), 16, wo);  // 16 clients write through the primary
  w.start();
  auto deadline = std::chrono::steady_clock::now() + 120s;
  while (w.history().count(pgha::Outcome::Ok, pgha::OpKind::Read) < reads) {
    if (std::chrono::steady_clock::now() > deadline)
      throw std::runtime_error("only " + std::to_string(w.history().count(pgha::Outcome::Ok, pgha::OpKind::Read)) +
                               " reads answered in 120 s; last client error: " + w.last_error());
    std::this_thread::sleep_for(10ms);  // polls a counter
  }
  w.stop();
  return w.check(node1);
}

}  // namespace

int main() try {
  const std::size_t reads = 4000;
  std::vector<pgha::Verdict> verdicts;
  for (pgha::SyncMode mode : {pgha::SyncMode::RemoteApply, pgha::SyncMode::On, pgha::SyncMode::Async}) {
    step(std::string("SyncMode ") + pgha::to_string(mode) +
         ": 16 clients write to the primary and read their last key from the standby");
    verdicts.push_back(run(mode, reads));
    const pgha::Verdict& v = verdicts.back();
    std::cout << v.acknowledged() << " writes acknowledged, " << v.reads() << " reads, "
              << v.stale_reads().size() << " stale\n";
    if (!v.stale_reads().empty()) {
      const pgha::OpRecord& r = v.stale_reads().front();
      std::cout << "  e.g. client " << r.process << " read " << r.key << " and saw " << r.read_values.size()
                << " values, missing one whose write was acknowledged before the read began\n";
    }
  }

  step("side by side");
  expect(verdicts[0].stale_reads().empty() && verdicts[0].ok(),
         "remote_apply: every read after an acknowledged write saw it");
  expect(!verdicts[1].stale_reads().empty(),
         "on: flushed on the standby is not yet visible there: stale reads");
  expect(!verdicts[2].stale_reads().empty(), "async: stale reads");
  for (const auto& v : verdicts) expect(v.lost().empty(), "no acknowledged write lost (no failover here)");

  std::cout << (teaching::ok ? "OK" : "FAILED: see above") << "\n";
  return teaching::ok ? 0 : 1;
} catch (const std::exception& e) {
  std::cerr << "stale_reads failed: " << e.what() << "\n";
  return 1;
}
