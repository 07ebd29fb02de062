#!/usr/bin/env bash
# Brings up the local services the demo and the tests use (all four, or those named). Idempotent.
# Usage: up.sh [postgres] [rabbitmq] [kafka] [schema-registry]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
services=("$@")
[ ${#services[@]} -gt 0 ] || services=(postgres rabbitmq kafka schema-registry)
for service in "${services[@]}"; do "$here/$service.sh" start; done
