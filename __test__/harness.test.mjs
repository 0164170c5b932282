// Tests of the test machinery itself: the backend's crypto and the PostgreSQL
// servers (the fixture's own tests are in fixture.test.mjs).
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

import { decrypt, encrypt, generateKey } from './helpers/anythingmcp/crypto.mjs';
import { startServer } from './helpers/server/embedded.mjs';
import { getServer } from './helpers/server/postgres.mjs';

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

  test('with an AAD, a value opens only with the same AAD (none is not the same as one)', () => {
    const sealed = encrypt('{"secret":1}', key, 'idp_client_secret:a:b');
    assert.equal(decrypt(sealed, key, 'idp_client_secret:a:b'), '{"secret":1}');
    assert.throws(() => decrypt(sealed, key));
    assert.throws(() => decrypt(sealed, key, 'idp_client_secret:a:c'));
    assert.throws(() => decrypt(encrypt('plain', key), key, 'connectors.env_vars'));
    // The AAD is authenticated, not stored: the envelope is the same size.
    assert.equal(Buffer.from(sealed, 'base64').length, 16 + 12 + 16);
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
    import { getServer } from ${JSON.stringify(path.join(HELPERS, 'server', 'postgres.mjs'))};
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
