// pgha/detail/relay.hpp: a TCP relay on 127.0.0.1 between a standby and its upstream, so a
// test can reset, black-hole, delay or re-point that one link without touching either server.
// One background thread runs a poll() loop over non-blocking sockets; callers only talk to it
// through a mutex-protected command block plus a self-pipe, and wait for it to acknowledge.
#pragma once

#ifndef PGHA_DETAIL_RELAY_ERROR
#define PGHA_DETAIL_RELAY_ERROR ::pgha::SetupError
#endif

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <climits>
#include <condition_variable>
#include <cstdint>
#include <cstring>
#include <deque>
#include <list>
#include <mutex>
#include <stdexcept>
#include <string>
#include <system_error>
#include <thread>
#include <utility>
#include <vector>

#include "pgha/detail/fd.hpp"
#include "pgha/error.hpp"

namespace pgha::detail {

/// What the relayed link does. Pass = healthy; Reset = every connection is torn down with an
/// RST at once; Blackhole = connections stay open but no byte moves (a silent partition).
enum class LinkState { Pass, Reset, Blackhole };

/// A TCP relay: clients connect to 127.0.0.1:port() and are forwarded to the target. All fds
/// are close-on-exec, so servers spawned while a relay lives never inherit (and pin) its sockets.
class Relay {
public:
  /// Resolves the target (throws if it cannot), binds 127.0.0.1:0 and starts the thread.
  Relay(std::string target_host, int target_port);
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
  /// Returns once the thread has applied the state: after set_state(Reset) every pair that
  /// existed has already been sent its RST; after set_state(Blackhole) no further byte moves.
  void set_state(LinkState s) { command([&] { want_state_ = s; }); }
  LinkState state() const noexcept { return state_.load(); }
  /// One-way latency: each chunk read from either side is forwarded only `d` after it was read,
  /// so a round trip grows by 2*d. Applies to chunks read after the call. Negative throws.
  void set_delay(std::chrono::milliseconds d) {
    if (d.count() < 0)
      throw PGHA_DETAIL_RELAY_ERROR("pgha relay: delay of " + std::to_string(d.count()) +
                                    " ms is invalid; expected >= 0");
    command([&] { want_delay_ = d; });
  }
  /// New clients go to the new target; every existing pair (held ones too) is reset, since
  /// its upstream session cannot move. If `host` does not resolve, throws and keeps the old target.
  void retarget(std::string host, int port) {
    Target t = resolve(host, port);  // before locking: DNS may be slow
    command([&] { want_target_ = t; ++target_gen_; });
  }
  /// Accepted clients not yet closed, including ones held without upstream during Blackhole.
  std::size_t open_pairs() const { return pairs_count_.load(); }
  /// Bytes written to either side, both directions together.
  std::uint64_t bytes_forwarded() const { return bytes_.load(); }

private:
  using Clock = std::chrono::steady_clock;
  static constexpr std::size_t kMaxQueued = 4u << 20;  // stop reading a side past this backlog

  struct Target { sockaddr_storage addr{}; socklen_t len = 0; };
  struct Chunk { Clock::time_point due; std::string data; std::size_t off = 0; };
  struct Queue { std::deque<Chunk> chunks; std::size_t bytes = 0; };
  struct Pair {
    Fd fd[2];                  // [0] client, [1] upstream (none: held in Blackhole, connects on heal)
    Queue q[2];                // q[i]: read from side i, not yet written to the other; kept in Blackhole
    int pi[2] = {-1, -1};      // this round's pollfd index per side, -1 = not polled
    bool connecting = false;   // non-blocking connect() still in progress
    bool closing = false;      // one side sent EOF: flush what it sent, then close both
    bool dead = false;         // closed; erased by sweep()
  };

