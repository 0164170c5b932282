#!/usr/bin/env bash
# Bring a fresh clone to a runnable state: npm dependencies, the release
# addon, and the compiled CLI shim. Safe to run again; each step is cheap
# when there is nothing to do.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ ! -d node_modules/@napi-rs/cli ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund --loglevel=error
fi
npx napi build --platform --release --js binding.js --dts binding.d.ts >/dev/null
npx tsc -p packages/backend/tsconfig.json
