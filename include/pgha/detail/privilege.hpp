// pgha/detail/privilege.hpp: who the servers run as. PostgreSQL refuses to run as root,
// so when the test runs as root the servers (and initdb) run as an unprivileged user:
// PGHA_RUN_AS, else "postgres". Files the library creates are chowned to that user.
#pragma once

#include <pwd.h>
#include <sys/types.h>
#include <unistd.h>

#include <cstdlib>
#include <string>

#include "pgha/error.hpp"

namespace pgha::detail {

struct RunAs {
  bool drop = false;  // true: setgid/setuid to uid/gid in the child before exec
  uid_t uid = 0;
  gid_t gid = 0;
  std::string user;
};

// Resolves the user to run servers as. Not root: ourselves, no drop.
inline RunAs resolve_run_as() {
  RunAs r;
  r.uid = ::geteuid();
  r.gid = ::getegid();
  if (r.uid != 0) return r;
  const char* env = std::getenv("PGHA_RUN_AS");
  std::string want = (env && *env) ? env : "postgres";
  passwd pw{};
  passwd* found = nullptr;
  char buf[4096];
  if (::getpwnam_r(want.c_str(), &pw, buf, sizeof buf, &found) != 0 || !found)
    throw SetupError("running as root, and PostgreSQL refuses to run as root, but the user '" +
                     want + "' to run the servers as does not exist. Expected " +
                     ((env && *env) ? std::string("PGHA_RUN_AS to name an existing user")
                                    : std::string("a 'postgres' user (the postgresql package creates it)")) +
                     "; create one (useradd -r postgres) or set PGHA_RUN_AS=<user>.");
  if (found->pw_uid == 0)
    throw SetupError("PGHA_RUN_AS='" + want + "' is root (uid 0); PostgreSQL refuses to run as "
                     "root. Name an unprivileged user.");
  r.drop = true;
  r.uid = found->pw_uid;
  r.gid = found->pw_gid;
  r.user = want;
  return r;
}

// The user to run servers as, resolved for each new node (PGHA_RUN_AS may change).
inline RunAs run_as() { return resolve_run_as(); }

}  // namespace pgha::detail
