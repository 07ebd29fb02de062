#!/usr/bin/env bash
# Brings up every local service the demo and the tests use. Idempotent.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
"$here/postgres.sh" start
"$here/rabbitmq.sh" start
"$here/kafka.sh" start
