// The definitions of pgha/nemesis.hpp. Header-only: included at the end of the header
// (PGHA_DECL is `inline`). Separate compilation: compiled once, by pgha/implementation.hpp.
#pragma once

#include "pgha/nemesis.hpp"
#include "pgha/detail/nemesis_schedule.hpp"
#include "pgha/error.hpp"
#include "pgha/events.hpp"
#include "pgha/partition.hpp"

#include <algorithm>
#include <random>
#include <set>
#include <sstream>

namespace pgha {

namespace detail {
// "+1.234s" for a schedule line.
inline std::string nemesis_seconds(std::chrono::milliseconds ms) {
  char b[32];
  std::snprintf(b, sizeof b, "%lld.%03llds", static_cast<long long>(ms.count() / 1000),
                static_cast<long long>(ms.count() % 1000));
  return b;
}
}  // namespace detail

PGHA_DECL Nemesis::Nemesis(std::vector<Node*> nodes, NemesisOptions opts)
    : nodes_(std::move(nodes)), opts_(std::move(opts)) {
  if (nodes_.empty()) throw UsageError("Nemesis: no node; expected the nodes of one cluster");
  std::set<Node*> seen;
  for (Node* n : nodes_) {
    if (!n) throw UsageError("Nemesis: a node pointer is null; expected the nodes of one cluster");
    if (!seen.insert(n).second)
      throw UsageError("Nemesis: " + n->name() + " is listed twice; expected each node once");
  }
  if (opts_.steps < 0 || opts_.steps > 10000)
    throw UsageError("Nemesis: steps = " + std::to_string(opts_.steps) + "; expected 0 to 10000");
  if (opts_.interval.count() < 0 || opts_.interval > std::chrono::hours(1))
    throw UsageError("Nemesis: interval = " + std::to_string(opts_.interval.count()) +
                     " ms; expected 0 to 1 hour");
  if (opts_.max_fault.count() < 1 || opts_.max_fault > std::chrono::hours(1))
    throw UsageError("Nemesis: max_fault = " + std::to_string(opts_.max_fault.count()) +
                     " ms; expected 1 ms to 1 hour");
  std::vector<Fault> faults = detail::effective_faults(opts_.faults, nodes_.size());
  if (faults.empty() && opts_.steps > 0)
    throw UsageError("Nemesis: no fault to draw from; expected NemesisOptions::faults to name some");
  // One cluster, as the servers say: one primary, every other node streaming from it.
  std::vector<Node*> primaries;
  for (Node* n : nodes_)
    if (n->is_running() && n->role() == Role::Primary) primaries.push_back(n);
  if (primaries.size() != 1)
    throw UsageError("Nemesis: " + std::to_string(primaries.size()) + " running primaries among the " +
                     std::to_string(nodes_.size()) + " nodes; expected one primary and its standbys");
  Node& p = *primaries[0];
  for (Node* n : nodes_) {
    if (n == &p) continue;
    Result r = p.query("SELECT count(*) FROM pg_stat_replication WHERE application_name = '" +
                       n->application_name() + "' AND state = 'streaming'");
    if (!n->is_running() || r.value(0, 0) == "0")
      throw UsageError("Nemesis: " + n->name() + " does not stream from " + p.name() +
                       " (not in its pg_stat_replication); expected one cluster: a primary and its "
                       "streaming standbys");
  }
  seed_ = detail::resolve_seed(opts_.seed, std::random_device{}() * 0x100000001ull + std::random_device{}());
  steps_ = detail::make_schedule(seed_, faults, opts_.steps, opts_.interval, opts_.max_fault, nodes_.size());
}

PGHA_DECL Nemesis::Nemesis(TempCluster& cluster, NemesisOptions opts) : Nemesis(nodes_of(cluster), std::move(opts)) {}

PGHA_DECL auto Nemesis::nodes_of(TempCluster& c) -> std::vector<Node*> {
  std::vector<Node*> out;
  for (int i = 0; i < c.size(); ++i) out.push_back(&c.node(i));
  return out;
}

PGHA_DECL Nemesis::~Nemesis() {
  try {
    stop();
  } catch (const std::exception& e) {
    detail::emit("nemesis", "error", std::string("the Nemesis's last run failed: ") + e.what());
  } catch (...) {
  }
}

PGHA_DECL void Nemesis::run() {
  start();
  end_run();
}

PGHA_DECL void Nemesis::start() {
  std::lock_guard<std::mutex> l(m_);
  if (started_) throw StateError("Nemesis: it ran before; expected one run per Nemesis (make another)");
  started_ = true;
  if (detail::events_on()) {  // the whole schedule in one line: a failing test's timeline shows it
    std::string plan;
    for (std::size_t i = 0; i < steps_.size(); ++i)
      plan += (i ? "; " : "") + std::to_string(i + 1) + ". +" + detail::nemesis_seconds(steps_[i].at) + " " +
              to_string(steps_[i].fault) + " " + steps_[i].target + " for " +
              detail::nemesis_seconds(steps_[i].duration);
    detail::emit("nemesis", "nemesis", "seed " + std::to_string(seed_) + ", " + std::to_string(steps_.size()) +
                                           " steps over " + std::to_string(nodes_.size()) + " nodes (" + plan +
                                           "): PGHA_SEED=" + std::to_string(seed_) + " replays it",
                 {}, {{"seed", std::to_string(seed_)}});
  }
  thread_ = std::thread([this] { loop(); });
}

PGHA_DECL void Nemesis::stop() {
  {
    std::lock_guard<std::mutex> l(m_);
    if (!started_) return;
    stopping_ = true;
  }
  cv_.notify_all();
  end_run();
}

// Joins the steps' thread and heals, one caller at a time: stop() from two threads (or
// stop() beside run()) never joins the thread twice, and a second caller returns only once
// the first one's heal is done (the failure, if any, is thrown to the first).
PGHA_DECL void Nemesis::end_run() {
  std::lock_guard<std::mutex> j(join_m_);
  if (thread_.joinable()) thread_.join();
  finish();
}

PGHA_DECL auto Nemesis::running() const noexcept -> bool {
  std::lock_guard<std::mutex> l(m_);
  return started_ && !finished_;
}

PGHA_DECL auto Nemesis::seed() const noexcept -> std::uint64_t { return seed_; }

PGHA_DECL auto Nemesis::steps() const noexcept -> const std::vector<Step>& { return steps_; }

PGHA_DECL auto Nemesis::steps_started() const -> std::size_t {
  std::lock_guard<std::mutex> l(m_);
  return started_steps_;
}

PGHA_DECL auto Nemesis::schedule() const -> std::string {
  std::ostringstream o;
  o << "nemesis: seed " << seed_ << ", " << nodes_.size() << " nodes, " << steps_.size() << " steps\n";
  for (std::size_t i = 0; i < steps_.size(); ++i) {
    const Step& s = steps_[i];
    o << "  " << (i + 1) << ". +" << detail::nemesis_seconds(s.at) << " " << to_string(s.fault) << " "
      << s.target << " for " << detail::nemesis_seconds(s.duration) << "\n";
  }
  o << "PGHA_SEED=" << seed_ << " replays it\n";
  return o.str();
}

PGHA_DECL void Nemesis::loop() noexcept {
  const auto t0 = std::chrono::steady_clock::now();
  for (std::size_t i = 0; i < steps_.size(); ++i) {
    if (!wait_until_or_stop(t0 + steps_[i].at)) return;
    {
      std::lock_guard<std::mutex> l(m_);
      ++started_steps_;
    }
    try {
      apply(steps_[i], i);
      heal_cluster();  // the next step starts from a whole cluster, whatever its time says
    } catch (const std::exception& e) {
      std::lock_guard<std::mutex> l(m_);
      error_ = "Nemesis step " + std::to_string(i + 1) + " (" + to_string(steps_[i].fault) + " " +
               steps_[i].target + ") failed (PGHA_SEED=" + std::to_string(seed_) + " replays it): " + e.what();
      return;
    }
  }
}

PGHA_DECL auto Nemesis::wait_until_or_stop(std::chrono::steady_clock::time_point until) -> bool {
  std::unique_lock<std::mutex> l(m_);
  cv_.wait_until(l, until, [&] { return stopping_; });
  return !stopping_;
}

PGHA_DECL auto Nemesis::primary_now() -> Node& {
  Node* found = nullptr;
  for (Node* n : nodes_)
    if (n->is_running() && n->role() == Role::Primary) {
      if (found) throw StateError("Nemesis: two running primaries, " + found->name() + " and " + n->name() +
                                  "; expected one");
      found = n;
    }
  if (!found) throw StateError("Nemesis: no running primary among the nodes; expected one");
  return *found;
}

PGHA_DECL auto Nemesis::standbys_now() -> std::vector<Node*> {
  std::vector<Node*> out;
  for (Node* n : nodes_)
    if (n->is_running() && n->role() == Role::Standby) out.push_back(n);
  return out;
}

PGHA_DECL auto Nemesis::resolve(const std::string& target) -> Node& {
  if (target == "primary") return primary_now();
  std::size_t i = static_cast<std::size_t>(std::stoul(target.substr(std::string("standby ").size())));
  std::vector<Node*> s = standbys_now();
  if (i < 1 || i > s.size())
    throw StateError("Nemesis: no " + target + ": " + std::to_string(s.size()) + " running standbys");
  return *s[i - 1];
}

PGHA_DECL void Nemesis::apply(const Step& s, std::size_t i) {
  Node& n = resolve(s.target);
  const std::string what = "step " + std::to_string(i + 1) + "/" + std::to_string(steps_.size()) + ": " +
                           to_string(s.fault) + " (" + s.target + ")";
  detail::emit(n.name(), "nemesis", what + " for " + detail::nemesis_seconds(s.duration), {},
               {{"seed", std::to_string(seed_)}, {"fault", to_string(s.fault)}});
  const auto until = std::chrono::steady_clock::now() + s.duration;
  switch (s.fault) {
    case Fault::Crash:
    case Fault::Stop:
      n.stop(s.fault == Fault::Crash ? StopMode::Crash : StopMode::Fast);
      wait_until_or_stop(until);
      n.start();
      break;
    case Fault::Freeze:
      n.freeze();
      wait_until_or_stop(until);
      n.thaw();
      break;
    case Fault::FreezeWalsender:
      n.freeze_walsender();
      wait_until_or_stop(until);
      n.thaw_walsender();
      break;
    case Fault::FreezeWalreceiver:
      n.freeze_walreceiver();
      wait_until_or_stop(until);
      n.thaw_walreceiver();
      break;
    case Fault::PauseReplay:
      n.pause_replay();
      wait_until_or_stop(until);
      n.resume_replay();
      break;
    case Fault::CutLink:
      n.cut_link(LinkCut::Reset);
      wait_until_or_stop(until);
      n.heal_link();
      break;
    case Fault::DelayLink:
      n.set_link_delay(std::min<std::chrono::milliseconds>(std::chrono::milliseconds(200), s.duration / 4));
      wait_until_or_stop(until);
      n.set_link_delay(std::chrono::milliseconds(0));
      break;
    case Fault::Partition: {
      std::vector<Node*> rest;
      for (Node* o : nodes_)
        if (o != &n) rest.push_back(o);
      pgha::Partition p({&n}, rest);
      wait_until_or_stop(until);
      p.heal();
      break;
    }
    case Fault::ClientReset:
      n.execute("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE backend_type = "
                "'client backend' AND pid <> pg_backend_pid() AND application_name <> 'pgha'");
      break;
    case Fault::Failover:
      fail_over(n, s.duration);
      break;
  }
  detail::emit(n.name(), "nemesis", what + " healed", {}, {{"seed", std::to_string(seed_)}});
}

// The primary crashes; the standby with the most WAL (asked of each server) is promoted and
// the others follow it: TempCluster::failover's mechanism (detail::ClusterFailover). After
// the step's duration the old primary rejoins.
PGHA_DECL void Nemesis::fail_over(Node& old, std::chrono::milliseconds d) {
  const auto until = std::chrono::steady_clock::now() + d;
  std::vector<Node*> standbys = standbys_now();
  if (standbys.empty()) throw StateError("Nemesis: no running standby to promote");
  Node& best = detail::ClusterFailover::run(old, standbys, StopMode::Crash);
  wait_until_or_stop(until);
  old.rejoin(best);
}

// One primary, every other node streaming from it and caught up with it.
PGHA_DECL void Nemesis::heal_cluster() {
  Node& p = primary_now();
  for (Node* n : nodes_) {
    if (n == &p) continue;
    if (!n->is_running() || n->role() != Role::Standby) {
      n->rejoin(p);
      continue;
    }
    try {
      p.wait_for_catchup(*n);
    } catch (const StateError&) {  // it streams from elsewhere (a node that was primary)
      n->rejoin(p);
    }
  }
  for (Node* n : nodes_)
    if (n != &p) p.wait_for_catchup(*n);
}

PGHA_DECL void Nemesis::finish() {
  std::string err;
  {
    std::lock_guard<std::mutex> l(m_);
    if (finished_) return;
    finished_ = true;
    err = error_;
  }
  try {
    heal_cluster();
  } catch (const std::exception& e) {
    if (err.empty()) err = "Nemesis (PGHA_SEED=" + std::to_string(seed_) + "): healing the cluster failed: " + e.what();
  }
  detail::emit("nemesis", "nemesis", err.empty() ? "run ended, cluster healed" : "run failed: " + err);
  if (!err.empty()) throw Error(err);
}

}  // namespace pgha
