// The engine through its JS API, against a real PostgreSQL: the acceptance
// fixture, re-runs and mixed state, every refusal leaving the data untouched,
// schemas, extra columns, dry run, verify, and secret hygiene.

import assert from 'node:assert/strict';
import { writeFileSync, mkdtempSync } from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import pg from 'pg';

import { decrypt, encrypt, generateKey } from './helpers/anythingmcp/crypto.mjs';
import { LOCATIONS, assertEntriesOpenWith, assertNothingOpensWith, expectedReport, locationName } from './helpers/anythingmcp/locations.mjs';
import { createAnythingMcpSchema } from './helpers/anythingmcp/schema.mjs';
import { seedAcceptanceFixture } from './helpers/fixture/acceptance.mjs';
import { seedBulk } from './helpers/fixture/bulk.mjs';
import { dumpDatabase } from './helpers/inspect/dump.mjs';
import { createObserver, opens } from './helpers/inspect/hygiene.mjs';
import { snapshotSchema } from './helpers/inspect/snapshot.mjs';
import { getServer, withParams } from './helpers/server/postgres.mjs';
import { quoteIdent } from './helpers/sql.mjs';

const require = createRequire(import.meta.url);
const keyrotate = require('../index.js');

const OLD = generateKey();
const NEW = generateKey();
const OTHER = generateKey();

// Everything secret a test used; no output, error or report may contain one.
const obs = createObserver();
const { observe, rejection } = obs;
for (const k of [OLD, NEW, OTHER, OLD.slice(0, 32), NEW.slice(0, 32)]) obs.secret(k);

async function freshInstall({ schema = 'public', legacy = true } = {}) {
  const server = await getServer();
  const url = await server.createDatabase('rot');
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  await createAnythingMcpSchema(client, schema, { legacy });
  const fixture = await seedAcceptanceFixture(client, OLD, { schema, legacy });
  for (const s of fixture.secrets) obs.secret(s);
  const dbUrl = schema === 'public' ? url : withParams(url, { schema });
  return { url: dbUrl, client, fixture, schema };
}

const snapshotAll = (client, schema) => snapshotSchema(client, schema);

async function stored(client, schema, table, id) {
  const { rows } = await client.query(`SELECT auth_config FROM ${quoteIdent(schema)}.${quoteIdent(table)} WHERE id = $1`, [id]);
  return rows[0].auth_config;
}

const clients = [];
after(async () => {
  for (const c of clients) await c.end().catch(() => {});
});

