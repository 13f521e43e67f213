// pgha/detail/temp_base.hpp: where node directories, templates and spare copies go (the
// temp base): Options::tmp_dir, else PGHA_TMPDIR, else /dev/shm when it has room (copies
// there are 10-20x cheaper than on disk), else TMPDIR, else /tmp.
#pragma once

#include <sys/statvfs.h>
#include <unistd.h>

#include <cstdlib>
#include <string>

#include "pgha/error.hpp"

namespace pgha::detail {

// Whether `d` is a directory we may write in with at least `min_free` bytes free.
inline bool usable_dir(const std::string& d, unsigned long long min_free) {
  struct statvfs v{};
  return !d.empty() && ::access(d.c_str(), W_OK | X_OK) == 0 && ::statvfs(d.c_str(), &v) == 0 &&
         static_cast<unsigned long long>(v.f_bavail) * v.f_frsize >= min_free;
}

// A temp base must be an absolute path without a newline: the watcher (reaper.hpp) is
// told about directories one path a line, and a relative base would move with the current
// directory. Throws SetupError naming where the value came from (`source`).
inline const std::string& checked_temp_base(const std::string& dir, const char* source) {
  if (dir.find('\n') != std::string::npos || dir.find('\r') != std::string::npos)
    throw SetupError(std::string(source) + " holds a newline ('" + dir + "'); expected an absolute "
                     "path without one (pgha would not be able to clean up directories there)");
  if (dir[0] != '/')
    throw SetupError(std::string(source) + " is the relative path '" + dir + "'; expected an "
                     "absolute path (a node directory must not depend on the current directory)");
  return dir;
}

// The directory node directories are created in (Options::tmp_dir, else PGHA_TMPDIR, else
// /dev/shm when it has room, else TMPDIR, else /tmp). Throws SetupError for a value with a
// newline or a relative path.
inline std::string temp_base(const std::string& option) {
  if (!option.empty()) return checked_temp_base(option, "Options::tmp_dir");
  if (const char* e = std::getenv("PGHA_TMPDIR"); e && *e) return checked_temp_base(e, "PGHA_TMPDIR");
  if (usable_dir("/dev/shm", 1ull << 30)) return "/dev/shm";
  if (const char* t = std::getenv("TMPDIR"); t && *t) return checked_temp_base(t, "TMPDIR");
  return "/tmp";
}

}  // namespace pgha::detail
