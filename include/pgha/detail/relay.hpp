// pgha/detail/relay.hpp: a TCP relay on 127.0.0.1, the one mechanism behind every link fault:
// a standby's replication link and an Endpoint's client path are both a Relay. Clients
// connect to 127.0.0.1:port() and are forwarded to a fixed target, or to whatever a chooser
// picks per new connection (Endpoint routes). Each direction can be cut on its own (Reset or
// Blackhole); the toxics (relay_toxics.hpp) add latency, jitter, a bandwidth cap, a byte limit,
// a slicer, a timeout, a slow close, a reset after a while, to the share of connections chosen.
// One background thread runs a poll() loop over non-blocking sockets; callers only talk to it
// through a mutex-protected command block plus a self-pipe, and wait for it to acknowledge.
#pragma once

#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <condition_variable>
#include <functional>
#include <list>
#include <map>
#include <mutex>
#include <stdexcept>
#include <system_error>
#include <thread>
#include <utility>
#include <vector>

#include "pgha/detail/relay_toxics.hpp"
#include "pgha/link_types.hpp"

namespace pgha::detail {

/// What one direction of a relayed link does. Pass = healthy; Reset = connections are torn
/// down with an RST (at once for both directions; for one direction, as soon as a byte would
/// cross it); Blackhole = nothing moves that way, bytes wait (in the kernel) until a heal.
enum class LinkState { Pass, Reset, Blackhole };

/// A TCP relay: clients connect to 127.0.0.1:port() and are forwarded to the target. All fds
/// are close-on-exec, so servers spawned while a relay lives never inherit (and pin) its sockets.
class Relay {
public:
  /// Picks the target of each new connection on the relay's thread; false = refuse (RST).
  /// Must be quick and must not call back into the relay.
  using Chooser = std::function<bool(RelayTarget&)>;
  /// Resolves the target (throws if it cannot), binds 127.0.0.1:0 and starts the thread.
  Relay(const std::string& target_host, int target_port) {
    target_ = want_target_ = resolve_target(target_host, target_port);
    start();
  }
  /// A relay whose new connections go where `choose` says.
  explicit Relay(Chooser choose) : chooser_(std::move(choose)) { start(); }
  /// Bounded: the thread only ever blocks in poll(), which the wake-up pipe interrupts.
  /// Every open pair is reset, so peers see the link drop at once.
  ~Relay() noexcept {
    { std::lock_guard<std::mutex> lk(mu_); stop_ = true; }
    wake();
    try { if (thread_.joinable()) thread_.join(); } catch (...) {}
  }
  Relay(const Relay&) = delete;
  Relay& operator=(const Relay&) = delete;

