// pgha/detail/files.hpp: node directories. Each node lives in a private directory under
// the temp base (PGHA_TMPDIR, else /dev/shm when it has room: copies there are 10-20x
// cheaper than on disk, else TMPDIR, else /tmp), owned by the user the server runs as.
#pragma once

#include <dirent.h>
#include <fcntl.h>
#include <sys/shm.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <boost/filesystem.hpp>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "pgha/detail/privilege.hpp"
#include "pgha/detail/process.hpp"
#include "pgha/error.hpp"

namespace pgha::detail {

inline bool usable_dir(const std::string& d, unsigned long long min_free) {
  struct statvfs v{};
  return !d.empty() && ::access(d.c_str(), W_OK | X_OK) == 0 && ::statvfs(d.c_str(), &v) == 0 &&
         static_cast<unsigned long long>(v.f_bavail) * v.f_frsize >= min_free;
}

// The directory node directories are created in.
inline std::string temp_base(const std::string& option) {
  if (!option.empty()) return option;
  if (const char* e = std::getenv("PGHA_TMPDIR"); e && *e) return e;
  if (usable_dir("/dev/shm", 1ull << 30)) return "/dev/shm";
  if (const char* t = std::getenv("TMPDIR"); t && *t) return t;
  return "/tmp";
}

inline void write_file(const std::string& path, const std::string& text, const RunAs& owner) {
  std::string tmp = path + ".pgha-tmp";
  {
    std::ofstream f(tmp, std::ios::trunc | std::ios::binary);
    f << text;
    if (!f.flush())
      throw SetupError("cannot write '" + path + "': " + std::strerror(errno));
  }
  if (owner.drop) (void)::chown(tmp.c_str(), owner.uid, owner.gid);
  ::chmod(tmp.c_str(), 0600);
  if (::rename(tmp.c_str(), path.c_str()) != 0)
    throw SetupError("cannot write '" + path + "': " + std::strerror(errno));
}

// The file's contents from byte `offset` on ("" if it is missing or shorter).
inline std::string read_file(const std::string& path, std::size_t offset = 0) {
  std::ifstream f(path, std::ios::binary);
  if (offset) f.seekg(static_cast<std::streamoff>(offset));
  std::ostringstream s;
  s << f.rdbuf();
  return s.str();
}

// Size in bytes, 0 if missing: where a server log's new lines will start.
inline std::size_t file_size(const std::string& path) {
  struct stat st{};
  return ::stat(path.c_str(), &st) == 0 ? static_cast<std::size_t>(st.st_size) : 0;
}

// mkdtemp under base, owned by the server user, mode 0700.
inline std::string make_private_dir(const std::string& base, const std::string& prefix,
                                    const RunAs& owner) {
  std::string tmpl = base + "/" + prefix + "XXXXXX";
  std::vector<char> buf(tmpl.begin(), tmpl.end());
  buf.push_back('\0');
  if (!::mkdtemp(buf.data()))
    throw SetupError("cannot create a directory in '" + base + "': " + std::strerror(errno) +
                     "; expected a writable temp dir (set PGHA_TMPDIR or Options::tmp_dir)");
  std::string dir(buf.data());
  if (owner.drop && ::chown(dir.c_str(), owner.uid, owner.gid) != 0)
    throw SetupError("cannot chown '" + dir + "' to " + owner.user + ": " + std::strerror(errno));
  return dir;
}

inline void make_owned_dir(const std::string& dir, const RunAs& owner, mode_t mode = 0700) {
  if (::mkdir(dir.c_str(), mode) != 0 && errno != EEXIST)
    throw SetupError("cannot create '" + dir + "': " + std::strerror(errno));
  ::chmod(dir.c_str(), mode);
  if (owner.drop) (void)::chown(dir.c_str(), owner.uid, owner.gid);
}

inline void copy_regular(const std::string& from, const std::string& to, mode_t mode,
                         const RunAs& owner) {
  Fd in(::open(from.c_str(), O_RDONLY | O_CLOEXEC));
  if (in.get() < 0) {
    if (errno == ENOENT) return;  // removed by the running server meanwhile: fine in a backup
    throw SetupError("cannot read '" + from + "': " + std::strerror(errno));
  }
  Fd out(::open(to.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode & 07777));
  if (out.get() < 0) throw SetupError("cannot create '" + to + "': " + std::strerror(errno));
  for (;;) {
    ssize_t n = ::copy_file_range(in.get(), nullptr, out.get(), nullptr, 1 << 30, 0);
    if (n == 0) break;
    if (n < 0) {
      if (errno == EINTR) continue;
      // Fall back to read/write (cross-device on old kernels, special files).
      char buf[1 << 16];
      ssize_t r;
      while ((r = ::read(in.get(), buf, sizeof buf)) > 0)
        if (::write(out.get(), buf, static_cast<size_t>(r)) != r)
          throw SetupError("cannot write '" + to + "': " + std::strerror(errno));
      break;
    }
  }
  if (owner.drop) (void)::fchown(out.get(), owner.uid, owner.gid);
}

// Copies a directory tree. `skip(relative_path, is_dir)` true: a file is not copied, a
// directory is created empty. Ownership goes to `owner`.
template <class Skip>
void copy_tree(const std::string& from, const std::string& to, const RunAs& owner, Skip skip,
               const std::string& rel = "") {
  DIR* d = ::opendir(from.c_str());
  if (!d) throw SetupError("cannot read directory '" + from + "': " + std::strerror(errno));
  std::unique_ptr<DIR, int (*)(DIR*)> guard(d, ::closedir);
  while (dirent* e = ::readdir(d)) {
    std::string name = e->d_name;
    if (name == "." || name == "..") continue;
    std::string src = from + "/" + name, dst = to + "/" + name;
    std::string r = rel.empty() ? name : rel + "/" + name;
    struct stat st{};
    if (::lstat(src.c_str(), &st) != 0) continue;  // vanished under a running server
    if (S_ISDIR(st.st_mode)) {
      make_owned_dir(dst, owner, st.st_mode & 07777);
      if (!skip(r, true)) copy_tree(src, dst, owner, skip, r);
    } else if (S_ISLNK(st.st_mode)) {
      char target[4096];
      ssize_t n = ::readlink(src.c_str(), target, sizeof target - 1);
      if (n > 0 && !skip(r, false)) {
        target[n] = '\0';
        if (::symlink(target, dst.c_str()) == 0 && owner.drop)
          (void)::lchown(dst.c_str(), owner.uid, owner.gid);
      }
    } else if (S_ISREG(st.st_mode) && !skip(r, false)) {
      copy_regular(src, dst, st.st_mode, owner);
    }
  }
}

// Removes the SysV shared memory segment named on line 7 ("<key> <shmid>") of a
// postmaster.pid. It outlives a SIGKILLed server; nobody else would remove it.
inline void remove_postmaster_shm(const std::string& pidfile_path) noexcept {
  std::istringstream in(read_file(pidfile_path));
  std::string line;
  for (int i = 1; std::getline(in, line); ++i) {
    if (i != 7) continue;
    std::istringstream l(line);
    long key = 0, id = -1;
    if (l >> key >> id && id >= 0) ::shmctl(static_cast<int>(id), IPC_RMID, nullptr);
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
  for (pid_t c : children)
    while (process_alive(c) && std::chrono::steady_clock::now() < deadline)
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
  for (pid_t c : children)
    if (process_alive(c)) return false;
  remove_postmaster_shm(pidfile_path);
  return true;
}

// Removes a tree; never throws. Returns false if something could not be removed.
inline bool remove_tree(const std::string& dir) noexcept {
  boost::system::error_code ec;
  boost::filesystem::remove_all(dir, ec);
  return !ec;
}

}  // namespace pgha::detail
