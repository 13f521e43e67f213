#!/usr/bin/env bash
# bootstrap.sh — install what a Debian 12 machine lacks to build and test pgha.
#
# Installs (only the missing ones, checked with dpkg-query): build-essential,
# cmake, pkg-config, libpq-dev, libboost-filesystem-dev, catch2 (v2.13 on
# Debian 12), libgtest-dev, postgresql-15 + postgresql-client-15 (server, psql,
# pg_basebackup, pg_rewind), curl, ca-certificates, procps, iproute2, pgbouncer
# (pgha::TempPgBouncer runs it; the package's own service is stopped), nftables
# (the nft program LinkCut::Drop runs; its service stays disabled), and
# nodejs + npm only when `npm` is not on PATH (scripts/fetch-pg.sh needs it).
#
# Debian's postgresql-common would create and start a "main" cluster when
# postgresql-15 is installed; before that, this script sets
# `create_main_cluster = false` in /etc/postgresql-common/createcluster.conf,
# so no server is left running. It is idempotent and does no apt work when
# nothing is missing.
# Runs as root, or through sudo when not root. One line of output per action.
#
#   bootstrap.sh --ci   also installs what the CI variants need (.ci/run):
#     - clang (Debian 12: clang 14), when missing;
#     - Catch2 v3 beside Debian's v2: libcatch2-dev (3.x) from bookworm-backports
#       conflicts with the `catch2` package, so it is fetched with `apt-get download`
#       and unpacked with `dpkg-deb -x` into $PGHA_CATCH2_V3_DIR (default
#       /opt/pgha/catch2-v3); a bookworm-backports apt source is added first when no
#       configured source has one. CMake finds it with
#       -DCatch2_DIR=$PGHA_CATCH2_V3_DIR/usr/lib/x86_64-linux-gnu/cmake/Catch2
#       (scripts/catch2-v3-dir.sh prints that directory).
set -euo pipefail

CI_EXTRAS=0
case "${1:-}" in
    --ci) CI_EXTRAS=1 ;;
    "") ;;
    *) echo "usage: $0 [--ci]" >&2; exit 2 ;;
esac

export DEBIAN_FRONTEND=noninteractive

log() { printf 'bootstrap: %s\n' "$*"; }

SUDO=()
if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1; then
        SUDO=(sudo -n env DEBIAN_FRONTEND=noninteractive)
        log "not root: using sudo"
    else
        log "error: not root and sudo is not available" >&2
        exit 1
    fi
fi
as_root() { "${SUDO[@]}" "$@"; }

PACKAGES=(
    build-essential
    cmake
    pkg-config
    libpq-dev
    libboost-filesystem-dev
    catch2
    libgtest-dev
    postgresql-15
    postgresql-client-15
    curl
    ca-certificates
    procps
    iproute2
    pgbouncer
    nftables
)
if ! command -v npm >/dev/null 2>&1; then
    PACKAGES+=(nodejs npm)
fi
if [ "$CI_EXTRAS" -eq 1 ]; then
    PACKAGES+=(clang)
fi

is_installed() {
    local status
    status=$(dpkg-query -W -f='${Status}' "$1" 2>/dev/null || true)
    [ "$status" = "install ok installed" ]
}

MISSING=()
for pkg in "${PACKAGES[@]}"; do
    if ! is_installed "$pkg"; then
        MISSING+=("$pkg")
    fi
done

CC_CONF=/etc/postgresql-common/createcluster.conf

# Make sure createcluster.conf says create_main_cluster = false (keeps the
# rest of the file as it is).
ensure_no_main_cluster() {
    if [ -f "$CC_CONF" ] && grep -Eq '^[[:space:]]*create_main_cluster[[:space:]]*=[[:space:]]*(false|off|no|0)[[:space:]]*$' "$CC_CONF"; then
        return 0
    fi
    as_root mkdir -p "$(dirname "$CC_CONF")"
    if [ -f "$CC_CONF" ] && grep -Eq '^[[:space:]]*#?[[:space:]]*create_main_cluster[[:space:]]*=' "$CC_CONF"; then
        as_root sed -i -E 's/^[[:space:]]*#?[[:space:]]*create_main_cluster[[:space:]]*=.*$/create_main_cluster = false/' "$CC_CONF"
    else
        printf 'create_main_cluster = false\n' | as_root tee -a "$CC_CONF" >/dev/null
    fi
    log "set create_main_cluster = false in $CC_CONF"
}

apt_updated=0
apt_install() {
    if [ "$apt_updated" -eq 0 ]; then
        log "apt-get update"
        as_root apt-get update -qq
        apt_updated=1
    fi
    log "apt-get install $*"
    as_root apt-get install -y -qq --no-install-recommends \
        -o Dpkg::Options::=--force-confold "$@" >/dev/null
}

if [ "${#MISSING[@]}" -eq 0 ]; then
    log "all ${#PACKAGES[@]} packages already installed"
