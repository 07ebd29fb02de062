#!/usr/bin/env bash
# A PostgreSQL cluster of the project's own (wal_level=logical) on its own port.
# Usage: postgres.sh start|stop|kill|status
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
source "$here/env.sh"

pg_bin() {
  local dir
  dir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
  if [ -z "$dir" ]; then
    apt_install postgresql
    dir=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
  fi
  echo "$dir"
}

BIN=$(pg_bin)
PG_DIR="$OUTBOX_RELAY_RUN_DIR/postgres"
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

running() { as_owner "$BIN/pg_ctl" -D "$DATA" status >/dev/null 2>&1; }

ready() { "$BIN/pg_isready" -q -h 127.0.0.1 -p "$OUTBOX_PG_PORT"; }

case "${1:-}" in
  start)
    init_cluster
    if ! running; then
      wait_port_free 30 "$OUTBOX_PG_PORT"
      log "starting PostgreSQL on 127.0.0.1:$OUTBOX_PG_PORT"
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
