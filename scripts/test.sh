#!/usr/bin/env bash
# `npm test`: installs what is missing, starts the real services the tests need (PostgreSQL with
# wal_level=logical, Kafka in KRaft mode, RabbitMQ), runs the unit and integration tests, and stops
# again the services that were not running before.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/ensure-deps.sh
bash scripts/ensure-promtool.sh
bash deploy/local/with-services.sh \
  node --import tsx --test --test-force-exit --test-concurrency=1 --test-timeout=600000 test/unit/*.test.ts test/integration/*.test.ts
