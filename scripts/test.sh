#!/usr/bin/env bash
# The whole test suite, Rust and Node, against real PostgreSQL servers that
# the tests start themselves. This is what CI runs.
set -euo pipefail
cd "$(dirname "$0")/.."

# The TLS tests run the distribution's PostgreSQL server binaries.
if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null) \
      || echo "warning: could not install postgresql; the TLS tests will fail" >&2
  fi
fi

# The musl (and, in the artifact test's full mode, arm64) Node builds come
# from PyPI and Debian into .cache/node/. The artifact test
# (__test__/artifacts.test.mjs) builds the x64 platform packages itself
# (scripts/artifacts.sh brings zig and cargo-zigbuild from PyPI) and needs
# no setup here; `npm run test:artifacts` runs its full mode.
export KEYROTATE_FETCH_NODE=1

bash scripts/setup.sh

echo "== cargo fmt / clippy"
cargo fmt --all -- --check
cargo clippy --workspace --all-targets --quiet -- -D warnings

echo "== typecheck (the CLI's exit map covers every error code)"
npm run --silent typecheck

echo "== cargo test"
cargo test --workspace

echo "== cargo fuzz (bounded smoke run)"
FUZZ_SECONDS="${FUZZ_SECONDS:-15}" bash scripts/fuzz.sh

echo "== node --test"
node __test__/helpers/with-postgres.mjs node --test --test-concurrency=1 __test__/

echo "== node --test (PostgreSQL 15)"
bash scripts/test-pg15.sh
