#!/usr/bin/env bash
# Runs the integration tests against one or more PostgreSQL versions (the system's, or the packaged
# 16, 17, 18 deploy/local/postgres.sh runs), one version after the other: by default the core
# scenarios (the server's version, end to end, relay crash, slot loss, idle slot, HA,
# OUTBOX_SLOT_FAILOVER, idle_replication_slot_timeout, a PostgreSQL crash that rewinds the slot), with
# --full every integration file. On 16 and later each run adds the failover scenarios (test/failover: a
# primary and a standby of their own): decoding on a standby from 16, the PostgreSQL 17+ failover
# slots from 17; 15 cannot run them; --failover runs those alone.
# Each version's cluster listens on its own port, OUTBOX_PG_PORT + (version - 15), so that the
# clusters of several versions never fight over one port; Kafka, RabbitMQ and (for --full, whose
# files include the registry scenarios) the schema registry are shared.
# Usage: test-matrix.sh [--full | --failover] VERSION...
set -euo pipefail
cd "$(dirname "$0")/.."
source deploy/local/env.sh

# The test/failover files that need no failover slots, so run on 16 too (the others need 17+).
from_16=(test/failover/standby-decoding.test.ts)
core=(postgres-version relay reliability-crash reliability-slot-loss reliability-idle-slot reliability-ha slot-failover slot-invalidation reliability-postgres-crash-position)
arguments=("$@")
full=false
only_failover=false
if [ "${1:-}" = --full ]; then
  full=true
  shift
elif [ "${1:-}" = --failover ]; then
  only_failover=true
  shift
fi
if [ $# = 0 ]; then
  echo "usage: $0 [--full | --failover] VERSION..." >&2
  exit 2
fi
for version in "$@"; do
  if ! [[ $version =~ ^[0-9]+$ ]]; then
    echo "$0: $version is not a major version (15, 16, 17, 18)" >&2
    exit 2
  fi
done

# The brokers come up once for all versions (and stop at the end if they were not running before).
if [ -z "${OUTBOX_MATRIX_BROKERS_UP:-}" ]; then
  bash scripts/ensure-deps.sh
  bash scripts/ensure-build.sh
  brokers="rabbitmq kafka"
  if $full; then brokers="$brokers schema-registry"; fi
  OUTBOX_MATRIX_BROKERS_UP=1 OUTBOX_SERVICES="$brokers" \
    exec bash deploy/local/with-services.sh bash "$0" "${arguments[@]}"
fi

if $full; then
  files=(test/integration/*.test.ts)
else
  files=("${core[@]/#/test/integration/}")
  files=("${files[@]/%/.test.ts}")
fi
base_port=$OUTBOX_PG_PORT
for version in "$@"; do
  started=$SECONDS
  version_files=()
  $only_failover || version_files=("${files[@]}")
  if ((version >= 17)); then
    version_files+=(test/failover/*.test.ts)
  elif ((version >= 16)); then
    version_files+=("${from_16[@]}")
  elif $only_failover; then
    echo "$0: the failover scenarios need PostgreSQL 16 or later, not $version" >&2
    exit 2
  fi
  echo "[matrix] PostgreSQL $version on port $((base_port + version - 15)): ${#version_files[@]} files" >&2
  OUTBOX_PG_VERSION=$version OUTBOX_PG_PORT=$((base_port + version - 15)) OUTBOX_SERVICES=postgres \
    bash deploy/local/with-services.sh \
    node --import tsx --test --test-force-exit --test-concurrency=1 --test-timeout=600000 "${version_files[@]}"
  echo "[matrix] PostgreSQL $version: passed in $((SECONDS - started)) s" >&2
done
