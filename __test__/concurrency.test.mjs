// Concurrency against a real PostgreSQL: the backend's OAuth token refresher
// racing a rotation in both orders, a second rotation during the first, a
// writer outlasting the lock timeout, and readers while a rotation holds its
// locks. Never a lost update, never an interleaving, never a blocked reader.
//
// Holding a rotation mid-flight deterministically: a test-only BEFORE UPDATE
// trigger on connectors makes sessions whose application_name is
// 'keyrotate-gated' take a shared advisory lock (GATE) that the test holds
// exclusively. The rotation under test connects with that application_name
// (a URL parameter), so it takes its own locks, reads, and then stops in its
// first UPDATE — holding everything a real rotation holds at that moment —
// until the test opens the gate. Every other session (the writer, readers,
// a second rotation) is untouched by the trigger.

import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { after, describe, test } from 'node:test';
import pg from 'pg';

import { decrypt, encrypt, generateKey } from './helpers/anythingmcp/crypto.mjs';
import { assertEntriesOpenWith, expectedReport } from './helpers/anythingmcp/locations.mjs';
import { acceptanceDatabase } from './helpers/fixture/acceptance.mjs';
import { createObserver, keyrotateLocks, keyrotateSessions, opens, waitFor, within } from './helpers/inspect/hygiene.mjs';
import { snapshotSchema } from './helpers/inspect/snapshot.mjs';
import { withParams } from './helpers/server/postgres.mjs';

const require = createRequire(import.meta.url);
const keyrotate = require('../index.js');

const OLD = generateKey();
const NEW = generateKey();
const obs = createObserver();
for (const k of [OLD, NEW, OLD.slice(0, 32), NEW.slice(0, 32)]) obs.secret(k);

const GATE = 4242;
// The advisory lock every keyrotate run takes (rotation.rs: ADVISORY_LOCK_ID, "keyrotat").
const ROTATION_LOCK = BigInt('0x' + Buffer.from('keyrotat').toString('hex')).toString();
const GATED = 'keyrotate-gated';
const PROMPT_MS = 30_000;

const clients = [];
after(async () => {
  for (const c of clients) await c.end().catch(() => {});
});

async function connect(url) {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  clients.push(c);
  return c;
}

async function freshInstall(prefix) {
  const { url, client, fixture } = await acceptanceDatabase(prefix, OLD, { clients, obs });
  await client.query(`
    CREATE FUNCTION keyrotate_test_gate() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      IF current_setting('application_name') = '${GATED}' THEN
        PERFORM pg_advisory_xact_lock_shared(${GATE});
      END IF;
      RETURN NEW;
    END $$;
    CREATE TRIGGER keyrotate_test_gate BEFORE UPDATE ON connectors
      FOR EACH ROW EXECUTE FUNCTION keyrotate_test_gate();`);
  const sealed = fixture.rows.filter((r) => r.kind === 'sealed');
  const oauth = sealed.find((r) => r.table === 'connectors' && r.column === 'auth_config' && r.authType === 'OAUTH2');
  return { url, client, fixture, sealed, oauth, want: expectedReport(fixture) };
}

const snapshotAll = (client) => snapshotSchema(client, 'public');

const stored = async (client, id, table = 'connectors') =>
  (await client.query(`SELECT auth_config FROM ${table} WHERE id = $1`, [id])).rows[0].auth_config;

/** Every fixture value opens with `key` to its original plaintext, except `changed` connector ids → auth_config plaintext. */
function assertAllOn(client, fixture, key, changed = {}) {
  return assertEntriesOpenWith(client, fixture, key, { plaintextOf: (e) => (e.column === 'auth_config' && changed[e.id]) || e.plaintext });
}

/**
 * What the backend's OAuth2 refresher does: read the connector, decrypt with
 * the key it runs with, swap in a fresh access token, re-seal with that key,
 * save (Prisma's update also stamps updated_at). Returns the new plaintext.
 */
