#!/usr/bin/env bash
# `npm run test:debezium-compat` (and CI): the debezium format against real Debezium. Starts the
# local PostgreSQL and Kafka when they are not running, runs test/compat/*.test.ts (which starts
# Kafka Connect with Debezium through deploy/local/debezium.sh, resolving its jars with mvn on first
# use), and stops again what it started, Kafka Connect included.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/ensure-deps.sh
bash scripts/ensure-build.sh
trap 'bash deploy/local/debezium.sh stop' EXIT
OUTBOX_SERVICES="postgres kafka" bash deploy/local/with-services.sh \
  node --import tsx --test --test-force-exit --test-concurrency=1 --test-timeout=600000 test/compat/*.test.ts
