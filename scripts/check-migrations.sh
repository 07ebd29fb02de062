#!/usr/bin/env bash
# Fails when src/schema.ts and the committed migrations disagree: drizzle-kit must find nothing to generate.
set -euo pipefail
cd "$(dirname "$0")/.."
out=$(npx drizzle-kit generate 2>&1)
if ! grep -q 'No schema changes' <<<"$out" || [ -n "$(git status --porcelain -- migrations)" ]; then
  echo "$out" >&2
  git status --porcelain -- migrations >&2
  echo "migrations/ is out of date with src/schema.ts: run 'npm run db:generate' and commit the result" >&2
  git checkout -- migrations 2>/dev/null || true
  exit 1
fi
echo "migrations match src/schema.ts"
