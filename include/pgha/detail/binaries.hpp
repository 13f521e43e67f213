// pgha/detail/binaries.hpp: finding the PostgreSQL server binaries and their version.
// Discovery order: explicit option, PGHA_PG_BINDIR, `pg_config --bindir`, initdb on PATH,
// the newest /usr/lib/postgresql/*/bin. Server-only builds (initdb, pg_ctl, postgres) are
// enough; pg_basebackup and pg_rewind are used only when a version-matched one exists.
#pragma once

#include <dirent.h>
#include <limits.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cctype>
#include <chrono>
#include <cstdlib>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "pgha/detail/file_ops.hpp"  // parent_dir
#include "pgha/detail/spawn.hpp"
#include "pgha/error.hpp"
#include "pgha/events.hpp"

namespace pgha::detail {

struct Binaries {
  std::string bin_dir;        // canonical directory with initdb and postgres
  std::string version;        // "15.18"
  int major = 0;              // 15 (11 for 11.x)
  int version_num = 0;        // 150018, as server_version_num
  std::string pg_basebackup;  // version-matched tool path, or ""
  std::string pg_rewind;      // version-matched tool path, or ""
};

inline bool is_executable(const std::string& p) {
  struct stat st{};
  return ::stat(p.c_str(), &st) == 0 && S_ISREG(st.st_mode) && ::access(p.c_str(), X_OK) == 0;
}

// Runs `argv` directly (no shell: any path works unquoted) and returns its standard
// output without trailing newlines; "" if it cannot be started or runs over 30 s.
inline std::string capture(const std::vector<std::string>& argv) {
  SpawnSpec spec;
  spec.argv = argv;
  std::string out;
  try {
    run(spec, std::chrono::seconds(30), &out);
  } catch (const Error&) {
    return {};
  }
  while (!out.empty() && (out.back() == '\n' || out.back() == ' ')) out.pop_back();
  return out;
}

// The first executable `name` in the directories of $PATH, or "".
inline std::string find_in_path(const std::string& name) {
  const char* path = std::getenv("PATH");
  std::string s(path ? path : "");
  for (size_t pos = 0; pos <= s.size();) {
    size_t next = s.find(':', pos);
    std::string d = s.substr(pos, next == std::string::npos ? std::string::npos : next - pos);
    if (!d.empty() && is_executable(d + "/" + name)) return d + "/" + name;
    if (next == std::string::npos) break;
    pos = next + 1;
  }
  return {};
}

// Parses "postgres (PostgreSQL) 15.18 (Debian 15.18-0+deb12u1)" or "... 18beta1": the
// numbers after "(PostgreSQL)" and blanks. (By hand: <regex> alone doubled the time to
// compile pgha.hpp.)
inline bool parse_version(const std::string& text, int& major, int& num, std::string& ver) {
  static const std::string tag = "(PostgreSQL)";
  auto digits = [&](std::size_t& i, int& out) {
    std::size_t start = i;
    long v = 0;
    while (i < text.size() && std::isdigit(static_cast<unsigned char>(text[i])) && i - start < 9)
      v = v * 10 + (text[i++] - '0');
    out = static_cast<int>(v);
    return i > start;
  };
  for (std::size_t at = text.find(tag); at != std::string::npos; at = text.find(tag, at + 1)) {
    std::size_t i = at + tag.size();
    std::size_t blanks = i;
    while (i < text.size() && std::isspace(static_cast<unsigned char>(text[i]))) ++i;
    int ma = 0, mi = 0;
    if (i == blanks || !digits(i, ma)) continue;
    if (i + 1 < text.size() && text[i] == '.' && std::isdigit(static_cast<unsigned char>(text[i + 1]))) {
      ++i;
      digits(i, mi);
    }
    major = ma;
    num = major >= 10 ? major * 10000 + mi : major * 10000 + mi * 100;  // 9.6 -> 90600
    ver = std::to_string(major) + "." + std::to_string(mi);
    return true;
  }
  return false;
}

// realpath(3) of `p`, or "" if it cannot be resolved.
inline std::string canonical_path(const std::string& p) {
  char buf[PATH_MAX];
  return ::realpath(p.c_str(), buf) ? std::string(buf) : std::string();
}


// The version-matched client tool: in bin_dir, else in Debian's /usr/lib/postgresql/<major>/bin.
inline std::string matched_tool(const std::string& bin_dir, int major, const std::string& tool) {
  for (const std::string& dir : {bin_dir, "/usr/lib/postgresql/" + std::to_string(major) + "/bin"}) {
    std::string p = dir + "/" + tool;
    if (!is_executable(p)) continue;
    int m = 0, n = 0;
    std::string v;
    std::string out = capture({p, "--version"});
    // "pg_rewind (PostgreSQL) 15.18 ..."
    if (parse_version(out, m, n, v) && m == major) return p;
  }
  return {};
}

inline std::string newest_debian_bindir() {
  int best = -1;
  std::string dir;
  DIR* d = ::opendir("/usr/lib/postgresql");
  if (!d) return dir;
  while (dirent* e = ::readdir(d)) {
    std::string name = e->d_name;
    if (name.empty() || name.size() > 6 || name.find_first_not_of("0123456789") != std::string::npos) continue;
    int v = std::stoi(name);
    std::string bin = "/usr/lib/postgresql/" + name + "/bin";
    if (v > best && is_executable(bin + "/postgres")) {
      best = v;
      dir = bin;
    }
  }
  ::closedir(d);
  return dir;
}

// Where the discovery found the bin dir, for messages.
inline std::string discover_bindir(const std::string& explicit_dir, std::string& source) {
  if (!explicit_dir.empty()) { source = "Options::bin_dir"; return explicit_dir; }
  if (const char* e = std::getenv("PGHA_PG_BINDIR"); e && *e) { source = "PGHA_PG_BINDIR"; return e; }
  std::string pg_config = find_in_path("pg_config");
  std::string pgc = pg_config.empty() ? std::string() : capture({pg_config, "--bindir"});
  if (!pgc.empty() && is_executable(pgc + "/postgres")) { source = "pg_config --bindir"; return pgc; }
  if (std::string initdb = find_in_path("initdb"); !initdb.empty()) {
    std::string real = canonical_path(initdb);
    source = "initdb on PATH";
    return parent_dir(real.empty() ? initdb : real);
  }
  source = "/usr/lib/postgresql/*/bin";
  return newest_debian_bindir();
}

// Finds and validates the binaries; cached per directory. Throws SetupError with what
// was looked for and where.
inline Binaries find_binaries(const std::string& explicit_dir) {
  static std::mutex mu;
  static std::map<std::string, Binaries> cache;       // by bin dir
  static std::map<std::string, std::string> located;  // discovery inputs -> bin dir
  auto env = [](const char* name) { const char* v = std::getenv(name); return std::string(v ? v : ""); };
  // Discovery runs `pg_config --bindir`: do it once per set of inputs, not per node.
  std::string inputs = explicit_dir + '\n' + env("PGHA_PG_BINDIR") + '\n' + env("PATH");
  std::string source = "cached discovery";
  std::string dir;
  {
    std::lock_guard<std::mutex> lock(mu);
    if (auto it = located.find(inputs); it != located.end()) {
      if (auto b = cache.find(it->second); b != cache.end()) return b->second;
      dir = it->second;
    }
  }
  if (dir.empty()) dir = discover_bindir(explicit_dir, source);
  std::lock_guard<std::mutex> lock(mu);
  if (auto it = cache.find(dir); it != cache.end()) {
    located[inputs] = dir;
    return it->second;
  }
  if (dir.empty())
    throw SetupError("no PostgreSQL server binaries found: looked at PGHA_PG_BINDIR, "
                     "`pg_config --bindir`, initdb on PATH and /usr/lib/postgresql/*/bin. "
                     "Install postgresql (scripts/bootstrap.sh), fetch a version with "
                     "scripts/fetch-pg.sh, or set Options::bin_dir / PGHA_PG_BINDIR.");
  for (const char* tool : {"postgres", "initdb"})
    if (!is_executable(dir + "/" + tool))
      throw SetupError("'" + dir + "' (from " + source + ") is not a PostgreSQL bin directory: "
                       "expected an executable '" + tool + "' in it. Point Options::bin_dir or "
                       "PGHA_PG_BINDIR at a directory holding initdb and postgres.");
  Binaries b;
  std::string canon = canonical_path(dir);
  b.bin_dir = canon.empty() ? dir : canon;
  std::string out = capture({b.bin_dir + "/postgres", "--version"});
  if (!parse_version(out, b.major, b.version_num, b.version))
    throw SetupError("'" + b.bin_dir + "/postgres --version' printed '" + out +
                     "', expected 'postgres (PostgreSQL) <major>.<minor>': the binary is not a "
                     "PostgreSQL server or cannot run (missing shared libraries?)");
  const char* untested = std::getenv("PGHA_ALLOW_UNTESTED");
  if (b.major < 11 || (b.major > 18 && !(untested && *untested == '1')))
    throw SetupError("PostgreSQL " + b.version + " in '" + b.bin_dir + "' is not supported: "
                     "pgha supports PostgreSQL 11 to 18" +
                     (b.major > 18 ? std::string(" (set PGHA_ALLOW_UNTESTED=1 to try a newer one)")
                                   : std::string()) + ".");
  b.pg_basebackup = matched_tool(b.bin_dir, b.major, "pg_basebackup");
  b.pg_rewind = matched_tool(b.bin_dir, b.major, "pg_rewind");
  cache[dir] = b;
  located[inputs] = dir;
  emit("", "binaries", "PostgreSQL " + b.version + " in " + b.bin_dir + " (from " + source + ")" + (b.pg_basebackup.empty() ? ", no pg_basebackup" : "") + (b.pg_rewind.empty() ? ", no pg_rewind" : ""));
  return b;
}

}  // namespace pgha::detail
