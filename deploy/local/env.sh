# Shared settings of the local services; sourced by the scripts beside it.
# Everything downloaded or written at run time lives outside git.
: "${OUTBOX_RELAY_CACHE:=$HOME/.cache/outbox-relay}"
: "${OUTBOX_RELAY_RUN_DIR:=/var/tmp/outbox-relay}"
: "${OUTBOX_PG_PORT:=55432}"
: "${OUTBOX_KAFKA_PORT:=59092}"
: "${OUTBOX_KAFKA_CONTROLLER_PORT:=59093}"
: "${OUTBOX_RABBITMQ_PORT:=55672}"
: "${KAFKA_VERSION:=4.1.1}"
export OUTBOX_RELAY_CACHE OUTBOX_RELAY_RUN_DIR OUTBOX_PG_PORT OUTBOX_KAFKA_PORT \
  OUTBOX_KAFKA_CONTROLLER_PORT OUTBOX_RABBITMQ_PORT KAFKA_VERSION

log() { printf '[local] %s\n' "$*" >&2; }

# port_open HOST PORT: true when something accepts TCP connections there.
port_open() { (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null; }

# wait_for TIMEOUT_SECONDS DESCRIPTION COMMAND...: polls COMMAND until it succeeds.
wait_for() {
  local timeout=$1 what=$2
  shift 2
  local deadline=$((SECONDS + timeout))
  until "$@"; do
    if ((SECONDS >= deadline)); then
      log "timed out after ${timeout}s waiting for $what"
      return 1
    fi
    sleep 0.2
  done
}

# apt_install PACKAGE...: installs Debian packages on a bare machine (we are root there).
apt_install() {
  log "installing $*"
  if [ ! -f /var/lib/apt/lists/lock ] || [ -z "$(ls /var/lib/apt/lists/ 2>/dev/null | grep -v lock)" ]; then
    apt-get update -qq
  fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}
