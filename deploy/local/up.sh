#!/usr/bin/env bash
# Brings up the local services the demo and the tests use (those named; else those OUTBOX_SERVICES
# names, as with-services.sh does, so a test's own `up` starts nothing its run will not stop; else
# all four). Idempotent.
# Usage: up.sh [postgres] [rabbitmq] [kafka] [schema-registry]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
services=("$@")
[ ${#services[@]} -gt 0 ] || read -r -a services <<<"${OUTBOX_SERVICES:-postgres rabbitmq kafka schema-registry}"
for service in "${services[@]}"; do "$here/$service.sh" start; done
