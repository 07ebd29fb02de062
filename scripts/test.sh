#!/usr/bin/env bash
# `npm test`: installs what is missing, starts the real services the tests need (PostgreSQL with
# wal_level=logical, Kafka in KRaft mode, RabbitMQ, the schema registry), runs the unit tests (pure
# modules), the bench package's own tests (its arithmetic), the repository checks (deploy manifests, docs against code,
# alert rules) and the integration tests (processes, servers, brokers), in that order, and stops again
# the services that were not running before.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/ensure-deps.sh
bash scripts/ensure-build.sh
bash scripts/ensure-promtool.sh
bash deploy/local/with-services.sh \
  node --import tsx --import ./test/kit/no-leaks.ts --test --test-force-exit --test-concurrency=1 --test-timeout=600000 test/unit/*.test.ts \
  bench/test/*.test.ts test/repo/*.test.ts test/integration/*.test.ts
