#!/usr/bin/env bash
# The JavaScript side of `make test`: install from the lockfiles, build the client, run its unit
# tests, and build the Next.js example. Needs only Node >= 20.9 and npm; exits non-zero on any
# failure.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
export NEXT_TELEMETRY_DISABLED=1 npm_config_audit=false npm_config_fund=false npm_config_update_notifier=false

step() { printf '\n==> %s\n' "$*"; }

node_major=$(node -p 'process.versions.node.split(".")[0]')
if [ "$node_major" -lt 20 ]; then
  echo "clients/run-tests.sh: Node >= 20 is required (found $(node --version))" >&2
  exit 1
fi

step "clients/js: npm ci"
(cd "$root/clients/js" && npm ci --no-audit --no-fund)

step "clients/js: build (tsc)"
(cd "$root/clients/js" && npm run --silent build)

step "clients/js: unit tests (node --test)"
(cd "$root/clients/js" && npm test --silent)

# The short form of `make soak`: the built client in Node against the local gateway with faults
# injected (tens of seconds); fails on any message lost or duplicated.
step "soak (short): faults injected, the client must lose and duplicate nothing"
"$root/.venv/bin/python" -m soak --duration 12 --subscribers 60 --small-channels 2 --threshold 40 \
  --publish-interval-ms 600 --drop-every-ms 400 --settle 40 --seed 12

# The example installs the client as a copy of its packed files (install-links), so it must
# be built first; npm ci then takes the fresh dist/.
step "examples/nextjs: npm ci"
(cd "$root/examples/nextjs" && npm ci --no-audit --no-fund)

step "examples/nextjs: next build"
(cd "$root/examples/nextjs" && npx --no-install next build)

step "clients: all passed"
