#!/usr/bin/env bash
# Makes `promtool` (Prometheus' rule checker) available: the monitoring tests validate
# deploy/monitoring/ with it. On a bare Debian machine it comes with the `prometheus` package.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
source "$here/deploy/local/env.sh"
command -v promtool >/dev/null && exit 0
# The package's service must not start here: only its promtool binary is wanted.
policy=/usr/sbin/policy-rc.d
created_policy=false
if [ ! -e "$policy" ]; then
  printf '#!/bin/sh\nexit 101\n' >"$policy" && chmod +x "$policy" && created_policy=true
fi
trap '$created_policy && rm -f "$policy"' EXIT
apt_install --no-install-recommends prometheus
command -v promtool >/dev/null
