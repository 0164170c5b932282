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

bash scripts/setup.sh

echo "== cargo fmt / clippy"
cargo fmt --all -- --check
cargo clippy --workspace --all-targets --quiet -- -D warnings

echo "== cargo test"
cargo test --workspace

echo "== node --test"
node __test__/helpers/with-postgres.mjs node --test --test-concurrency=1 __test__/
