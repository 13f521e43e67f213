// pgha/detail/fd.hpp: one owned file descriptor, used by process spawning, port locks,
// file copies and the relay's sockets.
#pragma once

#include <sys/socket.h>
#include <unistd.h>

#include <utility>

namespace pgha::detail {

/// Owns one descriptor. close() is not retried on EINTR: Linux releases the fd regardless.
class Fd {
public:
  Fd() noexcept = default;
  explicit Fd(int fd) noexcept : fd_(fd) {}
  Fd(Fd&& o) noexcept : fd_(std::exchange(o.fd_, -1)) {}
  Fd& operator=(Fd&& o) noexcept { if (this != &o) reset(std::exchange(o.fd_, -1)); return *this; }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  ~Fd() { reset(); }
  int get() const noexcept { return fd_; }
  explicit operator bool() const noexcept { return fd_ >= 0; }
  /// Gives up ownership without closing.
  int release() noexcept { return std::exchange(fd_, -1); }
  /// Closes the owned descriptor (if any) and owns `fd` instead.
  void reset(int fd = -1) noexcept { if (fd_ >= 0) ::close(fd_); fd_ = fd; }
  /// For a TCP socket: SO_LINGER {1,0}, so the kernel drops unsent data and the peer gets
  /// an RST now, not a FIN. Then closes.
  void abort() noexcept {
    linger l{1, 0};
    if (fd_ >= 0) ::setsockopt(fd_, SOL_SOCKET, SO_LINGER, &l, sizeof l);
    reset();
  }

private:
  int fd_ = -1;
};

}  // namespace pgha::detail
