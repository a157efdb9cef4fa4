#!/usr/bin/env bash
# Pack @switchboard/client and @switchboard/server (their dist/ must be built) and build the
# Next.js example from the tarballs, as a project of its own outside examples/: a copy of its
# files in clients/.example-build/nextjs with the tarballs in place of its file: links.
#   clients/.example-build/packs/switchboard-{client,server}-<version>.tgz
#   clients/.example-build/nextjs/.next   (`next start` serves it; the browser tests do)
# Called by clients/run-tests.sh (make js-test), and by clients/browser-tests/run.sh when the
# build is missing or older than its sources.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
out="$root/clients/.example-build"
export NEXT_TELEMETRY_DISABLED=1 npm_config_audit=false npm_config_fund=false npm_config_update_notifier=false

step() { printf '\n==> %s\n' "$*"; }

rm -rf "$out"
mkdir -p "$out/packs" "$out/nextjs"

step "packages: npm pack"
for package in js server; do
  (cd "$root/clients/$package" && npm pack --silent --pack-destination "$out/packs" >/dev/null)
done
client_tgz=$(ls "$out"/packs/switchboard-client-*.tgz)
server_tgz=$(ls "$out"/packs/switchboard-server-*.tgz)
# Only what a user needs travels: the build, the sources its source maps name, the README.
for tgz in "$client_tgz" "$server_tgz"; do
  unexpected=$(tar -tzf "$tgz" | grep -Ev '^package/(package\.json|README\.md|dist/[a-z]+\.(js|d\.ts)(\.map)?|src/[a-z]+\.ts)$' || true)
  if [ -n "$unexpected" ]; then
    echo "$(basename "$tgz") holds unexpected files:" >&2
    echo "$unexpected" >&2
    exit 1
  fi
done
ls -l "$out/packs"

step "examples/nextjs: a copy with the tarballs, npm install, next build"
(cd "$root/examples/nextjs" && git ls-files -z --cached --others --exclude-standard | xargs -0 cp --parents -t "$out/nextjs")
cd "$out/nextjs"
node -e '
  const fs = require("node:fs");
  const manifest = JSON.parse(fs.readFileSync("package.json", "utf8"));
  manifest.dependencies["@switchboard/client"] = "file:" + process.argv[1];
  manifest.dependencies["@switchboard/server"] = "file:" + process.argv[2];
  fs.writeFileSync("package.json", JSON.stringify(manifest, null, 2) + "\n");
' "$client_tgz" "$server_tgz"
npm install --no-audit --no-fund --prefer-offline
node -e '
  const lock = require("./package-lock.json");
  for (const name of ["@switchboard/client", "@switchboard/server"]) {
    const entry = lock.packages["node_modules/" + name];
    if (!entry || entry.link || !String(entry.resolved).endsWith(".tgz")) {
      console.error(name, "is not installed from its tarball:", entry);
      process.exit(1);
    }
  }
'
npx --no-install next build
