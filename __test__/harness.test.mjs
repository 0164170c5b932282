// Tests of the test helpers themselves, against a real PostgreSQL server.
// Run: node --test __test__/harness.test.mjs
//  or: node __test__/helpers/with-postgres.mjs node --test __test__/harness.test.mjs

import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import os from 'node:os';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import util from 'node:util';
import pg from 'pg';

import { decrypt, encrypt, generateKey } from './helpers/backend-crypto.mjs';
import { BULK_PLAINTEXT_BYTES, bulkPlaintext, seedAcceptanceFixture, seedBulk, snapshotTable, tableDigest } from './helpers/fixture.mjs';
import { getServer, startServer } from './helpers/pg.mjs';
import { AUTH_TYPES, CONNECTOR_TYPES, createAnythingMcpSchema } from './helpers/schema.mjs';

const HELPERS = path.join(path.dirname(fileURLToPath(import.meta.url)), 'helpers');
const ROOT = path.join(HELPERS, '..', '..');

// External servers: drop the databases this file created. Embedded: stop now
// rather than in the exit hook (which the lifecycle tests cover).
after(async () => {
  await (await getServer()).stop();
});

async function connect(url) {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  return client;
}

async function withDatabase(prefix, fn) {
  const server = await getServer();
  const client = await connect(await server.createDatabase(prefix));
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

describe('backend-crypto', () => {
  const key = generateKey();

  test('stores base64(iv16 || ciphertext || tag16) and round-trips', () => {
    for (const plaintext of ['', '{"apiKey":"sk-123"}', 'Zoe\u0308 🔑 密码 e\u0301', 'x'.repeat(1024 * 1024)]) {
      const sealed = encrypt(plaintext, key);
      assert.match(sealed, /^[A-Za-z0-9+/]+={0,2}$/);
      assert.equal(Buffer.from(sealed, 'base64').length, 16 + Buffer.byteLength(plaintext) + 16);
      assert.equal(decrypt(sealed, key), plaintext);
    }
  });

  test('uses only the first 32 UTF-8 bytes of the key, like the backend', () => {
    const sealed = encrypt('secret', key);
    assert.equal(decrypt(sealed, key.slice(0, 32)), 'secret');
    assert.equal(decrypt(sealed, key.slice(0, 32) + 'anything else'), 'secret');
    assert.throws(() => encrypt('secret', 'short-key'), /Invalid key length/);
    // Bytes, not characters: 11 × 3 = 33 bytes is long enough, 10 × 3 = 30 is not.
    assert.equal(decrypt(encrypt('v', '鍵'.repeat(11)), '鍵'.repeat(11) + 'ignored'), 'v');
    assert.throws(() => encrypt('v', '鍵'.repeat(10)), /Invalid key length/);
  });

  test('a wrong key or a tampered value throws', () => {
    const sealed = encrypt('secret', key);
    assert.throws(() => decrypt(sealed, generateKey()));
    const bytes = Buffer.from(sealed, 'base64');
    bytes[20] ^= 1;
    assert.throws(() => decrypt(bytes.toString('base64'), key));
  });

  test('decodes leniently, as Buffer.from(value, "base64") does', () => {
    const sealed = encrypt('lenient', key);
    const urlSafe = sealed.replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
    assert.equal(decrypt(urlSafe, key), 'lenient');
    assert.equal(decrypt(sealed.replace(/(.{10})/g, '$1\n'), key), 'lenient');
  });

  test('generateKey looks like `openssl rand -base64 48`', () => {
    const k = generateKey();
    assert.equal(k.length, 64);
    assert.equal(Buffer.from(k, 'base64').length, 48);
    assert.notEqual(k, generateKey());
  });
});

describe('PostgreSQL server', () => {
  let server;
  before(async () => {
    server = await getServer();
  });

  test('is up, speaks UTF8 and is cached per process', async () => {
    assert.equal(await getServer(), server);
    const client = await connect(server.adminUrl);
    try {
      const { rows } = await client.query(`SELECT current_setting('server_encoding') AS enc, current_setting('server_version_num')::int AS v`);
      assert.equal(rows[0].enc, 'UTF8');
      assert.ok(rows[0].v >= 130000, `server_version_num ${rows[0].v}`);
    } finally {
      await client.end();
    }
    assert.equal(typeof server.host, 'string');
    assert.equal(typeof server.port, 'number');
    assert.equal(typeof server.user, 'string');
  });

  test('never shows its password when inspected or serialised', () => {
    if (!server.password) return;
    assert.ok(!util.inspect(server, { depth: 5 }).includes(server.password));
    assert.ok(!JSON.stringify(server).includes(server.password));
  });

  test('embedded: reachable over its Unix socket too', async () => {
    // Its own server: the shared one may be external, without a socket.
    const own = await startServer();
    const client = new pg.Client({ host: own.socketDir, port: own.port, user: own.user, password: own.password, database: 'postgres' });
    try {
      assert.equal(own.kind, 'embedded');
      await client.connect();
      assert.equal((await client.query('SELECT 1 AS one')).rows[0].one, 1);
    } finally {
      await client.end().catch(() => {});
      await own.stop();
    }
  });

  test('createDatabase gives fresh, isolated databases', async () => {
    const a = await server.createDatabase('Iso A');
    const b = await server.createDatabase('Iso A');
    assert.notEqual(a, b);
    const ca = await connect(a);
    const cb = await connect(b);
    try {
      await ca.query('CREATE TABLE only_in_a (id int)');
      assert.equal((await cb.query(`SELECT to_regclass('only_in_a') AS r`)).rows[0].r, null);
      const names = await Promise.all([ca, cb].map(async (c) => (await c.query('SELECT current_database() AS d')).rows[0].d));
      assert.match(names[0], /^iso_a_[a-z0-9]+_[0-9a-f]{10}$/);
      assert.notEqual(names[0], names[1]);
    } finally {
      await ca.end();
      await cb.end();
    }
    await server.dropDatabase(b);
  });
});

describe('schema', () => {
  const columnsOf = async (client, schema, table) =>
    (
      await client.query(
        `SELECT column_name, data_type, udt_schema, udt_name, is_nullable
           FROM information_schema.columns WHERE table_schema = $1 AND table_name = $2 ORDER BY ordinal_position`,
        [schema, table],
      )
    ).rows;

  test('builds the same tables in public and in tenant_a, each with its own enums', () =>
    withDatabase('schema', async (client) => {
      await createAnythingMcpSchema(client, 'public');
      await createAnythingMcpSchema(client, 'tenant_a', { legacy: true });
      for (const schema of ['public', 'tenant_a']) {
        const cols = await columnsOf(client, schema, 'connectors');
        const byName = Object.fromEntries(cols.map((c) => [c.column_name, c]));
        assert.deepEqual(byName.auth_config, { column_name: 'auth_config', data_type: 'text', udt_schema: 'pg_catalog', udt_name: 'text', is_nullable: 'YES' });
        assert.equal(byName.id.data_type, 'text');
        assert.deepEqual([byName.type.udt_schema, byName.type.udt_name], [schema, 'ConnectorType']);
        assert.deepEqual([byName.auth_type.udt_schema, byName.auth_type.udt_name], [schema, 'AuthType']);
        assert.equal(byName.updated_at.data_type, 'timestamp without time zone');
        const enumValues = async (name) =>
          (await client.query(`SELECT enum_range(NULL::${client.escapeIdentifier(schema)}.${client.escapeIdentifier(name)})::text[] AS v`)).rows[0].v;
        assert.deepEqual(await enumValues('ConnectorType'), CONNECTOR_TYPES);
        assert.deepEqual(await enumValues('AuthType'), AUTH_TYPES);
        assert.ok((await columnsOf(client, schema, 'mcp_api_keys')).some((c) => c.column_name === 'key'));
      }
      assert.equal((await columnsOf(client, 'public', 'mcp_server_configs')).length, 0, 'no legacy table unless asked');
      const legacy = await columnsOf(client, 'tenant_a', 'mcp_server_configs');
      assert.deepEqual(
        legacy.filter((c) => ['id', 'auth_config'].includes(c.column_name)).map((c) => [c.column_name, c.data_type, c.is_nullable]),
        [['id', 'text', 'NO'], ['auth_config', 'text', 'YES']],
      );
    }));

  test('quotes awkward schema names; multiServer has mcp_server_configs without auth_config', () =>
    withDatabase('schema_odd', async (client) => {
      const odd = 'Tenant "B"-x';
      await createAnythingMcpSchema(client, odd, { multiServer: true });
      const cols = await columnsOf(client, odd, 'mcp_server_configs');
      assert.ok(cols.length > 0);
      assert.ok(!cols.some((c) => c.column_name === 'auth_config'));
      assert.ok((await columnsOf(client, odd, 'connectors')).some((c) => c.column_name === 'auth_config'));
    }));
});

describe('fixture', () => {
  const key = generateKey();

  async function checkFixture(client, schema, fixture) {
    const q = (name) => `${client.escapeIdentifier(schema)}.${client.escapeIdentifier(name)}`;
    const otherKey = generateKey();
    for (const row of fixture.rows) {
      const { rows } = await client.query(`SELECT auth_config FROM ${q(row.table)} WHERE id = $1`, [row.id]);
      assert.equal(rows.length, 1, `${row.table} ${row.id}`);
      const stored = rows[0].auth_config;
      assert.equal(stored, row.stored);
      if (row.kind === 'null') assert.equal(stored, null);
      else if (row.kind === 'empty') assert.equal(stored, '');
      else {
        assert.equal(decrypt(stored, key), row.plaintext, `${row.table} ${row.id}`);
        assert.throws(() => decrypt(stored, otherKey), undefined, `${row.table} ${row.id} opened with another key`);
        JSON.parse(row.plaintext);
      }
    }
  }

  test('seeds every connector and auth type; each value opens with the key and no other', () =>
    withDatabase('fixture', async (client) => {
      await createAnythingMcpSchema(client, 'public', { legacy: true });
      const fixture = await seedAcceptanceFixture(client, key, { legacy: true });
      await checkFixture(client, 'public', fixture);

      const connectors = fixture.rows.filter((r) => r.table === 'connectors');
      assert.deepEqual(new Set(connectors.map((r) => r.type)), new Set(CONNECTOR_TYPES));
      assert.deepEqual(new Set(connectors.map((r) => r.authType)), new Set(AUTH_TYPES));
      const sealedAuth = new Set(connectors.filter((r) => r.kind === 'sealed').map((r) => r.authType));
      for (const a of AUTH_TYPES.filter((a) => a !== 'NONE')) assert.ok(sealedAuth.has(a), `no sealed ${a}`);
      for (const kind of ['null', 'empty', 'sealed']) assert.ok(connectors.some((r) => r.kind === kind), kind);
      assert.ok(connectors.some((r) => r.authType === 'NONE' && r.kind === 'sealed'), 'NONE with a sealed "{}"');

      const oauth = connectors.filter((r) => r.authType === 'OAUTH2').map((r) => JSON.parse(r.plaintext));
      assert.ok(oauth.some((o) => o.clientSecret && o.accessToken && o.refreshToken));
      const cert = connectors.find((r) => r.authType === 'CERTIFICATE');
      assert.ok(Buffer.byteLength(cert.plaintext) >= 1024 * 1024, 'certificate bundle ~1 MB');
      assert.match(JSON.parse(cert.plaintext).cert, /^-----BEGIN CERTIFICATE-----\n/);
      assert.ok(connectors.some((r) => r.type === 'DATABASE' && r.authType === 'CONNECTION_STRING'));
      const unicode = connectors.find((r) => r.plaintext?.includes('\u0308'));
      assert.ok(unicode && /\p{Extended_Pictographic}/u.test(unicode.plaintext) && /\p{Script=Han}/u.test(unicode.plaintext));

      const legacy = fixture.rows.filter((r) => r.table === 'mcp_server_configs');
      for (const kind of ['null', 'empty', 'sealed']) assert.ok(legacy.some((r) => r.kind === kind), `legacy ${kind}`);

      const keys = (await client.query('SELECT id, key FROM mcp_api_keys ORDER BY id')).rows;
      assert.deepEqual(keys, [...fixture.apiKeys].sort((a, b) => (a.id < b.id ? -1 : 1)));
      for (const k of keys) assert.match(k.key, /^amcp_[0-9a-f]{48}$/, 'API keys are stored in plain text');
    }));

  test('seeds a tenant schema without touching public', () =>
    withDatabase('fixture_tenant', async (client) => {
      await createAnythingMcpSchema(client, 'public');
      await createAnythingMcpSchema(client, 'tenant_a');
      const fixture = await seedAcceptanceFixture(client, key, { schema: 'tenant_a' });
      await checkFixture(client, 'tenant_a', fixture);
      assert.equal((await client.query('SELECT count(*)::int AS n FROM public.connectors')).rows[0].n, 0);
    }));

  test('seedBulk(5000) writes ~450-char values that open to bulkPlaintext(id)', () =>
    withDatabase('bulk', async (client) => {
      await createAnythingMcpSchema(client, 'public', { legacy: true });
      const started = performance.now();
      const bulk = await seedBulk(client, key, 5000);
      const ms = performance.now() - started;
      assert.ok(ms < 5000, `seedBulk(5000) took ${ms.toFixed(0)} ms`);
      const { rows } = await client.query('SELECT id, auth_config FROM connectors ORDER BY id');
      assert.equal(rows.length, 5000);
      assert.equal(rows[0].id, bulk.firstId);
      assert.equal(rows.at(-1).id, bulk.lastId);
      assert.equal(bulk.idAt(1), rows[1].id);
      for (const r of rows) {
        assert.equal(r.auth_config.length, 452);
        assert.equal(decrypt(r.auth_config, key), bulkPlaintext(r.id));
      }
      assert.equal(Buffer.byteLength(bulkPlaintext(bulk.firstId)), BULK_PLAINTEXT_BYTES);

      // Appending, other tables and custom columns.
      await seedBulk(client, key, 10, { startIndex: 5000 });
      assert.equal((await client.query('SELECT count(*)::int AS n FROM connectors')).rows[0].n, 5010);
      await seedBulk(client, key, 20, { table: 'mcp_server_configs', batchSize: 7 });
      await client.query('CREATE TABLE extra_secrets (id text PRIMARY KEY, secret_value text)');
      await seedBulk(client, key, 15, { table: 'extra_secrets', column: 'secret_value', idPrefix: 'x' });
      const extra = (await client.query('SELECT id, secret_value FROM extra_secrets ORDER BY id')).rows;
      assert.equal(extra.length, 15);
      for (const r of extra) assert.equal(decrypt(r.secret_value, key), bulkPlaintext(r.id));
      assert.equal((await client.query('SELECT count(*)::int AS n FROM mcp_server_configs')).rows[0].n, 20);
    }));

  test('snapshotTable and tableDigest see any change, and can ignore a column', () =>
    withDatabase('snapshot', async (client) => {
      await createAnythingMcpSchema(client, 'tenant_a');
      const fixture = await seedAcceptanceFixture(client, key, { schema: 'tenant_a' });
      const snap = (opts) => snapshotTable(client, 'tenant_a', 'connectors', opts);
      const digest = (opts) => tableDigest(client, 'tenant_a', 'connectors', opts);
      const before = await snap();
      const beforeDigest = await digest();
      const beforeExcl = await snap({ exclude: ['auth_config'] });
      assert.equal(before.length, fixture.rows.length);
      assert.deepEqual(await snap(), before);
      assert.equal(beforeDigest.rows, before.length);
      assert.ok(!beforeExcl.some((r) => r.includes('"auth_config"')));
      const ids = before.map((r) => JSON.parse(r).id);
      assert.deepEqual(ids, [...ids].sort(), 'ordered by primary key');

      const target = fixture.rows.find((r) => r.kind === 'sealed').id;
      await client.query(`UPDATE tenant_a.connectors SET auth_config = $2 WHERE id = $1`, [target, encrypt('{}', generateKey())]);
      assert.notDeepEqual(await snap(), before);
      assert.notEqual((await digest()).md5, beforeDigest.md5);
      assert.deepEqual(await snap({ exclude: ['auth_config'] }), beforeExcl);
      assert.equal((await digest({ exclude: ['auth_config'] })).md5, (await tableDigest(client, 'tenant_a', 'connectors', { exclude: ['auth_config'] })).md5);

      // A millisecond of updated_at is a change.
      await client.query(`UPDATE tenant_a.connectors SET updated_at = updated_at + interval '1 millisecond' WHERE id = $1`, [target]);
      assert.notDeepEqual(await snap({ exclude: ['auth_config'] }), beforeExcl);
    }));
});

// The lifecycle tests start their own embedded servers in child processes,
// whatever TEST_DATABASE_URL says: they test the embedded machinery itself.
describe('embedded server lifecycle', () => {
  const childEnv = { ...process.env };
  delete childEnv.TEST_DATABASE_URL;

  // A zombie is dead, just not yet reaped by its new parent.
  function alive(pid) {
    try {
      const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
      return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
    } catch (err) {
      if (err.code === 'ENOENT') return false;
    }
    try {
      process.kill(pid, 0);
      return true;
    } catch {
      return false;
    }
  }

  async function waitFor(what, predicate, ms = 10_000) {
    const deadline = Date.now() + ms;
    while (!predicate()) {
      if (Date.now() > deadline) assert.fail(`timed out waiting: ${what}`);
      await new Promise((r) => setTimeout(r, 25));
    }
  }

  function runNode(args, { onLine } = {}) {
    const child = spawn(process.execPath, args, { cwd: ROOT, env: childEnv, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => {
      out += d;
      if (onLine && out.includes('\n')) onLine(JSON.parse(out.split('\n')[0]), child);
    });
    child.stderr.on('data', (d) => (err += d));
    const done = new Promise((resolve) => child.on('close', (code, signal) => resolve({ code, signal, out, err })));
    return { child, done };
  }

  const holder = (tail) => `
    import { getServer } from ${JSON.stringify(path.join(HELPERS, 'pg.mjs'))};
    const s = await getServer();
    process.stdout.write(JSON.stringify({ pid: s.pid, root: s.socketDir }) + '\\n');
    ${tail}`;

  test('a process that just ends stops its server and removes its files', async () => {
    const { done } = runNode(['--input-type=module', '-e', holder('')]);
    const res = await done;
    assert.equal(res.code, 0, res.err);
    assert.equal(res.err, '', 'prints nothing on success');
    const info = JSON.parse(res.out);
    assert.equal(alive(info.pid), false, 'postmaster still running after exit');
    assert.equal(fs.existsSync(info.root), false);
  });

  test('a process that throws stops its server too', async () => {
    const res = await runNode(['--input-type=module', '-e', holder(`throw new Error('boom');`)]).done;
    assert.equal(res.code, 1);
    const info = JSON.parse(res.out);
    assert.equal(alive(info.pid), false);
    assert.equal(fs.existsSync(info.root), false);
  });

  test('SIGKILL of the owner: the watchdog stops the server and removes its files', async () => {
    let info;
    const { done } = runNode(['--input-type=module', '-e', holder('setInterval(() => {}, 1000);')], {
      onLine: (line, child) => {
        info ??= line;
        child.kill('SIGKILL');
      },
    });
    const res = await done;
    assert.equal(res.signal, 'SIGKILL');
    await waitFor('postmaster to exit', () => !alive(info.pid));
    await waitFor('data directory removal', () => !fs.existsSync(info.root));
  });

  test('SIGTERM of the owner stops the server, then terminates as SIGTERM would', async () => {
    let info;
    const res = await runNode(['--input-type=module', '-e', holder('setInterval(() => {}, 1000);')], {
      onLine: (line, child) => {
        info ??= line;
        child.kill('SIGTERM');
      },
    }).done;
    assert.equal(res.signal, 'SIGTERM');
    assert.equal(alive(info.pid), false);
    assert.equal(fs.existsSync(info.root), false);
  });


  test('startServer({ tls: { require: true } }) accepts TLS only', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'keyrotate-tls-'));
    try {
      execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '1',
        '-subj', '/CN=localhost', '-addext', 'subjectAltName=IP:127.0.0.1,DNS:localhost',
        '-keyout', path.join(dir, 'key.pem'), '-out', path.join(dir, 'cert.pem')], { stdio: 'ignore' });
      const cert = fs.readFileSync(path.join(dir, 'cert.pem'), 'utf8');
      const key = fs.readFileSync(path.join(dir, 'key.pem'), 'utf8');
      const server = await startServer({ tls: { cert, key, require: true } });
      try {
        const base = { host: '127.0.0.1', port: server.port, user: server.user, password: server.password, database: 'postgres' };
        const tlsClient = new pg.Client({ ...base, ssl: { ca: cert, servername: 'localhost' } });
        await tlsClient.connect();
        assert.equal((await tlsClient.query('SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()')).rows[0].ssl, true);
        await tlsClient.end();
        const plain = new pg.Client({ ...base, ssl: false });
        await assert.rejects(plain.connect(), /no encryption|pg_hba\.conf rejects/);
      } finally {
        await server.stop();
      }
      assert.equal(fs.existsSync(server.socketDir), false);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  test('with-postgres.mjs: shares one server, passes the exit code through, cleans up', async () => {
    const script = `
      import pg from 'pg';
      const c = new pg.Client({ connectionString: process.env.TEST_DATABASE_URL });
      await c.connect();
      const dir = (await c.query('SHOW data_directory')).rows[0].data_directory;
      await c.end();
      process.stdout.write(JSON.stringify({ dir }) + '\\n');
      process.exitCode = 3;`;
    const res = await runNode([path.join(HELPERS, 'with-postgres.mjs'), process.execPath, '--input-type=module', '-e', script]).done;
    assert.equal(res.code, 3, res.err);
    assert.equal(res.err, '');
    const { dir } = JSON.parse(res.out);
    assert.equal(fs.existsSync(dir), false, 'server files left behind');

    const signalled = await runNode([path.join(HELPERS, 'with-postgres.mjs'), process.execPath, '-e', 'process.kill(process.pid, "SIGTERM")']).done;
    assert.equal(signalled.signal, 'SIGTERM');
  });
});
