// Fail closed and name the real cause: the diagnosis follows the
// data, never the physical order of rows; text a SQL_ASCII database hands
// back that is not UTF-8 is that row's error, never a panic; row-level
// security on a table that holds a location is refused up front, and on any
// other table never stops the run.

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import { createRequire } from 'node:module';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import pg from 'pg';

import { encrypt, generateKey } from './helpers/anythingmcp/crypto.mjs';
import { LOCATIONS } from './helpers/anythingmcp/locations.mjs';
import { createAnythingMcpSchema } from './helpers/anythingmcp/schema.mjs';
import { createObserver, opens } from './helpers/inspect/hygiene.mjs';
import { snapshotTable } from './helpers/inspect/snapshot.mjs';
import { getServer } from './helpers/server/postgres.mjs';

const require = createRequire(import.meta.url);
const keyrotate = require('../index.js');
const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const CLI = path.join(ROOT, 'packages', 'backend', 'dist', 'scripts', 'rotate-encryption-key.js');

const OLD = generateKey();
const NEW = generateKey();
const OTHER = generateKey();
const obs = createObserver();
for (const k of [OLD, NEW, OTHER]) obs.secret(k);

const clients = [];
after(async () => {
  for (const c of clients) await c.end().catch(() => {});
});

async function connect(url) {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  clients.push(client);
  return client;
}

/** An AnythingMCP database whose connectors are inserted in the given order, so the first is physically first. */
async function install(prefix, values, { createDatabase } = {}) {
  const server = await getServer();
  const url = createDatabase ? await createDatabase(server) : await server.createDatabase(prefix);
  const client = await connect(url);
  await createAnythingMcpSchema(client, 'public');
  await client.query("INSERT INTO organizations (id, name, updated_at) VALUES ('org1', 'Acme', now())");
  await client.query("INSERT INTO users (id, email, organization_id, updated_at) VALUES ('user1', 'a@acme.example', 'org1', now())");
  for (const [i, v] of values.entries()) {
    await client.query(
      `INSERT INTO connectors (id, user_id, organization_id, name, type, base_url, auth_type, auth_config, updated_at)
       VALUES ($1, 'user1', 'org1', $2, 'REST', 'https://api.example.com', 'API_KEY', $3, now())`,
      [`c${String(i).padStart(3, '0')}`, `Connector ${i}`, v],
    );
  }
  return { url, client };
}

const secretOf = (i) => {
  const s = JSON.stringify({ apiKey: `sk_diag_${i}_${crypto.randomBytes(6).toString('hex')}` });
  obs.secret(s);
  return s;
};

function flip(value) {
  const raw = Buffer.from(value, 'base64');
  raw[raw.length - 1] ^= 1;
  return raw.toString('base64');
}

/** Physical order as the rotation's sequential scan sees it. */
async function physicalOrder(client) {
  const { rows } = await client.query('SELECT id FROM connectors WHERE auth_config IS NOT NULL');
  return rows.map((r) => r.id);
}

