// pgha/detail/nemesis_schedule.hpp: the schedule of a Nemesis, a pure function of the seed,
// the options and the cluster's shape (its number of nodes): which fault, on which role, when
// and for how long. No server, no clock, no std::random (whose distributions differ between
// standard libraries): splitmix64 and integer arithmetic, so a seed printed on one machine
// replays the same steps on another.
#pragma once

#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <vector>

#include "pgha/error.hpp"
#include "pgha/nemesis_types.hpp"

namespace pgha::detail {

/// splitmix64: a tiny generator with a well-defined output for every seed.
class SplitMix64 {
public:
  explicit SplitMix64(std::uint64_t seed) noexcept : s_(seed) {}
  std::uint64_t next() noexcept {
    std::uint64_t z = (s_ += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
  }
  /// Uniform in [0, n) (n > 0; the modulo bias is below 2^-40 for the ranges used here).
  std::uint64_t below(std::uint64_t n) noexcept { return next() % n; }

private:
  std::uint64_t s_;
};

/// Faults that need a standby (a walreceiver, replay, a replication link, a node to promote).
inline bool needs_standby(Fault f) noexcept {
  switch (f) {
    case Fault::FreezeWalsender: case Fault::FreezeWalreceiver: case Fault::PauseReplay:
    case Fault::CutLink: case Fault::DelayLink: case Fault::Partition: case Fault::Failover:
      return true;
    default:
      return false;
  }
}

/// Every kind of fault, in the order of the enum.
inline std::vector<Fault> all_faults() {
  return {Fault::Crash, Fault::Stop, Fault::Freeze, Fault::FreezeWalsender, Fault::FreezeWalreceiver,
          Fault::PauseReplay, Fault::CutLink, Fault::DelayLink, Fault::Partition, Fault::Failover,
          Fault::ClientReset};
}

/// The faults a run over `nodes` nodes draws from: the requested ones (empty: every kind that
/// applies). UsageError for a requested fault that needs a standby on a cluster of one node.
inline std::vector<Fault> effective_faults(const std::vector<Fault>& requested, std::size_t nodes) {
  std::vector<Fault> out;
  if (requested.empty()) {
    for (Fault f : all_faults())
      if (nodes > 1 || !needs_standby(f)) out.push_back(f);
    return out;
  }
  for (Fault f : requested) {
    if (nodes < 2 && needs_standby(f))
      throw UsageError(std::string("Nemesis: Fault::") + enum_name(f) + " needs a standby; the cluster "
                       "has one node. Expected at least 2 nodes, or faults without it");
    out.push_back(f);
  }
  return out;
}

/// The role-relative target of fault `f` on a cluster of `nodes` nodes: "primary" or
/// "standby <i>" (1-based, in the order the nodes were given, among the standbys of the moment).
inline std::string pick_target(Fault f, std::size_t nodes, SplitMix64& rng) {
  const std::size_t standbys = nodes - 1;
  switch (f) {
    case Fault::FreezeWalsender: case Fault::ClientReset: case Fault::Failover:
      return "primary";
    case Fault::FreezeWalreceiver: case Fault::PauseReplay: case Fault::CutLink: case Fault::DelayLink:
      return "standby " + std::to_string(1 + rng.below(standbys));
    default: {  // Crash, Stop, Freeze, Partition: any node
      std::uint64_t i = rng.below(nodes);
      return i == 0 ? "primary" : "standby " + std::to_string(i);
    }
  }
}

/// The steps: one fault at a time; each lasts between max_fault/10 and max_fault, and the
/// pause before it is uniform in [0, 2 * interval] (mean: interval).
inline std::vector<Step> make_schedule(std::uint64_t seed, const std::vector<Fault>& faults, int steps,
                                       std::chrono::milliseconds interval,
                                       std::chrono::milliseconds max_fault, std::size_t nodes) {
  SplitMix64 rng(seed);
  std::vector<Step> out;
  std::chrono::milliseconds at(0);
  const long long lo = std::max<long long>(1, max_fault.count() / 10);
  for (int i = 0; i < steps; ++i) {
    Step s;
    at += std::chrono::milliseconds(static_cast<long long>(rng.below(static_cast<std::uint64_t>(2 * interval.count() + 1))));
    s.at = at;
    s.fault = faults[rng.below(faults.size())];
    s.target = pick_target(s.fault, nodes, rng);
    s.duration = std::chrono::milliseconds(
        lo + static_cast<long long>(rng.below(static_cast<std::uint64_t>(max_fault.count() - lo + 1))));
    at += s.duration;
    out.push_back(s);
  }
  return out;
}

/// The seed of a run: `requested` if not 0, else PGHA_SEED (decimal) if set, else `fresh`.
/// UsageError for a PGHA_SEED that is not a positive decimal number.
inline std::uint64_t resolve_seed(std::uint64_t requested, std::uint64_t fresh) {
  if (requested != 0) return requested;
  const char* e = std::getenv("PGHA_SEED");
  if (!e || !*e) return fresh == 0 ? 1 : fresh;
  char* end = nullptr;
  unsigned long long v = std::strtoull(e, &end, 10);
  if (*end != '\0' || v == 0 || e[0] == '-')
    throw UsageError(std::string("PGHA_SEED='") + e + "' is not a seed; expected a positive decimal "
                     "number, as a Nemesis prints it (\"PGHA_SEED=<seed> replays it\")");
  return v;
}

}  // namespace pgha::detail
