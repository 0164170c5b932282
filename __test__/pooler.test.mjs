// Behind a real PgBouncer, as operators deploy the backend: session and
// transaction mode work, with a pool of one server connection (discovery on
// and off), with named statements other clients left on the pool's
// connections, and with a role's tight timeouts cutting into the run (a
// statement over 1 s, a pause over 500 ms) while other clients share the
// pool; nothing the run sets outlives its transaction on a shared
// connection, as those clients see; statement mode is refused in words.
// Every rotation is checked on the data.

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import crypto from 'node:crypto';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import pg from 'pg';

import keyrotate from '../index.js';
import { generateKey } from './helpers/anythingmcp/crypto.mjs';
import { assertEntriesOpenWith } from './helpers/anythingmcp/locations.mjs';
import { createAnythingMcpSchema } from './helpers/anythingmcp/schema.mjs';
import { seedAcceptanceFixture } from './helpers/fixture/acceptance.mjs';
import { createObserver, waitFor, within } from './helpers/inspect/hygiene.mjs';
import { snapshotSchema } from './helpers/inspect/snapshot.mjs';
import { runCli } from './helpers/run/cli.mjs';
import { ensurePooler, startPooler } from './helpers/server/pooler.mjs';
import { freshDatabase } from './helpers/server/postgres.mjs';

ensurePooler();

const CHILD = path.join(path.dirname(fileURLToPath(import.meta.url)), 'helpers', 'child', 'rotate.mjs');
const OLD = generateKey();
const NEW = generateKey();
const obs = createObserver();
obs.keys(OLD, NEW);
const clients = [];
const roles = [];
let db;
let pooler;

before(async () => {
  db = await freshDatabase('pooler', { clients, obs });
  pooler = await startPooler(
    db.url,
    {
      amcp_session: { pool_mode: 'session' },
      amcp_tx: { pool_mode: 'transaction' },
      amcp_one: { pool_mode: 'transaction', pool_size: 1 },
      amcp_session_one: { pool_mode: 'session', pool_size: 1 },
      amcp_statement: { pool_mode: 'statement' },
    },
    // No reset between session-mode clients either (as some operators run
    // it): what one client leaves on a server connection, the next one gets.
    { server_reset_query: '' },
  );
});
after(async () => {
  for (const c of clients) await c.end().catch(() => {});
  await pooler?.stop();
  if (roles.length) {
    const admin = new pg.Client({ connectionString: db.server.adminUrl });
    await admin.connect();
    for (const role of roles) await admin.query(`DROP ROLE IF EXISTS ${role}`).catch(() => {});
    await admin.end();
  }
});

async function reset(key = OLD) {
  await db.client.query('DROP SCHEMA public CASCADE; CREATE SCHEMA public');
  await createAnythingMcpSchema(db.client, 'public', { legacy: true });
  db.fixture = await seedAcceptanceFixture(db.client, key, { legacy: true });
  for (const s of db.fixture.secrets) obs.secret(s);
}

const cli = (args, url, extra = {}) => runCli(args, { env: { DATABASE_URL: url, OLD_ENCRYPTION_KEY: OLD, NEW_ENCRYPTION_KEY: NEW, ...extra }, observe: obs.observe });

/** Everything a run could change about a session, as `client` is served it. */
const SETTINGS = `SELECT current_setting('statement_timeout') AS statement_timeout,
  current_setting('idle_in_transaction_session_timeout') AS idle_in_transaction_session_timeout,
  current_setting('transaction_timeout', true) AS transaction_timeout,
  current_setting('lock_timeout') AS lock_timeout, current_setting('row_security') AS row_security,
  current_setting('jit') AS jit, current_setting('synchronous_commit') AS synchronous_commit,
  current_setting('search_path') AS search_path, current_setting('transaction_isolation') AS transaction_isolation,
  current_setting('transaction_read_only') AS transaction_read_only`;

/** One-shot: run `fn` on a client of `url`. */
async function withClient(url, fn) {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    return await fn(c);
  } finally {
    await c.end();
  }
}

/**
 * The settings each of `n` clients of a transaction-mode pool is served,
 * each holding a transaction open until all have read, so that together
 * they cover `n` server connections of the pool.
 */