describe('the diagnosis follows the data, never the order of rows', () => {
  test('right old key, corrupt value physically first: that value is named, not "old key does not match"', async () => {
    const good = Array.from({ length: 30 }, (_, i) => encrypt(secretOf(i), OLD));
    const { url, client } = await install('diag_first', [flip(good[0]), ...good.slice(1)]);
    assert.equal((await physicalOrder(client))[0], 'c000');
    const before = await snapshotTable(client, 'public', 'connectors');
    const e = await obs.rejection(keyrotate.rotateEncryptionKey(OLD, NEW, url));
    assert.equal(e.code, 'ERR_UNDECRYPTABLE', e.message);
    assert.deepStrictEqual(e.details, { kind: 'value', schema: 'public', table: 'connectors', column: 'auth_config', primaryKey: 'c000' });
    assert.doesNotMatch(e.message, /old key does not match/);
    assert.deepStrictEqual(await snapshotTable(client, 'public', 'connectors'), before);
    // The same through the CLI: exit 3, and the advice is about that value.
    const r = spawnSync(process.execPath, [CLI, '--yes'], {
      env: { PATH: process.env.PATH, DATABASE_URL: url, OLD_ENCRYPTION_KEY: OLD, NEW_ENCRYPTION_KEY: NEW },
      encoding: 'utf8',
    });
    obs.observe(r.stdout);
    obs.observe(r.stderr);
    assert.equal(r.status, 3, r.stderr);
    assert.match(r.stderr, /\[ERR_UNDECRYPTABLE\].*c000/);
  });

  test('wrong old key while the first value is already on the new key: "old key does not match", no advice to restore a good value', async () => {
    const values = [encrypt(secretOf('new'), NEW), ...Array.from({ length: 20 }, (_, i) => encrypt(secretOf(i), OLD))];
    const { url, client } = await install('diag_wrong_key', values);
    const before = await snapshotTable(client, 'public', 'connectors');
    const e = await obs.rejection(keyrotate.rotateEncryptionKey(OTHER, NEW, url));
    assert.equal(e.code, 'ERR_OLD_KEY_MISMATCH', e.message);
    assert.equal(e.details.primaryKey, 'c001', 'the first value that failed, not the one already on the new key');
    const r = spawnSync(process.execPath, [CLI, '--yes'], {
      env: { PATH: process.env.PATH, DATABASE_URL: url, OLD_ENCRYPTION_KEY: OTHER, NEW_ENCRYPTION_KEY: NEW },
      encoding: 'utf8',
    });
    obs.observe(r.stdout);
    obs.observe(r.stderr);
    assert.equal(r.status, 3);
    assert.match(r.stderr, /\[ERR_OLD_KEY_MISMATCH\]/);
    assert.doesNotMatch(r.stderr, /backup|restore/i);
    assert.deepStrictEqual(await snapshotTable(client, 'public', 'connectors'), before);
  });

  test('a dry run lists every failing value, in every location, and still says when the old key does not match', async () => {
    const values = Array.from({ length: 12 }, (_, i) => encrypt(secretOf(i), OLD));
    const bad = [0, 5, 11];
    for (const i of bad) values[i] = flip(values[i]);
    const { url, client } = await install('diag_dry', values);
    await client.query("UPDATE connectors SET env_vars = jsonb_build_object('$enc', 'QUJD', 'PLAIN', 'kept') WHERE id = 'c003'");
    await client.query("UPDATE connectors SET env_vars = '{\"$enc\": 42}' WHERE id = 'c004'");
    const before = await snapshotTable(client, 'public', 'connectors');
    // A dry run that its real run would refuse rejects the same way, with
    // every finding in its report.
    const refused = await obs.rejection(keyrotate.rotateEncryptionKey(OLD, NEW, url, { dryRun: true }));
    assert.equal(refused.code, 'ERR_UNDECRYPTABLE');
    const dry = refused.report;
    assert.equal(dry.oldKeyMatches, true);
    assert.deepStrictEqual(
      dry.failures.map((f) => [f.primaryKey, f.column, f.member ?? null, f.reason]).sort(),
      [
        ['c000', 'auth_config', null, 'authentication tag does not verify'],
        ['c003', 'env_vars', '$enc', 'too short to hold an IV and a tag'],
        ['c004', 'env_vars', '$enc', 'the member is present but is not a string'],
        ['c005', 'auth_config', null, 'authentication tag does not verify'],
        ['c011', 'auth_config', null, 'authentication tag does not verify'],
      ],
    );
    assert.equal(dry.failureCount, 5);
    const byColumn = Object.fromEntries(dry.locations.filter((l) => l.table === 'connectors').map((l) => [l.column, l]));
    assert.equal(byColumn.auth_config.failed, 3);
    assert.equal(byColumn.auth_config.reencrypted, 9);
    assert.equal(byColumn.env_vars.failed, 2);

    const mismatch = await obs.rejection(keyrotate.rotateEncryptionKey(OTHER, NEW, url, { dryRun: true }));
    assert.equal(mismatch.code, 'ERR_OLD_KEY_MISMATCH');
    const wrong = mismatch.report;
    assert.equal(wrong.oldKeyMatches, false);
    assert.equal(wrong.failureCount, 14);
    assert.deepStrictEqual(await snapshotTable(client, 'public', 'connectors'), before);
  });
});