describe('acceptance fixture', () => {
  let env;
  let before_;
  let report;
  before(async () => {
    env = await freshInstall();
    clients.push(env.client);
    before_ = await dumpDatabase(env.client, 'public', OLD);
    report = observe(await keyrotate.rotateEncryptionKey(OLD, NEW, env.url));
  });

  test('reports every sealed value re-encrypted, NULL and empty skipped', () => {
    const want = expectedReport(env.fixture);
    assert.ok(want.values >= 12, 'fixture has every connector and auth type');
    assert.ok(want.empty >= 2);
    assert.equal(report.rowsReencrypted, want.rowsReencrypted);
    assert.equal(report.valuesReencrypted, want.values);
    assert.equal(report.empty, want.empty);
    assert.equal(report.alreadyOnNewKey, 0);
    assert.equal(report.tables, want.tables);
    assert.equal(report.summary, `${want.rowsReencrypted} rows re-encrypted across ${want.tables} tables`);
    assert.equal(report.committed, true);
    assert.equal(report.failureCount, 0);
    const byName = Object.fromEntries(report.locations.map((l) => [`${l.table}.${l.column}${l.member ? `.${l.member}` : ''}`, l]));
    for (const [name, counts] of Object.entries(want.perLocation)) {
      const l = byName[name];
      assert.deepStrictEqual([l.status, l.rows, l.reencrypted, l.empty, l.alreadyOnNewKey, l.failed], ['processed', counts.rows, counts.reencrypted, counts.empty, 0, 0], name);
    }
    assert.equal(report.oldKeyFingerprint, keyrotate.keyFingerprint(OLD));
    assert.equal(report.newKeyFingerprint, keyrotate.keyFingerprint(NEW));
  });

  test('every value opens with the new key in Node crypto, to the same plaintext, and not with the old', async () => {
    assert.equal(await assertEntriesOpenWith(env.client, env.fixture, NEW), expectedReport(env.fixture).values);
    await assertNothingOpensWith(env.client, 'public', OLD);
  });

  test('the fixture covers every connector type and secret-bearing auth type, including 1 MB and unicode', () => {
    const sealed = env.fixture.rows.filter((r) => r.kind === 'sealed' && r.table === 'connectors' && r.column === 'auth_config');
    for (const type of ['REST', 'SOAP', 'GRAPHQL', 'DATABASE', 'MCP', 'ODATA']) {
      assert.ok(sealed.some((r) => r.type === type), type);
    }
    for (const auth of ['API_KEY', 'BEARER_TOKEN', 'BASIC_AUTH', 'OAUTH2', 'WS_SECURITY', 'CERTIFICATE', 'CONNECTION_STRING', 'HMAC', 'QUERY_AUTH', 'OAUTH1', 'LOGIN_TOKEN']) {
      assert.ok(sealed.some((r) => r.authType === auth), auth);
    }
    assert.ok(sealed.some((r) => r.plaintext.length > 1_000_000), 'a 1 MB certificate bundle');
    assert.ok(sealed.some((r) => /[^\u0000-\u007f]/.test(r.plaintext)), 'a unicode plaintext');
  });

  test('no other byte of any table changed: every table, with each sealed value opened, is as before', async () => {
    assert.deepStrictEqual(await dumpDatabase(env.client, 'public', NEW), before_);
  });

  test('a second run finds everything already on the new key, changes nothing, and says so: ERR_ALREADY_ON_NEW_KEY', async () => {
    const snap = await snapshotAll(env.client, 'public');
    const done = await rejection(keyrotate.rotateEncryptionKey(OLD, NEW, env.url));
    assert.equal(done.code, 'ERR_ALREADY_ON_NEW_KEY');
    assert.equal(done.details.dataKeyFingerprint, keyrotate.keyFingerprint(NEW));
    const again = done.report;
    assert.equal(again.committed, false);
    assert.equal(again.oldKeyMatches, false);
    assert.equal(again.rowsReencrypted, 0);
    assert.equal(again.alreadyOnNewKey, expectedReport(env.fixture).values);
    assert.deepStrictEqual(await snapshotAll(env.client, 'public'), snap);
  });

  test('mixed state: a value re-sealed under the old key (token refresh) is finished by a re-run', async () => {
    const row = env.fixture.rows.find((r) => r.kind === 'sealed' && r.authType === 'OAUTH2' && r.column === 'auth_config');
    const refreshed = JSON.stringify({ ...JSON.parse(row.plaintext), accessToken: 'refreshed-token-xyz' });
    obs.secret(refreshed);
    await env.client.query('UPDATE connectors SET auth_config = $1 WHERE id = $2', [encrypt(refreshed, OLD), row.id]);
    const again = observe(await keyrotate.rotateEncryptionKey(OLD, NEW, env.url));
    assert.equal(again.rowsReencrypted, 1);
    assert.equal(again.alreadyOnNewKey, expectedReport(env.fixture).values - 1);
    assert.equal(decrypt(await stored(env.client, 'public', 'connectors', row.id), NEW), refreshed);
  });

  test('verify passes with the new key and fails, listing values, with the old one', async () => {
    const ok = observe(await keyrotate.verifyEncryptionKey(NEW, env.url));
    assert.equal(ok.ok, true);
    assert.equal(ok.valuesVerified, expectedReport(env.fixture).values);
    assert.equal(ok.failureCount, 0);
    assert.equal(ok.keyFingerprint, keyrotate.keyFingerprint(NEW));
    const bad = observe(await keyrotate.verifyEncryptionKey(OLD, env.url));
    assert.equal(bad.ok, false);
    assert.equal(bad.failureCount, expectedReport(env.fixture).values);
    assert.equal(bad.failures[0].reason, 'authentication tag does not verify');
    // Each failure names a sealed value of the fixture, at its location.
    for (const f of bad.failures) {
      assert.ok(
        env.fixture.rows.some((r) => r.kind === 'sealed' && r.table === f.table && r.column === f.column && (r.member ?? undefined) === (f.member ?? undefined) && r.id === f.primaryKey),
        `${f.table}.${f.column} ${f.primaryKey}`,
      );
    }
  });
});

