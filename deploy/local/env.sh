# Shared settings of the local services; sourced by the scripts beside it.
# Everything downloaded or written at run time lives outside git.
#
# The default ports sit below Linux's range for outgoing connections' local ports
# (/proc/sys/net/ipv4/ip_local_port_range, 32768-60999 by default): a port inside that range can be
# held by any client connection on a busy machine just when a restarted service wants to bind it.
: "${OUTBOX_RELAY_CACHE:=$HOME/.cache/outbox-relay}"
: "${OUTBOX_RELAY_RUN_DIR:=/var/tmp/outbox-relay}"
: "${OUTBOX_PG_PORT:=15432}"
: "${OUTBOX_KAFKA_PORT:=19092}"
: "${OUTBOX_KAFKA_CONTROLLER_PORT:=19093}"
# RabbitMQ also binds its distribution port at OUTBOX_RABBITMQ_PORT + 1.
: "${OUTBOX_RABBITMQ_PORT:=16672}"
: "${KAFKA_VERSION:=4.1.1}"
# Kafka Connect's REST port, when debezium.sh runs Debezium beside the relay.
: "${OUTBOX_CONNECT_PORT:=18083}"
: "${DEBEZIUM_VERSION:=3.4.3.Final}"
# The schema registry (schema-registry.sh): its HTTP port, and the Apicurio Registry version built.
: "${OUTBOX_SCHEMA_REGISTRY_PORT:=18081}"
: "${APICURIO_VERSION:=2.0.2.Final}"
export OUTBOX_RELAY_CACHE OUTBOX_RELAY_RUN_DIR OUTBOX_PG_PORT OUTBOX_KAFKA_PORT \
  OUTBOX_KAFKA_CONTROLLER_PORT OUTBOX_RABBITMQ_PORT KAFKA_VERSION OUTBOX_CONNECT_PORT DEBEZIUM_VERSION \
  OUTBOX_SCHEMA_REGISTRY_PORT APICURIO_VERSION

log() { printf '[local] %s\n' "$*" >&2; }

# port_open HOST PORT: true when something accepts TCP connections there.
port_open() { (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null; }

# port_holders PORT: the live sockets (and their processes) whose local port is PORT: a listener, or
# a client connection that was given PORT as its local port. Empty when a server can bind it. The
# closing sockets a stopped server leaves behind (FIN-WAIT, TIME-WAIT, LAST-ACK) do not prevent that.
port_holders() {
  if command -v ss >/dev/null; then
    ss -Htanp "( sport = :$1 )" 2>/dev/null | awk '$1 ~ /^(LISTEN|ESTAB|SYN-SENT|SYN-RECV|CLOSE-WAIT)$/'
  else
    # Without iproute2, /proc/net/tcp names the sockets but not their processes
    # (states: 01 established, 02 syn-sent, 03 syn-recv, 08 close-wait, 0A listen).
    local hex
    hex=$(printf '%04X' "$1")
    awk -v port=":$hex" '$2 ~ port"$" && $4 ~ /^(01|02|03|08|0A)$/ { print "socket " $2 " state " $4 }' \
      /proc/net/tcp /proc/net/tcp6 2>/dev/null
  fi
}

# pid_file_running PID_FILE MARK: the pid file names a live process whose command line or
# environment holds MARK. A machine restored from a snapshot, or restarted, keeps the pid files of
# services that are gone, and their pids may now belong to other processes.
# (No pipe into grep -q: it stops reading at the first match, the writer dies of SIGPIPE, and
# pipefail makes the match a failure.)
pid_file_running() {
  local p process
  p=$(head -n 1 "$1" 2>/dev/null) && [ -n "$p" ] && kill -0 "$p" 2>/dev/null || return 1
  process=$(tr '\0' '\n' 2>/dev/null <"/proc/$p/cmdline"; tr '\0' '\n' 2>/dev/null <"/proc/$p/environ" || true)
  [[ $process == *"$2"* ]]
}

# pid_alive PID_FILE: the pid file names a live process. Only for a process this script has just
# launched: until its `exec` the child is still a copy of this shell, whose command line and
# environment do not name the service yet (pid_file_running would call it gone).
pid_alive() {
  local p
  p=$(head -n 1 "$1" 2>/dev/null) && [ -n "$p" ] && kill -0 "$p" 2>/dev/null
}

# wait_port_free TIMEOUT_SECONDS PORT...: waits until no socket holds any of the ports (a stopped
# service's listener may linger a moment); on timeout says who holds them and fails.
wait_port_free() {
  local timeout=$1
  shift
  local deadline=$((SECONDS + timeout)) port busy
  for port in "$@"; do
    while busy=$(port_holders "$port") && [ -n "$busy" ]; do
      if ((SECONDS >= deadline)); then
        log "port $port is in use, so the service cannot bind it; held by:"
        printf '  %s\n' "$busy" >&2
        log "stop that process or move the port (OUTBOX_PG_PORT, OUTBOX_KAFKA_PORT, OUTBOX_KAFKA_CONTROLLER_PORT, OUTBOX_RABBITMQ_PORT, OUTBOX_SCHEMA_REGISTRY_PORT)"
        return 1
      fi
      sleep 0.2
    done
  done
}

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

# wait_started TIMEOUT_SECONDS DESCRIPTION ALIVE_COMMAND LOG_FILE READY_COMMAND...: polls READY_COMMAND
# until it succeeds; fails at once, with the log's last lines, when ALIVE_COMMAND says the process died.
wait_started() {
  local timeout=$1 what=$2 alive=$3 logfile=$4
  shift 4
  local deadline=$((SECONDS + timeout))
  until "$@"; do
    if ! $alive; then
      log "$what: the process exited while starting; last lines of $logfile:"
      tail -n 25 "$logfile" 2>/dev/null | sed 's/^/  /' >&2
      return 1
    fi
    if ((SECONDS >= deadline)); then
      log "timed out after ${timeout}s waiting for $what; last lines of $logfile:"
      tail -n 25 "$logfile" 2>/dev/null | sed 's/^/  /' >&2
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
