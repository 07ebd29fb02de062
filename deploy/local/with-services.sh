#!/usr/bin/env bash
# Runs a command with the local services up (PostgreSQL, Kafka, RabbitMQ), then stops again the
# services that were not already running before. Usage: with-services.sh COMMAND [ARGS...]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)

was_running=()
for service in postgres kafka rabbitmq; do
  if bash "$here/$service.sh" status >/dev/null 2>&1; then was_running+=("$service"); fi
done
stop_started() {
  for service in kafka rabbitmq postgres; do
    [[ " ${was_running[*]} " == *" $service "* ]] || bash "$here/$service.sh" stop || true
  done
}
trap stop_started EXIT
bash "$here/up.sh"
"$@"