describe('discovery looks past the registry\'s own cells, not past its neighbours', () => {
  test('a second member beside env_vars.$enc, and secretEnc in an org_settings row the filter leaves out, are found; the registered ones are not', async () => {
    const { url, client } = await install('diag_beside', [encrypt(secretOf(1), OLD)]);
    const vars = { $enc: encrypt(secretOf('vars'), OLD, 'connectors.env_vars'), LEGACY_TOKEN: encrypt(secretOf('legacy'), OLD, 'connectors.env_vars'), PLAIN: 'kept' };
    await client.query("UPDATE connectors SET env_vars = $1 WHERE id = 'c000'", [JSON.stringify(vars)]);
    await client.query(
      `INSERT INTO org_settings (id, organization_id, key, value, updated_at) VALUES
         ('os1', 'org1', 'alert_webhook', $1, now()), ('os2', 'org1', 'smtp_relay', $2, now())`,
      [JSON.stringify({ url: 'https://hooks.example', secretEnc: encrypt(secretOf('hook'), OLD, 'org1') }), JSON.stringify({ host: 'smtp.example', secretEnc: encrypt(secretOf('smtp'), OLD) })],
    );
    const refused = await obs.rejection(keyrotate.rotateEncryptionKey(OLD, NEW, url, { dryRun: true }));
    assert.equal(refused.code, 'ERR_UNREGISTERED_CIPHERTEXT');
    const dry = refused.report;
    assert.deepStrictEqual(
      dry.discovered.map(({ matches, ...place }) => place).sort((a, b) => (a.table < b.table ? -1 : 1)),
      [
        { schema: 'public', table: 'connectors', column: 'env_vars', member: 'LEGACY_TOKEN', aad: 'connectors.env_vars' },
        { schema: 'public', table: 'org_settings', column: 'value', member: 'secretEnc', aad: null },
      ],
    );
    assert.equal(dry.failureCount, 0);
    const e = await obs.rejection(keyrotate.rotateEncryptionKey(OLD, NEW, url));
    assert.equal(e.code, 'ERR_UNREGISTERED_CIPHERTEXT');
  });
});

describe('a SQL_ASCII database', () => {
  test('text that is not UTF-8 is that row\'s clear error, never a panic; the rest of the data decides', async () => {
    let dbUrl;
    const { url, client } = await install('diag_ascii', [], {
      createDatabase: async (server) => {
        const name = `diag_ascii_${Date.now().toString(36)}_${crypto.randomBytes(3).toString('hex')}`;
        const admin = await connect(server.adminUrl);
        await admin.query(`CREATE DATABASE ${name} ENCODING 'SQL_ASCII' LC_COLLATE 'C' LC_CTYPE 'C' TEMPLATE template0`);
        const u = new URL(server.adminUrl);
        u.pathname = `/${name}`;
        dbUrl = u.toString();
        return dbUrl;
      },
    });
    assert.equal((await client.query('SHOW server_encoding')).rows[0].server_encoding, 'SQL_ASCII');
    for (let i = 0; i < 5; i++) {
      await client.query(
        `INSERT INTO connectors (id, user_id, organization_id, name, type, base_url, auth_config, updated_at)
         VALUES ($1, 'user1', 'org1', 'c', 'REST', 'https://x.example', $2, now())`,
        [`ok${i}`, encrypt(secretOf(i), OLD)],
      );
    }
    // Raw bytes no UTF-8 database would accept: in a value, and in a primary key.
    await client.query(
      `INSERT INTO connectors (id, user_id, organization_id, name, type, base_url, auth_config, updated_at)
       VALUES ('bad-value', 'user1', 'org1', 'c', 'REST', 'https://x.example', E'\\xc3\\x28' || $1, now())`,
      [encrypt(secretOf('x'), OLD)],
    );
    await client.query(
      `INSERT INTO connectors (id, user_id, organization_id, name, type, base_url, auth_config, updated_at)
       VALUES (E'pk-\\xff', 'user1', 'org1', 'c', 'REST', 'https://x.example', E'\\xfe\\xfe', now())`,
    );
    const refused = await obs.rejection(keyrotate.rotateEncryptionKey(OLD, NEW, url, { dryRun: true }));
    assert.equal(refused.code, 'ERR_UNDECRYPTABLE');
    const dry = refused.report;
    const reasons = Object.fromEntries(dry.failures.map((f) => [f.primaryKey, f.reason]));
    assert.deepStrictEqual(reasons, {
      'bad-value': 'the stored text is not valid UTF-8',
      '(not valid UTF-8)': 'the stored text is not valid UTF-8',
    });
    assert.equal(dry.locations[0].reencrypted, 5);
    const e = await obs.rejection(keyrotate.rotateEncryptionKey(OLD, NEW, url));
    assert.equal(e.code, 'ERR_UNDECRYPTABLE');
    assert.match(e.message, /not valid UTF-8/);
    // Nothing was written: every good value still opens with the old key.
    const { rows } = await client.query("SELECT auth_config FROM connectors WHERE id LIKE 'ok%'");
    for (const r of rows) assert.ok(opens(r.auth_config, OLD));
    await client.end();
    clients.splice(clients.indexOf(client), 1);
    await (await getServer()).dropDatabase(dbUrl);
  });
});