describe('refusals change nothing', () => {
  let env;
  let snap;
  before(async () => {
    env = await freshInstall();
    clients.push(env.client);
    snap = await snapshotAll(env.client, 'public');
  });
  const unchanged = async () => assert.deepStrictEqual(await snapshotAll(env.client, 'public'), snap);

  test('wrong old key: ERR_OLD_KEY_MISMATCH naming the first row', async () => {
    const e = await rejection(keyrotate.rotateEncryptionKey(OTHER, NEW, env.url));
    assert.equal(e.code, 'ERR_OLD_KEY_MISMATCH');
    assert.match(e.message, /old key does not match/);
    const d = e.details;
    assert.ok(
      env.fixture.rows.some((r) => r.kind === 'sealed' && r.id === d.primaryKey && r.table === d.table && r.column === d.column && (r.member ?? undefined) === (d.member ?? undefined)),
      'names a sealed value of the fixture',
    );
    await unchanged();
  });

  test('same key, or same first 32 bytes: ERR_KEY_UNCHANGED', async () => {
    assert.equal((await rejection(keyrotate.rotateEncryptionKey(OLD, OLD, env.url))).code, 'ERR_KEY_UNCHANGED');
    const sameHead = OLD.slice(0, 32) + 'x'.repeat(32);
    assert.equal((await rejection(keyrotate.rotateEncryptionKey(OLD, sameHead, env.url))).code, 'ERR_KEY_UNCHANGED');
    await unchanged();
  });

  test('placeholder new key, short keys, whitespace: ERR_KEY_INVALID before connecting', async () => {
    const bogusUrl = 'postgresql://nobody:pw@127.0.0.1:1/none';
    for (const [oldKey, newKey] of [
      [OLD, 'change-me-in-production-exactly-32'],
      [OLD, 'my-own-CHANGEME-key-that-is-long-enough'],
      ['short-old-key', NEW],
      [OLD, NEW.slice(0, 31)],
      [OLD, ''],
      [`${OLD}\n`, NEW],
    ]) {
      // An unreachable database proves the refusal came before any connection.
      const e = await rejection(keyrotate.rotateEncryptionKey(oldKey, newKey, bogusUrl));
      assert.equal(e.code, 'ERR_KEY_INVALID', e.message);
      const real = await rejection(keyrotate.rotateEncryptionKey(oldKey, newKey, env.url));
      assert.equal(real.code, 'ERR_KEY_INVALID');
    }
    await unchanged();
  });

  test('a corrupt value in the middle of the table: ERR_UNDECRYPTABLE naming it, nothing written', async () => {
    // A connector whose only ciphertext is auth_config, so the row counts are plain.
    const sealedEnv = new Set(env.fixture.rows.filter((r) => r.column === 'env_vars' && r.kind === 'sealed').map((r) => r.id));
    const victims = env.fixture.rows.filter((r) => r.kind === 'sealed' && r.column === 'auth_config' && r.table === 'connectors' && !sealedEnv.has(r.id));
    const victim = victims[Math.floor(victims.length / 2)];
    const original = await stored(env.client, 'public', 'connectors', victim.id);
    const raw = Buffer.from(original, 'base64');
    raw[20] ^= 0x01;
    await env.client.query('UPDATE connectors SET auth_config = $1 WHERE id = $2', [raw.toString('base64'), victim.id]);
    const corrupted = await snapshotAll(env.client, 'public');
    try {
      const e = await rejection(keyrotate.rotateEncryptionKey(OLD, NEW, env.url));
      assert.equal(e.code, 'ERR_UNDECRYPTABLE');
      assert.deepStrictEqual(e.details, { kind: 'value', schema: 'public', table: 'connectors', column: 'auth_config', primaryKey: victim.id });
      assert.ok(!e.message.includes(raw.toString('base64').slice(0, 24)), 'the value is never in the message');
      assert.deepStrictEqual(await snapshotAll(env.client, 'public'), corrupted);

      const refused = await rejection(keyrotate.rotateEncryptionKey(OLD, NEW, env.url, { dryRun: true }));
      assert.equal(refused.code, 'ERR_UNDECRYPTABLE', 'a dry run refuses as its real run would');
      const dry = refused.report;
      assert.equal(dry.committed, false);
      assert.equal(dry.failureCount, 1);
      assert.equal(dry.failures[0].primaryKey, victim.id);
      assert.equal(dry.rowsReencrypted, expectedReport(env.fixture).rowsReencrypted - 1);
      assert.deepStrictEqual(await snapshotAll(env.client, 'public'), corrupted);
    } finally {
      await env.client.query('UPDATE connectors SET auth_config = $1 WHERE id = $2', [original, victim.id]);
    }
    await unchanged();
  });

  test('placeholder old key is accepted with a warning', () => {
    const check = keyrotate.checkKeys('change-me-in-production-exactly-32', NEW);
    assert.equal(check.warnings[0].code, 'WARN_KEY_PLACEHOLDER');
  });

  test('dry run reports what would happen and writes nothing', async () => {
    const dry = observe(await keyrotate.rotateEncryptionKey(OLD, NEW, env.url, { dryRun: true }));
    assert.equal(dry.dryRun, true);
    assert.equal(dry.committed, false);
    assert.equal(dry.rowsReencrypted, expectedReport(env.fixture).rowsReencrypted);
    await unchanged();
  });
});

