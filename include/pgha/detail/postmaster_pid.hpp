// pgha/detail/postmaster_pid.hpp: a postmaster as its postmaster.pid describes it: the
// pid, the SysV shared memory segment (line 7) and the status line (line 8, PostgreSQL
// 10+); removing a killed server's segment only when it is provably that server's; and a
// power-cut kill of a postmaster with all its children.
#pragma once

#include <signal.h>
#include <sys/shm.h>
#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <sstream>
#include <string>
#include <thread>

#include "pgha/detail/file_ops.hpp"
#include "pgha/detail/proc_info.hpp"

namespace pgha::detail {

// The SysV segment a postmaster.pid names: line 1 is the pid (negative for a single-user
// postgres), line 7 "<key> <shmid>" (absent until the segment exists). False if either
// is missing; `pid` is set from line 1 even then.
inline bool pidfile_shm(const std::string& pidfile_path, pid_t& pid, key_t& key, int& shmid) {
  std::istringstream in(read_file(pidfile_path));
  std::string line;
  bool have_pid = false, have_shm = false;
  for (int i = 1; std::getline(in, line); ++i) {
    std::istringstream l(line);
    if (i == 1) {
      long p = 0;
      have_pid = static_cast<bool>(l >> p) && p != 0;
      pid = static_cast<pid_t>(p < 0 ? -p : p);
    } else if (i == 7) {
      // PostgreSQL prints the int key as unsigned long: a negative key comes sign-extended.
      unsigned long long k = 0;
      long id = -1;
      have_shm = static_cast<bool>(l >> k >> id) && id >= 0;
      key = static_cast<key_t>(static_cast<std::uint32_t>(k));
      shmid = static_cast<int>(id);
    }
  }
  return have_pid && have_shm;
}

// The status a postmaster writes on line 8 of its postmaster.pid (PostgreSQL 10+):
// "starting", "ready" (a primary accepts connections), "standby" (a hot standby accepts
// read-only ones), "stopping"; "" when the file is missing, belongs to another pid (a
// crashed server leaves its file behind), or has no status line yet.
inline std::string postmaster_status(const std::string& pidfile_path, pid_t pid) {
  std::string raw = read_file(pidfile_path);
  std::size_t line = 0, pos = 0;
  std::string first, status;
  while (pos <= raw.size() && line < 8) {
    std::size_t nl = raw.find('\n', pos);
    if (nl == std::string::npos) break;  // a line being written has no newline yet
    ++line;
    if (line == 1) first = raw.substr(pos, nl - pos);
    if (line == 8) status = raw.substr(pos, nl - pos);
    pos = nl + 1;
  }
  if (line < 8 || first != std::to_string(pid)) return {};
  std::size_t end = status.find_last_not_of(' ');
  return end == std::string::npos ? std::string() : status.substr(0, end + 1);
}

// Removes the SysV shared memory segment a postmaster.pid names, but only when it is
// provably that server's: the id on line 7 still has the key on line 7, it was created by
// the pid on line 1, and no process is attached any more (waits up to `limit` for the
// server's last children to detach; after a kill -9 of only the postmaster they exit on
// their own within milliseconds). The segment outlives a killed server, and nobody else
// would remove it. True if it was removed; false if there was none, it was someone
// else's (the id was reused), or it was still attached at the deadline.
inline bool remove_postmaster_shm(const std::string& pidfile_path,
                                  std::chrono::milliseconds limit = std::chrono::seconds(2)) noexcept {
  try {
    pid_t creator = 0;
    key_t key = 0;
    int shmid = -1;
    if (!pidfile_shm(pidfile_path, creator, key, shmid)) return false;
    auto deadline = std::chrono::steady_clock::now() + limit;
    for (;;) {
      shmid_ds ds{};
      if (::shmctl(shmid, IPC_STAT, &ds) != 0) return false;  // gone already
      if (ds.shm_perm.__key != key || ds.shm_cpid != creator) return false;  // not this server's
      if (ds.shm_nattch == 0) return ::shmctl(shmid, IPC_RMID, nullptr) == 0;
      if (std::chrono::steady_clock::now() >= deadline) return false;
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
  } catch (...) {
    return false;
  }
}

// Like a power cut: SIGKILL to a postmaster and every child at once, then waits until
// they are gone (zombies count as gone) and removes the SysV segment. False if some
// process outlived `limit`. Serves our own children and the sweep of foreign leftovers.
inline bool kill_server(pid_t postmaster, const std::string& pidfile_path,
                        std::chrono::milliseconds limit) noexcept {
  auto children = child_pids(postmaster);
  ::kill(postmaster, SIGKILL);
  for (pid_t c : children) ::kill(c, SIGKILL);
  children.push_back(postmaster);
  auto deadline = std::chrono::steady_clock::now() + limit;
  for (pid_t c : children)  // each exits within a few ms (the kernel frees its memory)
    while (process_alive(c) && std::chrono::steady_clock::now() < deadline)
      std::this_thread::sleep_for(std::chrono::microseconds(200));
  for (pid_t c : children)
    if (process_alive(c)) return false;
  remove_postmaster_shm(pidfile_path, std::chrono::seconds(1));
  return true;
}

}  // namespace pgha::detail
