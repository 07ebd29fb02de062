#!/usr/bin/env bash
# RabbitMQ: the machine's broker on 127.0.0.1:5672 (guest/guest). Started here only when nothing
# listens there; stopped by `stop` only if this script started it.
# Usage: rabbitmq.sh start|stop|status
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
source "$here/env.sh"

MARKER="$OUTBOX_RELAY_RUN_DIR/rabbitmq.started-by-us"
listening() { port_open 127.0.0.1 "$OUTBOX_RABBITMQ_PORT"; }

case "${1:-}" in
  start)
    if ! listening; then
      command -v rabbitmq-server >/dev/null || apt_install rabbitmq-server
      log "starting RabbitMQ"
      mkdir -p "$OUTBOX_RELAY_RUN_DIR"
      rabbitmq-server -detached >/dev/null 2>&1
      touch "$MARKER"
    fi
    wait_for 120 "RabbitMQ to listen" listening
    ;;
  stop)
    if [ -f "$MARKER" ]; then
      log "stopping RabbitMQ"
      rabbitmqctl stop >/dev/null 2>&1 || true
      rm -f "$MARKER"
    fi
    ;;
  status) listening ;;
  *)
    echo "usage: $0 start|stop|status" >&2
    exit 2
    ;;
esac
