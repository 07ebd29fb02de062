#!/usr/bin/env bash
# `npm run demo`: installs and builds, brings up the local PostgreSQL and Kafka (the demo publishes to
# Kafka only, so RabbitMQ is not started), runs examples/demo.ts (migrate, relay, a few business
# transactions, the events read back from Kafka), then stops what it started.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/ensure-deps.sh
npm run --silent build
OUTBOX_SERVICES='postgres kafka' bash deploy/local/with-services.sh node --import tsx examples/demo.ts
