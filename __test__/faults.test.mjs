// Faults against a real PostgreSQL, mid-rotation of a large table: the
// rotating process killed with SIGKILL, its connection terminated by the
// server, the server itself stopped (fast and immediate shutdown), and a
// corrupt value near the end of the table. Each must end with the
// transaction rolled back, every value still opening with the old key in the
// backend's own Node crypto, and not one byte of any table changed.
//
// "Mid-rotation" is established, not guessed: the rotation has reported
// progress past its first batch, and PostgreSQL shows its session holding the
// table lock with a transaction id assigned — which happens only once it has
// written. After the fault, pg_xact_status() of that transaction id must be
// 'aborted'.
//
// Every rotation here runs in its own Node process (helpers/child/rotate.mjs,
// or the compiled CLI), calling the public JS API there. That is what a
// SIGKILL needs, and it lets the other faults assert the whole promise: the
// call rejects with a clear code *and the process exits*, within 30 s. A
// rotation whose native task hangs after a fault keeps its process alive;
// here that fails the test instead of hanging the suite.

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import pg from 'pg';

import { generateKey } from './helpers/anythingmcp/crypto.mjs';
import { createAnythingMcpSchema } from './helpers/anythingmcp/schema.mjs';
import { seedBulk } from './helpers/fixture/bulk.mjs';
import { assertAllOpenWith, createObserver, keyrotateLocks, keyrotateSessions, waitFor, within } from './helpers/inspect/hygiene.mjs';
import { digestSchema } from './helpers/inspect/snapshot.mjs';
import { startServer } from './helpers/server/embedded.mjs';
import { getServer } from './helpers/server/postgres.mjs';

const require = createRequire(import.meta.url);
const keyrotate = require('../index.js');
const HERE = path.dirname(fileURLToPath(import.meta.url));
const CHILD = path.join(HERE, 'helpers', 'child', 'rotate.mjs');
const CLI_SCRIPT = path.join(HERE, '..', 'packages', 'backend', 'dist', 'scripts', 'rotate-encryption-key.js');

const OLD = generateKey();
const NEW = generateKey();
const obs = createObserver();
obs.secret(OLD);
obs.secret(NEW);
obs.secret(OLD.slice(0, 32));
obs.secret(NEW.slice(0, 32));

// Loose on purpose: this machine is noisy. A hang would blow far past it.
const PROMPT_MS = 30_000;
const BULK = 100_000;
const LEGACY_ROWS = 2_000;
const digestAll = (client) => digestSchema(client, 'public');

/** Seed both registry tables; returns { seeded, baseline }. */
async function seedLarge(client, rows) {
  await createAnythingMcpSchema(client, 'public', { legacy: true });
  const seeded = await seedBulk(client, OLD, rows, { batchSize: 20_000 });
  await seedBulk(client, OLD, LEGACY_ROWS, { table: 'mcp_server_configs', idPrefix: 'sbulk' });
  await client.query('ANALYZE');
  return { seeded, baseline: await digestAll(client) };
}

/** Nothing changed, and every value opens with the old key in Node. */
async function assertIntact(client, baseline, { ignore } = {}) {
  assert.deepStrictEqual(await digestAll(client), baseline, 'every table is byte-for-byte as before');
  const expected = baseline.connectors.rows - (ignore?.size ?? 0);
  await assertAllOpenWith(client, OLD, { expected, ignore });
  await assertAllOpenWith(client, OLD, { table: 'mcp_server_configs', expected: LEGACY_ROWS });
}

async function xactStatus(client, xid) {
  const { rows } = await client.query('SELECT pg_xact_status($1::xid8) AS s', [xid]);
  return rows[0].s;
}

/**
 * A terminated backend sends its client the error before it aborts its
 * transaction on the way out, and leaves pg_stat_activity only after that:
 * the transaction's fate is settled once the session is gone.
 */
async function sessionGone(client) {
  await waitFor(async () => (await keyrotateSessions(client)).length === 0, 'the terminated session to end', PROMPT_MS);
}

/** Wait until the rotation is provably mid-flight: it holds the lock and has written. */
async function writingSession(client) {
  const session = await waitFor(
    async () => (await keyrotateSessions(client)).find((s) => s.xid !== null),
    'the rotation to hold a transaction id (it has written)',
  );
  const locks = await keyrotateLocks(client);
  assert.ok(
    locks.some((l) => l.pid === session.pid && l.relname === 'connectors' && l.mode === 'ExclusiveLock' && l.granted),
    'the rotation holds its EXCLUSIVE lock on connectors',
  );
  return session;
}

