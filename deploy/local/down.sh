#!/usr/bin/env bash
# Stops what up.sh started (and only that). Idempotent.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
"$here/schema-registry.sh" stop
"$here/kafka.sh" stop
"$here/rabbitmq.sh" stop
"$here/postgres.sh" stop
