// pgha/detail/relay_toxics.hpp: what the relay does to the bytes it forwards, kept apart from
// its poll() loop: the socket helpers, where a connection goes (RelayTarget), the
// per-direction queue that applies latency + jitter, a slicer, a bandwidth cap and a byte
// limit (Toxics, RelayQueue), and each connection's share of the toxics: whether they hit it
// (toxicity), when it is reset or closed (reset_after, timeout, slow_close: PairToxics).
// Nothing here touches a socket except through the callback the loop passes in; nothing here
// costs anything when no toxic is set (a chunk is due at once, every write may take all it
// wants, and a connection has no deadline).
#pragma once

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <climits>
#include <cstdint>
#include <cstring>
#include <deque>
#include <string>

#include <system_error>

#include "pgha/detail/fd.hpp"
#include "pgha/detail/ports.hpp"
#include "pgha/error.hpp"
#include "pgha/link_types.hpp"

namespace pgha::detail {

using RelayClock = std::chrono::steady_clock;

[[noreturn]] inline void relay_fail(const std::string& what, int err) {
  throw SystemError(err, "pgha relay: " + what);
}
inline void set_nodelay(int fd) noexcept {
  int one = 1;  // Nagle + delayed ACK would add ~40 ms stalls no real link has
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}
/// Milliseconds from `now` until `t`, rounded up (no 0 ms spin), 0 if past.
inline int ms_until(RelayClock::time_point t, RelayClock::time_point now) {
  if (t <= now) return 0;
  auto ms = std::chrono::ceil<std::chrono::milliseconds>(t - now).count();
  return ms > INT_MAX ? INT_MAX : static_cast<int>(ms);
}
/// A non-blocking, close-on-exec socket listening on 127.0.0.1:<free port>; sets `port`.
inline Fd listen_loopback(int& port) {
  Fd l(::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (!l) relay_fail("cannot create the listening socket", errno);
  sockaddr_in a = loopback_address(0);
  socklen_t len = sizeof a;
  if (::bind(l.get(), reinterpret_cast<sockaddr*>(&a), sizeof a) < 0)
    relay_fail("bind(127.0.0.1:0) failed, expected a free loopback port", errno);
  if (::listen(l.get(), 128) < 0) relay_fail("listen() on the relay socket failed", errno);
  if (::getsockname(l.get(), reinterpret_cast<sockaddr*>(&a), &len) < 0)
    relay_fail("getsockname() on the relay socket failed", errno);
  port = ntohs(a.sin_port);
  return l;
}

/// The port of a socket's own address (`peer`: its peer's), 0 if unknown.
inline int relay_socket_port(int fd, bool peer) noexcept {
  sockaddr_storage a{};
  socklen_t len = sizeof a;
  int rc = peer ? ::getpeername(fd, reinterpret_cast<sockaddr*>(&a), &len)
                : ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  if (rc != 0) return 0;
  if (a.ss_family == AF_INET) return ntohs(reinterpret_cast<sockaddr_in*>(&a)->sin_port);
  if (a.ss_family == AF_INET6) return ntohs(reinterpret_cast<sockaddr_in6*>(&a)->sin6_port);
  return 0;
}

/// Where the relay connects a client: an address ready for connect().
struct RelayTarget {
  sockaddr_storage addr{};
  socklen_t len = 0;
};

/// 127.0.0.1:`port` without any name lookup (what every pgha node listens on).
inline RelayTarget loopback_target(int port) {
  RelayTarget t;
  sockaddr_in a = loopback_address(port);
  std::memcpy(&t.addr, &a, sizeof a);
  t.len = sizeof a;
  return t;
}

/// Resolves `host`:`port`, preferring IPv4 (test servers listen on 127.0.0.1 while
/// "localhost" may list ::1 first). Throws when the port is invalid or the name unknown.
inline RelayTarget resolve_target(const std::string& host, int port) {
  if (port < 1 || port > 65535)
    throw UsageError("pgha relay: upstream port " + std::to_string(port) + " is invalid; expected 1..65535");
  addrinfo hints{}, *res = nullptr;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_NUMERICSERV;
  const int rc = ::getaddrinfo(host.c_str(), std::to_string(port).c_str(), &hints, &res);
  if (rc != 0 || res == nullptr)
    throw SetupError("pgha relay: cannot resolve upstream host '" + host + "' (" + ::gai_strerror(rc) +
                     "); expected a host name or IP address");
  const addrinfo* pick = res;
  for (const addrinfo* a = res; a; a = a->ai_next)
    if (a->ai_family == AF_INET) { pick = a; break; }
  RelayTarget t;
  std::memcpy(&t.addr, pick->ai_addr, pick->ai_addrlen);
  t.len = pick->ai_addrlen;
  ::freeaddrinfo(res);
  return t;
}

/// A slicer in one direction: each chunk read is cut into slices of `average` +- `variation`
/// bytes (uniform, at least 1), each written by its own send() `delay` after the one before.
struct Slicer {
  std::size_t average = 0;  // 0 = off
  std::size_t variation = 0;
  std::chrono::microseconds delay{0};
};

/// The toxics of one link; every field 0 = off. They apply to each connection and each
/// direction separately, as on a real path (a slow WAN link slows each TCP stream). Arrays
/// indexed by direction: [0] upstream (client -> server), [1] downstream.
struct Toxics {
  std::chrono::milliseconds delay{0};   // added to every chunk, each direction
  std::chrono::milliseconds jitter{0};  // +- uniformly, per chunk; chunks never overtake
  std::uint64_t bandwidth = 0;          // bytes per second per connection and direction
  std::uint64_t limit = 0;              // a connection is closed once this many bytes moved (both ways)
  std::chrono::milliseconds slow_close{0};   // a connection's close waits this long after an EOF
  std::chrono::milliseconds reset_after{0};  // a connection is reset this long after it opened
  std::chrono::milliseconds timeout[2]{};    // bytes that way dropped, the connection closed after this
  Slicer slicer[2];
  double toxicity = 1.0;  // share of new connections the toxics above hit (decided at accept)
  // When reset_after / timeout[i] was last set: a connection open then counts from there.
  RelayClock::time_point reset_since{}, timeout_since[2]{};

  /// Sets the timeout in `d` (Both: each direction), counted from `now` for open connections.
  void set_timeout(std::chrono::milliseconds v, Direction d, RelayClock::time_point now) {
    for (int i = 0; i < 2; ++i)
      if (d == Direction::Both || (i == 0) == (d == Direction::Upstream)) { timeout[i] = v; timeout_since[i] = now; }
  }
  /// Sets the slicer in `d` (Both: each direction).
  void set_slicer(const Slicer& s, Direction d) {
    for (int i = 0; i < 2; ++i)
      if (d == Direction::Both || (i == 0) == (d == Direction::Upstream)) slicer[i] = s;
  }
  /// Sets reset_after, counted from `now` for open connections.
  void set_reset_after(std::chrono::milliseconds v, RelayClock::time_point now) {
    reset_after = v;
    reset_since = now;
  }
};

/// A small deterministic generator for jitter (xorshift64*; no <random> in the header).
class JitterRng {
public:
  std::uint64_t next() noexcept {
    s_ ^= s_ >> 12;
    s_ ^= s_ << 25;
    s_ ^= s_ >> 27;
    return s_ * 0x2545F4914F6CDD1Dull;
  }
  /// Uniform in [0, 1).
  double unit() noexcept { return static_cast<double>(next() >> 11) * (1.0 / 9007199254740992.0); }
private:
  std::uint64_t s_ = 0x9e3779b97f4a7c15ull;
};

/// Bytes read from one side and not yet written to the other, with their due times.
class RelayQueue {
public:
  /// Queues `n` bytes read at `now` from side `dir` (0: the client), due after the delay
  /// (+ jitter, never before the chunk ahead of it: TCP keeps order), cut by that direction's
  /// slicer if one is set.
  void push(const char* p, std::size_t n, const Toxics& t, int dir, RelayClock::time_point now,
            JitterRng& rng) {
    auto due = now + t.delay;
    if (t.jitter.count() > 0) {
      long long span = 2 * t.jitter.count() + 1;
      due += std::chrono::milliseconds(static_cast<long long>(rng.next() % static_cast<std::uint64_t>(span)) - t.jitter.count());
      if (due < now) due = now;
    }
    if (due < last_due_) due = last_due_;
    const Slicer& s = t.slicer[dir];
    for (std::size_t off = 0; off < n;) {
      std::size_t len = n - off;
      if (s.average) {
        len = s.average;
        if (s.variation) len = len - s.variation + static_cast<std::size_t>(rng.next() % (2 * s.variation + 1));
        len = std::min(std::max<std::size_t>(len, 1), n - off);
        due = std::max(due, last_due_ + s.delay);  // also across reads: the pace holds
      }
      chunks_.push_back({due, std::string(p + off, len), 0});
      last_due_ = due;
      off += len;
    }
    bytes_ += n;
  }
  bool empty() const noexcept { return chunks_.empty(); }
  std::size_t bytes() const noexcept { return bytes_; }
  void clear() noexcept { chunks_.clear(); bytes_ = 0; last_due_ = {}; }
  /// When the next write may happen: the front chunk is due and the bandwidth allows it;
  /// time_point::max() when nothing is queued.
  RelayClock::time_point ready_at() const noexcept {
    if (chunks_.empty()) return RelayClock::time_point::max();
    return std::max(chunks_.front().due, free_at_);
  }
  /// Writes what is due now through `send(data, n)` (returns bytes written, 0 when the
  /// socket is full, < 0 on error), within the bandwidth and `allow` (bytes this connection
  /// may still move). Returns false when `send` failed.
  template <class Send>
  bool drain(const Toxics& t, std::uint64_t allow, Send&& send) {
    auto now = RelayClock::now();
    while (!chunks_.empty() && ready_at() <= now && allow > 0) {
      Chunk& c = chunks_.front();
      std::size_t n = c.data.size() - c.off;
      // Bandwidth: at most 1/50 s worth per write, then wait until the link is "free" again.
      if (t.bandwidth) n = std::min<std::size_t>(n, std::max<std::uint64_t>(1, t.bandwidth / 50));
      n = static_cast<std::size_t>(std::min<std::uint64_t>(n, allow));
      const long long w = send(c.data.data() + c.off, n);
      if (w < 0) return false;
      if (w == 0) break;  // socket full: poll for POLLOUT
      const auto wn = static_cast<std::size_t>(w);
      c.off += wn;
      bytes_ -= wn;
      allow -= wn;
      if (t.bandwidth) {
        free_at_ = std::max(free_at_, now) +
                   std::chrono::nanoseconds(static_cast<long long>(wn * 1000000000ull / t.bandwidth));
        now = RelayClock::now();
      }
      if (c.off == c.data.size()) chunks_.pop_front();
      if (wn < n) break;
    }
    return true;
  }

private:
  struct Chunk { RelayClock::time_point due; std::string data; std::size_t off = 0; };
  std::deque<Chunk> chunks_;
  std::size_t bytes_ = 0;
  RelayClock::time_point free_at_{};  // bandwidth: no write before this
  RelayClock::time_point last_due_{};  // the newest chunk's due time (order, slicer pace)
};

/// What the toxics do to one connection beyond its queues: whether they hit it at all (the
/// toxicity, drawn once when it opens) and its deadlines (reset_after, timeout, slow_close).
/// A connection open when reset_after or a timeout is set counts from the set, not its open.
class PairToxics {
public:
  enum class Due { Nothing, Reset, Close };
  /// The connection opened at `now`; `hit`: the link's toxics apply to it.
  void open(bool hit, RelayClock::time_point now) noexcept { hit_ = hit; opened_ = now; }
  /// The toxics of this connection: the link's, or none when the toxicity spared it.
  const Toxics& of(const Toxics& t) const noexcept {
    static const Toxics none;
    return hit_ ? t : none;
  }
  /// Whether bytes read from side `i` are dropped (a timeout that way).
  bool drops(const Toxics& t, int i) const noexcept { return hit_ && t.timeout[i].count() > 0; }
  /// A side sent EOF at `now` (the first one counts).
  void eof(RelayClock::time_point now) noexcept {
    if (eof_at_ == RelayClock::time_point{}) eof_at_ = now;
  }
  /// Whether a closing connection with nothing left to write may close now (slow_close).
  bool may_close(const Toxics& t, RelayClock::time_point now) const noexcept {
    return !hit_ || now >= eof_at_ + t.slow_close;
  }
  /// What the deadlines ask for now: Reset (reset_after: RST both ends) or Close (a timeout
  /// ran out: FIN both ends).
  Due due(const Toxics& t, RelayClock::time_point now) const noexcept {
    if (!hit_) return Due::Nothing;
    if (t.reset_after.count() > 0 && now >= std::max(opened_, t.reset_since) + t.reset_after) return Due::Reset;
    for (int i = 0; i < 2; ++i)
      if (t.timeout[i].count() > 0 && now >= std::max(opened_, t.timeout_since[i]) + t.timeout[i]) return Due::Close;
    return Due::Nothing;
  }
  /// When the relay's loop must wake for this connection (time_point::max(): never). A
  /// reset or timeout deadline may be past (due() acts on it); a slow close only counts ahead.
  RelayClock::time_point next(const Toxics& t, bool closing, RelayClock::time_point now) const noexcept {
    auto n = RelayClock::time_point::max();
    if (!hit_) return n;
    if (t.reset_after.count() > 0) n = std::min(n, std::max(opened_, t.reset_since) + t.reset_after);
    for (int i = 0; i < 2; ++i)
      if (t.timeout[i].count() > 0) n = std::min(n, std::max(opened_, t.timeout_since[i]) + t.timeout[i]);
    if (closing && t.slow_close.count() > 0 && eof_at_ + t.slow_close > now) n = std::min(n, eof_at_ + t.slow_close);
    return n;
  }

private:
  bool hit_ = true;
  RelayClock::time_point opened_{}, eof_at_{};
};

}  // namespace pgha::detail
