// pgha/detail/packet_drop.hpp: LinkCut::Drop. A relay is a user-space program: its kernel
// acknowledges every byte a client sends, so a client behind a blackholed relay never sees
// its own TCP give up (tcp_user_timeout, keepalives): it waits for its own deadline. Drop
// has the kernel drop the packets of the relay's client connections instead, as a dead
// network would: nftables, one table per process (inet pgha_<pid>_<starttime>) with two
// sets of relay ports, "up" (packets to the port: client to relay) and "down" (packets
// from it), and a chain on the input hook that drops both. Input, not output: a drop on
// output gives the sender EPERM at once, which no dead network does.
//
// Needs the `nft` program and the right to change the ruleset (root, CAP_NET_ADMIN):
// without them, available() says what is missing and set() throws SetupError saying it.
// The table goes with the process: the watcher (reaper.hpp) deletes it when the process
// dies however it dies; a table left by a process whose watcher died too is deleted by the
// next process that creates its own.
#pragma once

#include <pthread.h>
#include <unistd.h>

#include <cstdlib>
#include <map>
#include <mutex>
#include <new>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "pgha/detail/file_ops.hpp"
#include "pgha/detail/proc_info.hpp"
#include "pgha/detail/reaper.hpp"
#include "pgha/detail/spawn.hpp"
#include "pgha/error.hpp"

namespace pgha::detail {

class PacketDrop {
public:
  /// Whether packets can be dropped here; `why` (if given) says what is missing if not.
  bool available(std::string* why = nullptr) {
    std::lock_guard<std::mutex> l(mu_);
    probe();
    if (why) *why = why_;
    return why_.empty();
  }

  /// SetupError for `who` (the call that needs a drop) when packets cannot be dropped here.
  void require(const std::string& who) {
    std::lock_guard<std::mutex> l(mu_);
    probe();
    if (!why_.empty()) throw unavailable(who);
  }

  /// The name of the nftables table (family inet) of process `pid`: pgha_<pid>_<start time>,
  /// so a table outlives no reuse of the pid. "" if the process is gone.
  static std::string table_name(pid_t pid) {
    std::string id = process_identity(pid);
    if (id.empty()) return {};
    for (char& c : id)
      if (c == ' ') c = '_';
    return "pgha_" + id;
  }

  /// Drops (or stops dropping) the packets to (`up`) and from (`down`) loopback port
  /// `port`. SetupError when packets cannot be dropped here, saying why.
  void set(int port, bool up, bool down) {
    std::lock_guard<std::mutex> l(mu_);
    auto it = ports_.find(port);
    const bool was_up = it != ports_.end() && it->second.first;
    const bool was_down = it != ports_.end() && it->second.second;
    if (up == was_up && down == was_down) return;
    if (!up && !down && ::getpid() != owner_) {  // a fork()ed child: the parent's rules are not its own
      ports_.erase(port);
      return;
    }
    probe();
    if (!why_.empty()) throw unavailable("pgha::Link::cut(LinkCut::Drop)");
    ensure_table();
    std::string cmd;
    const std::string p = std::to_string(port);
    if (up != was_up) cmd += std::string(up ? "add" : "delete") + " element inet " + table_ + " up { " + p + " }; ";
    if (down != was_down) cmd += std::string(down ? "add" : "delete") + " element inet " + table_ + " down { " + p + " }; ";
    std::string out;
    if (nft(cmd, &out) != 0)
      throw SetupError("pgha::Link: nft could not " + std::string(up || down ? "drop" : "stop dropping") +
                       " the packets of port " + p + ": " + trim(out) + " (command: nft '" + cmd + "')");
    if (up || down) ports_[port] = {up, down};
    else ports_.erase(port);
  }
  /// Stops dropping the packets of `port`; never throws (a link that closes).
  void clear(int port) noexcept {
    try {
      set(port, false, false);
    } catch (...) {
    }
  }
  /// Whether packets of `port` are dropped in some direction.
  bool dropping(int port) const {
    std::lock_guard<std::mutex> l(mu_);
    return ports_.count(port) != 0;
  }

  static PacketDrop& instance() {
    static PacketDrop* d = new PacketDrop;  // never destroyed: links in static storage
    return *d;
  }

private:
  PacketDrop() {
    self() = this;
    ::pthread_atfork(nullptr, nullptr, [] {
      if (PacketDrop* d = self()) new (&d->mu_) std::mutex;
    });
  }
  static PacketDrop*& self() noexcept {
    static PacketDrop* p = nullptr;
    return p;
  }