/** A rotation in a child process, speaking JSON lines (helpers/child/rotate.mjs). */
function rotationInChild(job) {
  const child = spawn(process.execPath, [CHILD], { stdio: ['pipe', 'pipe', 'pipe'] });
  const events = [];
  let stdout = '';
  let stderr = '';
  const waiters = [];
  child.stdout.on('data', (chunk) => {
    stdout += chunk;
    let nl;
    while ((nl = stdout.indexOf('\n')) >= 0) {
      const line = stdout.slice(0, nl);
      stdout = stdout.slice(nl + 1);
      obs.observe(line);
      const event = JSON.parse(line);
      events.push(event);
      for (const w of [...waiters]) {
        if (w.match(event)) {
          waiters.splice(waiters.indexOf(w), 1);
          w.resolve(event);
        }
      }
    }
  });
  child.stderr.on('data', (chunk) => (stderr += chunk));
  const exited = new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
  exited.then(() => {
    obs.observe(stderr);
    for (const w of waiters) w.reject(new Error(`child exited before the awaited event; stderr: ${stderr.slice(0, 500)}`));
  });
  child.stdin.end(JSON.stringify(job));
  return {
    child,
    events,
    exited,
    stderr: () => stderr,
    waitFor: (match) => new Promise((resolve, reject) => waiters.push({ match, resolve, reject })),
    /**
     * The run's outcome once the process has exited by itself: its final
     * event ('error' or 'report'), exit code and how long it took from
     * `since`. A process still running after PROMPT_MS is killed and the
     * test fails: a rotation that hangs after a fault keeps its Node process
     * alive, which is exactly what must not happen.
     */
    async finished(since, what) {
      try {
        const exit = await within(exited, PROMPT_MS, what);
        const last = events.at(-1);
        return { exit, last, elapsed: Date.now() - since };
      } catch (e) {
        child.kill('SIGKILL');
        throw e;
      }
    },
  };
}

/** Wait until a child rotation is provably mid-flight; returns its session. */
async function childMidway(run, client) {
  await run.waitFor((e) => e.type === 'progress' && e.table === 'connectors' && e.done > 0 && e.done < e.total);
  return writingSession(client);
}

const clients = [];
after(async () => {
  for (const c of clients) await c.end().catch(() => {});
});

