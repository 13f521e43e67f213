// pgha/detail/cancel.hpp: cancelling a running statement without ever signalling the wrong
// process or hanging: libpq's PQcancel on a bounded helper thread, and a SIGINT shortcut
// only for a backend proved to be a child of pgha's own postmaster (by parent pid and start
// time, signalled through a pidfd).
#pragma once

#include <libpq-fe.h>
#include <signal.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "pgha/detail/proc_info.hpp"  // ProcIdentity, read_proc_identity

namespace pgha::detail {

// Sends SIGINT to `pid` only if it is still the process named by `expected` (a child of
// that parent, started at that time). With a pidfd the check and the signal address the
// same process even if it exits in between; without one (kernel < 5.3) a tiny window
// remains between the check and kill().
inline bool sigint_if_identity(int pid, const ProcIdentity& expected) noexcept {
  ProcIdentity now;
#if defined(SYS_pidfd_open) && defined(SYS_pidfd_send_signal)
  int fd = static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
  if (fd >= 0) {
    bool ok = read_proc_identity(pid, now) && now.ppid == expected.ppid &&
              now.start == expected.start &&
              ::syscall(SYS_pidfd_send_signal, fd, SIGINT, nullptr, 0) == 0;
    ::close(fd);
    return ok;
  }
  if (errno != ENOSYS) return false;
#endif
  return read_proc_identity(pid, now) && now.ppid == expected.ppid &&
         now.start == expected.start && ::kill(pid, SIGINT) == 0;
}

// One cancel request through libpq's PQcancel, run on a detached helper thread. PQcancel
// opens a new connection to the server and waits until the server has handled the
// request; against a frozen server (SIGSTOPped postmaster) the kernel still accepts that
// connection and PQcancel then waits for as long as the server stays frozen, and no
// socket option bounds that wait (the kernel ACKs and answers keepalives for the frozen
// process). So the caller waits on this flight with its own bound, and the thread, which
// owns the PGcancel, frees it when PQcancel returns: when the server handles the request,
// or when the server is thawed, stopped or killed (its socket closes). A Connection keeps
// at most one flight going at a time.
struct CancelFlight {
  std::mutex m;
  std::condition_variable cv;
  bool done = false;
  bool delivered = false;
  char error[256] = {0};

  bool finished() {
    std::lock_guard<std::mutex> l(m);
    return done;
  }
  // True when PQcancel reported the request delivered within `d`.
  bool wait_for(std::chrono::milliseconds d) {
    std::unique_lock<std::mutex> l(m);
    cv.wait_for(l, d, [&] { return done; });
    return done && delivered;
  }
};

inline std::shared_ptr<CancelFlight> launch_libpq_cancel(PGconn* c) noexcept {
  PGcancel* pc = c ? PQgetCancel(c) : nullptr;
  if (!pc) return nullptr;
  try {
    auto f = std::make_shared<CancelFlight>();
    std::thread([pc, f] {
      char err[256] = {0};
      int ok = PQcancel(pc, err, sizeof err);
      PQfreeCancel(pc);
      std::lock_guard<std::mutex> l(f->m);
      f->done = true;
      f->delivered = ok != 0;
      std::memcpy(f->error, err, sizeof err);
      f->cv.notify_all();
    }).detach();
    return f;
  } catch (...) {  // no memory or no thread: the request is not sent
    PQfreeCancel(pc);
    return nullptr;
  }
}

}  // namespace pgha::detail
