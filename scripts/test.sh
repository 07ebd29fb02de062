#!/usr/bin/env bash
# `npm test`: installs what is missing, starts the real services the tests need (PostgreSQL with
# wal_level=logical, Kafka in KRaft mode, RabbitMQ), runs the unit and integration tests, and stops
# again the services that were not running before.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/ensure-deps.sh
bash scripts/ensure-promtool.sh

was_running=()
for service in postgres kafka rabbitmq; do
  if bash "deploy/local/$service.sh" status >/dev/null 2>&1; then was_running+=("$service"); fi
done
stop_started() {
  for service in kafka rabbitmq postgres; do
    [[ " ${was_running[*]} " == *" $service "* ]] || bash "deploy/local/$service.sh" stop || true
  done
}
trap stop_started EXIT
bash deploy/local/up.sh

node --import tsx --test --test-concurrency=1 --test-timeout=600000 test/unit/*.test.ts test/integration/*.test.ts
