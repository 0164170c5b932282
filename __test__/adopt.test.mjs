// adoptNextEncryptionKey: the boot-time path for backend code. The six
// locations sealed as the backend seals them, a real PostgreSQL, and
// replicas booting at once as separate processes.

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import path from 'node:path';
import { after, describe, test } from 'node:test';

import pg from 'pg';

import keyrotate from '../index.js';
import { encrypt, generateKey } from './helpers/anythingmcp/crypto.mjs';
import { assertEntriesOpenWith } from './helpers/anythingmcp/locations.mjs';
import { acceptanceDatabase } from './helpers/fixture/acceptance.mjs';
import { createObserver, within } from './helpers/inspect/hygiene.mjs';
import { snapshotSchema } from './helpers/inspect/snapshot.mjs';
import { ROOT } from './helpers/run/commands.mjs';

const OLD = generateKey();
const NEXT = generateKey();
const OTHER = generateKey();
const obs = createObserver();
obs.keys(OLD, NEXT, OTHER);
const clients = [];
after(async () => {
  for (const c of clients) await c.end();
});

const install = (prefix) => acceptanceDatabase(prefix, OLD, { clients, obs });

const eventCount = async (client) => (await client.query("SELECT count(*)::int AS n FROM security_events WHERE event = 'ENCRYPTION_KEY_ROTATED'")).rows[0].n;
const fp = (key) => keyrotate.keyFingerprint(key);

/** One boot: the env it starts with, and the lines it logs. */
async function boot(env, options = {}) {
  const lines = [];
  try {
    const adoption = await keyrotate.adoptNextEncryptionKey(env, { log: (l) => lines.push(l), ...options });
    return { adoption, lines };
  } catch (error) {
    obs.observe(error);
    return { error, lines };
  } finally {
    for (const l of lines) obs.observe(l);
  }
}

