#!/usr/bin/env bash
# A RabbitMQ node of the project's own (node name, port, data outside git), run from the system's
# RabbitMQ installation beside the machine's own broker, so tests can stop, kill and restart it
# without touching anyone else's.
# Usage: rabbitmq.sh start|stop|kill|status|close-connections|ctl <rabbitmqctl arguments>
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
source "$here/env.sh"

RMQ_DIR="$OUTBOX_RELAY_RUN_DIR/rabbitmq"
NODE="outbox_relay_$OUTBOX_RABBITMQ_PORT@localhost"
PIDFILE="$RMQ_DIR/rabbitmq.pid"
DIST_PORT=$((OUTBOX_RABBITMQ_PORT + 1))
LOGFILE="$RMQ_DIR/log/$NODE.log"

ensure_installed() {
  [ -x /usr/lib/rabbitmq/bin/rabbitmq-server ] || apt_install rabbitmq-server
}

# The broker runs as the rabbitmq user, which shares the Erlang cookie with rabbitmqctl.
as_rabbitmq() {
  if [ "$(id -u)" = 0 ]; then runuser -u rabbitmq -- "$@"; else "$@"; fi
}

ctl() { as_rabbitmq env HOME=/var/lib/rabbitmq rabbitmqctl -n "$NODE" "$@"; }

listening() { port_open 127.0.0.1 "$OUTBOX_RABBITMQ_PORT"; }
pid() { [ -f "$PIDFILE" ] && cat "$PIDFILE"; }
running() { pid_file_running "$PIDFILE" "RABBITMQ_NODENAME=$NODE"; }
# A node that cannot start (a port taken, say) writes erl_crash.dump and exits.
not_crashed() { [ ! -s "$RMQ_DIR/erl_crash.dump" ]; }
alive() { running && not_crashed; }
fail_with_crash_reason() {
  [ -s "$RMQ_DIR/erl_crash.dump" ] && log "the node crashed: $(grep -m 1 '^Slogan' "$RMQ_DIR/erl_crash.dump")"
  exit 1
}
# Listening is not enough: the node accepts TCP before its vhost is ready.
ready() { listening && ctl await_startup --timeout 1 >/dev/null 2>&1; }

case "${1:-}" in
  start)
    ensure_installed
    if ! running; then
      wait_port_free 30 "$OUTBOX_RABBITMQ_PORT" "$DIST_PORT"
      log "starting RabbitMQ node $NODE on 127.0.0.1:$OUTBOX_RABBITMQ_PORT"
      mkdir -p "$RMQ_DIR"
      # A pid file left by a node that is gone would pass for the new node's before it writes its own.
      rm -f "$RMQ_DIR/erl_crash.dump" "$PIDFILE"
      [ "$(id -u)" = 0 ] && chown rabbitmq: "$RMQ_DIR"
      : >"$RMQ_DIR/enabled_plugins.tmp" && mv "$RMQ_DIR/enabled_plugins.tmp" "$RMQ_DIR/enabled_plugins"
      [ "$(id -u)" = 0 ] && chown rabbitmq: "$RMQ_DIR/enabled_plugins"
      (cd "$RMQ_DIR" && as_rabbitmq env HOME=/var/lib/rabbitmq \
        RABBITMQ_NODENAME="$NODE" RABBITMQ_NODE_IP_ADDRESS=127.0.0.1 \
        RABBITMQ_NODE_PORT="$OUTBOX_RABBITMQ_PORT" RABBITMQ_DIST_PORT="$DIST_PORT" \
        RABBITMQ_MNESIA_BASE="$RMQ_DIR/mnesia" RABBITMQ_LOG_BASE="$RMQ_DIR/log" \
        RABBITMQ_PID_FILE="$PIDFILE" RABBITMQ_ENABLED_PLUGINS_FILE="$RMQ_DIR/enabled_plugins" \
        RABBITMQ_CONFIG_FILE="$RMQ_DIR/rabbitmq" \
        /usr/lib/rabbitmq/bin/rabbitmq-server -detached >/dev/null 2>&1)
      wait_started 60 "RabbitMQ to write its pid file" not_crashed "$LOGFILE" test -s "$PIDFILE" ||
        fail_with_crash_reason
    fi
    wait_started 120 "RabbitMQ node $NODE on 127.0.0.1:$OUTBOX_RABBITMQ_PORT" alive "$LOGFILE" ready ||
      fail_with_crash_reason
    ;;
  stop | kill)
    if running; then
      log "stopping RabbitMQ ($1)"
      # The node empties its pid file as it begins to stop: wait for the process itself to end.
      node_pid=$(pid)
      node_gone() { ! kill -0 "$node_pid" 2>/dev/null && ! listening; }
      if [ "$1" = kill ]; then kill -KILL "$node_pid"; else ctl stop >/dev/null 2>&1 || kill -TERM "$node_pid"; fi
      wait_for 60 "RabbitMQ to exit" node_gone || kill -KILL "$node_pid"
      wait_for 10 "RabbitMQ to exit after SIGKILL" node_gone
      # The next start must find its ports free: a restart never races the old process's sockets.
      wait_port_free 30 "$OUTBOX_RABBITMQ_PORT" "$DIST_PORT"
    fi
    rm -f "$PIDFILE"
    ;;
  close-connections)
    # Every client connection is closed by the broker, as when it restarts a listener.
    ctl close_all_connections "closed by outbox-relay tests" >/dev/null
    ;;
  ctl)
    # rabbitmqctl against this node, e.g. ctl eval 'application:set_env(rabbit, max_message_size, 4096).'
    shift
    ctl "$@"
    ;;
  status) running ;;
  *)
    echo "usage: $0 start|stop|kill|status|close-connections|ctl ARGS..." >&2
    exit 2
    ;;
esac
