// Beyond what the key seals: the knowledge graph's hashes, which
// ENCRYPTION_KEY also keys unless KG_HASH_SECRET is set, and the rotation's
// own event in AnythingMCP's audit trail (security_events), written in the
// rotation's transaction. Real PostgreSQL, the API and the compiled CLI.

import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, test } from 'node:test';

import keyrotate from '../index.js';
import { encrypt, generateKey } from './helpers/anythingmcp/crypto.mjs';
import { assertEntriesOpenWith, expectedReport } from './helpers/anythingmcp/locations.mjs';
import { createAnythingMcpSchema } from './helpers/anythingmcp/schema.mjs';
import { seedAcceptanceFixture } from './helpers/fixture/acceptance.mjs';
import { createObserver } from './helpers/inspect/hygiene.mjs';
import { snapshotSchema, snapshotTable } from './helpers/inspect/snapshot.mjs';
import { jsonDocument } from './helpers/run/cli-schema.mjs';
import { runCli } from './helpers/run/cli.mjs';
import { ROOT } from './helpers/run/commands.mjs';
import { freshDatabase } from './helpers/server/postgres.mjs';

const A = generateKey();
const B = generateKey();
const C = generateKey();
const obs = createObserver();
obs.keys(A, B, C);
const clients = [];
after(async () => {
  for (const c of clients) await c.end();
});

const VERSION = JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')).version;
// What AnythingMCP's admin UI redacts in an event's metadata.
const REDACTED = /secret|password|token|credential|api[-_]?key/i;

async function install(prefix, { release = 'main', kgRows = 0 } = {}) {
  const env = await freshDatabase(prefix, { clients, obs });
  await createAnythingMcpSchema(env.client, 'public', { release, legacy: true });
  env.fixture = await seedAcceptanceFixture(env.client, A, { release, legacy: true });
  for (const s of env.fixture.secrets) obs.secret(s);
  for (let i = 0; i < kgRows; i++) {
    // HMAC hex, as the backend's hashValue writes it: a key change orphans it.
    const hash = crypto.createHmac('sha256', crypto.createHmac('sha256', A).update('org1').digest()).update(`ident-${i}`).digest('hex').slice(0, 40);
    await env.client.query(
      `INSERT INTO kg_value_seen (id, organization_id, connector_id, value_hash, entity, field, direction) VALUES ($1, 'org1', $2, $3, 'Customer', 'email', 'out')`,
      [`kgv${i}`, env.fixture.rows.find((r) => r.table === 'connectors').id, hash],
    );
  }
  return env;
}

const events = async (client) =>
  (await client.query("SELECT *, metadata::text AS metadata_text FROM security_events WHERE event = 'ENCRYPTION_KEY_ROTATED' ORDER BY created_at")).rows;

const cli = (args, env) => runCli(args, { env, observe: obs.observe });

/** Every key of a JSON value, nested ones included. */
function keysOf(value) {
  if (Array.isArray(value)) return value.flatMap(keysOf);
  if (value && typeof value === 'object') return Object.entries(value).flatMap(([k, v]) => [k, ...keysOf(v)]);
  return [];
}

