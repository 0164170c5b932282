// Every outcome an operator or a script can see is true to the database:
// keys never echoed whatever option they land in, swapped keys never look
// like success, no rotation off a terminal without --yes, a closed stdout
// or a signal never contradicts what was committed, one JSON document on
// every path, verify's advice fits what opened, and long waits are never
// silent. Real CLI processes (under a pseudo-terminal where a terminal
// matters) against a real PostgreSQL.

import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, beforeEach, describe, test } from 'node:test';
import pg from 'pg';

import keyrotate from '../index.js';
import { encrypt, generateKey } from './helpers/anythingmcp/crypto.mjs';
import { assertEntriesOpenWith, expectedReport } from './helpers/anythingmcp/locations.mjs';
import { createAnythingMcpSchema } from './helpers/anythingmcp/schema.mjs';
import { seedAcceptanceFixture } from './helpers/fixture/acceptance.mjs';
import { createObserver, waitFor } from './helpers/inspect/hygiene.mjs';
import { snapshotSchema } from './helpers/inspect/snapshot.mjs';
import { jsonDocument } from './helpers/run/cli-schema.mjs';
import { CLI } from './helpers/run/cli.mjs';
import { ROOT } from './helpers/run/commands.mjs';
import { freshDatabase } from './helpers/server/postgres.mjs';

const A = generateKey();
const B = generateKey();
const obs = createObserver();
obs.keys(A, B);
const tmp = mkdtempSync(path.join(os.tmpdir(), 'keyrotate-outcomes-'));
const clients = [];
let url;
let client;
let fixture;

function keyFile(name, content) {
  const file = path.join(tmp, name);
  writeFileSync(file, `${content}\n`);
  return file;
}

const baseEnv = () => ({ PATH: process.env.PATH, HOME: process.env.HOME });

/** The CLI as a child process, off a terminal; everything it says is observed. */
function run(args, { env = {}, input } = {}) {
  const r = spawnSync(process.execPath, [CLI, ...args], { env: { ...baseEnv(), ...env }, input: input ?? '', encoding: 'utf8', timeout: 120_000 });
  obs.observe(r.stdout);
  obs.observe(r.stderr);
  return r;
}