  [[noreturn]] static void fail(const std::string& what, int err) {
    throw PGHA_DETAIL_RELAY_ERROR("pgha relay: " + what + ": " + std::generic_category().message(err));
  }
  static Target resolve(const std::string& host, int port);
  static void set_nodelay(int fd) noexcept {
    int one = 1;  // Nagle + delayed ACK would add ~40 ms stalls no real link has
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  }
  static int ms_until(Clock::time_point t, Clock::time_point now) {
    if (t <= now) return 0;
    auto ms = std::chrono::ceil<std::chrono::milliseconds>(t - now).count();  // ceil: no 0 ms spin
    return ms > INT_MAX ? INT_MAX : static_cast<int>(ms);
  }
  static void close_pair(Pair& p, bool abortive) noexcept {
    for (Fd& f : p.fd) abortive ? f.abort() : f.reset();
    p.dead = true;
    p.q[0] = p.q[1] = Queue{};
  }
  void wake() noexcept {  // EAGAIN = pipe full = a wake-up is already pending: good enough
    for (char b = 1; ::write(wake_w_.get(), &b, 1) < 0 && errno == EINTR;) {}
  }
  void abort_all() noexcept { for (auto& p : pairs_) close_pair(p, true); }
  void sweep() { pairs_.remove_if([](const Pair& p) { return p.dead; }); pairs_count_.store(pairs_.size()); }
  // Holds mu_ while waiting, so commands from several threads are applied one at a time, in order.
  template <class F> void command(F&& change) {
    std::unique_lock<std::mutex> lk(mu_);
    const auto check_alive = [&] {
      if (dead_)
        throw PGHA_DETAIL_RELAY_ERROR("pgha relay on port " + std::to_string(port_) +
                                      ": its I/O thread stopped (" + dead_why_ + "); expected it running");
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
        // Outside Pass no pair fd is polled at all: even events=0 would report POLLHUP and spin.
        if (cur_ != LinkState::Pass) continue;
        for (int i = 0; i < 2; ++i) {
          short ev = (i == 1 && p.connecting) ? POLLOUT : 0;
          if (i == 0 || !p.connecting) {  // a connecting upstream can neither be read nor written
            if (!p.closing && p.q[i].bytes < kMaxQueued) ev |= POLLIN;
            const Queue& out = p.q[1 - i];  // front due now: POLLOUT; due later: poll timeout
            const int t = out.chunks.empty() ? -1 : ms_until(out.chunks.front().due, now);
            if (t == 0) ev |= POLLOUT;
            else if (t > 0 && (timeout < 0 || t < timeout)) timeout = t;
          }
          if (ev) { p.pi[i] = static_cast<int>(pfds.size()); pfds.push_back({p.fd[i].get(), ev, 0}); }
        }
      }
      if (::poll(pfds.data(), pfds.size(), timeout) < 0) {
        if (errno == EINTR) continue;
        throw std::runtime_error(std::string("poll() failed: ") + std::generic_category().message(errno));
      }
      // A command invalidates this round's view (pairs may be gone, Blackhole forbids I/O):
      // apply it and poll afresh; level-triggered poll reports everything skipped again.
      if (pfds[0].revents) {
        if (apply_commands()) return;
        continue;
      }
      if (pfds[1].revents) accept_clients();
      if (cur_ == LinkState::Pass)
        for (auto& p : pairs_) service(p, pfds, buf);
      sweep();
    }
  }
  bool apply_commands() {
    char drain[64];
    while (::read(wake_r_.get(), drain, sizeof drain) > 0) {}
    LinkState s;
    Target t;
    std::uint64_t gen, seq;
    {  // snapshot, so the lock is never held across socket calls
      std::lock_guard<std::mutex> lk(mu_);
      if (stop_) return true;
      s = want_state_;
      delay_ = want_delay_;
      t = want_target_;
      gen = target_gen_;
      seq = req_seq_;
    }
    if (gen != cur_gen_) { cur_gen_ = gen; target_ = t; abort_all(); }
    if (s == LinkState::Reset) abort_all();
    if (s == LinkState::Pass && cur_ != LinkState::Pass)
      for (auto& p : pairs_) if (!p.dead && !p.fd[1]) start_connect(p);  // held clients, healed
    cur_ = s;
    state_.store(s);
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
      if (cur_ == LinkState::Reset) { c.abort(); continue; }
      set_nodelay(c.get());
      pairs_.emplace_back();
      pairs_.back().fd[0] = std::move(c);
      if (cur_ == LinkState::Pass) start_connect(pairs_.back());
    }
  }
  // Any failure here is reported to the client as an RST: the nearest thing to "refused".
  void start_connect(Pair& p) {
    Fd& up = p.fd[1];
    up = Fd(::socket(target_.addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
    if (!up) return close_pair(p, true);
    set_nodelay(up.get());
    if (::connect(up.get(), reinterpret_cast<const sockaddr*>(&target_.addr), target_.len) == 0)
      return;
    // EINTR on a non-blocking connect: the attempt continues in the background, like EINPROGRESS.
    if (errno == EINPROGRESS || errno == EINTR) p.connecting = true;
    else close_pair(p, true);
  }
  void service(Pair& p, const std::vector<pollfd>& pfds, std::vector<char>& buf) {
    const auto fired = [&](int side, short ev) {  // HUP/ERR count only if we asked for `ev`
      if (p.pi[side] < 0) return false;
      const pollfd& f = pfds[static_cast<std::size_t>(p.pi[side])];
      return (f.events & ev) && (f.revents & (ev | POLLHUP | POLLERR));
    };
    if (p.dead) return;
    if (p.connecting && fired(1, POLLOUT)) {
      int err = 0;
      socklen_t len = sizeof err;
      if (::getsockopt(p.fd[1].get(), SOL_SOCKET, SO_ERROR, &err, &len) < 0) err = errno;
      if (err != 0) return close_pair(p, true);
      p.connecting = false;
    }
    for (int i = 0; i < 2; ++i) if (!p.dead && fired(i, POLLIN)) read_side(p, i, buf);
    // Flushing unconditionally also covers chunks whose delay expired on the poll timeout.
    if (!p.dead && !p.connecting) flush(p, 0);
    if (!p.dead) flush(p, 1);
    if (!p.dead && p.closing && p.q[0].bytes == 0 && p.q[1].bytes == 0) close_pair(p, false);
  }
  // EOF from one side: the pair closes (FIN both ways) once what that side sent is delivered;
  // data towards it is dropped. A read error (RST) is passed on to the other side as an RST.
  void read_side(Pair& p, int i, std::vector<char>& buf) {
    Queue& q = p.q[i];
    for (;;) {
      const ssize_t n = ::recv(p.fd[i].get(), buf.data(), buf.size(), 0);
      if (n > 0) {
        q.chunks.push_back({Clock::now() + delay_, std::string(buf.data(), static_cast<std::size_t>(n)), 0});
        q.bytes += static_cast<std::size_t>(n);
      } else if (n == 0) {
        p.closing = true;
        p.q[1 - i] = Queue{};
      } else if (errno == EINTR) {
        continue;
      } else if (errno != EAGAIN && errno != EWOULDBLOCK) {
        close_pair(p, true);
      }
      return;
    }
  }
  // Writes q[i] to the other side, as far as the clock (delay) and the socket buffer allow.
  void flush(Pair& p, int i) {
    Queue& q = p.q[i];
    const int to = p.fd[1 - i].get();
    const auto now = Clock::now();
    while (!q.chunks.empty() && q.chunks.front().due <= now) {
      Chunk& c = q.chunks.front();
      // MSG_NOSIGNAL: a peer that vanished yields EPIPE here instead of killing the process.
      const ssize_t n = ::send(to, c.data.data() + c.off, c.data.size() - c.off, MSG_NOSIGNAL);
      if (n < 0) {
        if (errno == EINTR) continue;
        if (errno != EAGAIN && errno != EWOULDBLOCK) close_pair(p, true);
        return;  // EAGAIN: the next round polls POLLOUT for us
      }
      c.off += static_cast<std::size_t>(n);
      q.bytes -= static_cast<std::size_t>(n);
      bytes_.fetch_add(static_cast<std::uint64_t>(n));
      if (c.off == c.data.size()) q.chunks.pop_front();
    }
  }

  int port_ = 0;
  Fd listen_, wake_r_, wake_w_;
  mutable std::mutex mu_;  // guards the block down to dead_why_
  std::condition_variable cv_;
  LinkState want_state_ = LinkState::Pass;
  std::chrono::milliseconds want_delay_{0};
  Target want_target_;
  std::uint64_t target_gen_ = 0, req_seq_ = 0, done_seq_ = 0;
  bool stop_ = false, dead_ = false;
  std::string dead_why_;
  std::atomic<LinkState> state_{LinkState::Pass};
  std::atomic<std::size_t> pairs_count_{0};
  std::atomic<std::uint64_t> bytes_{0};
  // Touched by the I/O thread only.
  std::list<Pair> pairs_;
  LinkState cur_ = LinkState::Pass;
  std::chrono::milliseconds delay_{0};
  Target target_;
  std::uint64_t cur_gen_ = 0;
  Clock::time_point accept_pause_until_{};
  std::thread thread_;  // last: started once everything above exists
};

inline Relay::Target Relay::resolve(const std::string& host, int port) {
  if (port < 1 || port > 65535)
    throw PGHA_DETAIL_RELAY_ERROR("pgha relay: upstream port " + std::to_string(port) +
                                  " is invalid; expected 1..65535");
  addrinfo hints{}, *res = nullptr;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_NUMERICSERV;
  const int rc = ::getaddrinfo(host.c_str(), std::to_string(port).c_str(), &hints, &res);
  if (rc != 0 || res == nullptr)
    throw PGHA_DETAIL_RELAY_ERROR("pgha relay: cannot resolve upstream host '" + host + "' (" +
                                  ::gai_strerror(rc) + "); expected a host name or IP address");
  // Prefer IPv4: test servers listen on 127.0.0.1 while "localhost" may list ::1 first.
  const addrinfo* pick = res;
  for (const addrinfo* a = res; a; a = a->ai_next)
    if (a->ai_family == AF_INET) { pick = a; break; }
  Target t;
  std::memcpy(&t.addr, pick->ai_addr, pick->ai_addrlen);
  t.len = pick->ai_addrlen;
  ::freeaddrinfo(res);
  return t;
}

// On any throw the fds created so far are closed by their members' destructors.
inline Relay::Relay(std::string target_host, int target_port) {
  target_ = want_target_ = resolve(target_host, target_port);
  listen_ = Fd(::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (!listen_) fail("cannot create the listening socket", errno);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  if (::bind(listen_.get(), reinterpret_cast<sockaddr*>(&a), sizeof a) < 0)
    fail("bind(127.0.0.1:0) failed, expected a free loopback port", errno);
  if (::listen(listen_.get(), 128) < 0) fail("listen() on the relay socket failed", errno);
  if (::getsockname(listen_.get(), reinterpret_cast<sockaddr*>(&a), &len) < 0)
    fail("getsockname() on the relay socket failed", errno);
  port_ = ntohs(a.sin_port);
  int p[2];
  if (::pipe2(p, O_NONBLOCK | O_CLOEXEC) < 0) fail("cannot create the relay's wake-up pipe", errno);
  wake_r_ = Fd(p[0]);
  wake_w_ = Fd(p[1]);
  try { thread_ = std::thread([this] { run(); }); }
  catch (const std::system_error& e) { fail("cannot start the relay thread", e.code().value()); }
}

}  // namespace pgha::detail