describe('the knowledge graph: ENCRYPTION_KEY also keys its hashes', () => {
  test('with rows in kg_value_seen and no KG_HASH_SECRET, a rotation is refused before any write, naming both ways on', async () => {
    const env = await install('kg_refused', { kgRows: 5 });
    const before = await snapshotSchema(env.client, 'public');
    const e = await obs.rejection(keyrotate.rotateEncryptionKey(A, B, env.url));
    assert.equal(e.code, 'ERR_KG_UNPINNED');
    assert.deepStrictEqual(e.details, { kind: 'place', schema: 'public', table: 'kg_value_seen', column: 'value_hash' });
    assert.match(e.message, /kg_value_seen holds knowledge-graph hashes keyed by ENCRYPTION_KEY \(KG_HASH_SECRET is not set\)/);
    assert.match(e.hint, /Pin: set KG_HASH_SECRET to the current ENCRYPTION_KEY.*after a leak it stays keyed by the leaked key.*relink: rotate with --kg-relink/);
    const dry = await obs.rejection(keyrotate.rotateEncryptionKey(A, B, env.url, { dryRun: true }));
    assert.equal(dry.code, 'ERR_KG_UNPINNED', 'a dry run says the same');
    assert.deepStrictEqual(dry.report.knowledgeGraph, { present: true, hasRows: true, keyedBy: 'ENCRYPTION_KEY', relink: false });

    const r = await cli(['--yes'], { DATABASE_URL: env.url, OLD_ENCRYPTION_KEY: A, NEW_ENCRYPTION_KEY: B });
    assert.equal(r.code, 7, r.stderr);
    assert.match(r.stderr, /error \[ERR_KG_UNPINNED\]/);
    assert.match(r.stderr, /KG_HASH_SECRET/);
    const j = await cli(['--dry-run', '--json'], { DATABASE_URL: env.url, OLD_ENCRYPTION_KEY: A, NEW_ENCRYPTION_KEY: B });
    assert.equal(jsonDocument(j.stdout, 7).error.code, 'ERR_KG_UNPINNED');
    assert.deepStrictEqual(await snapshotSchema(env.client, 'public'), before, 'nothing changed');
    assert.equal((await events(env.client)).length, 0);
  });

  test('verify reports the same finding, and not once the key is pinned', async () => {
    const env = await install('kg_verify', { kgRows: 2 });
    const v = obs.observe(await keyrotate.verifyEncryptionKey(A, env.url));
    assert.deepStrictEqual(v.knowledgeGraph, { present: true, hasRows: true, keyedBy: 'ENCRYPTION_KEY', relink: false });
    assert.ok(v.warnings.some((w) => w.code === 'WARN_KG_UNPINNED'));
    const human = await cli(['verify'], { DATABASE_URL: env.url, ENCRYPTION_KEY: A });
    assert.equal(human.code, 0, human.stderr);
    assert.match(human.stderr, /warning: public\.kg_value_seen holds hashes keyed by ENCRYPTION_KEY/);
    const pinned = await cli(['verify', '--json'], { DATABASE_URL: env.url, ENCRYPTION_KEY: A, KG_HASH_SECRET: A });
    assert.equal(jsonDocument(pinned.stdout, 0).report.knowledgeGraph.keyedBy, 'KG_HASH_SECRET');
    assert.doesNotMatch(pinned.stdout, /WARN_KG/);
  });

  test('pinned (KG_HASH_SECRET = the current key): it rotates, and no row of the graph changes', async () => {
    const env = await install('kg_pinned', { kgRows: 5 });
    const graph = await snapshotTable(env.client, 'public', 'kg_value_seen');
    const r = await cli(['--yes', '--json'], { DATABASE_URL: env.url, OLD_ENCRYPTION_KEY: A, NEW_ENCRYPTION_KEY: B, KG_HASH_SECRET: A });
    const { report } = jsonDocument(r.stdout, 0);
    assert.deepStrictEqual(report.knowledgeGraph, { present: true, hasRows: true, keyedBy: 'KG_HASH_SECRET', relink: false });
    assert.ok(!report.warnings.some((w) => w.code.startsWith('WARN_KG')), JSON.stringify(report.warnings));
    assert.deepStrictEqual(await snapshotTable(env.client, 'public', 'kg_value_seen'), graph);
    await assertEntriesOpenWith(env.client, env.fixture, B);
    // Pinned to something else than the old key: the graph would be re-keyed anyway.
    const other = await obs.observe(await keyrotate.rotateEncryptionKey(B, C, env.url, { kgHashSecret: Buffer.from(generateKey()) }));
    assert.ok(other.warnings.some((w) => w.code === 'WARN_KG_PIN_DIFFERS'));
    assert.deepStrictEqual(await snapshotTable(env.client, 'public', 'kg_value_seen'), graph);
  });

  test('relinked (--kg-relink): it rotates, says the graph starts new links, and changes no row of it', async () => {
    const env = await install('kg_relink', { kgRows: 5 });
    const graph = await snapshotTable(env.client, 'public', 'kg_value_seen');
    const r = await cli(['--yes', '--kg-relink'], { DATABASE_URL: env.url, OLD_ENCRYPTION_KEY: A, NEW_ENCRYPTION_KEY: B });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /knowledge graph starts new links/);
    assert.deepStrictEqual(await snapshotTable(env.client, 'public', 'kg_value_seen'), graph);
    await assertEntriesOpenWith(env.client, env.fixture, B);
  });

  test('a graph this role may not read is taken to hold rows: refused, not guessed empty', async () => {
    const env = await install('kg_unreadable');
    const role = `kg_blind_${crypto.randomBytes(3).toString('hex')}`;
    const password = `Pw-${crypto.randomBytes(9).toString('hex')}`;
    obs.secret(password);
    await env.client.query(`CREATE ROLE ${role} LOGIN BYPASSRLS PASSWORD '${password}'`);
    await env.client.query(`GRANT USAGE ON SCHEMA public TO ${role}; GRANT SELECT, INSERT, UPDATE ON ALL TABLES IN SCHEMA public TO ${role}; REVOKE SELECT ON kg_value_seen FROM ${role}`);
    const url = new URL(env.url);
    url.username = role;
    url.password = password;
    const e = await obs.rejection(keyrotate.rotateEncryptionKey(A, B, url.toString(), { dryRun: true }));
    assert.equal(e.code, 'ERR_KG_UNPINNED');
    assert.ok(e.report.notices.some((n) => /may not read all of public\.kg_value_seen; it is taken to hold/.test(n)));
    const relinked = obs.observe(await keyrotate.rotateEncryptionKey(A, B, url.toString(), { kgRelink: true }));
    assert.equal(relinked.committed, true);
  });

  test('no rows, or a release without the graph: no refusal', async () => {
    const empty = await install('kg_empty');
    const report = obs.observe(await keyrotate.rotateEncryptionKey(A, B, empty.url));
    assert.deepStrictEqual(report.knowledgeGraph, { present: true, hasRows: false, keyedBy: 'ENCRYPTION_KEY', relink: false });
    const old = await install('kg_v0120', { release: 'v0.1.20' });
    const r = obs.observe(await keyrotate.rotateEncryptionKey(A, B, old.url));
    assert.equal(r.knowledgeGraph.present, false);
  });
});

