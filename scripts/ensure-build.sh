#!/usr/bin/env bash
# Builds dist/ (npm run build) when it is missing or older than what it is built from: the
# integration tests run the relay as users do, through bin/outbox-relay and the bundled
# dist/outbox-relay.mjs (test/kit/relay.ts refuses a stale build).
set -euo pipefail
cd "$(dirname "$0")/.."
built=dist/outbox-relay.mjs
if [ ! -f "$built" ] || [ -n "$(find src scripts/bundle.mjs package-lock.json tsconfig.json tsconfig.build.json -newer "$built" -print -quit)" ]; then
  echo "[build] npm run build" >&2
  npm run --silent build >&2
fi