async function settingsAcrossThePool(url, n) {
  const all = [];
  for (let i = 0; i < n; i++) {
    const c = new pg.Client({ connectionString: url });
    await c.connect();
    all.push(c);
  }
  try {
    for (const c of all) await c.query('BEGIN');
    const seen = [];
    for (const c of all) seen.push((await c.query(SETTINGS)).rows[0]);
    const pids = new Set();
    for (const c of all) pids.add((await c.query('SELECT pg_backend_pid() AS p')).rows[0].p);
    assert.equal(pids.size, n, `${n} clients in ${n} server connections`);
    return seen;
  } finally {
    for (const c of all) await c.query('COMMIT').catch(() => {});
    for (const c of all) await c.end().catch(() => {});
  }
}

/** The named statements on a pool of one's only server connection. */
const statementsOn = (url) =>
  withClient(url, async (c) => (await c.query('SELECT name FROM pg_prepared_statements ORDER BY name')).rows.map((r) => r.name));

describe('through PgBouncer', () => {
  for (const pool of ['amcp_session', 'amcp_tx']) {
    test(`${pool === 'amcp_tx' ? 'transaction' : 'session'} mode: a rotation and its verify, through the CLI`, async () => {
      await reset();
      const url = pooler.url(pool);
      const r = await cli(['--yes'], url);
      assert.equal(r.code, 0, r.stderr + pooler.log().slice(-1500));
      await assertEntriesOpenWith(db.client, db.fixture, NEW);
      const v = await cli(['verify'], url, { ENCRYPTION_KEY: NEW });
      assert.equal(v.code, 0, v.stderr);
    });
  }

  for (const [pool, mode] of [['amcp_one', 'transaction'], ['amcp_session_one', 'session']]) {
    test(`${mode} mode, a pool of one server connection holding named statements another client left there (s0, s1, ...): discovery on and off`, async () => {
      await reset();
      const url = pooler.url(pool);
      // node-postgres prepares a named statement once per server connection;
      // in transaction mode (and, without a reset query, in session mode) it
      // stays there after the client goes.
      await withClient(url, async (other) => {
        for (let i = 0; i < 8; i++) await other.query({ name: `s${i}`, text: `SELECT ${i} AS n` });
        await other.query({ name: 'typeinfo', text: 'SELECT 1' });
      });
      const left = await statementsOn(url);
      assert.deepStrictEqual(left, ['s0', 's1', 's2', 's3', 's4', 's5', 's6', 's7', 'typeinfo'], 'on the one server connection');
      const served = await withClient(url, async (c) => (await c.query(SETTINGS)).rows[0]);

      const off = obs.observe(await keyrotate.rotateEncryptionKey(OLD, NEW, url, { discover: false }));
      assert.equal(off.committed, true);
      await assertEntriesOpenWith(db.client, db.fixture, NEW);
      const verified = obs.observe(await keyrotate.verifyEncryptionKey(NEW, url));
      assert.equal(verified.ok, true);
      const on = obs.observe(await keyrotate.rotateEncryptionKey(NEW, OLD, url));
      assert.equal(on.committed, true);
      await assertEntriesOpenWith(db.client, db.fixture, OLD);
      const r = await cli(['--yes', '--no-discover'], url);
      assert.equal(r.code, 0, r.stderr + pooler.log().slice(-1500));
      await assertEntriesOpenWith(db.client, db.fixture, NEW);
      const v = await cli(['verify'], url, { ENCRYPTION_KEY: NEW });
      assert.equal(v.code, 0, v.stderr);

      // Every run shared that one server connection with the statements:
      // it neither collided with them nor left any of its own, and the next
      // client is served the session the first one was.
      assert.deepStrictEqual(await statementsOn(url), left);
      assert.deepStrictEqual(await withClient(url, async (c) => (await c.query(SETTINGS)).rows[0]), served);
    });
  }

  test('statement mode cannot run a transaction: refused in words, exit 4, nothing changed', async () => {
    await reset();
    const before_ = await snapshotSchema(db.client, 'public');
    const url = pooler.url('amcp_statement');
    const r = await cli(['--yes'], url);
    assert.equal(r.code, 4, r.stderr);
    assert.match(r.stderr, /ERR_DB_CONNECT.*pooler in statement mode \(PgBouncer pool_mode = statement\).*connect directly, or through a pool in session or transaction mode/);
    const e = await obs.rejection(keyrotate.verifyEncryptionKey(OLD, url));
    assert.equal(e.code, 'ERR_DB_CONNECT');
    assert.deepStrictEqual(await snapshotSchema(db.client, 'public'), before_);
  });

  test('a role with tight timeouts, other clients sharing the pool: a statement over 1 s and a pause over 500 ms inside the run do not cut it, and nothing it sets reaches them', async () => {
    await reset();
    const role = `tight_${crypto.randomBytes(3).toString('hex')}`;
    const password = `Pw-${crypto.randomBytes(9).toString('hex')}`;
    obs.secret(password);
    roles.push(role);
    await db.client.query(`CREATE ROLE ${role} LOGIN SUPERUSER PASSWORD '${password}'`);
    const timeouts = { statement_timeout: '1s', idle_in_transaction_session_timeout: '500ms' };
    const version = Number((await db.client.query("SELECT current_setting('server_version_num') AS v")).rows[0].v);
    if (version >= 170000) timeouts.transaction_timeout = '2s';
    for (const [name, value] of Object.entries(timeouts)) await db.client.query(`ALTER ROLE ${role} SET ${name} = '${value}'`);
    // The rotation's write of connectors takes 1.2 s, past the role's statement_timeout.
    await db.client.query(`CREATE FUNCTION slow_write() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN PERFORM pg_sleep(1.2); RETURN NULL; END $$;
      CREATE TRIGGER slow_write AFTER UPDATE ON connectors FOR EACH STATEMENT EXECUTE FUNCTION slow_write()`);

    const roleUrl = new URL(db.url);
    roleUrl.username = role;
    roleUrl.password = password;
    // What the role's own sessions are served, straight from the server.
    const defaults = await withClient(roleUrl.toString(), async (c) => (await c.query(SETTINGS)).rows[0]);
    for (const [name, value] of Object.entries(timeouts)) assert.equal(defaults[name], value, name);

    const url = pooler.url('amcp_tx', { user: role, password });
    // Other clients of the same pool, busy throughout, each noting the
    // settings it is served with.
    const seen = new Set();
    let stop = false;
    const load = async () => {
      const c = new pg.Client({ connectionString: url });
      await c.connect();
      while (!stop) {
        seen.add(JSON.stringify((await c.query(SETTINGS)).rows[0]));
        await new Promise((r) => setTimeout(r, 5));
      }
      await c.end();
    };
    const loads = [load(), load(), load()];

    // The rotation in a process of its own, so that it can be paused.
    const child = spawn(process.execPath, [CHILD], { stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.stdin.end(JSON.stringify({ op: 'rotate', oldKey: OLD, newKey: NEW, url, options: {} }));
    let paused = false;
    try {
      // The write is running; pause the process through the rest of it and
      // well past it, so that its transaction sits idle for over a second.
      const writer = await waitFor(async () => {
        const { rows } = await db.client.query(
          "SELECT pid FROM pg_stat_activity WHERE usename = $1 AND state = 'active' AND query LIKE 'WITH u AS (UPDATE %connectors%'",
          [role],
        );
        return rows[0]?.pid;
      }, 'the rotation writing connectors');
      process.kill(child.pid, 'SIGSTOP');
      paused = true;
      await waitFor(async () => {
        const { rows } = await db.client.query(
          "SELECT state = 'idle in transaction' AND now() - state_change > interval '1 second' AS idle FROM pg_stat_activity WHERE pid = $1",
          [writer],
        );
        return rows[0]?.idle;
      }, 'the rotation idle in its transaction for over a second', 10_000);
      process.kill(child.pid, 'SIGCONT');
      paused = false;
      const code = await within(exited, 60_000, 'the rotation');
      obs.observe(stdout);
      obs.observe(stderr);
      const last = JSON.parse(stdout.trim().split('\n').at(-1));
      assert.equal(code, 0, `${stdout}\n${stderr}`);
      assert.equal(last.report.committed, true);
      assert.ok(last.report.durationMs >= 2200, `the run took ${last.report.durationMs} ms, pause included`);
      await assertEntriesOpenWith(db.client, db.fixture, NEW);
      assert.deepStrictEqual(await settingsAcrossThePool(url, 4), Array(4).fill(defaults), 'after the rotation');
      const verified = obs.observe(await keyrotate.verifyEncryptionKey(NEW, url));
      assert.equal(verified.ok, true);
      assert.deepStrictEqual(await settingsAcrossThePool(url, 4), Array(4).fill(defaults), 'after the verify');
    } finally {
      if (paused) process.kill(child.pid, 'SIGCONT');
      stop = true;
      await Promise.all(loads);
    }
    assert.deepStrictEqual([...seen].map((s) => JSON.parse(s)), [defaults], 'every other client saw only the role\'s own settings');
  });
});

test('no key, plaintext or password in any output', () => {
  obs.assertNoLeaks(5);
});