/** The CLI on a pseudo-terminal (`script`): stdout and stderr both arrive as `out`. */
function spawnTty(args, env) {
  const cmd = [process.execPath, CLI, ...args].map((a) => `'${a.replace(/'/g, `'\\''`)}'`).join(' ');
  const child = spawn('script', ['-qfec', cmd, '/dev/null'], { env: { ...baseEnv(), TERM: 'dumb', ...env }, stdio: ['pipe', 'pipe', 'pipe'] });
  const started = performance.now();
  // When each text first appeared on screen, in ms since the spawn.
  const seen = { out: '', chunks: [], at: (text) => seen.chunks.find(([, upTo]) => upTo.includes(text))?.[0] };
  child.stdout.on('data', (d) => {
    seen.out += d;
    seen.chunks.push([performance.now() - started, seen.out]);
  });
  const exited = new Promise((resolve) => child.on('exit', (code) => resolve(code)));
  return { child, seen, exited };
}

/** The CLI as a child we can signal and whose stdout we can close. */
function spawnCli(args, env) {
  const child = spawn(process.execPath, [CLI, ...args], { env: { ...baseEnv(), ...env }, stdio: ['pipe', 'pipe', 'pipe'] });
  const seen = { stdout: '', stderr: '' };
  child.stdout.on('data', (d) => (seen.stdout += d));
  child.stderr.on('data', (d) => (seen.stderr += d));
  child.stdin.end();
  const exited = new Promise((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));
  return { child, seen, exited };
}

async function reset(key = A, { legacy = true } = {}) {
  await client.query('DROP SCHEMA public CASCADE; CREATE SCHEMA public');
  await createAnythingMcpSchema(client, 'public', { legacy });
  fixture = await seedAcceptanceFixture(client, key, { legacy });
  for (const s of fixture.secrets) obs.secret(s);
}

const snapshot = () => snapshotSchema(client, 'public');
const env = (extra = {}) => ({ DATABASE_URL: url, OLD_ENCRYPTION_KEY: A, NEW_ENCRYPTION_KEY: B, ...extra });

/** A second session holding a row lock on connectors until `release()`. */
async function holdConnectors(applicationName) {
  const holder = new pg.Client({ connectionString: url, application_name: applicationName });
  await holder.connect();
  await holder.query('BEGIN');
  await holder.query("UPDATE connectors SET name = name WHERE id = (SELECT id FROM connectors LIMIT 1)");
  const { rows } = await holder.query('SELECT pg_backend_pid() AS pid');
  return {
    pid: rows[0].pid,
    release: async () => {
      await holder.query('ROLLBACK');
      await holder.end();
    },
  };
}

before(async () => {
  ({ url, client } = await freshDatabase('outcomes', { clients, obs }));
});
after(async () => {
  for (const c of clients) await c.end();
});

describe('1. no option value that can be a key is ever echoed', () => {
  before(() => reset());

  test('a key where a path, a URL, a duration or a location belongs: named by option and length, never shown, in words and in --json', async () => {
    const before_ = await snapshot();
    const cases = [
      [['--old-file', A, '--new-file', keyFile('b1.key', B)], /--old-file: no such file; the value is 64 characters long and looks like a key, not a path/],
      [[`--new-file=${B}`], /--new-file: no such file; the value is 64 characters long and looks like a key/],
      [['verify', '--key-file', B], /--key-file: no such file; the value is 64 characters long/],
      [['fingerprint', '--key-file', B], /--key-file: no such file/],
      [['--columns-file', A], /the locations file \(--columns-file, columnsFile\): no such file/],
      [['--column', A], /ERR_INVALID_ARG/],
      [['--database-url', A], /ERR_(INVALID_ARG|USAGE|DB_CONNECT)/],
      [['--lock-timeout', A], /--lock-timeout takes a duration/],
      [[`--olf=${A}`], /unknown option --olf/],
    ];
    for (const [args, words] of cases) {
      const r = run([...args, '--yes'], { env: env() });
      assert.equal(r.status, 2, `${args[0]}: ${r.stderr}`);
      assert.match(r.stderr, words, args[0]);
      const json = run([...args, '--yes', '--json'], { env: env() });
      const doc = jsonDocument(json.stdout, 2);
      assert.equal(doc.ok, false);
      for (const out of [r.stdout, r.stderr, json.stdout, json.stderr]) {
        assert.ok(!out.includes(A) && !out.includes(B) && !out.includes(A.slice(0, 32)), `${args[0]} echoed a key`);
      }
    }
    assert.deepStrictEqual(await snapshot(), before_);
  });

  test('a key given two ways, or on both --stdin and a file, is refused rather than guessed', () => {
    const r = run(['--old-file', keyFile('a1.key', A), '--stdin', '--yes'], { env: { DATABASE_URL: url }, input: `${A}\n${B}\n` });
    assert.equal(r.status, 2);
    assert.match(r.stderr, /give the old key one way only/);
  });
});

describe('2. nothing sealed with the old key is its own outcome, never success', () => {
  beforeEach(() => reset());

  test('swapped keys: exit 6, nothing changed, the fingerprint of the key the data is on, and oldKeyMatches false', async () => {
    const before_ = await snapshot();
    const r = run(['--old-file', keyFile('b.key', B), '--new-file', keyFile('a.key', A), '--yes'], { env: { DATABASE_URL: url } });
    assert.equal(r.status, 6, r.stderr);
    assert.match(r.stderr, /error \[ERR_ALREADY_ON_NEW_KEY\]: nothing is sealed with the old key/);
    assert.ok(r.stderr.includes(`key given as new (${keyrotate.keyFingerprint(A)})`));
    assert.match(r.stderr, /the keys were swapped/);
    assert.doesNotMatch(r.stdout, /Next:/, 'no advice to switch keys');
    const json = run(['--old-file', keyFile('b.key', B), '--new-file', keyFile('a.key', A), '--yes', '--json'], { env: { DATABASE_URL: url } });
    const doc = jsonDocument(json.stdout, 6);
    assert.equal(doc.error.code, 'ERR_ALREADY_ON_NEW_KEY');
    assert.deepStrictEqual(doc.error.details, { kind: 'keys', dataKeyFingerprint: keyrotate.keyFingerprint(A), valuesOnNewKey: expectedReport(fixture).values });
    assert.equal(doc.error.report.oldKeyMatches, false);
    assert.equal(doc.error.report.committed, false);
    assert.deepStrictEqual(await snapshot(), before_);
    await assertEntriesOpenWith(client, fixture, A);
  });

  test('an installation with nothing sealed anywhere is a plain success, oldKeyMatches null', async () => {
    await client.query('DROP SCHEMA public CASCADE; CREATE SCHEMA public');
    await createAnythingMcpSchema(client, 'public', { legacy: false });
    const r = run(['--yes', '--json'], { env: env() });
    const doc = jsonDocument(r.stdout, 0);
    assert.equal(doc.report.valuesReencrypted, 0);
    assert.equal(doc.report.oldKeyMatches, null);
    assert.equal(doc.report.summary, '0 rows re-encrypted across 0 tables');
  });
});

describe('3. off a terminal, a rotation needs --yes', () => {
  before(() => reset());

  test('without --yes: exit 2, ERR_CONFIRMATION_REQUIRED, nothing touched; a dry run needs no --yes', async () => {
    const before_ = await snapshot();
    const r = run([], { env: env() });
    assert.equal(r.status, 2, r.stderr);
    assert.match(r.stderr, /ERR_CONFIRMATION_REQUIRED.*needs --yes/);
    jsonDocument(run(['--json'], { env: env() }).stdout, 2);
    const dry = run(['--dry-run'], { env: env() });
    assert.equal(dry.status, 0, dry.stderr);
    assert.deepStrictEqual(await snapshot(), before_);
  });
});

describe('4. a closed stdout or a signal never contradicts the database', () => {
  beforeEach(() => reset());

  for (const json of [false, true]) {
    test(`stdout closed by its reader before the report (${json ? '--json' : 'words'}): exit 0, committed`, async () => {
      const { child, exited } = spawnCli(['--yes', ...(json ? ['--json'] : [])], env());
      child.stdout.destroy();
      const { code, signal } = await exited;
      assert.equal(signal, null);
      assert.equal(code, 0);
      await assertEntriesOpenWith(client, fixture, B);
    });
  }

  for (const [signal, status] of [['SIGTERM', 143], ['SIGINT', 130]]) {
    test(`${signal} while waiting for a lock: one line, exit ${status}, rolled back, locks released`, async () => {
      const before_ = await snapshot();
      const holder = await holdConnectors('holder-app');
      try {
        const { child, seen, exited } = spawnCli(['--yes', '--lock-timeout', '60s'], env());
        await waitFor(() => seen.stderr.includes('waiting'), 'the CLI to report its wait', 30_000);
        child.kill(signal);
        const { code } = await exited;
        obs.observe(seen.stdout);
        obs.observe(seen.stderr);
        assert.equal(code, status, seen.stderr);
        const lines = seen.stderr.trim().split('\n').filter((l) => !l.startsWith('note:'));
        assert.deepStrictEqual(lines, [`interrupted by ${signal}: the run was cancelled before its COMMIT; the transaction was rolled back and nothing was changed`]);
      } finally {
        await holder.release();
      }
      assert.deepStrictEqual(await snapshot(), before_);
      const { rows } = await client.query("SELECT count(*)::int AS n FROM pg_stat_activity WHERE application_name = 'keyrotate' AND datname = current_database()");
      assert.equal(rows[0].n, 0, 'the session is gone');
    });
  }

  test('SIGINT with --json: the one document says interrupted, exit 130', async () => {
    const holder = await holdConnectors('holder-app');
    try {
      const { child, seen, exited } = spawnCli(['--yes', '--json', '--lock-timeout', '60s'], env());
      // Under --json the wait is not printed: wait for the session instead.
      await waitFor(async () => (await client.query("SELECT 1 FROM pg_stat_activity WHERE application_name = 'keyrotate' AND wait_event_type = 'Lock'")).rowCount > 0, 'the CLI to wait');
      child.kill('SIGINT');
      const { code } = await exited;
      const doc = jsonDocument(seen.stdout, 130);
      obs.observe(seen.stdout);
      assert.equal(code, 130);
      assert.equal(doc.error.code, 'ABORT_ERR');
    } finally {
      await holder.release();
    }
    await assertEntriesOpenWith(client, fixture, A);
  });
});

describe('5. --json: exactly one document on every path, valid against the schema', () => {
  before(() => reset());

  test('rotate, dry runs passing and failing, verify passing and failing, usage, fingerprint, generate-key, help', async () => {
    const docs = [];
    const check = (args, status, extra) => {
      const r = run([...args, '--json'], { env: env(extra) });
      assert.equal(r.status, status, `${args.join(' ')}: ${r.stderr}`);
      const doc = jsonDocument(r.stdout, status);
      docs.push(doc);
      return doc;
    };
    assert.equal(check(['--dry-run'], 0).report.dryRun, true);
    assert.equal(check(['--bogus'], 2).error.code, 'ERR_USAGE');
    assert.equal(check(['fingerprint'], 0, { ENCRYPTION_KEY: A }).report.fingerprint, keyrotate.keyFingerprint(A));
    assert.equal(check(['generate-key'], 0).command, 'generate-key');
    assert.match(check(['--help'], 0).report.usage, /Usage:/);
    const victim = fixture.rows.find((r) => r.kind === 'sealed' && r.table === 'connector_auth_cache');
    await client.query('UPDATE connector_auth_cache SET token = $1 WHERE id = $2', [encrypt('{"x":1}', generateKey()), victim.id]);
    const failing = check(['--dry-run'], 3);
    assert.equal(failing.error.code, 'ERR_UNDECRYPTABLE');
    assert.equal(failing.error.report.failureCount, 1);
    await client.query('UPDATE connector_auth_cache SET token = $1 WHERE id = $2', [victim.stored, victim.id]);
    assert.equal(check(['--yes'], 0).report.committed, true);
    assert.equal(check(['verify'], 0, { ENCRYPTION_KEY: B }).report.ok, true);
    assert.equal(check(['verify'], 3, { ENCRYPTION_KEY: A }).error.code, 'ERR_VERIFY_FAILED');
    assert.equal(check(['--yes'], 6).error.code, 'ERR_ALREADY_ON_NEW_KEY');
    assert.equal(docs.length, 10);
  });

  test('a declined prompt on a terminal writes its document too', async () => {
    await reset();
    const { child, seen, exited } = spawnTty(['--json'], env());
    await waitFor(() => seen.out.includes('Proceed?'), 'the prompt');
    child.stdin.write('n\n');
    assert.equal(await exited, 2);
    obs.observe(seen.out);
    const doc = jsonDocument(seen.out.slice(seen.out.indexOf('\n{') + 1).replace(/\r\n/g, '\n'), 2);
    assert.equal(doc.error.code, 'ERR_DECLINED');
  });
});

describe('6. verify says which key it checked, how many opened, and what that means', () => {
  before(async () => {
    await reset();
    assert.equal(run(['--yes'], { env: env() }).status, 0);
  });

  test('the key the data is not on: 0 of N, "not the key the data is on", and where the key came from', () => {
    const n = expectedReport(fixture).values;
    for (const [args, extra, source] of [
      [['--key-file', keyFile('a2.key', A)], {}, '--key-file'],
      [[], { ENCRYPTION_KEY: A }, 'ENCRYPTION_KEY'],
      [[], { NEW_ENCRYPTION_KEY: A }, 'NEW_ENCRYPTION_KEY'],
      [['--stdin'], {}, 'standard input'],
    ]) {
      const r = run(['verify', ...args], { env: { DATABASE_URL: url, ...extra }, input: `${A}\n` });
      assert.equal(r.status, 3, r.stderr);
      assert.ok(r.stderr.includes(`key ${keyrotate.keyFingerprint(A)} (from ${source}) opens 0 of ${n} sealed values`), r.stderr);
      assert.match(r.stderr, /this is not the key the data is on/);
      assert.doesNotMatch(r.stderr, /run the same rotation again/);
    }
    const ok = run(['verify', '--key-file', keyFile('b2.key', B)], { env: { DATABASE_URL: url } });
    assert.equal(ok.status, 0);
    assert.ok(ok.stdout.includes(`Key ${keyrotate.keyFingerprint(B)} (from --key-file) opens ${n} of ${n} sealed values: OK`));
    // The shell that ran the rotation still holds both: ENCRYPTION_KEY wins.
    const both = run(['verify'], { env: { DATABASE_URL: url, ENCRYPTION_KEY: B, NEW_ENCRYPTION_KEY: A } });
    assert.equal(both.status, 0, both.stderr);
    assert.ok(both.stdout.includes(`Key ${keyrotate.keyFingerprint(B)} (from ENCRYPTION_KEY) opens ${n} of ${n} sealed values: OK`), both.stdout);
  });

  test('some values under the old key (written after the rotation): re-run the rotation', async () => {
    const victim = fixture.rows.find((r) => r.kind === 'sealed' && r.table === 'connector_auth_cache');
    await client.query('UPDATE connector_auth_cache SET token = $1 WHERE id = $2', [encrypt('{"late":1}', A), victim.id]);
    obs.secret('{"late":1}');
    const r = run(['verify'], { env: { DATABASE_URL: url, ENCRYPTION_KEY: B } });
    assert.equal(r.status, 3);
    assert.match(r.stderr, /1 value\(s\) do not open while the others do.*Run the same rotation again/);
    assert.equal(run(['--yes'], { env: env() }).status, 0, 'the re-run finishes it');
    assert.equal(run(['verify'], { env: { DATABASE_URL: url, ENCRYPTION_KEY: B } }).status, 0);
  });

  test('verify --stdin with two lines is refused; an invalid old or verify key is never sent to generate-key', () => {
    const two = run(['verify', '--stdin'], { env: { DATABASE_URL: url }, input: `${A}\n${B}\n` });
    assert.equal(two.status, 2);
    assert.match(two.stderr, /verify --stdin reads one key, on one line; standard input has 2 line\(s\)/);
    for (const [args, extra] of [[[], { OLD_ENCRYPTION_KEY: 'short' }], [['verify'], { ENCRYPTION_KEY: 'short' }]]) {
      const r = run([...args, '--yes'], { env: env(extra) });
      assert.equal(r.status, 2);
      assert.match(r.stderr, /ERR_KEY_INVALID/);
      assert.doesNotMatch(r.stderr, /generate/);
    }
    const badNew = run(['--yes'], { env: env({ NEW_ENCRYPTION_KEY: 'short' }) });
    assert.match(badNew.stderr, /generate-key/);
  });
});

describe('7. fingerprint, offline', () => {
  test('from --key-file, --stdin and ENCRYPTION_KEY: the API\'s fingerprint, without any database', () => {
    const want = keyrotate.keyFingerprint(A);
    for (const [args, extra, input] of [[['--key-file', keyFile('a3.key', A)], {}], [['--stdin'], {}, `${A}\n`], [[], { ENCRYPTION_KEY: A }]]) {
      const r = run(['fingerprint', ...args], { env: extra, input });
      assert.equal(r.status, 0, r.stderr);
      assert.match(r.stdout, new RegExp(`^${want} \\(key from `));
    }
    const missing = run(['fingerprint']);
    assert.equal(missing.status, 2);
  });
});

describe('8-10. what a run acts on, waits for, and did', () => {
  beforeEach(() => reset(A, { legacy: false }));

  test('the summary names user, host, port, database and schema; counts values, rows and only changed tables; a dry run says "would"', async () => {
    const { port, username, pathname } = new URL(url);
    const want = expectedReport(fixture);
    const dry = run(['--dry-run'], { env: env() });
    assert.match(dry.stdout, new RegExp(`^Dry run \\(nothing written\\): ${want.rowsReencrypted} rows would be re-encrypted across ${want.tables} tables \\(${want.values} values; 0 values already on the new key, ${want.empty} empty\\)`, 'm'));
    const r = run(['--yes'], { env: env() });
    assert.ok(r.stdout.includes(`database ${pathname.slice(1)} on 127.0.0.1:${port} as ${username}, schema public; keys`), r.stdout);
    assert.match(r.stdout, new RegExp(`^${want.rowsReencrypted} rows re-encrypted across ${want.tables} tables`, 'm'));
  });

  test('a location this release lacks is no note on every run; --verbose and --json keep it', () => {
    const plain = run(['--dry-run'], { env: env() });
    assert.doesNotMatch(plain.stdout + plain.stderr, /mcp_server_configs/);
    const verbose = run(['--dry-run', '--verbose'], { env: env() });
    assert.match(verbose.stdout + verbose.stderr, /mcp_server_configs\.auth_config.*absent/);
    const doc = jsonDocument(run(['--dry-run', '--json'], { env: env() }).stdout, 0);
    assert.equal(doc.report.locations.find((l) => l.table === 'mcp_server_configs').status, 'absent');
  });

  test('a lock wait names the session holding it, off a terminal and in the timeout error', async () => {
    const holder = await holdConnectors('holder-app');
    try {
      const r = run(['--yes', '--lock-timeout', '2500ms'], { env: env() });
      assert.equal(r.status, 4);
      const named = new RegExp(`pid ${holder.pid} \\(user \\w+, application "holder-app", idle in transaction, in a transaction since \\d{4}-\\d\\d-\\d\\dT`);
      assert.match(r.stderr, new RegExp(`note: waiting \\d+ s for the table locks, held by ${named.source}`));
      assert.match(r.stderr, new RegExp(`ERR_LOCK_TIMEOUT.*held by ${named.source}`));
      const doc = jsonDocument(run(['--yes', '--json', '--lock-timeout', '1500ms'], { env: env() }).stdout, 4);
      assert.equal(doc.error.details.kind, 'lock');
      assert.equal(doc.error.details.holders[0].pid, holder.pid);
      assert.equal(doc.error.details.holders[0].applicationName, 'holder-app');
    } finally {
      await holder.release();
    }
  });

  test('on a terminal the status line speaks from the start: connecting, discovery, and the wait, while the lock is still held', async () => {
    const holder = await holdConnectors('holder-app');
    let exited;
    try {
      const tty = spawnTty(['--yes', '--lock-timeout', '60s'], env());
      exited = tty.exited;
      await waitFor(() => tty.seen.out.includes('held by pid'), 'the wait on screen', 30_000);
      obs.observe(tty.seen.out);
      assert.match(tty.seen.out, /connecting to 127\.0\.0\.1:\d+\//);
      // Before anything whose time grows with the data: Node's start-up and
      // the binding's load, then this line (about 150 ms here).
      const first = tty.seen.at('connecting to');
      assert.ok(first < 1000, `the first status line came ${Math.round(first)} ms after the start`);
      assert.match(tty.seen.out, /searching the tables outside the registry/);
      assert.match(tty.seen.out, new RegExp(`waiting \\d+ s for the table locks, held by pid ${holder.pid}`));
    } finally {
      await holder.release();
    }
    assert.equal(await exited, 0);
    await assertEntriesOpenWith(client, fixture, B);
  });
});

describe('11. one CLI path, the same exit codes, everywhere', () => {
  test('README, SECURITY.md, docs/adopting.md and --help name the path the command has in the upstream image', () => {
    const help = run(['--help']).stdout;
    const docs = { 'README.md': null, 'SECURITY.md': null, 'docs/adopting.md': null };
    for (const name of Object.keys(docs)) docs[name] = readFileSync(path.join(ROOT, name), 'utf8');
    for (const [name, text] of Object.entries({ ...docs, '--help': help })) {
      const paths = [...text.matchAll(/[\w./-]*rotate-encryption-key\.js/g)].map((m) => m[0]);
      assert.ok(paths.length > 0, name);
      // The image's path, or that path relative to the backend (what its build emits).
      for (const p of paths) assert.match(p, /^(\/app\/backend\/|backend\/)?dist\/src\/scripts\/rotate-encryption-key\.js$/, `${name} names ${p}`);
    }
    for (const name of ['README.md', 'SECURITY.md']) {
      for (const status of [0, 1, 2, 3, 4, 5, 6, 7, 130]) {
        assert.match(docs[name], new RegExp(`^\\| ${status}\\b`, 'm'), `${name} documents exit ${status}`);
      }
    }
  });
});

describe('12. the API as backend admin code uses it', () => {
  beforeEach(() => reset());
  const rejection = (p) => obs.rejection(p);

  test('a dry run its real run would refuse rejects with the same code, the findings on error.report', async () => {
    const victim = fixture.rows.find((r) => r.kind === 'sealed' && r.table === 'identity_providers');
    await client.query('UPDATE identity_providers SET client_secret_enc = $1 WHERE id = $2', [encrypt('copied', A), victim.id]);
    for (const dryRun of [true, false]) {
      const e = await rejection(keyrotate.rotateEncryptionKey(A, B, url, { dryRun }));
      assert.equal(e.code, 'ERR_UNDECRYPTABLE', `dryRun ${dryRun}`);
      assert.deepStrictEqual({ kind: e.details.kind, table: e.details.table, primaryKey: e.details.primaryKey }, { kind: 'value', table: 'identity_providers', primaryKey: victim.id });
      assert.match(e.hint, /Re-enter or clear that credential/);
    }
    const dry = await rejection(keyrotate.rotateEncryptionKey(A, B, url, { dryRun: true }));
    assert.equal(dry.report.dryRun, true);
    assert.equal(dry.report.failureCount, 1);
    assert.equal(dry.report.failures[0].primaryKey, victim.id);
    await client.query('UPDATE identity_providers SET client_secret_enc = $1 WHERE id = $2', [victim.stored, victim.id]);

    const wrong = await rejection(keyrotate.rotateEncryptionKey(generateKey(), B, url, { dryRun: true }));
    assert.equal(wrong.code, 'ERR_OLD_KEY_MISMATCH');
    assert.equal(wrong.report.oldKeyMatches, false);
    const swapped = await rejection(keyrotate.rotateEncryptionKey(B, A, url, { dryRun: true }));
    assert.equal(swapped.code, 'ERR_ALREADY_ON_NEW_KEY');
    const green = await keyrotate.rotateEncryptionKey(A, B, url, { dryRun: true });
    assert.equal(green.committed, false);
    assert.equal(green.oldKeyMatches, true);
  });

  test('every rejection carries a hint and kind-tagged details where it is about something', async () => {
    const cases = [
      [() => keyrotate.rotateEncryptionKey('short', B, url), 'ERR_KEY_INVALID', 'key'],
      [() => keyrotate.rotateEncryptionKey(A, A, url), 'ERR_KEY_UNCHANGED', undefined],
      [() => keyrotate.rotateEncryptionKey(A, B, url, { lockTimeoutMs: 0 }), 'ERR_INVALID_ARG', undefined],
      [() => keyrotate.rotateEncryptionKey(A, B, 'postgresql://u:pw-secret-123@127.0.0.1:1/x'), 'ERR_DB_CONNECT', 'connection'],
      [() => keyrotate.rotateEncryptionKey(A, B, url, { columns: ['nope.id.v'] }), 'ERR_COLUMN_NOT_FOUND', 'place'],
      [() => keyrotate.verifyEncryptionKey(42, url), 'ERR_KEY_INVALID', 'key'],
    ];
    for (const [call, code, kind] of cases) {
      const e = await rejection(call());
      assert.ok(e instanceof keyrotate.KeyrotateError);
      assert.equal(e.code, code);
      assert.ok(typeof e.hint === 'string' && e.hint.length > 10, `${code} has a hint`);
      assert.equal(e.details?.kind, kind, code);
    }
  });

  test('signal: cancelled mid-batch, the transaction rolls back and the promise rejects with an AbortError within a second', async () => {
    const { seedBulk } = await import('./helpers/fixture/bulk.mjs');
    const { tableDigest } = await import('./helpers/inspect/snapshot.mjs');
    await seedBulk(client, A, 60_000);
    const digest = await tableDigest(client, 'public', 'connectors');
    const controller = new AbortController();
    let abortedAt;
    const started = keyrotate.rotateEncryptionKey(A, B, url, {
      batchSize: 500,
      signal: controller.signal,
      onProgress: (p) => {
        if (p.phase === 'scanning' && p.table === 'connectors' && p.done > 5_000 && !abortedAt) {
          abortedAt = performance.now();
          controller.abort(new Error('operator said stop'));
        }
      },
    });
    const e = await rejection(started);
    const took = performance.now() - abortedAt;
    assert.equal(e.name, 'AbortError');
    assert.equal(e.code, 'ABORT_ERR');
    assert.ok(e instanceof keyrotate.KeyrotateError);
    assert.equal(e.cause.message, 'operator said stop');
    assert.ok(took < 1000, `rejected ${Math.round(took)} ms after the abort`);
    assert.deepStrictEqual(await tableDigest(client, 'public', 'connectors'), digest, 'nothing changed');
    // Its locks go with it: a writer gets through at once.
    await client.query("SET lock_timeout = '2s'");
    await client.query("UPDATE connectors SET name = name WHERE id = (SELECT id FROM connectors LIMIT 1)");
    await client.query('RESET lock_timeout');
    // A verify, cancelled mid-batch the same way.
    const stopVerify = new AbortController();
    let verifyAbortedAt;
    // A verify only reads, fast: it is stopped as connectors' scan begins
    // (its first report), and in small batches it is still reading them
    // when the abort lands.
    const verifying = keyrotate.verifyEncryptionKey(A, url, {
      batchSize: 100,
      signal: stopVerify.signal,
      onProgress: (p) => {
        if (p.phase === 'scanning' && p.table === 'connectors' && !verifyAbortedAt) {
          verifyAbortedAt = performance.now();
          stopVerify.abort();
        }
      },
    });
    const ve = await rejection(verifying);
    const verifyTook = performance.now() - verifyAbortedAt;
    assert.equal(ve.code, 'ABORT_ERR');
    assert.ok(verifyTook < 1000, `verify rejected ${Math.round(verifyTook)} ms after the abort`);
    const verify = new AbortController();
    verify.abort();
    const early = await rejection(keyrotate.verifyEncryptionKey(A, 'postgresql://u:pw@127.0.0.1:1/x', { signal: verify.signal }));
    assert.equal(early.code, 'ABORT_ERR', 'an aborted signal stops the run before it connects');
    const bad = await rejection(keyrotate.rotateEncryptionKey(A, B, url, { signal: 'stop' }));
    assert.equal(bad.code, 'ERR_INVALID_ARG');
  });
});

test('no output ever contained a key, a plaintext or a password', () => {
  obs.assertNoLeaks(50);
});
