#!/usr/bin/env bash
# The browser end-to-end tests (`make browser-test`, part of `make test`): headless Chromium from
# Debian's `chromium` package, driven by playwright-core, against the local gateway, which the
# tests start themselves (with the repository's .venv, from `make setup`).
#
# On a fresh machine it installs what it needs: Debian's chromium when /usr/bin/chromium is
# missing (apt-get, as root or through sudo), playwright-core from the lockfile (npm ci, no
# browser download), the client build (clients/js/dist), and the Next.js example's production
# build from the packed tarballs (clients/build-example.sh, unless make js-test left a fresh one). A failing test leaves screenshots
# and console logs in clients/browser-tests/test-results/.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
export npm_config_audit=false npm_config_fund=false npm_config_update_notifier=false
export PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1

step() { printf '\n==> %s\n' "$*"; }

node_major=$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)
if [ "$node_major" -lt 20 ]; then
  echo "clients/browser-tests/run.sh: Node >= 20 is required (found $(node --version 2>/dev/null || echo none))" >&2
  exit 1
fi

chromium="${CHROMIUM_PATH:-/usr/bin/chromium}"
if [ ! -x "$chromium" ]; then
  if [ -n "${CHROMIUM_PATH:-}" ]; then
    echo "clients/browser-tests/run.sh: CHROMIUM_PATH=$chromium is not an executable" >&2
    exit 1
  fi
  step "chromium: apt-get install chromium"
  sudo=""
  if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null || { echo "clients/browser-tests/run.sh: chromium is missing; run as root or install it: apt-get install chromium" >&2; exit 1; }
    sudo="sudo"
  fi
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium
fi
step "chromium: $("$chromium" --version 2>/dev/null | head -n1)"

if [ ! -x "${SWITCHBOARD_PYTHON:-$root/.venv/bin/python}" ]; then
  echo "clients/browser-tests/run.sh: $root/.venv is missing: run \`make setup\` (make browser-test does)" >&2
  exit 1
fi

step "clients/browser-tests: npm ci"
(cd "$here" && npm ci --no-audit --no-fund)

step "clients/js: build (tsc)"
if [ ! -x "$root/clients/js/node_modules/.bin/tsc" ] \
  || [ "$root/clients/js/package-lock.json" -nt "$root/clients/js/node_modules/.package-lock.json" ]; then
  (cd "$root/clients/js" && npm ci --no-audit --no-fund)
fi
(cd "$root/clients/js" && npm run --silent build)

# The Next.js example's production build from the packed tarballs (make js-test leaves it in
# clients/.example-build); built here when missing or older than its sources.
build_id="$root/clients/.example-build/nextjs/.next/BUILD_ID"
if [ ! -f "$build_id" ] || [ -n "$(cd "$root" && find examples/nextjs clients/js/src clients/js/package.json \
    clients/server/src clients/server/package.json \( -name node_modules -o -name .next \) -prune -o \
    -type f -newer "$build_id" -print -quit)" ]; then
  step "clients/server: build (tsc)"
  if [ ! -x "$root/clients/server/node_modules/.bin/tsc" ] \
    || [ "$root/clients/server/package-lock.json" -nt "$root/clients/server/node_modules/.package-lock.json" ]; then
    (cd "$root/clients/server" && npm ci --no-audit --no-fund)
  fi
  (cd "$root/clients/server" && npm run --silent build)
  "$root/clients/build-example.sh"
else
  step "examples/nextjs: the build in clients/.example-build is up to date"
fi

step "clients/browser-tests: node --test"
rm -rf "$here/test-results"
cd "$here"
npm test