describe(`faults mid-rotation of a ${BULK.toLocaleString('en-US')}-row table`, () => {
  let url;
  let client;
  let seeded;
  let baseline;

  before(async () => {
    const server = await getServer();
    obs.secret(server.password);
    url = await server.createDatabase('faults');
    client = new pg.Client({ connectionString: url });
    await client.connect();
    clients.push(client);
    // A synchronized seq scan starts where an earlier, abandoned scan of the
    // same big table stopped (every fault here abandons one). Scan order is
    // physical order only without it, which "near the end" relies on.
    await client.query(`ALTER DATABASE "${new URL(url).pathname.slice(1)}" SET synchronize_seqscans = off`);
    ({ seeded, baseline } = await seedLarge(client, BULK));
  });

  test('the rotating process killed with SIGKILL: rolled back, nothing changed', async () => {
    const run = rotationInChild({ op: 'rotate', oldKey: OLD, newKey: NEW, url, options: { batchSize: 500 } });
    const progress = await run.waitFor((e) => e.type === 'progress' && e.table === 'connectors' && e.done > 0 && e.done < e.total);
    const session = await writingSession(client);

    run.child.kill('SIGKILL');
    const exit = await within(run.exited, PROMPT_MS, 'the killed child');
    assert.equal(exit.signal, 'SIGKILL');
    assert.ok(!run.events.some((e) => e.type === 'report'), 'the rotation had not finished when it was killed');
    assert.ok(progress.done < BULK);

    const started = Date.now();
    await waitFor(async () => (await keyrotateSessions(client)).length === 0, 'the server to end the orphaned session', PROMPT_MS);
    assert.ok(Date.now() - started < PROMPT_MS);
    assert.equal(await xactStatus(client, session.xid), 'aborted');
    assert.deepStrictEqual(await keyrotateLocks(client), [], 'no lock outlives the killed rotation');
    await assertIntact(client, baseline);
  });

  test('its connection terminated by the server (pg_terminate_backend): prompt ERR_DB, the process exits, nothing changed', async () => {
    const run = rotationInChild({ op: 'rotate', oldKey: OLD, newKey: NEW, url, options: { batchSize: 500 } });
    const session = await childMidway(run, client);

    const started = Date.now();
    const { rows } = await client.query('SELECT pg_terminate_backend($1) AS ok', [session.pid]);
    assert.equal(rows[0].ok, true);
    const { exit, last, elapsed } = await run.finished(started, 'the rotating process after its connection was terminated');
    assert.equal(last.type, 'error', JSON.stringify(last));
    assert.equal(last.code, 'ERR_DB', last.message);
    assert.match(last.message, /terminat|connection/i);
    assert.match(last.message, /rolled back/);
    assert.equal(exit.code, 1);
    assert.ok(elapsed < PROMPT_MS, `rejected and exited after ${elapsed} ms`);

    await sessionGone(client);
    assert.equal(await xactStatus(client, session.xid), 'aborted');
    await assertIntact(client, baseline);
  });

  test('the same through the compiled CLI: exit 1 with [ERR_DB], nothing changed', async () => {
    const child = spawn(process.execPath, [CLI_SCRIPT, '--yes'], {
      env: { PATH: process.env.PATH, DATABASE_URL: url, OLD_ENCRYPTION_KEY: OLD, NEW_ENCRYPTION_KEY: NEW },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (c) => (out += c));
    child.stderr.on('data', (c) => (out += c));
    const exited = new Promise((resolve) => child.once('close', (code, signal) => resolve({ code, signal })));
    try {
      const session = await writingSession(client);
      await client.query('SELECT pg_terminate_backend($1)', [session.pid]);
      const { code } = await within(exited, PROMPT_MS, 'the CLI after its connection was terminated');
      obs.observe(out);
      assert.equal(code, 1, out);
      assert.match(out, /\[ERR_DB\]/);
      assert.match(out, /nothing was changed/i);
      await sessionGone(client);
      assert.equal(await xactStatus(client, session.xid), 'aborted');
    } finally {
      child.kill('SIGKILL');
    }
    await assertIntact(client, baseline);
  });

  test('a corrupt value near the end: ERR_UNDECRYPTABLE naming its primary key, late writes rolled back', async () => {
    const victim = seeded.idAt(BULK - 3);
    const original = (await client.query('SELECT auth_config FROM connectors WHERE id = $1', [victim])).rows[0].auth_config;
    const raw = Buffer.from(original, 'base64');
    raw[raw.length - 1] ^= 0x80; // one bit of the tag
    // An UPDATE puts the new row version at the physical end of the heap,
    // which is where a sequential scan finds it last.
    await client.query('UPDATE connectors SET auth_config = $1 WHERE id = $2', [raw.toString('base64'), victim]);
    const corrupted = await digestAll(client);
    try {
      const started = Date.now();
      const run = rotationInChild({ op: 'rotate', oldKey: OLD, newKey: NEW, url, options: { batchSize: 2000 } });
      const { exit, last: e } = await run.finished(started, 'the rotation of a table with a corrupt value');
      assert.equal(e.type, 'error', JSON.stringify(e));
      assert.equal(exit.code, 1);
      assert.equal(e.code, 'ERR_UNDECRYPTABLE', e.message);
      assert.deepStrictEqual(e.details, { kind: 'value', schema: 'public', table: 'connectors', column: 'auth_config', primaryKey: victim });
      assert.ok(e.message.includes(victim), 'the message names the row');
      assert.ok(!e.message.includes(raw.toString('base64').slice(0, 20)), 'never the value');
      const furthest = Math.max(0, ...run.events.filter((p) => p.type === 'progress' && p.table === 'connectors').map((p) => p.done));
      assert.ok(furthest >= BULK / 2, `the rotation had re-encrypted ${furthest} rows before it met the corrupt one`);

      assert.deepStrictEqual(await digestAll(client), corrupted, 'nothing changed');
      await assertAllOpenWith(client, OLD, { ignore: new Set([victim]), expected: BULK - 1 });
    } finally {
      await client.query('UPDATE connectors SET auth_config = $1 WHERE id = $2', [original, victim]);
    }
    await assertIntact(client, baseline);
  });
});

describe('the server stopped mid-rotation', () => {
  const ROWS = 50_000;
  let server;
  let url;
  let dataDir;
  let restarted = null;
  let baseline;

  // Restart the stopped cluster on the same data directory, with the exact
  // command line it ran with (PostgreSQL records it in postmaster.opts).
  async function restart() {
    const opts = fs.readFileSync(path.join(dataDir, 'postmaster.opts'), 'utf8').trim();
    const binary = opts.slice(0, opts.indexOf(' "'));
    const args = [...opts.matchAll(/"((?:[^"\\]|\\.)*)"/g)].map((m) => m[1].replace(/\\(.)/g, '$1'));
    const { uid, gid } = fs.statSync(dataDir);
    const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('PG')));
    const log = fs.openSync(path.join(path.dirname(dataDir), 'restart.log'), 'a');
    const child = spawn(binary, args, {
      cwd: path.dirname(dataDir),
      env: { ...env, LC_ALL: 'C' },
      stdio: ['ignore', log, log],
      detached: true,
      ...(process.getuid?.() === 0 ? { uid, gid } : {}),
    });
    fs.closeSync(log);
    child.unref();
    const exited = new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
    restarted = { child, exited };
    await waitFor(
      async () => {
        const c = new pg.Client({ connectionString: url });
        try {
          await c.connect();
          await c.query('SELECT 1');
          return true;
        } catch {
          return false;
        } finally {
          await c.end().catch(() => {});
        }
      },
      'the restarted server to accept connections',
      PROMPT_MS,
      100,
    );
    const c = new pg.Client({ connectionString: url });
    c.on('error', () => {}); // the next shutdown reaches this session too
    await c.connect();
    clients.push(c);
    return c;
  }

  async function stopRestarted(signal = 'SIGINT') {
    if (!restarted) return;
    const { child, exited } = restarted;
    restarted = null;
    child.kill(signal);
    await exited;
  }

  // Stop whichever postmaster runs now with `signal`; prove the rotation saw
  // it promptly; restart; prove nothing changed.
  async function stopMidRotation(client, signal) {
    const run = rotationInChild({ op: 'rotate', oldKey: OLD, newKey: NEW, url, options: { batchSize: 200 } });
    const session = await childMidway(run, client);
    const started = Date.now();
    if (restarted) {
      const { child, exited } = restarted;
      restarted = null;
      child.kill(signal);
      await exited;
    } else {
      process.kill(server.pid, signal);
      await waitFor(() => !fs.existsSync(path.join(dataDir, 'postmaster.pid')), 'the server to stop', PROMPT_MS);
    }
    const { exit, last: e, elapsed } = await run.finished(started, 'the rotating process after the server stopped');
    assert.ok(elapsed < PROMPT_MS, 'the rotation noticed promptly');
    assert.equal(e.type, 'error', JSON.stringify(e));
    assert.equal(exit.code, 1);
    assert.ok(['ERR_DB', 'ERR_DB_CONNECT'].includes(e.code), `${e.code}: ${e.message}`);
    assert.match(e.message, /rolled back|terminat|connection/i);
    await client.end().catch(() => {});

    const after_ = await restart();
    assert.equal(await xactStatus(after_, session.xid), 'aborted');
    assert.deepStrictEqual(await digestAll(after_), baseline, 'every table is byte-for-byte as before');
    await assertAllOpenWith(after_, OLD, { expected: ROWS });
    return after_;
  }

  before(async () => {
    server = await startServer();
    obs.secret(server.password);
    url = await server.createDatabase('stopped');
    const client = new pg.Client({ connectionString: url });
    await client.connect();
    clients.push(client);
    dataDir = (await client.query('SHOW data_directory')).rows[0].data_directory;
    ({ baseline } = await seedLarge(client, ROWS));
    await client.end();
  });

  after(async () => {
    await stopRestarted();
    await server?.stop();
  });

  test('fast shutdown, then immediate shutdown (crash recovery): prompt rejection, data intact, a rerun succeeds', async () => {
    let client = new pg.Client({ connectionString: url });
    client.on('error', () => {}); // the shutdown reaches this session too
    await client.connect();
    clients.push(client);
    // What `docker compose stop` / pg_ctl stop -m fast do.
    client = await stopMidRotation(client, 'SIGINT');
    // A crash-like stop: no checkpoint, WAL replay on restart.
    client = await stopMidRotation(client, 'SIGQUIT');

    // Nothing is left holding a lock: the same rotation now runs to the end.
    const report = obs.observe(await keyrotate.rotateEncryptionKey(OLD, NEW, url));
    assert.equal(report.committed, true);
    assert.equal(report.rowsReencrypted, ROWS + LEGACY_ROWS);
    await assertAllOpenWith(client, NEW, { expected: ROWS });
    await assertAllOpenWith(client, NEW, { table: 'mcp_server_configs', expected: LEGACY_ROWS });
  });
});

test('no key, plaintext or password appears in any output, error or report', () => {
  obs.assertNoLeaks(5);
});
