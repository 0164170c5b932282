// Behind a real PgBouncer, as operators deploy the backend: session and
// transaction mode work, with a pool of one server connection, with named
// statements other clients left on the pool's connections, and with a
// role's tight timeouts while other clients share the pool; nothing the run
// sets outlives its transaction on a shared connection; statement mode is
// refused in words. Every rotation is checked on the data.

import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import pg from 'pg';

import keyrotate from '../index.js';
import { generateKey } from './helpers/backend-crypto.mjs';
import { runCli } from './helpers/cli.mjs';
import { seedAcceptanceFixture, seedBulkUpstream, snapshotSchema } from './helpers/fixture.mjs';
import { createObserver } from './helpers/hygiene.mjs';
import { assertEntriesOpenWith } from './helpers/locations.mjs';
import { freshDatabase } from './helpers/pg.mjs';
import { poolerMissing, startPooler } from './helpers/pooler.mjs';
import { createAnythingMcpSchema } from './helpers/schema.mjs';

const missing = poolerMissing();
if (missing && process.env.KEYROTATE_REQUIRE_POOLER === '1') throw new Error(`KEYROTATE_REQUIRE_POOLER=1 but ${missing}`);

const OLD = generateKey();
const NEW = generateKey();
const obs = createObserver();
obs.keys(OLD, NEW);
const clients = [];
let db;
let pooler;

before(async () => {
  if (missing) return;
  db = await freshDatabase('pooler', { clients, obs });
  pooler = await startPooler(db.url, {
    amcp_session: { pool_mode: 'session' },
    amcp_tx: { pool_mode: 'transaction' },
    amcp_one: { pool_mode: 'transaction', pool_size: 1 },
    amcp_statement: { pool_mode: 'statement' },
  });
});
after(async () => {
  for (const c of clients) await c.end().catch(() => {});
  await pooler?.stop();
});

async function reset(key = OLD) {
  await db.client.query('DROP SCHEMA public CASCADE; CREATE SCHEMA public');
  await createAnythingMcpSchema(db.client, 'public', { legacy: true });
  db.fixture = await seedAcceptanceFixture(db.client, key, { legacy: true });
  for (const s of db.fixture.secrets) obs.secret(s);
}

const cli = (args, url, extra = {}) => runCli(args, { env: { DATABASE_URL: url, OLD_ENCRYPTION_KEY: OLD, NEW_ENCRYPTION_KEY: NEW, ...extra }, observe: obs.observe });


describe('through PgBouncer', { skip: missing ?? false }, () => {
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

  test('a pool of one server connection, holding named statements another client left there (s0, s1, ...)', async () => {
    await reset();
    const url = pooler.url('amcp_one');
    // node-postgres prepares a named statement once per connection; in
    // transaction mode it stays on the server connection after the client goes.
    const other = new pg.Client({ connectionString: url });
    await other.connect();
    for (let i = 0; i < 8; i++) await other.query({ name: `s${i}`, text: `SELECT ${i} AS n` });
    await other.query({ name: 'typeinfo', text: 'SELECT 1' });
    await other.end();
    const report = obs.observe(await keyrotate.rotateEncryptionKey(OLD, NEW, url));
    assert.equal(report.committed, true);
    await assertEntriesOpenWith(db.client, db.fixture, NEW);
    const { rows } = await db.client.query("SELECT count(*)::int AS n FROM pg_prepared_statements");
    assert.equal(rows[0].n, 0, 'this session sees only its own statements; the test is that the rotation did not collide');
  });

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

  test('a role with tight timeouts, other clients sharing the pool: the run is not cut, and nothing it sets reaches them', async () => {
    await reset();
    await seedBulkUpstream(db.client, OLD, 100_000);
    const role = `tight_${crypto.randomBytes(3).toString('hex')}`;
    const password = `Pw-${crypto.randomBytes(9).toString('hex')}`;
    obs.secret(password);
    await db.client.query(`CREATE ROLE ${role} LOGIN SUPERUSER PASSWORD '${password}'`);
    await db.client.query(`ALTER ROLE ${role} SET statement_timeout = '1s'; ALTER ROLE ${role} SET idle_in_transaction_session_timeout = '500ms'`);
    const url = pooler.url('amcp_tx', { user: role, password });
    // Other clients of the same pool, busy throughout, each noting the
    // timeouts it is served with.
    const seen = new Set();
    let stop = false;
    const load = async () => {
      const c = new pg.Client({ connectionString: url });
      await c.connect();
      while (!stop) {
        const { rows } = await c.query("SELECT current_setting('statement_timeout') AS s, current_setting('idle_in_transaction_session_timeout') AS i, current_setting('lock_timeout') AS l");
        seen.add(`${rows[0].s}/${rows[0].i}/${rows[0].l}`);
        await new Promise((r) => setTimeout(r, 5));
      }
      await c.end();
    };
    const loads = [load(), load(), load()];
    try {
      const report = obs.observe(await keyrotate.rotateEncryptionKey(OLD, NEW, url));
      assert.equal(report.committed, true);
      assert.ok(report.rowsReencrypted >= 100_000);
      obs.observe(await keyrotate.verifyEncryptionKey(NEW, url));
    } finally {
      stop = true;
      await Promise.all(loads);
    }
    assert.deepStrictEqual([...seen], ['1s/500ms/0'], 'every other client saw only the role\'s own settings');
    await assertEntriesOpenWith(db.client, db.fixture, NEW);
    const { rows } = await db.client.query("SELECT count(*)::int AS n FROM connectors WHERE id LIKE 'cup%'");
    assert.equal(rows[0].n, 100_000);
  });
});

test('no key, plaintext or password in any output', { skip: missing ?? false }, () => {
  obs.assertNoLeaks(5);
});
