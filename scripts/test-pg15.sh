#!/usr/bin/env bash
# The Node suite against the distribution's PostgreSQL 15 (Debian bookworm's
# postgresql-15), beside the embedded PostgreSQL 17 the suite uses by default.
#
#   scripts/test-pg15.sh [extra node --test arguments...]
#
# Starts a throwaway cluster (initdb in a temporary directory, a free port on
# 127.0.0.1, scram-sha-256 password auth for the superuser), runs
# the `node --test` files whose subject is the server (listed below) with
# TEST_DATABASE_URL pointing at it, stops it and
# removes it, whatever happened. PostgreSQL refuses to run as root, so as
# root every server command runs as the `postgres` user through runuser.
# PG15_BIN overrides the binaries' directory (default /usr/lib/postgresql/15/bin).
set -euo pipefail
cd "$(dirname "$0")/.."

BIN="${PG15_BIN:-/usr/lib/postgresql/15/bin}"
if [ ! -x "$BIN/initdb" ] || [ ! -x "$BIN/pg_ctl" ]; then
  echo "test-pg15: no PostgreSQL 15 server binaries in $BIN (Debian: apt-get install postgresql-15)" >&2
  exit 1
fi

as_server_user=()
if [ "$(id -u)" = 0 ]; then
  if ! id -u postgres >/dev/null 2>&1; then
    useradd --system --user-group --no-create-home postgres
  fi
  as_server_user=(runuser -u postgres --)
fi
pg() { "${as_server_user[@]}" "$BIN/$1" "${@:2}"; }

# /tmp, not $TMPDIR: the postgres user must reach it, and Unix socket paths
# are short.
DIR="$(mktemp -d /tmp/keyrotate-pg15-XXXXXX)"
DATA="$DIR/data"
LOG="$DIR/postgres.log"
started=0
testing=0
cleanup() {
  status=$?
  if [ "$started" = 1 ]; then
    pg pg_ctl stop -D "$DATA" -m fast -w -t 20 >/dev/null 2>&1 ||
      pg pg_ctl stop -D "$DATA" -m immediate >/dev/null 2>&1 || true
  fi
  # A failing test is the suite's to report; the log explains a server that did not start.
  if [ "$status" != 0 ] && [ "$testing" = 0 ] && [ -f "$LOG" ]; then
    echo "test-pg15: server log (last lines):" >&2
    tail -n 20 "$LOG" >&2 || true
  fi
  rm -rf "$DIR"
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

PASSWORD="$(node -e 'process.stdout.write(require("crypto").randomBytes(24).toString("hex"))')"
printf '%s\n' "$PASSWORD" >"$DIR/pwfile"
chmod 600 "$DIR/pwfile"
[ "${#as_server_user[@]}" -gt 0 ] && chown -R postgres: "$DIR"

pg initdb --pgdata="$DATA" --username=postgres --pwfile="$DIR/pwfile" \
  --auth=scram-sha-256 --encoding=UTF8 --no-locale --no-sync >"$DIR/initdb.log" 2>&1 ||
  { cat "$DIR/initdb.log" >&2; exit 1; }
rm -f "$DIR/pwfile"

free_port() {
  node -e 'const s=require("net").createServer();s.listen(0,"127.0.0.1",()=>{process.stdout.write(String(s.address().port));s.close()})'
}

# Settings as the embedded cluster's (__test__/helpers/pg.mjs): a disposable
# cluster needs no durability.
for attempt in 1 2 3 4 5; do
  PORT="$(free_port)"
  if pg pg_ctl start -D "$DATA" -l "$LOG" -w -t 30 -o "-p $PORT -k $DIR \
      -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off \
      -c full_page_writes=off -c max_connections=200" >/dev/null; then
    started=1
    break
  fi
  # Someone took the port between the check and the bind: try another.
  grep -qiE 'could not bind|address already in use|could not create any TCP' "$LOG" 2>/dev/null || exit 1
done
[ "$started" = 1 ] || { echo "test-pg15: could not start PostgreSQL 15" >&2; exit 1; }

VERSION="$(pg postgres --version)"
echo "== node --test against $VERSION on 127.0.0.1:$PORT"
export TEST_DATABASE_URL="postgres://postgres:$PASSWORD@127.0.0.1:$PORT/postgres"
testing=1
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
node --test --test-concurrency=1 "$@" "${files[@]}"
