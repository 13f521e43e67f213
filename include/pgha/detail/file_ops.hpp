// pgha/detail/file_ops.hpp: the file and directory operations pgha's mechanisms share:
// reading a file, a log's tail, writing a file atomically (a full disk is named as such,
// with the room left), private and owned directories, copying a tree or a template's data
// directory (two threads), removing a tree, and the checks a server's paths must pass (a
// Unix socket path the kernel accepts, every directory on the way searchable by the server
// user). Where node directories go is detail/temp_base.hpp; what is in one, node_dir.hpp.
#pragma once

#include <dirent.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "pgha/detail/fd.hpp"
#include "pgha/detail/privilege.hpp"
#include "pgha/error.hpp"

namespace pgha::detail {

// The directory part of a path ("." if it has none).
inline std::string parent_dir(const std::string& path) {
  auto slash = path.rfind('/');
  return slash == std::string::npos ? "." : slash == 0 ? "/" : path.substr(0, slash);
}

// Free bytes for an unprivileged writer on the file system holding `dir` (0 if unknown).
inline unsigned long long free_bytes(const std::string& dir) {
  struct statvfs v{};
  return ::statvfs(dir.c_str(), &v) == 0
             ? static_cast<unsigned long long>(v.f_bavail) * v.f_frsize : 0;
}

// The SetupError for a failed write of `path` with errno `err`. A full disk (or quota)
// says so, with the free space left, instead of a bare "No space left on device".
inline SetupError write_error(const std::string& path, int err) {
  if (err == ENOSPC || err == EDQUOT) {
    std::string dir = parent_dir(path);
    return SetupError("cannot write '" + path + "': the disk holding '" + dir + "' is full (" +
                      std::to_string(free_bytes(dir)) + " bytes free); expected room for a "
                      "copy of the data directory. Free space there, or point PGHA_TMPDIR or "
                      "Options::tmp_dir at a larger file system.");
  }
  return SetupError("cannot write '" + path + "': " + std::strerror(err));
}

// Writes all of `n` bytes to `fd` (retrying short writes and EINTR). Returns 0 or errno.
inline int write_all(int fd, const char* p, size_t n) noexcept {
  while (n > 0) {
    ssize_t w = ::write(fd, p, n);
    if (w < 0 && errno == EINTR) continue;
    if (w < 0) return errno;
    if (w == 0) return EIO;
    p += w;
    n -= static_cast<size_t>(w);
  }
  return 0;
}

// Writes `text` to `path` atomically (a temp file renamed into place), mode 0600, owned
// by `owner`. Throws SetupError; a full disk is reported as such.
inline void write_file(const std::string& path, const std::string& text, const RunAs& owner) {
  std::string tmp = path + ".pgha-tmp";
  Fd f(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
  if (!f) throw write_error(path, errno);
  int err = write_all(f.get(), text.data(), text.size());
  if (err == 0 && ::close(f.release()) != 0) err = errno;  // NFS reports ENOSPC here
  if (err != 0) {
    ::unlink(tmp.c_str());
    throw write_error(path, err);
  }
  if (owner.drop) (void)::chown(tmp.c_str(), owner.uid, owner.gid);
  ::chmod(tmp.c_str(), 0600);
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    int e = errno;
    ::unlink(tmp.c_str());
    throw write_error(path, e);
  }
}

// The file's contents from byte `offset` on ("" if it is missing or shorter).
inline std::string read_file(const std::string& path, std::size_t offset = 0) {
  std::ifstream f(path, std::ios::binary);
  if (offset) f.seekg(static_cast<std::streamoff>(offset));
  std::ostringstream s;
  s << f.rdbuf();
  return s.str();
}

// Last `lines` lines of a text file (the server log, initdb's output).
/// The last `lines` lines of a file (reads at most its last 256 KiB); "" if unreadable.
inline std::string file_tail(const std::string& path, int lines) {
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (!f) return {};
  std::string data;
  if (std::fseek(f, 0, SEEK_END) == 0) {
    long size = std::ftell(f);
    long from = std::max(0L, size - 256L * 1024L);
    if (size > 0 && std::fseek(f, from, SEEK_SET) == 0) {
      data.resize(static_cast<std::size_t>(size - from));
      data.resize(std::fread(&data[0], 1, data.size(), f));
    }
  }
  std::fclose(f);
  std::size_t pos = data.size();
  if (pos && data[pos - 1] == '\n') --pos;  // the final newline ends the last line
  for (int n = 0; n < lines && pos != std::string::npos && pos > 0; ++n)
    pos = data.rfind('\n', pos - 1);
  if (pos != std::string::npos && pos < data.size() && data[pos] == '\n') ++pos;
  if (pos == std::string::npos) pos = 0;
  return data.substr(pos);
}

// The last `lines` lines of a log for a message: file_tail, or "(log is empty)".
inline std::string tail_lines(const std::string& path, int lines = 20) {
  std::string t = file_tail(path, lines);
  return t.empty() ? "(log is empty)" : t;
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
  if (::mkdir(dir.c_str(), mode) != 0 && errno != EEXIST) {
    if (errno == ENOSPC || errno == EDQUOT) throw write_error(dir, errno);
    throw SetupError("cannot create '" + dir + "': " + std::strerror(errno));
  }
  ::chmod(dir.c_str(), mode);
  if (owner.drop) (void)::chown(dir.c_str(), owner.uid, owner.gid);
}

// Copies one regular file. A source that vanished (a running server removed it) is
// skipped. Throws SetupError; a full disk is reported as such.
inline void copy_regular(const std::string& from, const std::string& to, mode_t mode,
                         const RunAs& owner) {
  Fd in(::open(from.c_str(), O_RDONLY | O_CLOEXEC));
  if (in.get() < 0) {
    if (errno == ENOENT) return;  // removed by the running server meanwhile: fine in a backup
    throw SetupError("cannot read '" + from + "': " + std::strerror(errno));
  }
  Fd out(::open(to.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode & 07777));
  if (out.get() < 0) {
    if (errno == ENOSPC || errno == EDQUOT) throw write_error(to, errno);
    throw SetupError("cannot create '" + to + "': " + std::strerror(errno));
  }
  for (;;) {
    ssize_t n = ::copy_file_range(in.get(), nullptr, out.get(), nullptr, 1 << 30, 0);
    if (n == 0) break;
    if (n > 0) continue;
    if (errno == EINTR) continue;
    if (errno == ENOSPC || errno == EDQUOT || errno == EIO) throw write_error(to, errno);
    // Fall back to read/write (cross-device on old kernels, special files); the offsets
    // copy_file_range advanced stay valid.
    char buf[1 << 16];
    for (;;) {
      ssize_t r = ::read(in.get(), buf, sizeof buf);
      if (r < 0 && errno == EINTR) continue;
      if (r < 0) throw SetupError("cannot read '" + from + "': " + std::strerror(errno));
      if (r == 0) break;
      if (int err = write_all(out.get(), buf, static_cast<size_t>(r)); err != 0)
        throw write_error(to, err);
    }
    break;
  }
  if (owner.drop) (void)::fchown(out.get(), owner.uid, owner.gid);
  if (::close(out.release()) != 0) throw write_error(to, errno);
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
        if (::symlink(target, dst.c_str()) != 0) throw write_error(dst, errno);
        if (owner.drop) (void)::lchown(dst.c_str(), owner.uid, owner.gid);
      }
    } else if (S_ISREG(st.st_mode) && !skip(r, false)) {
      copy_regular(src, dst, st.st_mode, owner);
    }
  }
}

