// pgha/detail/socket_ports.hpp: which local TCP port a process connects from, read from
// /proc (the process's file descriptors name its sockets' inodes; its network namespace's
// /proc/<pid>/net/tcp{,6} maps them to addresses). The servers run as the test's user or as
// an unprivileged user of a root test: either way this process may read them.
#pragma once

#include <dirent.h>
#include <sys/types.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <set>
#include <sstream>
#include <string>

namespace pgha::detail {

/// The local port of `pid`'s established TCP connection to port `remote_port`, 0 when it
/// has none, -1 when this process may not read its file descriptors.
inline int local_port_to(pid_t pid, int remote_port) {
  const std::string base = "/proc/" + std::to_string(pid);
  std::set<unsigned long> inodes;
  if (DIR* d = ::opendir((base + "/fd").c_str())) {
    while (dirent* e = ::readdir(d)) {
      char buf[64];
      ssize_t n = ::readlink((base + "/fd/" + e->d_name).c_str(), buf, sizeof buf - 1);
      if (n <= 0) continue;
      buf[n] = '\0';
      unsigned long ino = 0;
      if (std::sscanf(buf, "socket:[%lu]", &ino) == 1) inodes.insert(ino);
    }
    ::closedir(d);
  } else {
    return -1;
  }
  if (inodes.empty()) return 0;
  for (const char* table : {"/net/tcp", "/net/tcp6"}) {
    std::ifstream in(base + table);
    std::string line;
    std::getline(in, line);  // the header
    while (std::getline(in, line)) {
      // sl local_address rem_address st tx_queue:rx_queue tr:tm->when retrnsmt uid timeout inode
      std::istringstream ls(line);
      std::string sl, local, rem, st, q, tr, retr, uid, timeout;
      unsigned long ino = 0;
      if (!(ls >> sl >> local >> rem >> st >> q >> tr >> retr >> uid >> timeout >> ino)) continue;
      if (st != "01" || !inodes.count(ino)) continue;  // 01: ESTABLISHED
      auto port = [](const std::string& a) {
        auto c = a.rfind(':');
        return c == std::string::npos ? -1 : static_cast<int>(std::stoul(a.substr(c + 1), nullptr, 16));
      };
      if (port(rem) == remote_port) return port(local);
    }
  }
  return 0;
}

}  // namespace pgha::detail
