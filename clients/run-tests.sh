#!/usr/bin/env bash
# The JavaScript side of `make test`: install from the lockfiles, build and test the client
# (@switchboard/client) and the server helper (@switchboard/server), pack both, install the
# tarballs into a fresh project (Node ESM and TypeScript) and into a copy of the Next.js
# example, and `next build` it. Needs only Node >= 20.9 and npm; exits non-zero on any
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

# clients/js (@switchboard/client) and clients/server (@switchboard/server, whose tests start
# the local gateway).
for package in js server; do
  step "clients/$package: npm ci"
  (cd "$root/clients/$package" && npm ci --no-audit --no-fund)
  step "clients/$package: build (tsc)"
  (cd "$root/clients/$package" && npm run --silent build)
  step "clients/$package: tests (node --test)"
  (cd "$root/clients/$package" && npm test --silent)
done

# What users install: the packed tarballs, in projects outside this repository (the example's
# build is kept in clients/.example-build for the browser tests).
"$root/clients/build-example.sh"
packs="$root/clients/.example-build/packs"

step "packages: install the tarballs into a fresh project; Node ESM and TypeScript"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cp "$root/clients/install-check/"{package.json,package-lock.json,tsconfig.json,esm-check.mjs,types-check.ts} "$work/"
(cd "$work" && npm ci --no-audit --no-fund \
  && npm install --no-save --no-audit --no-fund "$packs"/switchboard-client-*.tgz "$packs"/switchboard-server-*.tgz \
  && node esm-check.mjs && npx --no-install tsc -p tsconfig.json && echo "types-check: tsc passed")

# The short form of `make soak`: the built client in Node against the local gateway with faults
# injected (tens of seconds); fails on any message lost or duplicated.
step "soak (short): faults injected, the client must lose and duplicate nothing"
"$root/.venv/bin/python" -m soak --duration 12 --subscribers 60 --small-channels 2 --threshold 40 \
  --publish-interval-ms 600 --drop-every-ms 400 --settle 40 --seed 12

step "clients: all passed"
