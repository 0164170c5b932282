#!/usr/bin/env bash
# The demo: set up (first run only does real work), then rotate a seeded
# AnythingMCP database through the real CLI and prove the result.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec node scripts/demo.mjs