  int port() const noexcept { return port_; }
  /// Both directions. Returns once the thread has applied it: after Reset every pair that
  /// existed has already been sent its RST; after Blackhole no further byte moves.
  void set_state(LinkState s) { set_state(s, Direction::Both); }
  /// One direction (Upstream = client -> server) or both.
  void set_state(LinkState s, Direction d) {
    command([&] {
      if (d != Direction::Downstream) want_dir_[0] = s;
      if (d != Direction::Upstream) want_dir_[1] = s;
    });
  }
  /// The worse of the two directions (Reset before Blackhole before Pass).
  LinkState state() const noexcept {
    const LinkState a = dir_state_[0].load(), b = dir_state_[1].load();
    if (a == LinkState::Reset || b == LinkState::Reset) return LinkState::Reset;
    return a == LinkState::Blackhole || b == LinkState::Blackhole ? LinkState::Blackhole : LinkState::Pass;
  }
  /// The state of one direction (Both: as state()).
  LinkState state(Direction d) const noexcept {
    return d == Direction::Both ? state() : dir_state_[d == Direction::Upstream ? 0 : 1].load();
  }
  /// One-way latency `d` (+- `jitter`) per chunk read after the call; a round trip grows by
  /// about 2*d. Negative values throw.
  void set_delay(std::chrono::milliseconds d, std::chrono::milliseconds jitter = std::chrono::milliseconds(0)) {
    if (d.count() < 0 || jitter.count() < 0)
      throw UsageError("pgha relay: delay of " + std::to_string(d.count()) + " ms (jitter " +
                       std::to_string(jitter.count()) + " ms) is invalid; expected >= 0");
    command([&] { want_tox_.delay = d; want_tox_.jitter = jitter; });
  }
  /// Bytes per second per connection and direction; 0 = unlimited.
  void set_bandwidth(std::uint64_t bytes_per_second) { command([&] { want_tox_.bandwidth = bytes_per_second; }); }
  /// Each connection is closed (FIN) once `bytes` moved through it, both directions counted; 0 = off.
  void set_limit(std::uint64_t bytes) { command([&] { want_tox_.limit = bytes; }); }
  /// Changes the toxics in one step, `change(Toxics&)` under the relay's lock (unchecked:
  /// callers check; relay_toxics.hpp says what each field does).
  template <class F> void change_toxics(F&& change) { command([&] { change(want_tox_); }); }
  /// New clients go to the new target; existing pairs are reset (default), frozen or kept.
  /// If `host` does not resolve, throws and keeps the old target.
  void retarget(const std::string& host, int port, Switch existing = Switch::Reset) {
    RelayTarget t = resolve_target(host, port);  // before locking: DNS may be slow
    command([&] { want_target_ = t; ++target_gen_; want_switch_ = existing; ++switch_gen_; });
  }
  /// Applies `existing` to the pairs open now (Reset: RST both ends; Blackhole: freeze them
  /// until their client leaves; Keep: nothing). New connections are unaffected.
  void switch_existing(Switch existing) { command([&] { want_switch_ = existing; ++switch_gen_; }); }
  /// Accepted clients not yet closed, including held and frozen ones.
  std::size_t open_pairs() const { return pairs_count_.load(); }
  /// The local port of the connection to the target that serves the client connected from
  /// 127.0.0.1:`client_port` (the client port the server sees), or 0 if there is none.
  int server_side_port(int client_port) const {
    std::lock_guard<std::mutex> lk(ports_mu_);
    auto it = ports_.find(client_port);
    return it == ports_.end() ? 0 : it->second;
  }
  /// Bytes written to either side, both directions together.
  std::uint64_t bytes_forwarded() const { return bytes_[0].load() + bytes_[1].load(); }
  /// Bytes written in one direction (Upstream: to the server).
  std::uint64_t bytes(Direction d) const {
    return d == Direction::Both ? bytes_forwarded() : bytes_[d == Direction::Upstream ? 0 : 1].load();
  }
  /// New connections refused: the chooser had no eligible target, or the connect to the
  /// target failed (the client got an RST either way).
  std::uint64_t refused() const { return refused_.load(); }
  /// The toxics set now (all 0 and toxicity 1: none).
  Toxics toxics() const {
    std::lock_guard<std::mutex> lk(mu_);
    return want_tox_;
  }

private:
  static constexpr std::size_t kMaxQueued = 4u << 20;  // stop reading a side past this backlog
  using Clock = RelayClock;

  struct Pair {
    Fd fd[2];                 // [0] client, [1] upstream (none: held while Upstream is blackholed)
    RelayQueue q[2];          // q[i]: read from side i, not yet written to the other
    int pi[2] = {-1, -1};     // this round's pollfd index per side, -1 = not polled
    RelayTarget target;       // where fd[1] goes
    std::uint64_t moved = 0;  // bytes written either way (limit)
    bool connecting = false;  // non-blocking connect() still in progress
    bool closing = false;     // one side sent EOF: flush what it sent, then close both
    bool frozen = false;      // Switch::Blackhole: no byte moves until the client leaves
    bool dead = false;        // closed; erased by sweep()
    int cport = 0, uport = 0; // the client's port, the local port of fd[1] (server_side_port)
    PairToxics tx;            // whether the toxics hit it, its deadlines
  };

