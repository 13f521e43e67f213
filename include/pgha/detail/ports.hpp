// pgha/detail/ports.hpp: race-free port reservation. A port is ours while we hold an
// exclusive flock on /tmp/pgha-ports/<port>.lock (released by the kernel if we die), so
// concurrent test processes never pick the same port. A non-pgha process can still take
// the port between our check and the server's bind: the server start retries then.
#pragma once

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <string>

#include "pgha/detail/fd.hpp"
#include "pgha/error.hpp"

namespace pgha::detail {

/// 127.0.0.1:`port` (0: any free port, for bind) as a socket address: the one builder of
/// the loopback address every pgha server, relay and port probe uses.
inline sockaddr_in loopback_address(int port) {
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = htons(static_cast<std::uint16_t>(port));
  return a;
}

class PortLease {
public:
  PortLease() = default;
  PortLease(int port, Fd lock) : port_(port), lock_(std::move(lock)) {}
  int port() const noexcept { return port_; }
  void release() noexcept { lock_.reset(); port_ = 0; }

private:
  int port_ = 0;
  Fd lock_;
};

// 0 if 127.0.0.1:port can be bound now, else errno. port 0 = any: *chosen gets the port.
// With SO_REUSEADDR, as postgres binds: a port whose last server just died has sockets in
// TIME_WAIT for 60 s, which stop a plain bind but not the server's.
inline int try_bind(int port, int* chosen = nullptr) {
  Fd s(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (s.get() < 0) return errno;
  int one = 1;
  if (::setsockopt(s.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0) return errno;
  sockaddr_in a = loopback_address(port);
  if (::bind(s.get(), reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) return errno;
  if (chosen) {
    socklen_t len = sizeof a;
    ::getsockname(s.get(), reinterpret_cast<sockaddr*>(&a), &len);
    *chosen = ntohs(a.sin_port);
  }
  return 0;
}

inline Fd lock_port(int port) {
  const char* dir = "/tmp/pgha-ports";
  if (::mkdir(dir, 01777) == 0) ::chmod(dir, 01777);
  std::string path = std::string(dir) + "/" + std::to_string(port) + ".lock";
  Fd fd(::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0666));
  if (fd.get() < 0) return Fd();
  if (::flock(fd.get(), LOCK_EX | LOCK_NB) != 0) return Fd();
  return fd;
}

// Fixed ports pgha accepts. Below 1024 a port is privileged: the server never runs as
// root (it refuses to), so it could bind one only where the administrator lowered
// net.ipv4.ip_unprivileged_port_start; such ports also belong to system services. The
// range is the same on every machine, so a test that passes here passes everywhere.
inline constexpr int kMinFixedPort = 1024;
inline constexpr int kMaxPort = 65535;

// Throws SetupError unless `port` is 0 (pick one) or in kMinFixedPort..kMaxPort.
inline void check_port(int port) {
  if (port == 0 || (port >= kMinFixedPort && port <= kMaxPort)) return;
  throw SetupError("port " + std::to_string(port) + " is not usable: " +
                   (port < 0 || port > kMaxPort
                        ? std::string("a TCP port is 1 to 65535")
                        : std::string("ports below 1024 are privileged, and the server never "
                                      "runs as root")) +
                   "; expected Options::port = 0 (a free port) or " +
                   std::to_string(kMinFixedPort) + " to " + std::to_string(kMaxPort) + ".");
}

// Reserves `fixed` (throws SetupError if taken or invalid) or a free ephemeral port.
// An invalid port is rejected before any lock file is created.
inline PortLease reserve_port(int fixed) {
  check_port(fixed);
  if (fixed != 0) {
    Fd lock = lock_port(fixed);
    int err = try_bind(fixed);
    if (lock.get() < 0 || err != 0)
      throw SetupError("port " + std::to_string(fixed) + " on 127.0.0.1 is taken (" +
                       (lock.get() < 0 ? std::string("another pgha node holds it")
                                       : std::string(std::strerror(err))) +
                       "); expected a free port. Use Options::port = 0 to pick a free one.");
    return PortLease(fixed, std::move(lock));
  }
  for (int attempt = 0; attempt < 200; ++attempt) {
    int port = 0;
    if (int err = try_bind(0, &port); err != 0)
      throw SetupError(std::string("cannot bind a socket on 127.0.0.1: ") + std::strerror(err));
    if (Fd lock = lock_port(port); lock.get() >= 0) return PortLease(port, std::move(lock));
  }
  throw SetupError("could not reserve a free port on 127.0.0.1 after 200 attempts");
}

}  // namespace pgha::detail
