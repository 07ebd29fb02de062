#!/usr/bin/env bash
# `npm run example:relay` and `npm run example:dead-letters -- list|retry …`: outbox-relay on the
# examples' database, against the local services (started when not running; `npm run services:down`
# stops them). The same as `outbox-relay <command>` with DATABASE_URL, KAFKA_BROKERS, RABBITMQ_URL,
# OUTBOX_ROUTES and OUTBOX_SLOT set: slot names are per cluster, and the demo's relay uses the
# default one.
set -euo pipefail
cd "$(dirname "$0")/.."
source deploy/local/env.sh
bash deploy/local/up.sh
export DATABASE_URL="${DATABASE_URL:-postgres://postgres@127.0.0.1:$OUTBOX_PG_PORT/outbox_example}"
export KAFKA_BROKERS="${KAFKA_BROKERS:-127.0.0.1:$OUTBOX_KAFKA_PORT}"
export RABBITMQ_URL="${RABBITMQ_URL:-amqp://guest:guest@127.0.0.1:$OUTBOX_RABBITMQ_PORT}"
export OUTBOX_ROUTES="${OUTBOX_ROUTES:-examples/routes.yaml}"
export OUTBOX_SLOT="${OUTBOX_SLOT:-outbox_example}"
export METRICS_PORT="${METRICS_PORT:-0}"
exec node --import tsx src/cli.ts "${@:-run}"