async function refreshToken(client, id, key, token) {
  const current = await stored(client, id);
  const config = JSON.parse(decrypt(current, key));
  const refreshed = JSON.stringify({ ...config, accessToken: token, expiresAt: Date.now() + 3_600_000 });
  obs.secret(refreshed);
  obs.secret(token);
  const update = client.query('UPDATE connectors SET auth_config = $1, updated_at = now() WHERE id = $2', [encrypt(refreshed, key), id]);
  return { refreshed, update };
}

/** Track whether a promise has settled, without ever leaving it unhandled. */
function tracked(promise) {
  const t = { promise, settled: false, order: null };
  promise.then(
    () => (t.settled = true),
    () => (t.settled = true),
  );
  return t;
}

/** A session with this pid waits for a lock on `relname` (or an advisory `key`). */
async function waitsOn(client, pid, { relname, key }) {
  const { rows } = await client.query(
    `SELECT 1 FROM pg_locks l LEFT JOIN pg_class c ON c.oid = l.relation
      WHERE l.pid = $1 AND NOT l.granted AND (c.relname = $2 OR ((l.classid::bigint << 32) | l.objid::bigint)::text = $3)`,
    [pid, relname ?? null, key === undefined ? null : String(key)],
  );
  return rows.length > 0;
}

/**
 * Start a rotation that stops in its first UPDATE, holding its locks, until
 * release(). Resolves once PostgreSQL shows it there.
 */
async function gatedRotation(env, options = {}) {
  const gate = await connect(env.url);
  await gate.query('SELECT pg_advisory_lock($1)', [GATE]);
  const rotation = tracked(
    keyrotate.rotateEncryptionKey(OLD, NEW, withParams(env.url, { application_name: GATED }), { lockTimeoutMs: 60_000, ...options }),
  );
  const session = await waitFor(async () => {
    const [s] = await keyrotateSessions(env.client, GATED);
    return s && (await waitsOn(env.client, s.pid, { key: GATE })) ? s : null;
  }, 'the gated rotation to reach its first UPDATE');
  const locks = await keyrotateLocks(env.client, GATED);
  for (const table of ['connectors', 'mcp_server_configs']) {
    assert.ok(
      locks.some((l) => l.relname === table && l.mode === 'ExclusiveLock' && l.granted),
      `the rotation holds EXCLUSIVE on ${table} while gated`,
    );
  }
  assert.equal(rotation.settled, false);
  return {
    ...rotation,
    pid: session.pid,
    async release() {
      await gate.query('SELECT pg_advisory_unlock($1)', [GATE]);
      return obs.observe(await within(rotation.promise, PROMPT_MS, 'the rotation after the gate opened'));
    },
  };
}