describe('where the data lives', () => {
  test('tables outside public via ?schema=, Prisma-only parameters ignored with a notice', async () => {
    const env = await freshInstall({ schema: 'tenant_a', legacy: false });
    clients.push(env.client);
    const url = withParams(env.url, { connection_limit: '5', pool_timeout: '10' });
    const report = observe(await keyrotate.rotateEncryptionKey(OLD, NEW, url));
    const want = expectedReport(env.fixture);
    assert.equal(report.rowsReencrypted, want.rowsReencrypted);
    assert.deepStrictEqual(
      report.locations.map((c) => [c.schema, c.table, c.column, c.status]),
      // Every location of main is there; the current mcp_server_configs has no auth_config.
      LOCATIONS.map((l) => ['tenant_a', l.table, l.column, want.absent.includes(locationName(l)) ? 'absent' : 'processed']),
    );
    assert.deepStrictEqual(want.absent, ['mcp_server_configs.auth_config']);
    assert.equal(report.tables, want.tables);
    assert.ok(report.notices.some((n) => n.includes('connection_limit')));
    assert.equal(report.locations.find((l) => l.table === 'mcp_server_configs').status, 'absent');
    assert.equal(await assertEntriesOpenWith(env.client, env.fixture, NEW), want.values);
  });

  test('extra columns from options and from a JSON file; unknown or hostile columns are refused', async () => {
    const env = await freshInstall({ legacy: false });
    clients.push(env.client);
    await env.client.query('CREATE TABLE webhook_secrets (id bigint PRIMARY KEY, secret text, note varchar(200))');
    await env.client.query('CREATE TABLE "Odd ""Name""" (key text PRIMARY KEY, "Secret;Col" text)');
    const secretA = encrypt('{"hmac":"whsec_abc"}', OLD);
    await env.client.query('INSERT INTO webhook_secrets VALUES (1, $1, $2), (2, NULL, NULL)', [secretA, 'plain note']);
    await env.client.query('INSERT INTO "Odd ""Name""" VALUES ($1, $2)', ['k1', encrypt('odd', OLD)]);
    const snap = await snapshotAll(env.client, 'public');

    for (const columns of [
      ['public.webhook_secrets.id.nope'],
      ['webhook_secrets.id.secret; DROP TABLE connectors'],
      ['connectors.id.auth_config"; DROP TABLE connectors; --'],
      ['a.b'],
      ['webhook_secrets.id.note\u0000'],
    ]) {
      const e = await rejection(keyrotate.rotateEncryptionKey(OLD, NEW, env.url, { columns }));
      assert.ok(['ERR_COLUMN_NOT_FOUND', 'ERR_INVALID_ARG'].includes(e.code), `${columns}: ${e.code}`);
    }
    assert.deepStrictEqual(await snapshotAll(env.client, 'public'), snap);
    assert.ok((await env.client.query("SELECT to_regclass('public.connectors') AS r")).rows[0].r);

    const dir = mkdtempSync(path.join(os.tmpdir(), 'keyrotate-cols-'));
    const file = path.join(dir, 'columns.json');
    writeFileSync(file, JSON.stringify({ columns: [{ table: 'Odd "Name"', primaryKey: 'key', column: 'Secret;Col' }] }));
    const report = observe(
      await keyrotate.rotateEncryptionKey(OLD, NEW, env.url, {
        columns: ['webhook_secrets.id.secret'],
        columnsFile: file,
      }),
    );
    const want = expectedReport(env.fixture);
    assert.equal(report.rowsReencrypted, want.rowsReencrypted + 2);
    assert.equal(report.tables, want.tables + 2);
    const hook = (await env.client.query('SELECT secret FROM webhook_secrets WHERE id = 1')).rows[0].secret;
    assert.equal(decrypt(hook, NEW), '{"hmac":"whsec_abc"}');
    const odd = (await env.client.query('SELECT "Secret;Col" AS v FROM "Odd ""Name"""')).rows[0].v;
    assert.equal(decrypt(odd, NEW), 'odd');
  });

  test('tables it cannot rotate safely are refused, nothing changed: partitioned, with child tables, or the wrong database', async () => {
    const env = await freshInstall({ legacy: false });
    clients.push(env.client);
    await env.client.query('CREATE TABLE parted (id text PRIMARY KEY, v text) PARTITION BY LIST (id)');
    await env.client.query("CREATE TABLE parted_a PARTITION OF parted FOR VALUES IN ('a1', 'a2')");
    await env.client.query("CREATE TABLE parted_b PARTITION OF parted FOR VALUES IN ('b1', 'b2')");
    await env.client.query('CREATE TABLE parent (id text PRIMARY KEY, v text)');
    await env.client.query('CREATE TABLE child () INHERITS (parent)');
    await env.client.query('ALTER TABLE child ADD PRIMARY KEY (id)');
    for (const [t, id] of [['parted', 'a1'], ['parted', 'a2'], ['parted', 'b1'], ['parted', 'b2'], ['parent', 'p1'], ['child', 'c1']]) {
      await env.client.query(`INSERT INTO ${t} VALUES ($1, $2)`, [id, encrypt(`secret of ${id}`, OLD)]);
    }
    const snap = await snapshotAll(env.client, 'public');
    for (const column of ['parted.id.v', 'parent.id.v']) {
      const e = await rejection(keyrotate.rotateEncryptionKey(OLD, NEW, env.url, { columns: [column] }));
      assert.equal(e.code, 'ERR_TABLE_UNSUPPORTED', column);
      assert.match(e.message, /partitioned or has child tables/);
    }
    // Each partition on its own is a plain table, and rotates correctly;
    // the parent's own rows, which cannot be registered, are left out only
    // when the operator accepts it.
    const columns = ['parted_a.id.v', 'parted_b.id.v', 'child.id.v'];
    const refused = await rejection(keyrotate.rotateEncryptionKey(OLD, NEW, env.url, { columns, dryRun: true }));
    assert.equal(refused.code, 'ERR_UNREGISTERED_CIPHERTEXT');
    assert.equal(refused.report.failureCount, 0);
    const report = observe(await keyrotate.rotateEncryptionKey(OLD, NEW, env.url, { columns, dryRun: true, allowUnregistered: true }));
    assert.equal(report.failureCount, 0);
    assert.equal(report.rowsReencrypted, 5 + expectedReport(env.fixture).rowsReencrypted, 'both partitions, the child, and the fixture');
    assert.deepStrictEqual(await snapshotAll(env.client, 'public'), snap);

    const server = await getServer();
    const empty = await server.createDatabase('not_amcp');
    const wrong = await rejection(keyrotate.rotateEncryptionKey(OLD, NEW, empty));
    assert.equal(wrong.code, 'ERR_COLUMN_NOT_FOUND');
    assert.match(wrong.message, /not an AnythingMCP database/);
    const wrongSchema = await rejection(keyrotate.verifyEncryptionKey(NEW, withParams(env.url, { schema: 'tenant_missing' })));
    assert.ok(['ERR_COLUMN_NOT_FOUND', 'ERR_DB_CONNECT'].includes(wrongSchema.code), wrongSchema.code);
  });

  test('row-level security cannot hide rows from a rotation: it fails instead of committing a subset', async () => {
    const env = await freshInstall({ legacy: false });
    clients.push(env.client);
    const role = `rls_owner_${Date.now()}`;
    const password = 'Rls-Owner-Pw-1';
    obs.secret(password);
    await env.client.query(`CREATE ROLE ${role} LOGIN PASSWORD '${password}'`);
    await env.client.query(`ALTER TABLE connectors OWNER TO ${role}`);
    await env.client.query(`GRANT USAGE ON SCHEMA public TO ${role}`);
    await env.client.query('ALTER TABLE connectors ENABLE ROW LEVEL SECURITY');
    await env.client.query('ALTER TABLE connectors FORCE ROW LEVEL SECURITY');
    await env.client.query('CREATE POLICY hide_all ON connectors USING (false)');
    const u = new URL(env.url);
    u.username = role;
    u.password = password;
    const snap = await snapshotAll(env.client, 'public');
    const e = await rejection(keyrotate.rotateEncryptionKey(OLD, NEW, u.toString(), { discover: false }));
    assert.equal(e.code, 'ERR_ROW_SECURITY');
    assert.match(e.message, /row-level security/);
    assert.deepStrictEqual(e.details, { kind: 'table', schema: 'public', table: 'connectors' });
    assert.deepStrictEqual(await snapshotAll(env.client, 'public'), snap);
  });

  test('a dry run takes no write locks: it finishes while a writer holds its transaction open', async () => {
    const env = await freshInstall({ legacy: false });
    clients.push(env.client);
    const writer = new pg.Client({ connectionString: env.url });
    await writer.connect();
    try {
      await writer.query('BEGIN');
      await writer.query("UPDATE connectors SET name = name WHERE type = 'REST'");
      const dry = observe(await keyrotate.rotateEncryptionKey(OLD, NEW, env.url, { dryRun: true, lockTimeoutMs: 200 }));
      assert.equal(dry.rowsReencrypted, expectedReport(env.fixture).rowsReencrypted);
      const real = await rejection(keyrotate.rotateEncryptionKey(OLD, NEW, env.url, { lockTimeoutMs: 200 }));
      assert.equal(real.code, 'ERR_LOCK_TIMEOUT');
    } finally {
      await writer.query('ROLLBACK');
      await writer.end();
    }
  });

  test('user triggers on a rotated table are warned about', async () => {
    const env = await freshInstall({ legacy: false });
    clients.push(env.client);
    await env.client.query("CREATE FUNCTION touch() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN NEW.updated_at := now(); RETURN NEW; END $$");
    await env.client.query('CREATE TRIGGER touch BEFORE UPDATE ON connectors FOR EACH ROW EXECUTE FUNCTION touch()');
    const dry = observe(await keyrotate.rotateEncryptionKey(OLD, NEW, env.url, { dryRun: true }));
    assert.ok(dry.warnings.some((w) => w.code === 'WARN_TABLE_TRIGGERS' && w.message.includes('connectors')));
  });

  test('a "primary key" that does not name rows is refused before any row is read; a unique NOT NULL one rotates', async () => {
    const env = await freshInstall({ legacy: false });
    clients.push(env.client);
    await env.client.query('CREATE TABLE loose (label text, v text)');
    await env.client.query("INSERT INTO loose VALUES ('same', $1), ('same', $2)", [encrypt('one', OLD), encrypt('two', OLD)]);
    const e = await rejection(keyrotate.rotateEncryptionKey(OLD, NEW, env.url, { columns: ['loose.label.v'] }));
    assert.equal(e.code, 'ERR_INVALID_ARG');
    assert.match(e.message, /public\.loose names its rows by label/);
    await env.client.query("UPDATE loose SET label = 'other' WHERE v = (SELECT min(v) FROM loose); ALTER TABLE loose ALTER label SET NOT NULL; ALTER TABLE loose ADD UNIQUE (label)");
    const report = observe(await keyrotate.rotateEncryptionKey(OLD, NEW, env.url, { columns: ['loose.label.v'] }));
    assert.equal(report.locations.find((l) => l.table === 'loose').reencrypted, 2);
    const { rows } = await env.client.query('SELECT v FROM loose');
    assert.deepStrictEqual(rows.map((r) => decrypt(r.v, NEW)).sort(), ['one', 'two']);
  });

  test('values as leniently encoded as Node accepts (whitespace, URL-safe, unpadded) and empty plaintexts rotate', async () => {
    const env = await freshInstall({ legacy: false });
    clients.push(env.client);
    await env.client.query('CREATE TABLE odd_values (id text PRIMARY KEY, v text)');
    const base = encrypt('{"token":"lenient"}', OLD);
    const variants = {
      spaced: base.replace(/(.{10})/g, '$1\n'),
      urlsafe: base.replace(/\+/g, '-').replace(/\//g, '_'),
      unpadded: base.replace(/=+$/, ''),
      emptyPlaintext: encrypt('', OLD),
    };
    for (const [id, v] of Object.entries(variants)) {
      assert.ok(opens(v, OLD), `${id} opens in Node`);
      await env.client.query('INSERT INTO odd_values VALUES ($1, $2)', [id, v]);
    }
    const report = observe(await keyrotate.rotateEncryptionKey(OLD, NEW, env.url, { columns: ['odd_values.id.v'] }));
    assert.equal(report.locations.find((c) => c.table === 'odd_values').reencrypted, 4);
    const { rows } = await env.client.query('SELECT id, v FROM odd_values');
    for (const r of rows) assert.equal(decrypt(r.v, NEW), r.id === 'emptyPlaintext' ? '' : '{"token":"lenient"}');
  });

  test('an unreachable database is ERR_DB_CONNECT naming host and database, never the password', async () => {
    const e = await rejection(keyrotate.rotateEncryptionKey(OLD, NEW, 'postgresql://amcp:Sup3rS3cretPw@127.0.0.1:1/anythingmcp'));
    assert.equal(e.code, 'ERR_DB_CONNECT');
    assert.match(e.message, /127\.0\.0\.1:1\/anythingmcp/);
    assert.ok(!e.message.includes('Sup3rS3cretPw'));
    obs.secret('Sup3rS3cretPw');
  });
});

describe('the JS API', () => {
  test('keys may be Buffers; progress is reported; the event loop keeps running', async () => {
    const server = await getServer();
    const url = await server.createDatabase('api');
    const client = new pg.Client({ connectionString: url });
    await client.connect();
    clients.push(client);
    await createAnythingMcpSchema(client, 'public');
    await seedBulk(client, OLD, 20_000);
    let ticks = 0;
    const timer = setInterval(() => ticks++, 5);
    const events = [];
    const started = Date.now();
    const report = observe(
      await keyrotate.rotateEncryptionKey(Buffer.from(OLD), Buffer.from(NEW), url, {
        batchSize: 500,
        onProgress: (p) => events.push(p),
      }),
    );
    clearInterval(timer);
    const elapsed = Date.now() - started;
    assert.equal(report.rowsReencrypted, 20_000);
    // A blocked loop would tick once at the end; a free one about every 5 ms.
    assert.ok(ticks >= Math.min(10, elapsed / 20), `event loop ticked ${ticks} times in ${elapsed} ms`);
    await new Promise((r) => setImmediate(r));
    // The other locations' tables are empty here: the connectors events carry the work.
    const tables = events.filter((e) => e.phase === 'scanning');
    const last = tables.filter((e) => e.table === 'connectors').at(-1);
    assert.deepStrictEqual(last, { phase: 'scanning', schema: 'public', table: 'connectors', column: 'auth_config, env_vars.$enc', done: 20_000, total: 20_000 });
    assert.ok(tables.every((e) => e.done <= e.total));
    assert.deepStrictEqual([...new Set(events.map((e) => e.phase))], ['connecting', 'discovering', 'scanning', 'committing']);
    assert.equal(events[0].database, `127.0.0.1:${new URL(url).port}${new URL(url).pathname}`);
    const sample = (await client.query('SELECT id, auth_config FROM connectors ORDER BY random() LIMIT 50')).rows;
    for (const r of sample) assert.ok(opens(r.auth_config, NEW));
  });

  test('fingerprints are short, stable, distinct and derived from the effective 32 bytes', () => {
    const a = keyrotate.keyFingerprint(OLD);
    assert.match(a, /^[0-9a-f]{12}$/);
    assert.equal(keyrotate.keyFingerprint(Buffer.from(OLD)), a);
    assert.equal(keyrotate.keyFingerprint(OLD.slice(0, 32) + 'tail-is-ignored'), a);
    assert.notEqual(keyrotate.keyFingerprint(NEW), a);
    assert.equal(keyrotate.generateKey().length, 64);
  });

  test('misspelt options are refused, not ignored', async () => {
    for (const options of [{ dryrun: true }, { lockTimeout: 5000 }]) {
      const e = await rejection(keyrotate.rotateEncryptionKey(OLD, NEW, 'postgresql://x@127.0.0.1:1/z', options));
      assert.equal(e.code, 'ERR_INVALID_ARG');
      assert.match(e.message, /unknown option/);
    }
    const v = await rejection(keyrotate.verifyEncryptionKey(NEW, 'postgresql://x@127.0.0.1:1/z', { dryRun: true }));
    assert.equal(v.code, 'ERR_INVALID_ARG');
  });

  test('argument errors are coded Errors', async () => {
    const e = await rejection(keyrotate.rotateEncryptionKey(42, NEW, 'postgresql://x@y/z'));
    assert.equal(e.code, 'ERR_KEY_INVALID');
    assert.ok(e instanceof Error);
    const u = await rejection(keyrotate.rotateEncryptionKey(OLD, NEW, 'mysql://x@y/z'));
    assert.equal(u.code, 'ERR_INVALID_ARG');
    const lt = await rejection(keyrotate.rotateEncryptionKey(OLD, NEW, 'postgresql://x@127.0.0.1:1/z', { lockTimeoutMs: 0 }));
    assert.equal(lt.code, 'ERR_INVALID_ARG');
  });
});

test('no key or plaintext appears in any report, error or message seen', () => {
  obs.assertNoLeaks(20);
});