else
    log "missing: ${MISSING[*]}"
    had_main_cluster=0
    [ -d /etc/postgresql/15/main ] && had_main_cluster=1

    needs_pg=0
    for pkg in "${MISSING[@]}"; do
        case "$pkg" in postgresql-15|postgresql-client-15) needs_pg=1 ;; esac
    done
    if [ "$needs_pg" -eq 1 ]; then
        # The main cluster is created by postgresql-15's postinst unless
        # createcluster.conf says create_main_cluster = false. That file is
        # shipped (through ucf) by postgresql-common, which creates no
        # cluster itself: install it alone first, so the knob goes into the
        # full stock file (a file written before postgresql-common exists is
        # kept by ucf as the whole config), then set the knob, and only then
        # install the server.
        if ! is_installed postgresql-common; then
            apt_install postgresql-common
        fi
        ensure_no_main_cluster
    fi

    apt_install "${MISSING[@]}"

    # Debian's pgbouncer package starts its own service where an init system lets it;
    # pgha runs its own PgBouncers (pgha::TempPgBouncer): stop that one (by its pid file).
    for pkg in "${MISSING[@]}"; do
        if [ "$pkg" = pgbouncer ] && [ -x /etc/init.d/pgbouncer ] \
            && [ -f /var/run/postgresql/pgbouncer.pid ]; then
            as_root /etc/init.d/pgbouncer stop >/dev/null 2>&1 || true
            log "stopped the pgbouncer service the package started"
        fi
    done

    # Belt and braces: if a main cluster got created by this run anyway,
    # stop and drop it (it is empty, and we never want it running).
    if [ "$had_main_cluster" -eq 0 ] && [ -d /etc/postgresql/15/main ] \
        && command -v pg_dropcluster >/dev/null 2>&1; then
        as_root pg_dropcluster --stop 15 main
        log "dropped the 15/main cluster that the package created"
    fi
fi

# The packaging creates the postgres user; make sure it exists regardless.
if getent passwd postgres >/dev/null; then
    log "user postgres exists (uid $(id -u postgres))"
else
    if command -v adduser >/dev/null 2>&1; then
        as_root adduser --system --quiet --home /var/lib/postgresql --no-create-home \
            --shell /bin/bash --group --gecos "PostgreSQL administrator" postgres
    else
        as_root useradd --system --home-dir /var/lib/postgresql --no-create-home \
            --shell /bin/bash --user-group postgres
    fi
    log "created system user postgres"
fi

# Catch2 v3 beside v2 (--ci only). Reused when its marker file is there.
CATCH2_V3_DIR=${PGHA_CATCH2_V3_DIR:-/opt/pgha/catch2-v3}
BACKPORTS_LIST=/etc/apt/sources.list.d/pgha-bookworm-backports.sources

has_backports_source() {
    grep -rqsE '(^|[[:space:]])bookworm-backports([[:space:]]|$)' \
        /etc/apt/sources.list /etc/apt/sources.list.d/
}

install_catch2_v3() {
    if [ -f "$CATCH2_V3_DIR/.complete" ]; then
        log "Catch2 $(cat "$CATCH2_V3_DIR/.complete") present in $CATCH2_V3_DIR"
        return 0
    fi
    if ! has_backports_source; then
        printf '%s\n' 'Types: deb' 'URIs: http://deb.debian.org/debian' \
            'Suites: bookworm-backports' 'Components: main' \
            'Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg' \
            | as_root tee "$BACKPORTS_LIST" >/dev/null
        log "added the bookworm-backports apt source ($BACKPORTS_LIST)"
    fi
    if ! apt-cache show libcatch2-dev/bookworm-backports >/dev/null 2>&1; then
        log "apt-get update (for bookworm-backports)"
        as_root apt-get update -qq
    fi
    local work
    work=$(mktemp -d)
    # `apt-get download` drops privileges to _apt, which must be able to write here.
    chmod 777 "$work"
    (cd "$work" && apt-get download -qq libcatch2-dev/bookworm-backports 2>&1) \
        | grep -v '^W: Download is performed unsandboxed' || true
    local deb
    deb=$(ls "$work"/libcatch2-dev_*.deb 2>/dev/null | head -1)
    if [ -z "$deb" ]; then
        rm -rf "$work"
        log "error: could not download libcatch2-dev from bookworm-backports" >&2
        exit 1
    fi
    local version
    version=$(dpkg-deb -f "$deb" Version)
    case "$version" in
        3.*) ;;
        *) rm -rf "$work"; log "error: libcatch2-dev $version is not Catch2 v3" >&2; exit 1 ;;
    esac
    mkdir -p "$work/root"
    dpkg-deb -x "$deb" "$work/root"
    printf '%s\n' "$version" > "$work/root/.complete"
    as_root mkdir -p "$(dirname "$CATCH2_V3_DIR")"
    as_root rm -rf "$CATCH2_V3_DIR"
    as_root mv -T "$work/root" "$CATCH2_V3_DIR"
    as_root chmod -R a+rX "$CATCH2_V3_DIR"
    rm -rf "$work"
    log "unpacked Catch2 $version (libcatch2-dev, bookworm-backports) into $CATCH2_V3_DIR"
}

if [ "$CI_EXTRAS" -eq 1 ]; then
    install_catch2_v3
fi

log "done"
