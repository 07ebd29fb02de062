#!/usr/bin/env bash
# Runs a command with the local services up, then stops again the services that were not already
# running before. OUTBOX_SERVICES names the services (default: "postgres rabbitmq kafka schema-registry").
# Usage: with-services.sh COMMAND [ARGS...]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
read -r -a services <<<"${OUTBOX_SERVICES:-postgres rabbitmq kafka schema-registry}"

was_running=()
for service in "${services[@]}"; do
  if bash "$here/$service.sh" status >/dev/null 2>&1; then was_running+=("$service"); fi
done
stop_started() {
  for service in schema-registry kafka rabbitmq postgres; do
    [[ " ${services[*]} " == *" $service "* ]] || continue
    [[ " ${was_running[*]} " == *" $service "* ]] || bash "$here/$service.sh" stop || true
  done
}
trap stop_started EXIT
bash "$here/up.sh" "${services[@]}"
"$@"