  // Under mu_, after probe() failed: the error, saying what is missing.
  SetupError unavailable(const std::string& who) const {
    return SetupError(who + ": packets cannot be dropped on this machine: " + why_ +
                      "; expected the nft program (Debian: apt-get install nftables) and the right to change the "
                      "ruleset (root or CAP_NET_ADMIN). LinkCut::Blackhole holds the bytes in the relay instead "
                      "(the client's own TCP timeouts then do not fire)");
  }
  // Under mu_: finds nft and checks that it may list the ruleset (once per process).
  void probe() {
    if (probed_) return;
    probed_ = true;
    if (const char* e = std::getenv("PGHA_NFT")) {
      nft_ = e;
    } else {
      std::string path = std::getenv("PATH") ? std::getenv("PATH") : "";
      path += ":/usr/sbin:/sbin";
      std::istringstream dirs(path);
      for (std::string d; std::getline(dirs, d, ':');)
        if (!d.empty() && ::access((d + "/nft").c_str(), X_OK) == 0) {
          nft_ = d + "/nft";
          break;
        }
    }
    if (nft_.empty()) {
      why_ = "no nft program (looked in PATH, /usr/sbin and /sbin; PGHA_NFT names one)";
      return;
    }
    // What set() needs, tried once: a table with a port set and a chain on the input hook.
    const std::string t = "inet pgha_probe_" + std::to_string(::getpid());
    const std::string cmd = "add table " + t + "; add set " + t + " up { type inet_service; }; add chain " + t +
                            " in { type filter hook input priority -10; policy accept; }; add rule " + t +
                            " in iifname \"lo\" tcp dport @up drop; delete table " + t;
    std::string out;
    int rc = -1;
    try {
      rc = nft(cmd, &out);
    } catch (const Error& e) {
      out = e.what();
    }
    if (rc != 0) why_ = "'" + nft_ + "' could not add a table with a drop rule on the input hook: " + trim(out);
  }

  // Under mu_: this process's table, created on first use (and again in a fork()ed child).
  void ensure_table() {
    if (owner_ == ::getpid()) return;
    const std::string name = table_name(::getpid());
    sweep();
    const std::string t = "inet " + name;
    const std::string cmd = "add table " + t + "; add set " + t + " up { type inet_service; }; add set " + t +
                            " down { type inet_service; }; add chain " + t +
                            " in { type filter hook input priority -10; policy accept; }; add rule " + t +
                            " in iifname \"lo\" tcp dport @up drop; add rule " + t +
                            " in iifname \"lo\" tcp sport @down drop";
    std::string out;
    if (nft(cmd, &out) != 0)
      throw SetupError("pgha::Link: nft could not create the table " + name + ": " + trim(out));
    table_ = name;
    owner_ = ::getpid();
    ports_.clear();
    reaper().watch_nft_table(name);
  }
  // Deletes the tables of processes that are gone (their watcher died with them).
  void sweep() {
    std::string out;
    if (nft("list tables", &out) != 0) return;
    std::istringstream lines(out);
    for (std::string line; std::getline(lines, line);) {
      const std::string prefix = "table inet pgha_";
      if (line.rfind(prefix, 0) != 0) continue;
      const std::string name = line.substr(prefix.size() - 5);
      std::string rest = line.substr(prefix.size());
      const auto us = rest.find('_');
      if (us == std::string::npos || rest.find_first_not_of("0123456789_") != std::string::npos) continue;
      const std::string pid = rest.substr(0, us), start = rest.substr(us + 1);
      if (table_name(static_cast<pid_t>(std::atol(pid.c_str()))) == name) continue;
      std::string ignored;
      nft("delete table inet " + name, &ignored);
    }
  }
  // Runs nft with one command line (commands separated by ';'); its output and errors land
  // in `out`.
  int nft(const std::string& commands, std::string* out) const {
    SpawnSpec s;
    s.argv = {"/bin/sh", "-c", "exec \"$0\" \"$1\" 2>&1", nft_, commands};
    return run(s, std::chrono::seconds(10), out);
  }
  static std::string trim(std::string s) {
    while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
    return s.empty() ? std::string("(no output)") : s;
  }

  mutable std::mutex mu_;
  bool probed_ = false;
  std::string nft_, why_, table_;
  pid_t owner_ = 0;
  std::map<int, std::pair<bool, bool>> ports_;  // port -> dropped up, down
};

inline PacketDrop& packet_drop() { return PacketDrop::instance(); }

}  // namespace pgha::detail