// The longest Unix socket path the kernel accepts: sizeof(sockaddr_un::sun_path) - 1.
inline constexpr std::size_t kMaxSocketPath = sizeof(sockaddr_un{}.sun_path) - 1;

// Throws SetupError if the server's socket "<sock_dir>/.s.PGSQL.<port>" would be longer
// than the kernel allows; the server would refuse to start (a deep PGHA_TMPDIR does it).
// `port` defaults to the widest one, so the check can run before a port is chosen.
inline void check_socket_dir(const std::string& sock_dir, int port = 65535) {
  std::string path = sock_dir + "/.s.PGSQL." + std::to_string(port);
  if (path.size() <= kMaxSocketPath) return;
  throw SetupError("the server's Unix socket path '" + path + "' is " +
                   std::to_string(path.size()) + " bytes long; expected at most " +
                   std::to_string(kMaxSocketPath) + " (sun_path), or the server cannot create "
                   "it. Use a shorter temp dir: set PGHA_TMPDIR or Options::tmp_dir.");
}

// Throws SetupError naming the first directory on the way to `dir` (itself included)
// that the server user cannot enter, when the servers run as another user. Without it,
// the server would fail to reach its data directory and start-up would time out.
// Checked by that user itself (a forked child that drops to it and calls access()), so
// ACLs count; only the user's primary group applies, as for the servers (setgroups(0)).
inline void check_traversable(const std::string& dir, const RunAs& ra) {
  if (!ra.drop || dir.empty() || dir[0] != '/') return;
  std::vector<std::string> steps;  // "/", "/a", "/a/b", ...
  steps.push_back("/");
  for (size_t pos = 1; pos <= dir.size(); ++pos)
    if (pos == dir.size() || dir[pos] == '/')
      if (dir[pos - 1] != '/') steps.push_back(dir.substr(0, pos));
  if (steps.size() > 250) return;  // the exit code carries the index
  pid_t pid = ::fork();
  if (pid < 0) return;  // cannot check: the start itself will tell
  if (pid == 0) {
    if (::setgroups(0, nullptr) != 0 || ::setgid(ra.gid) != 0 || ::setuid(ra.uid) != 0)
      ::_exit(255);
    for (size_t i = 0; i < steps.size(); ++i)
      if (::access(steps[i].c_str(), X_OK) != 0) ::_exit(static_cast<int>(i) + 1);
    ::_exit(0);
  }
  int st = 0;
  while (::waitpid(pid, &st, 0) < 0 && errno == EINTR) {}
  if (!WIFEXITED(st) || WEXITSTATUS(st) == 0 || WEXITSTATUS(st) == 255) return;
  const std::string& blocked = steps[WEXITSTATUS(st) - 1];
  struct stat sb{};
  std::string what;
  if (::stat(blocked.c_str(), &sb) == 0) {
    char mode[8];
    std::snprintf(mode, sizeof mode, "%04o", static_cast<unsigned>(sb.st_mode & 07777));
    passwd pw{};
    passwd* found = nullptr;
    char buf[1024];
    std::string owner = ::getpwuid_r(sb.st_uid, &pw, buf, sizeof buf, &found) == 0 && found
                            ? std::string(found->pw_name) : "uid " + std::to_string(sb.st_uid);
    what = " (mode " + std::string(mode) + ", owner " + owner + ")";
  }
  throw SetupError("the server user '" + ra.user + "' cannot enter '" + blocked + "'" + what +
                   ", so it could not reach its files under '" + dir + "'; expected every "
                   "directory on that path to be searchable by '" + ra.user + "'. Use a temp "
                   "dir it can reach (PGHA_TMPDIR or Options::tmp_dir), or allow it in: "
                   "chmod o+x '" + blocked + "'.");
}