  static void close_pair(Pair& p, bool abortive) noexcept {
    for (Fd& f : p.fd) abortive ? f.abort() : f.reset();
    p.dead = true;
    p.q[0].clear();
    p.q[1].clear();
  }
  void start();
  void wake() noexcept {  // EAGAIN = pipe full = a wake-up is already pending: good enough
    for (char b = 1; ::write(wake_w_.get(), &b, 1) < 0 && errno == EINTR;) {}
  }
  void abort_all() noexcept { for (auto& p : pairs_) close_pair(p, true); }
  void sweep() {
    pairs_.remove_if([this](const Pair& p) {
      if (p.dead && p.uport) {
        std::lock_guard<std::mutex> lk(ports_mu_);
        auto it = ports_.find(p.cport);
        if (it != ports_.end() && it->second == p.uport) ports_.erase(it);
      }
      return p.dead;
    });
    pairs_count_.store(pairs_.size());
  }
  // Holds mu_ while waiting, so commands from several threads are applied one at a time, in order.
  template <class F> void command(F&& change) {
    std::unique_lock<std::mutex> lk(mu_);
    const auto check_alive = [&] {
      if (dead_)
        throw SetupError("pgha relay on port " + std::to_string(port_) + ": its I/O thread stopped (" +
                         dead_why_ + "); expected it running");
    };
    check_alive();
    change();
    const std::uint64_t seq = ++req_seq_;
    wake();
    cv_.wait(lk, [&] { return done_seq_ >= seq || dead_; });
    if (done_seq_ < seq) check_alive();
  }
  void run() noexcept {
    std::string why;
    try { loop(); } catch (const std::exception& e) { why = e.what(); } catch (...) { why = "unknown error"; }
    abort_all();  // on stop and on failure alike: peers see an RST, nothing lingers half-open
    pairs_.clear();
    pairs_count_.store(0);
    if (!why.empty()) { std::lock_guard<std::mutex> lk(mu_); dead_ = true; dead_why_ = why; }
    cv_.notify_all();  // a caller waiting in command() now throws instead of hanging
  }
  void add_poll(Pair& p, int side, short ev, std::vector<pollfd>& pfds) {
    p.pi[side] = static_cast<int>(pfds.size());
    pfds.push_back({p.fd[side].get(), ev, 0});
  }
  void loop() {
    std::vector<pollfd> pfds;
    std::vector<char> buf(64u << 10);
    for (;;) {
      const auto now = Clock::now();
      const bool accepting = now >= accept_pause_until_;
      int timeout = accepting ? -1 : ms_until(accept_pause_until_, now);
      pfds.clear();
      pfds.push_back({wake_r_.get(), POLLIN, 0});
      pfds.push_back({accepting ? listen_.get() : -1, POLLIN, 0});
      for (auto& p : pairs_) {
        p.pi[0] = p.pi[1] = -1;
        if (p.frozen) {  // only a peer leaving wakes us; data does not (POLLIN is not asked for)
          for (int i = 0; i < 2; ++i) if (p.fd[i]) add_poll(p, i, POLLRDHUP, pfds);
          continue;
        }
        const auto due = p.tx.next(tox_, p.closing, now);  // reset_after, timeout, slow_close
        if (due != Clock::time_point::max()) timeout = timeout < 0 ? ms_until(due, now) : std::min(timeout, ms_until(due, now));
        // A side is polled only for what may happen now: even events=0 would report POLLHUP
        // and spin, so a fully blackholed pair is not polled at all.
        for (int i = 0; i < 2; ++i) {
          if (!p.fd[i]) continue;
          short ev = 0;
          if (i == 1 && p.connecting) {
            ev = POLLOUT;  // a connecting upstream can neither be read nor written
          } else {
            if (dir_[i] != LinkState::Blackhole && !p.closing && p.q[i].bytes() < kMaxQueued) ev |= POLLIN;
            if (dir_[1 - i] == LinkState::Pass) {  // q[1-i] is written to side i
              const auto ready = p.q[1 - i].ready_at();
              const int t = ready == Clock::time_point::max() ? -1 : ms_until(ready, now);
              if (t == 0) ev |= POLLOUT;
              else if (t > 0 && (timeout < 0 || t < timeout)) timeout = t;
            }
          }
          if (ev) add_poll(p, i, ev, pfds);
        }
      }
      if (::poll(pfds.data(), pfds.size(), timeout) < 0) {
        if (errno == EINTR) continue;
        throw std::runtime_error(std::string("poll() failed: ") + std::generic_category().message(errno));
      }
      // A command invalidates this round's view (pairs may be gone, a cut forbids I/O):
      // apply it and poll afresh; level-triggered poll reports everything skipped again.
      if (pfds[0].revents) {
        if (apply_commands()) return;
        continue;
      }
      if (pfds[1].revents) accept_clients();
      for (auto& p : pairs_) service(p, pfds, buf);
      sweep();
    }
  }
  bool apply_commands() {
    char drain[64];
    while (::read(wake_r_.get(), drain, sizeof drain) > 0) {}
    LinkState s[2];
    RelayTarget t;
    Switch sw;
    std::uint64_t gen, sgen, seq;
    {  // snapshot, so the lock is never held across socket calls
      std::lock_guard<std::mutex> lk(mu_);
      if (stop_) return true;
      s[0] = want_dir_[0];
      s[1] = want_dir_[1];
      tox_ = want_tox_;
      t = want_target_;
      gen = target_gen_;
      sw = want_switch_;
      sgen = switch_gen_;
      seq = req_seq_;
    }
    if (gen != cur_gen_) { cur_gen_ = gen; target_ = t; }
    if (sgen != cur_sgen_) {
      cur_sgen_ = sgen;
      if (sw == Switch::Reset) abort_all();
      if (sw == Switch::Blackhole)
        for (auto& p : pairs_) { p.frozen = true; p.q[0].clear(); p.q[1].clear(); }
    }
    if (s[0] == LinkState::Reset && s[1] == LinkState::Reset) abort_all();
    for (int i = 0; i < 2; ++i) { dir_[i] = s[i]; dir_state_[i].store(s[i]); }
    if (dir_[0] != LinkState::Blackhole)  // clients held during an upstream blackhole, healed
      for (auto& p : pairs_) if (!p.dead && !p.frozen && !p.fd[1]) start_connect(p);
    for (auto& p : pairs_) {
      const std::uint64_t limit = p.tx.of(tox_).limit;
      if (!p.dead && limit && p.moved >= limit) close_pair(p, false);
    }
    sweep();
    { std::lock_guard<std::mutex> lk(mu_); done_seq_ = seq; }
    cv_.notify_all();
    return false;
  }
  void accept_clients() {
    for (int i = 0; i < 64; ++i) {  // bounded so a connect storm cannot starve the pairs
      Fd c(::accept4(listen_.get(), nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC));
      if (!c) {
        const int e = errno;
        if (e == EINTR || e == ECONNABORTED || e == EPROTO) continue;
        // Out of fds/memory: the listener stays readable, so pause accepting briefly, not spin.
        if (e == EMFILE || e == ENFILE || e == ENOBUFS || e == ENOMEM)
          accept_pause_until_ = Clock::now() + std::chrono::milliseconds(100);
        return;
      }
      if (dir_[0] == LinkState::Reset && dir_[1] == LinkState::Reset) { c.abort(); continue; }
      RelayTarget t = target_;
      if (chooser_) {
        bool ok = false;
        try { ok = chooser_(t); } catch (...) {}
        if (!ok) { refused_.fetch_add(1); c.abort(); continue; }
      }
      set_nodelay(c.get());
      pairs_.emplace_back();
      pairs_.back().fd[0] = std::move(c);
      pairs_.back().target = t;  // the toxicity's draw: once per connection, deterministic
      pairs_.back().tx.open(tox_.toxicity >= 1.0 || pick_rng_.unit() < tox_.toxicity, Clock::now());
      if (dir_[0] != LinkState::Blackhole) start_connect(pairs_.back());
    }
  }
  // Any failure here is reported to the client as an RST: the nearest thing to "refused".
  void start_connect(Pair& p) {
    Fd& up = p.fd[1];
    up = Fd(::socket(p.target.addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
    if (!up) return refuse(p);
    set_nodelay(up.get());
    int rc = ::connect(up.get(), reinterpret_cast<const sockaddr*>(&p.target.addr), p.target.len);
    int err = errno;
    if (rc == 0 || err == EINPROGRESS || err == EINTR) {  // the local port is bound by now
      if (!p.cport) p.cport = relay_socket_port(p.fd[0].get(), true);
      p.uport = relay_socket_port(up.get(), false);
      if (p.cport && p.uport) {
        std::lock_guard<std::mutex> lk(ports_mu_);
        ports_[p.cport] = p.uport;
      }
    }
    errno = err;
    if (rc == 0) return;
    // EINTR on a non-blocking connect: the attempt continues in the background, like EINPROGRESS.
    if (errno == EINPROGRESS || errno == EINTR) p.connecting = true;
    else refuse(p);
  }
  void refuse(Pair& p) {
    refused_.fetch_add(1);
    close_pair(p, true);
  }
  void service(Pair& p, const std::vector<pollfd>& pfds, std::vector<char>& buf) {
    const auto fired = [&](int side, short ev) {  // HUP/ERR count only if we asked for `ev`
      if (p.pi[side] < 0) return false;
      const pollfd& f = pfds[static_cast<std::size_t>(p.pi[side])];
      return (f.events & ev) && (f.revents & (ev | POLLHUP | POLLERR));
    };
    if (p.dead) return;
    if (p.frozen) {  // the client left: close; the old server left: keep the client hanging
      if (fired(0, POLLRDHUP)) return close_pair(p, false);
      if (fired(1, POLLRDHUP)) p.fd[1].reset();
      return;
    }
    const auto due = p.tx.due(tox_, Clock::now());
    if (due != PairToxics::Due::Nothing) return close_pair(p, due == PairToxics::Due::Reset);
    if (p.connecting && fired(1, POLLOUT)) {
      int err = 0;
      socklen_t len = sizeof err;
      if (::getsockopt(p.fd[1].get(), SOL_SOCKET, SO_ERROR, &err, &len) < 0) err = errno;
      if (err != 0) return refuse(p);
      p.connecting = false;
    }
    for (int i = 0; i < 2; ++i) if (!p.dead && fired(i, POLLIN)) read_side(p, i, buf);
    // Flushing unconditionally also covers chunks whose delay expired on the poll timeout.
    if (!p.dead && !p.connecting && p.fd[1]) flush(p, 0);
    if (!p.dead) flush(p, 1);
    if (!p.dead && p.closing && p.q[0].empty() && p.q[1].empty() && p.tx.may_close(tox_, Clock::now()))
      close_pair(p, false);
  }
  // EOF from one side: the pair closes (FIN both ways) once what that side sent is delivered;
  // data towards it is dropped. A read error (RST) is passed on to the other side as an RST.
  void read_side(Pair& p, int i, std::vector<char>& buf) {
    if (dir_[i] == LinkState::Reset) return close_pair(p, true);  // a byte would cross a reset direction
    for (;;) {
      const ssize_t n = ::recv(p.fd[i].get(), buf.data(), buf.size(), 0);
      if (n > 0) {
        if (!p.tx.drops(tox_, i)) p.q[i].push(buf.data(), static_cast<std::size_t>(n), p.tx.of(tox_), i, Clock::now(), rng_);
      } else if (n == 0) {
        p.closing = true;
        p.tx.eof(Clock::now());
        p.q[1 - i].clear();
      } else if (errno == EINTR) {
        continue;
      } else if (errno != EAGAIN && errno != EWOULDBLOCK) {
        close_pair(p, true);
      }
      return;
    }
  }
  // Writes q[i] to the other side, as far as the cut, the toxics and the socket buffer allow.
  void flush(Pair& p, int i) {
    if (dir_[i] != LinkState::Pass) return;
    if (p.tx.drops(tox_, i)) return p.q[i].clear();  // a timeout: what was queued is lost too
    const Toxics& tox = p.tx.of(tox_);
    const std::uint64_t allow = tox.limit ? tox.limit - std::min(tox.limit, p.moved) : UINT64_MAX;
    const int to = p.fd[1 - i].get();
    const bool ok = p.q[i].drain(tox, allow, [&](const char* data, std::size_t n) -> long long {
      for (;;) {  // MSG_NOSIGNAL: a peer that vanished yields EPIPE here instead of killing the process
        const ssize_t w = ::send(to, data, n, MSG_NOSIGNAL);
        if (w >= 0) {
          bytes_[i].fetch_add(static_cast<std::uint64_t>(w));
          p.moved += static_cast<std::uint64_t>(w);
          return w;
        }
        if (errno == EINTR) continue;
        return errno == EAGAIN || errno == EWOULDBLOCK ? 0 : -1;  // EAGAIN: next round polls POLLOUT
      }
    });
    if (!ok) return close_pair(p, true);
    if (tox.limit && p.moved >= tox.limit) close_pair(p, false);
  }

  int port_ = 0;
  Fd listen_, wake_r_, wake_w_;
  mutable std::mutex mu_;  // guards the block down to dead_why_
  std::condition_variable cv_;
  LinkState want_dir_[2] = {LinkState::Pass, LinkState::Pass};
  Toxics want_tox_;
  RelayTarget want_target_;
  Switch want_switch_ = Switch::Keep;
  std::uint64_t target_gen_ = 0, switch_gen_ = 0, req_seq_ = 0, done_seq_ = 0;
  bool stop_ = false, dead_ = false;
  std::string dead_why_;
  std::atomic<LinkState> dir_state_[2] = {{LinkState::Pass}, {LinkState::Pass}};
  std::atomic<std::size_t> pairs_count_{0};
  std::atomic<std::uint64_t> bytes_[2] = {{0}, {0}};
  std::atomic<std::uint64_t> refused_{0};
  mutable std::mutex ports_mu_;
  std::map<int, int> ports_;  // client port -> server-side port (server_side_port)
  // Touched by the I/O thread only (chooser_ is set before it starts).
  Chooser chooser_;
  std::list<Pair> pairs_;
  LinkState dir_[2] = {LinkState::Pass, LinkState::Pass};
  Toxics tox_;
  RelayTarget target_;
  std::uint64_t cur_gen_ = 0, cur_sgen_ = 0;
  JitterRng rng_, pick_rng_;  // jitter and slice sizes; the toxicity's draws
  Clock::time_point accept_pause_until_{};
  std::thread thread_;  // last: started once everything above exists
};

// On any throw the fds created so far are closed by their members' destructors.
inline void Relay::start() {
  listen_ = listen_loopback(port_);
  int p[2];
  if (::pipe2(p, O_NONBLOCK | O_CLOEXEC) < 0) relay_fail("cannot create the relay's wake-up pipe", errno);
  wake_r_ = Fd(p[0]);
  wake_w_ = Fd(p[1]);
  try { thread_ = std::thread([this] { run(); }); }
  catch (const std::system_error& e) { relay_fail("cannot start the relay thread", e.code().value()); }
}

}  // namespace pgha::detail
