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
#include <cstring>
#include <string>

#include "pgha/detail/process.hpp"
#include "pgha/error.hpp"

namespace pgha::detail {

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
inline int try_bind(int port, int* chosen = nullptr) {
  Fd s(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (s.get() < 0) return errno;
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
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

// Reserves `fixed` (throws SetupError if taken) or a free ephemeral port.
inline PortLease reserve_port(int fixed) {
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