describe('the audit trail: one security_events row per committed rotation, in its transaction', () => {
  test('a committed rotation writes exactly one ENCRYPTION_KEY_ROTATED event: who, what, fingerprints and counts, never a secret, nothing the admin UI would redact', async () => {
    const env = await install('audit_event');
    const started = Date.now();
    const r = await cli(['--yes', '--json'], { DATABASE_URL: env.url, OLD_ENCRYPTION_KEY: A, NEW_ENCRYPTION_KEY: B });
    const { report } = jsonDocument(r.stdout, 0);
    const rows = await events(env.client);
    assert.equal(rows.length, 1);
    const [e] = rows;
    obs.observe(JSON.stringify(e));
    assert.match(e.id, /^c[0-9a-z]{24}$/);
    assert.equal(report.auditEventId, e.id);
    assert.deepStrictEqual(
      [e.event, e.actor_type, e.organization_id, e.actor_user_id, e.target_user_id, e.ip, e.user_agent],
      ['ENCRYPTION_KEY_ROTATED', 'SYSTEM', null, null, null, null, `keyrotate/${VERSION}`],
    );
    assert.ok(Math.abs(e.created_at.getTime() - started) < 120_000, 'created now');
    const want = expectedReport(env.fixture);
    const m = e.metadata;
    assert.equal(m.tool, 'keyrotate');
    assert.equal(m.version, VERSION);
    assert.equal(m.oldKeyFingerprint, keyrotate.keyFingerprint(A));
    assert.equal(m.newKeyFingerprint, keyrotate.keyFingerprint(B));
    assert.equal(m.valuesReencrypted, want.values);
    assert.equal(m.rowsReencrypted, want.rowsReencrypted);
    assert.equal(m.alreadyOnNewKey, 0);
    assert.ok(Number.isInteger(m.durationMs) && m.durationMs >= 0);
    assert.equal(m.osUser, os.userInfo().username);
    assert.equal(m.host, os.hostname());
    assert.deepStrictEqual(
      Object.fromEntries(m.locations.map((l) => [l.location, l.reencrypted])),
      Object.fromEntries(Object.entries(want.perLocation).map(([name, c]) => [`public.${name}`, c.reencrypted])),
    );
    const keys = keysOf(m);
    assert.ok(keys.length > 10);
    for (const k of keys) assert.doesNotMatch(k, REDACTED, `metadata key ${k} would be shown redacted`);
    for (const secret of [A, B, A.slice(0, 32), B.slice(0, 32), ...env.fixture.secrets]) {
      assert.ok(!e.metadata_text.includes(secret), 'a secret in the event');
    }
    const human = await cli(['verify'], { DATABASE_URL: env.url, ENCRYPTION_KEY: B });
    assert.equal(human.code, 0);

    // A second rotation is a second event, with its own id.
    const again = obs.observe(await keyrotate.rotateEncryptionKey(B, C, env.url));
    const both = await events(env.client);
    assert.equal(both.length, 2);
    assert.equal(both[1].id, again.auditEventId);
    assert.notEqual(both[0].id, both[1].id);
  });

  test('dry runs, refused, failed and rolled-back runs write nothing', async () => {
    const env = await install('audit_nothing');
    obs.observe(await keyrotate.rotateEncryptionKey(A, B, env.url, { dryRun: true }));
    const victim = env.fixture.rows.find((r) => r.kind === 'sealed' && r.table === 'connector_oauth_attempts');
    await env.client.query('UPDATE connector_oauth_attempts SET payload = $1 WHERE id = $2', [encrypt('{"x":1}', C, 'connector-oauth'), victim.id]);
    assert.equal((await obs.rejection(keyrotate.rotateEncryptionKey(A, B, env.url))).code, 'ERR_UNDECRYPTABLE');
    await env.client.query('UPDATE connector_oauth_attempts SET payload = $1 WHERE id = $2', [victim.stored, victim.id]);
    assert.equal((await obs.rejection(keyrotate.rotateEncryptionKey(C, B, env.url))).code, 'ERR_OLD_KEY_MISMATCH');
    const controller = new AbortController();
    controller.abort();
    assert.equal((await obs.rejection(keyrotate.rotateEncryptionKey(A, B, env.url, { signal: controller.signal }))).code, 'ABORT_ERR');
    assert.equal((await events(env.client)).length, 0);
    obs.observe(await keyrotate.rotateEncryptionKey(A, B, env.url));
    assert.equal((await obs.rejection(keyrotate.rotateEncryptionKey(A, B, env.url))).code, 'ERR_ALREADY_ON_NEW_KEY');
    assert.equal((await events(env.client)).length, 1, 'only the committed rotation');
  });

  test('a release without security_events: nothing written, and a notice', async () => {
    const env = await install('audit_v0120', { release: 'v0.1.20' });
    const report = obs.observe(await keyrotate.rotateEncryptionKey(A, B, env.url));
    assert.equal(report.committed, true);
    assert.equal(report.auditEventId, null);
    assert.ok(report.notices.some((n) => /security_events does not exist in this release: no audit event was written/.test(n)), report.notices.join('\n'));
  });

  test('a table that refuses the row never costs the rotation: it commits, with a warning and no event id', async () => {
    const env = await install('audit_refused');
    await env.client.query('ALTER TABLE security_events ADD COLUMN reviewer TEXT NOT NULL');
    const report = obs.observe(await keyrotate.rotateEncryptionKey(A, B, env.url));
    assert.equal(report.committed, true);
    assert.equal(report.auditEventId, null);
    const warning = report.warnings.find((w) => w.code === 'WARN_AUDIT_NOT_WRITTEN');
    assert.match(warning.message, /security_events exists but refused the rotation's event \(\[23502\]/);
    await assertEntriesOpenWith(env.client, env.fixture, B);
  });
});

test('no key, plaintext or password in any output, report, error or event', () => {
  obs.assertNoLeaks(20);
});