describe('the OAuth token refresher racing a rotation', () => {
  test('writer first: the rotation waits for its transaction, then re-encrypts its write (no lost update)', async () => {
    const env = await freshInstall('conc_writer_first');
    const writer = await connect(env.url);
    await writer.query('BEGIN');
    const { refreshed, update } = await refreshToken(writer, env.oauth.id, OLD, 'ya29.refreshed-before-rotation');
    await update;

    const rotation = tracked(keyrotate.rotateEncryptionKey(OLD, NEW, env.url, { lockTimeoutMs: PROMPT_MS }));
    // keyrotate has two sessions (discovery has its own), and a session's
    // row is a moment's picture: look for the one waiting on the lock now.
    const [session] = await waitFor(async () => {
      for (const s of await keyrotateSessions(env.client)) {
        if (s.wait_event_type === 'Lock' && (await waitsOn(env.client, s.pid, { relname: 'connectors' }))) return [s];
      }
      return null;
    }, 'the rotation to wait for the writer');
    assert.equal(session.wait_event_type, 'Lock');
    await new Promise((r) => setTimeout(r, 200));
    assert.equal(rotation.settled, false, 'the rotation is still waiting');

    await writer.query('COMMIT');
    const report = obs.observe(await within(rotation.promise, PROMPT_MS, 'the rotation after the writer committed'));
    assert.equal(report.committed, true);
    assert.equal(report.rowsReencrypted, env.want.rowsReencrypted);
    assert.equal(report.alreadyOnNewKey, 0);
    assert.equal(decrypt(await stored(env.client, env.oauth.id), NEW), refreshed, 'the refreshed token, on the new key');
    await assertAllOn(env.client, env.fixture, NEW, { [env.oauth.id]: refreshed });
  });

  test('rotation first: the writer waits, lands after commit on the old key; a re-run finishes the job', async () => {
    const env = await freshInstall('conc_rotation_first');
    const writer = await connect(env.url);
    const gated = await gatedRotation(env);

    // The refresher reads during the rotation (readers are not blocked) and
    // sees the committed pre-rotation value, which opens with its old key.
    const { refreshed, update } = await refreshToken(writer, env.oauth.id, OLD, 'ya29.refreshed-during-rotation');
    const write = tracked(update);
    await waitFor(() => waitsOn(env.client, writer.processID, { relname: 'connectors' }), 'the writer to wait for the rotation');
    assert.equal(write.settled, false);

    const report = await gated.release();
    assert.equal(report.committed, true);
    assert.equal(report.rowsReencrypted, env.want.rowsReencrypted);
    const written = await within(write.promise, PROMPT_MS, "the writer's UPDATE after the rotation committed");
    assert.equal(written.rowCount, 1);

    // The write landed after the commit: the refreshed token survives, on the old key.
    const value = await stored(env.client, env.oauth.id);
    assert.equal(opens(value, NEW), false);
    assert.equal(decrypt(value, OLD), refreshed);

    const again = obs.observe(await keyrotate.rotateEncryptionKey(OLD, NEW, env.url));
    assert.equal(again.rowsReencrypted, 1);
    assert.equal(again.alreadyOnNewKey, env.want.values - 1);
    assert.equal(decrypt(await stored(env.client, env.oauth.id), NEW), refreshed);
    await assertAllOn(env.client, env.fixture, NEW, { [env.oauth.id]: refreshed });
  });
});

describe('rotations never interleave', () => {
  test('a second rotation during the first: a short lock timeout fails with ERR_LOCK_TIMEOUT, a long one waits; nothing interleaves', async () => {
    const env = await freshInstall('conc_two_rotations');
    const before_ = await snapshotAll(env.client);
    const first = await gatedRotation(env);

    const started = Date.now();
    const e = await obs.rejection(within(keyrotate.rotateEncryptionKey(OLD, NEW, env.url, { lockTimeoutMs: 300 }), PROMPT_MS, 'the second rotation'));
    assert.equal(e.code, 'ERR_LOCK_TIMEOUT', e.message);
    assert.match(e.message, /another keyrotate run|rotation lock/);
    assert.match(e.message, /Nothing was changed/);
    assert.ok(Date.now() - started >= 250, 'it waited for the lock before giving up');
    assert.deepStrictEqual(await snapshotAll(env.client), before_, 'the failed rotation changed nothing');
    assert.equal(first.settled, false, 'and did not disturb the first');

    // A patient second rotation queues behind the first.
    const second = tracked(keyrotate.rotateEncryptionKey(OLD, NEW, env.url, { lockTimeoutMs: PROMPT_MS }));
    const order = [];
    first.promise.then(() => order.push('first'), () => order.push('first'));
    second.promise.then(() => order.push('second'), () => order.push('second'));
    await waitFor(async () => {
      const [s] = await keyrotateSessions(env.client);
      return s && (await waitsOn(env.client, s.pid, { key: ROTATION_LOCK }));
    }, 'the second rotation to wait for the rotation lock');

    const report = await first.release();
    assert.equal(report.rowsReencrypted, env.want.rowsReencrypted);
    const done = await obs.rejection(within(second.promise, PROMPT_MS, 'the queued rotation'));
    assert.deepStrictEqual(order, ['first', 'second']);
    assert.equal(done.code, 'ERR_ALREADY_ON_NEW_KEY', 'it found the work done');
    assert.equal(done.report.rowsReencrypted, 0);
    assert.equal(done.report.alreadyOnNewKey, env.want.values);
    await assertAllOn(env.client, env.fixture, NEW);
  });

  test('a writer holding its lock past lockTimeoutMs: ERR_LOCK_TIMEOUT, nothing changed in any table', async () => {
    const env = await freshInstall('conc_lock_timeout');
    const before_ = await snapshotAll(env.client);
    // The writer touches only the legacy table: the rotation must not
    // rotate connectors without it either — one lock, all tables.
    const legacy = env.sealed.find((r) => r.table === 'mcp_server_configs');
    const writer = await connect(env.url);
    await writer.query('BEGIN');
    await writer.query("UPDATE mcp_server_configs SET name = 'edited' WHERE id = $1", [legacy.id]);

    const started = Date.now();
    const e = await obs.rejection(within(keyrotate.rotateEncryptionKey(OLD, NEW, env.url, { lockTimeoutMs: 400 }), PROMPT_MS, 'the rotation'));
    const elapsed = Date.now() - started;
    assert.equal(e.code, 'ERR_LOCK_TIMEOUT', e.message);
    assert.match(e.message, /lock/);
    assert.ok(elapsed >= 350 && elapsed < PROMPT_MS, `gave up after ${elapsed} ms`);
    await writer.query('ROLLBACK');
    assert.deepStrictEqual(await snapshotAll(env.client), before_, 'nothing changed');
    await assertAllOn(env.client, env.fixture, OLD);
    assert.deepStrictEqual(await keyrotateSessions(env.client), [], 'the rotation left no session behind');

    const report = obs.observe(await keyrotate.rotateEncryptionKey(OLD, NEW, env.url, { lockTimeoutMs: 400 }));
    assert.equal(report.rowsReencrypted, env.want.rowsReencrypted);
  });
});