describe('adoptNextEncryptionKey at boot', () => {
  test('no ENCRYPTION_KEY_NEXT: nothing happens, no connection is opened', async () => {
    for (const next of [undefined, '']) {
      const env = { ENCRYPTION_KEY: OLD, ENCRYPTION_KEY_NEXT: next, DATABASE_URL: 'postgresql://u:pw@127.0.0.1:1/nowhere' };
      const { adoption, lines } = await boot(env);
      assert.deepStrictEqual(adoption, { action: 'none' });
      assert.equal(env.ENCRYPTION_KEY, OLD);
      assert.deepStrictEqual(lines, []);
    }
  });

  test('NEXT set: every location rotated, the app starts on the new key, one line with fingerprints and the reminder to finish; later boots just switch', async () => {
    const db = await install('adopt_rotate');
    const env = { ENCRYPTION_KEY: OLD, ENCRYPTION_KEY_NEXT: NEXT, DATABASE_URL: db.url };
    const { adoption, lines } = await boot(env);
    assert.equal(adoption.action, 'rotated');
    assert.deepStrictEqual([adoption.oldKeyFingerprint, adoption.newKeyFingerprint], [fp(OLD), fp(NEXT)]);
    assert.equal(env.ENCRYPTION_KEY, NEXT, 'the app starts on the new key');
    await assertEntriesOpenWith(db.client, db.fixture, NEXT);
    assert.equal(lines.length, 1);
    assert.match(lines[0], new RegExp(`^keyrotate: rotated ENCRYPTION_KEY ${fp(OLD)} -> ${fp(NEXT)}: \\d+ rows re-encrypted across \\d+ tables \\(audit event c[0-9a-z]{24}\\); starting on ${fp(NEXT)}; finish when every replica runs on it: set ENCRYPTION_KEY to the new key \\(${fp(NEXT)}\\) and remove ENCRYPTION_KEY_NEXT$`));
    assert.equal(await eventCount(db.client), 1);

    // The next boot, with the same environment (nobody renamed anything yet).
    const again = { ENCRYPTION_KEY: OLD, ENCRYPTION_KEY_NEXT: NEXT, DATABASE_URL: db.url };
    const second = await boot(again);
    assert.equal(second.adoption.action, 'already-on-next');
    assert.equal(again.ENCRYPTION_KEY, NEXT);
    assert.match(second.lines[0], /already on ENCRYPTION_KEY_NEXT.*remove ENCRYPTION_KEY_NEXT/);
    assert.equal(await eventCount(db.client), 1, 'no second event');

    // After the rename, NEXT is left over: nothing to do but remove it.
    const renamed = { ENCRYPTION_KEY: NEXT, ENCRYPTION_KEY_NEXT: NEXT, DATABASE_URL: db.url };
    const third = await boot(renamed);
    assert.equal(third.adoption.action, 'none');
    assert.match(third.lines[0], /nothing to do; remove ENCRYPTION_KEY_NEXT/);
  });

  test('two replicas booting at once: one rotates, the other waits and starts on the new key; exactly one audit event', async () => {
    const db = await install('adopt_two');
    const start = () => {
      const child = spawn(process.execPath, [path.join(ROOT, '__test__', 'helpers', 'child', 'boot.mjs')], { stdio: ['pipe', 'pipe', 'pipe'] });
      let out = '';
      child.stdout.on('data', (d) => (out += d));
      child.stdin.end(JSON.stringify({ env: { ENCRYPTION_KEY: OLD, ENCRYPTION_KEY_NEXT: NEXT, DATABASE_URL: db.url } }));
      return new Promise((resolve) => child.on('exit', () => resolve(JSON.parse(obs.observe(out)))));
    };
    const results = await within(Promise.all([start(), start()]), 120_000, 'two boots');
    assert.deepStrictEqual(results.map((r) => r.action).sort(), ['already-on-next', 'rotated'], JSON.stringify(results));
    for (const r of results) assert.equal(r.startsOn, fp(NEXT));
    assert.equal(await eventCount(db.client), 1);
    await assertEntriesOpenWith(db.client, db.fixture, NEXT);
  });

  test('data on neither key, a bad NEXT, an unchosen knowledge graph: rejected before the app starts, env unchanged, nothing changed', async () => {
    const db = await install('adopt_refused');
    const before = await snapshotSchema(db.client, 'public');
    for (const [env, code] of [
      [{ ENCRYPTION_KEY: OTHER, ENCRYPTION_KEY_NEXT: NEXT }, 'ERR_OLD_KEY_MISMATCH'],
      [{ ENCRYPTION_KEY: OLD, ENCRYPTION_KEY_NEXT: 'change-me-in-production-exactly-32' }, 'ERR_KEY_INVALID'],
      [{ ENCRYPTION_KEY_NEXT: NEXT }, 'ERR_KEY_INVALID'],
    ]) {
      const was = { ...env, DATABASE_URL: db.url };
      const e2 = { ...was };
      const { error, lines } = await boot(e2);
      assert.equal(error?.code, code, JSON.stringify(lines));
      assert.deepStrictEqual(e2, was, 'env unchanged');
      assert.match(lines[0], new RegExp(`^keyrotate: refused to adopt ENCRYPTION_KEY_NEXT \\[${code}\\]: .*the app must not start`));
    }
    await db.client.query(
      `INSERT INTO kg_value_seen (id, organization_id, connector_id, value_hash, entity, field, direction) VALUES ('kg1', 'org1', $1, 'ab12', 'Customer', 'email', 'out')`,
      [db.fixture.rows.find((r) => r.table === 'connectors').id],
    );
    const graphBefore = await snapshotSchema(db.client, 'public');
    const unpinned = { ENCRYPTION_KEY: OLD, ENCRYPTION_KEY_NEXT: NEXT, DATABASE_URL: db.url };
    assert.equal((await boot(unpinned)).error?.code, 'ERR_KG_UNPINNED');
    assert.equal(unpinned.ENCRYPTION_KEY, OLD);
    assert.deepStrictEqual(await snapshotSchema(db.client, 'public'), graphBefore);
    assert.deepStrictEqual({ ...before, kg_value_seen: graphBefore.kg_value_seen }, graphBefore, 'nothing but the test\'s own graph row');

    // Pinned in the backend's environment, the boot rotates.
    const pinned = { ...unpinned, KG_HASH_SECRET: OLD };
    assert.equal((await boot(pinned)).adoption.action, 'rotated');
    assert.equal(pinned.ENCRYPTION_KEY, NEXT);
    await assertEntriesOpenWith(db.client, db.fixture, NEXT);
  });

  test('ciphertext outside the registry, and a lock held past the timeout: rejected before the app starts, env unchanged, nothing changed', async () => {
    const db = await install('adopt_checks');
    await db.client.query('CREATE TABLE stray_secrets (id text PRIMARY KEY, value text)');
    await db.client.query("INSERT INTO stray_secrets VALUES ('s1', $1)", [encrypt('{"stray":1}', OLD)]);
    obs.secret('{"stray":1}');
    const before = await snapshotSchema(db.client, 'public');
    const stray = { ENCRYPTION_KEY: OLD, ENCRYPTION_KEY_NEXT: NEXT, DATABASE_URL: db.url };
    const { error, lines } = await boot(stray);
    assert.equal(error?.code, 'ERR_UNREGISTERED_CIPHERTEXT', JSON.stringify(lines));
    assert.equal(stray.ENCRYPTION_KEY, OLD);
    assert.match(lines[0], /^keyrotate: refused to adopt ENCRYPTION_KEY_NEXT \[ERR_UNREGISTERED_CIPHERTEXT\]: .*the app must not start/);
    assert.deepStrictEqual(await snapshotSchema(db.client, 'public'), before);
    await db.client.query('DROP TABLE stray_secrets');

    // Another session holds a row of connectors: the boot waits its lock
    // timeout, then refuses.
    const holder = new pg.Client({ connectionString: db.url, application_name: 'busy-writer' });
    await holder.connect();
    try {
      await holder.query('BEGIN');
      await holder.query('UPDATE connectors SET name = name WHERE id = (SELECT id FROM connectors LIMIT 1)');
      const locked = { ENCRYPTION_KEY: OLD, ENCRYPTION_KEY_NEXT: NEXT, DATABASE_URL: db.url };
      const waited = await boot(locked, { lockTimeoutMs: 1500 });
      assert.equal(waited.error?.code, 'ERR_LOCK_TIMEOUT', JSON.stringify(waited.lines));
      assert.match(waited.lines[0], /\[ERR_LOCK_TIMEOUT\]: .*busy-writer.*the app must not start/);
      assert.equal(locked.ENCRYPTION_KEY, OLD);
    } finally {
      await holder.query('ROLLBACK');
      await holder.end();
    }
    assert.equal(await eventCount(db.client), 0);
    await assertEntriesOpenWith(db.client, db.fixture, OLD);
  });

  test('relinking the knowledge graph is the caller\'s explicit option', async () => {
    const db = await install('adopt_relink');
    await db.client.query(
      `INSERT INTO kg_value_seen (id, organization_id, connector_id, value_hash, entity, field, direction) VALUES ('kg1', 'org1', $1, 'ab12', 'Customer', 'email', 'out')`,
      [db.fixture.rows.find((r) => r.table === 'connectors').id],
    );
    const env = { ENCRYPTION_KEY: OLD, ENCRYPTION_KEY_NEXT: NEXT, DATABASE_URL: db.url };
    const { adoption } = await boot(env, { kgRelink: true });
    assert.equal(adoption.action, 'rotated');
    assert.equal(adoption.report.knowledgeGraph.relink, true);
  });
});

test('no key, plaintext or password in any line, report or error', () => {
  obs.assertNoLeaks(10);
});
