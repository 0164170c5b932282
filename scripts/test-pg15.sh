#!/usr/bin/env bash
# The Node suite against the distribution's PostgreSQL 15 (Debian bookworm's
# postgresql-15), beside the embedded PostgreSQL 17 the suite uses by default.
#
#   scripts/test-pg15.sh [extra node --test arguments...]
#
# Runs the `node --test` files whose subject is the server (listed below)
# against a throwaway PostgreSQL 15 cluster that the suite's own launcher
# (__test__/helpers/with-postgres.mjs --bin) starts from the PostgreSQL 15
# binaries, exactly as it starts the default run's from embedded-postgres's:
# initdb in a temporary directory, a free port on 127.0.0.1, scram-sha-256
# password auth for the superuser, the same server settings, run as the
# `postgres` user when root; stopped and removed whatever happened.
# PG15_BIN overrides the binaries' directory (default /usr/lib/postgresql/15/bin).
set -euo pipefail
cd "$(dirname "$0")/.."

BIN="${PG15_BIN:-/usr/lib/postgresql/15/bin}"
if [ ! -x "$BIN/initdb" ] || [ ! -x "$BIN/postgres" ]; then
  echo "test-pg15: no PostgreSQL 15 server binaries in $BIN (Debian: apt-get install postgresql-15)" >&2
  exit 1
fi

echo "== node --test against $("$BIN/postgres" --version)"
# The files whose subject is the server: what it stores, how it connects,
# locks, times out, fails and commits. The others (the CLI's parsing and
# output, option checks, the fixture and test harness, the packages and
# their installs) test nothing a server version changes, and the default
# run has them.
files=(
  __test__/commit.test.mjs __test__/concurrency.test.mjs __test__/connection.test.mjs
  __test__/diagnosis.test.mjs __test__/faults.test.mjs __test__/hostile.test.mjs
  __test__/locations.test.mjs __test__/rotation.test.mjs __test__/runbook.test.mjs
  __test__/server-defaults.test.mjs __test__/soak.test.mjs __test__/pooler.test.mjs
)
node __test__/helpers/with-postgres.mjs --bin "$BIN" node --test --test-concurrency=1 "$@" "${files[@]}"