test('readers are never blocked: SELECTs and a verify complete while a rotation holds its locks', async () => {
  const env = await freshInstall('conc_readers');
  const reader = await connect(env.url);
  const gated = await gatedRotation(env);

  const started = Date.now();
  const { rows } = await within(reader.query('SELECT id, auth_config FROM connectors ORDER BY id'), 5_000, 'a plain SELECT during the rotation');
  const one = await within(reader.query('SELECT auth_config FROM connectors WHERE id = $1', [env.oauth.id]), 5_000, 'a SELECT by id');
  const legacy = await within(reader.query('SELECT count(*)::int AS n FROM mcp_server_configs'), 5_000, 'a SELECT of the legacy table');
  const verify = obs.observe(await within(keyrotate.verifyEncryptionKey(OLD, env.url), PROMPT_MS, 'verify during the rotation'));
  const elapsed = Date.now() - started;

  // Readers see the last committed state: everything still on the old key.
  assert.equal(rows.length, env.fixture.rows.filter((r) => r.table === 'connectors' && r.column === 'auth_config').length);
  for (const r of rows) if (r.auth_config) assert.ok(opens(r.auth_config, OLD));
  assert.ok(opens(one.rows[0].auth_config, OLD));
  assert.equal(legacy.rows[0].n, env.fixture.rows.filter((r) => r.table === 'mcp_server_configs').length);
  assert.equal(verify.ok, true);
  assert.equal(verify.valuesVerified, env.sealed.length);

  // ... and all of that happened while the rotation held its EXCLUSIVE locks.
  const locks = await keyrotateLocks(env.client, GATED);
  assert.ok(locks.some((l) => l.relname === 'connectors' && l.mode === 'ExclusiveLock' && l.granted));
  assert.equal(gated.settled, false);
  assert.ok(elapsed < PROMPT_MS);

  const report = await gated.release();
  assert.equal(report.rowsReencrypted, env.want.rowsReencrypted);
  await assertAllOn(env.client, env.fixture, NEW);
});

test('no key, plaintext or password appears in any output, error or report', () => {
  obs.assertNoLeaks(8);
});