inline bool remove_tree(const std::string& dir) noexcept;

// Removes everything in directory `dir`, which stays; never throws. Returns false if
// something could not be removed (or `dir` could not be read).
inline bool remove_contents(const std::string& dir) noexcept {
  bool ok = true;
  if (DIR* d = ::opendir(dir.c_str())) {
    std::vector<std::string> names;
    try {
      while (dirent* e = ::readdir(d)) {
        std::string n = e->d_name;
        if (n != "." && n != "..") names.push_back(std::move(n));
      }
    } catch (...) {
      ok = false;
    }
    ::closedir(d);
    for (auto& n : names)
      if (!remove_tree(dir + "/" + n)) ok = false;
  } else {
    ok = false;
  }
  return ok;
}

// Removes a tree; never throws. Returns false if something could not be removed.
// Symbolic links are removed, never followed. A missing tree counts as removed.
inline bool remove_tree(const std::string& dir) noexcept {
  struct stat st{};
  if (::lstat(dir.c_str(), &st) != 0) return errno == ENOENT;
  if (!S_ISDIR(st.st_mode)) return ::unlink(dir.c_str()) == 0 || errno == ENOENT;
  bool ok = remove_contents(dir);
  return (::rmdir(dir.c_str()) == 0 || errno == ENOENT) && ok;
}

// Copies a template's data directory (a stopped cluster: nothing changes under it) to
// `to`, which must exist. Directories are made first; the files are then copied by two
// threads, each taking every other file of a list sorted by size, so two cores copy at
// once (`threads` 1: all on the calling thread). Both threads are joined before it returns
// or throws.
inline void copy_template(const std::string& from, const std::string& to, const RunAs& owner,
                          int threads = 2) {
  struct Item { std::string rel; mode_t mode; off_t size; };
  std::vector<Item> files;
  std::vector<std::string> stack{""};
  while (!stack.empty()) {
    std::string rel = stack.back();
    stack.pop_back();
    std::string dir = rel.empty() ? from : from + "/" + rel;
    DIR* d = ::opendir(dir.c_str());
    if (!d) throw SetupError("cannot read directory '" + dir + "': " + std::strerror(errno));
    std::vector<std::pair<std::string, struct stat>> entries;
    while (dirent* e = ::readdir(d)) {
      std::string name = e->d_name;
      if (name == "." || name == "..") continue;
      struct stat st{};
      if (::lstat((dir + "/" + name).c_str(), &st) == 0) entries.emplace_back(name, st);
    }
    ::closedir(d);
    for (auto& [name, st] : entries) {
      std::string r = rel.empty() ? name : rel + "/" + name;
      if (S_ISDIR(st.st_mode)) {
        make_owned_dir(to + "/" + r, owner, st.st_mode & 07777);
        stack.push_back(r);
      } else if (S_ISREG(st.st_mode)) {
        files.push_back({r, st.st_mode, st.st_size});
      }
    }
  }
  std::sort(files.begin(), files.end(), [](const Item& a, const Item& b) { return a.size > b.size; });
  std::exception_ptr failed[2];
  auto half = [&](int which) {
    try {
      for (std::size_t i = static_cast<std::size_t>(which); i < files.size(); i += 2)
        copy_regular(from + "/" + files[i].rel, to + "/" + files[i].rel, files[i].mode, owner);
    } catch (...) {
      failed[which] = std::current_exception();
    }
  };
  if (threads < 2) {
    half(0);
    half(1);
  } else {
    std::thread other;
    try {
      other = std::thread(half, 1);
    } catch (...) {
      half(1);  // no thread to be had: copy that half here
    }
    half(0);
    if (other.joinable()) other.join();
  }
  for (auto& f : failed)
    if (f) std::rethrow_exception(f);
}

}  // namespace pgha::detail
