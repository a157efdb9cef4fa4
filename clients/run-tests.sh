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

step "clients/js: npm ci"
(cd "$root/clients/js" && npm ci --no-audit --no-fund)

step "clients/js: build (tsc)"
(cd "$root/clients/js" && npm run --silent build)

step "clients/js: unit tests (node --test)"
(cd "$root/clients/js" && npm test --silent)

step "clients/server: npm ci"
(cd "$root/clients/server" && npm ci --no-audit --no-fund)

step "clients/server: build (tsc)"
(cd "$root/clients/server" && npm run --silent build)

step "clients/server: unit and local-gateway tests (node --test)"
(cd "$root/clients/server" && npm test --silent)

# What users install: the packed tarballs, in projects outside this repository.
packs=$(mktemp -d)
work=$(mktemp -d)
trap 'rm -rf "$packs" "$work"' EXIT

step "packages: npm pack"
for package in js server; do
  (cd "$root/clients/$package" && npm pack --silent --pack-destination "$packs" >/dev/null)
done
client_tgz=$(ls "$packs"/switchboard-client-*.tgz)
server_tgz=$(ls "$packs"/switchboard-server-*.tgz)
# Only what a user needs travels: the build, the sources its source maps name, the README.
for tgz in "$client_tgz" "$server_tgz"; do
  unexpected=$(tar -tzf "$tgz" | grep -Ev '^package/(package\.json|README\.md|dist/[a-z]+\.(js|d\.ts)(\.map)?|src/[a-z]+\.ts)$' || true)
  if [ -n "$unexpected" ]; then
    echo "$(basename "$tgz") holds unexpected files:" >&2; echo "$unexpected" >&2; exit 1
  fi
done
ls -l "$packs"

step "packages: install the tarballs into a fresh project; Node ESM and TypeScript"
cp "$root/clients/install-check/"{package.json,package-lock.json,tsconfig.json,esm-check.mjs,types-check.ts} "$work/"
(cd "$work" && npm ci --no-audit --no-fund && npm install --no-save --no-audit --no-fund "$client_tgz" "$server_tgz" \
  && node esm-check.mjs && npx --no-install tsc -p tsconfig.json && echo "types-check: tsc passed")

# The example, as a project of its own outside the repository, with the tarballs in place of
# its file: links (local development keeps the links: see examples/nextjs/README.md).
step "examples/nextjs: install the tarballs, next build"
mkdir "$work/nextjs"
(cd "$root/examples/nextjs" && git ls-files -z --cached --others --exclude-standard | xargs -0 cp --parents -t "$work/nextjs")
(cd "$work/nextjs" \
  && node -e '
    const fs = require("node:fs");
    const manifest = JSON.parse(fs.readFileSync("package.json", "utf8"));
    manifest.dependencies["@switchboard/client"] = "file:" + process.argv[1];
    manifest.dependencies["@switchboard/server"] = "file:" + process.argv[2];
    fs.writeFileSync("package.json", JSON.stringify(manifest, null, 2) + "\n");
  ' "$client_tgz" "$server_tgz" \
  && npm install --no-audit --no-fund --prefer-offline \
  && node -e 'for (const p of ["@switchboard/client", "@switchboard/server"]) { const r = require("./package-lock.json").packages["node_modules/" + p]; if (!r || r.link || !String(r.resolved).endsWith(".tgz")) { console.error(p, "is not installed from its tarball:", r); process.exit(1); } }' \
  && npx --no-install next build)

step "clients: all passed"