describe('row-level security', () => {
  // Every table that holds a location, and the ones the tests read.
  const OWNED = [...new Set([...LOCATIONS.map((l) => l.table), 'organizations', 'users', 'mcp_api_keys', 'kg_value_seen', 'security_events'])];
  async function withRole(client, prefix) {
    const role = `${prefix}_${crypto.randomBytes(3).toString('hex')}`;
    const password = `Pw-${crypto.randomBytes(9).toString('hex')}`;
    obs.secret(password);
    await client.query(`CREATE ROLE ${role} LOGIN PASSWORD '${password}'`);
    return { role, password };
  }
  /** A role that owns every table the run reads, as the backend's own role does. */
  async function owningRole(client, prefix) {
    const role = await withRole(client, prefix);
    for (const t of OWNED) await client.query(`ALTER TABLE ${t} OWNER TO ${role.role}`);
    await client.query(`GRANT USAGE ON SCHEMA public TO ${role.role}`);
    return role;
  }
  const as = (url, { role, password }) => {
    const u = new URL(url);
    u.username = role;
    u.password = password;
    return u.toString();
  };

  test('on a table that holds a location, when it would filter the role: ERR_ROW_SECURITY before anything is written, saying how to run', async () => {
    const { url, client } = await install('diag_rls_loc', [encrypt(secretOf(1), OLD), encrypt(secretOf(2), OLD)]);
    const role = await withRole(client, 'rls_reader');
    await client.query(`GRANT USAGE ON SCHEMA public TO ${role.role}; GRANT SELECT, UPDATE ON ALL TABLES IN SCHEMA public TO ${role.role}`);
    await client.query('ALTER TABLE connectors ENABLE ROW LEVEL SECURITY');
    await client.query(`CREATE POLICY own_org ON connectors USING (organization_id = 'org2')`);
    const before = await snapshotTable(client, 'public', 'connectors');
    const e = await obs.rejection(keyrotate.rotateEncryptionKey(OLD, NEW, as(url, role)));
    assert.equal(e.code, 'ERR_ROW_SECURITY', e.message);
    assert.deepStrictEqual(e.details, { kind: 'table', schema: 'public', table: 'connectors' });
    assert.match(e.message, /owner.*BYPASSRLS.*superuser/);
    assert.deepStrictEqual(await snapshotTable(client, 'public', 'connectors'), before);
    const r = spawnSync(process.execPath, [CLI, '--yes'], {
      env: { PATH: process.env.PATH, DATABASE_URL: as(url, role), OLD_ENCRYPTION_KEY: OLD, NEW_ENCRYPTION_KEY: NEW },
      encoding: 'utf8',
    });
    obs.observe(r.stdout);
    obs.observe(r.stderr);
    assert.equal(r.status, 4, r.stderr);
    assert.match(r.stderr, /\[ERR_ROW_SECURITY\]/);
    // The owner, with row security enabled but not forced, is not filtered.
    const owner = await owningRole(client, 'rls_owner');
    const report = obs.observe(await keyrotate.rotateEncryptionKey(OLD, NEW, as(url, owner)));
    assert.equal(report.rowsReencrypted, 2);
  });

  test('forced on a table that holds no location, it never stops the run: discovery skips it with a notice', async () => {
    const { url, client } = await install('diag_rls_other', [encrypt(secretOf(1), OLD)]);
    const role = await owningRole(client, 'rls_app');
    await client.query('CREATE TABLE audit_notes (id text PRIMARY KEY, note text)');
    await client.query(`GRANT SELECT ON audit_notes TO ${role.role}`);
    await client.query("INSERT INTO audit_notes VALUES ('n1', 'plain')");
    await client.query('ALTER TABLE audit_notes ENABLE ROW LEVEL SECURITY');
    await client.query('ALTER TABLE audit_notes FORCE ROW LEVEL SECURITY');
    await client.query('CREATE POLICY nobody ON audit_notes USING (false)');
    await client.query('CREATE TABLE private_notes (id text PRIMARY KEY, note text)');
    const report = obs.observe(await keyrotate.rotateEncryptionKey(OLD, NEW, as(url, role)));
    assert.equal(report.committed, true);
    assert.equal(report.rowsReencrypted, 1);
    assert.ok(report.notices.some((n) => /discovery skipped public\.audit_notes: row-level security/.test(n)), report.notices.join('\n'));
    assert.ok(report.notices.some((n) => /discovery skipped public\.private_notes: this role may not read it/.test(n)), report.notices.join('\n'));
  });

  test('a table whose SELECT is revoked while discovery waits for it is skipped with a notice; every other table is still searched', async () => {
    const { url, client } = await install('diag_revoked', [encrypt(secretOf(1), OLD)]);
    const role = await owningRole(client, 'late_app');
    await client.query('CREATE TABLE late_notes (id text PRIMARY KEY, note text)');
    await client.query('CREATE TABLE stray_secrets (id text PRIMARY KEY, value text)');
    await client.query(`GRANT SELECT ON late_notes, stray_secrets TO ${role.role}`);
    await client.query("INSERT INTO stray_secrets VALUES ('s1', $1)", [encrypt(secretOf('stray'), OLD)]);
    // The catalog sees a table the role may read; by the time the search
    // reaches it, it may not.
    const blocker = await connect(url);
    try {
      await blocker.query('BEGIN');
      await blocker.query('LOCK TABLE late_notes IN ACCESS EXCLUSIVE MODE');
      await blocker.query(`REVOKE SELECT ON late_notes FROM ${role.role}`);
      const run = obs.rejection(keyrotate.rotateEncryptionKey(OLD, NEW, as(url, role), { dryRun: true }));
      for (let waited = 0; ; waited += 50) {
        const { rows } = await client.query("SELECT count(*)::int AS n FROM pg_locks WHERE relation = 'late_notes'::regclass AND NOT granted");
        if (rows[0].n > 0) break;
        assert.ok(waited < 10_000, 'discovery never waited for late_notes');
        await new Promise((r) => setTimeout(r, 50));
      }
      await blocker.query('COMMIT');
      const e = await run;
      assert.equal(e.code, 'ERR_UNREGISTERED_CIPHERTEXT');
      assert.deepStrictEqual(
        e.report.discovered.map(({ schema, table, column }) => ({ schema, table, column })),
        [{ schema: 'public', table: 'stray_secrets', column: 'value' }],
      );
      assert.ok(e.report.notices.some((n) => /discovery skipped public\.late_notes: this role may not read it/.test(n)), e.report.notices.join('\n'));
    } finally {
      await blocker.end();
    }
  });
});

test('no key or plaintext appears in any report, error or output', () => {
  obs.assertNoLeaks(10);
});
