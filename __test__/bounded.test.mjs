// Bounded at any database shape: discovery's memory does not grow with the
// size of the documents it searches, nor its locks with the number of
// tables; a locations file names rows only by a column that names rows; the
// server's detail and hint reach the operator. Real CLI processes, their
// peak RSS measured by GNU time, against a real PostgreSQL at its default
// max_locks_per_transaction.

import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import pg from 'pg';

import keyrotate from '../index.js';
import { encrypt, generateKey } from './helpers/anythingmcp/crypto.mjs';
import { createAnythingMcpSchema } from './helpers/anythingmcp/schema.mjs';
import { acceptanceDatabase, seedAcceptanceFixture } from './helpers/fixture/acceptance.mjs';
import { createObserver } from './helpers/inspect/hygiene.mjs';
import { snapshotSchema } from './helpers/inspect/snapshot.mjs';
import { jsonDocument } from './helpers/run/cli-schema.mjs';
import { bigSpec, timedCli } from './helpers/run/cli.mjs';
import { startServer } from './helpers/server/embedded.mjs';

const OLD = generateKey();
const NEW = generateKey();
const obs = createObserver();
obs.keys(OLD, NEW);
const clients = [];
const tmp = mkdtempSync(path.join(os.tmpdir(), 'keyrotate-bounded-'));
after(async () => {
  for (const c of clients) await c.end();
});

const install = (prefix) => acceptanceDatabase(prefix, OLD, { clients, obs });

/** The CLI under GNU time, its output observed. */
function measured(args, env) {
  const r = timedCli(args, env);
  obs.observe(r.stdout);
  obs.observe(r.stderr);
  return r;
}

describe('discovery is bounded', () => {
  test('memory: 40 connectors with 6 MB imported specs full of sealed-looking strings; a dry run stays under 256 MB and finds what is there', async (t) => {
    const env = await install('bounded_docs');
    const sealed = encrypt('{"token":"in-a-spec"}', OLD);
    obs.secret('{"token":"in-a-spec"}');
    // jsonb orders keys by length: "tok" is each document's first string,
    // and within the 20,000 candidates tried.
    const spec = bigSpec(6, { tok: sealed });
    const ids = env.fixture.rows.filter((r) => r.table === 'connectors' && r.column === 'auth_config').map((r) => r.id);
    await env.client.query('UPDATE connectors SET spec_data = $1::jsonb WHERE id = ANY($2)', [spec, ids.slice(0, 26)]);
    const owner = (await env.client.query('SELECT user_id, organization_id FROM connectors LIMIT 1')).rows[0];
    for (let i = 0; i < 14; i++) {
      await env.client.query(
        `INSERT INTO connectors (id, user_id, organization_id, name, type, base_url, spec_data, updated_at)
         VALUES ($1, $2, $3, 'imported', 'REST', 'https://api.example.com', $4::jsonb, now())`,
        [`cspec${i}`, owner.user_id, owner.organization_id, spec],
      );
    }
    const { rows } = await env.client.query("SELECT count(*)::int AS n, sum(octet_length(spec_data::text))::bigint AS bytes FROM connectors WHERE octet_length(spec_data::text) > 1000000");
    assert.equal(rows[0].n, 40);
    const r = measured(['--dry-run', '--json'], { DATABASE_URL: env.url, OLD_ENCRYPTION_KEY: OLD, NEW_ENCRYPTION_KEY: NEW });
    t.diagnostic(`${rows[0].n} documents, ${(Number(rows[0].bytes) / 1e6).toFixed(0)} MB of JSON; peak RSS ${r.peakMb.toFixed(0)} MB`);
    const doc = jsonDocument(r.stdout, 3);
    assert.equal(doc.error.code, 'ERR_UNREGISTERED_CIPHERTEXT');
    assert.deepStrictEqual(
      doc.error.report.discovered.map(({ matches, ...place }) => place),
      [{ schema: 'public', table: 'connectors', column: 'spec_data', member: 'tok', aad: null }],
    );
    assert.ok(r.peakMb < 256, `peak RSS ${r.peakMb.toFixed(0)} MB`);
  });

  test('locks: 10,000 tables with a text and a jsonb column each, on a server with the default lock table: a dry run finishes', async (t) => {
    // PostgreSQL's defaults (64 locks per transaction, 100 connections)
    // share 6,400 lock slots among all sessions: one transaction over every
    // table would need more.
    const server = await startServer({ settings: { max_connections: '100' } });
    const url = await server.createDatabase('bounded_tables');
    const client = new pg.Client({ connectionString: url });
    await client.connect();
    const env = { url, client };
    try {
      await createAnythingMcpSchema(client, 'public', { legacy: true });
      env.fixture = await seedAcceptanceFixture(client, OLD, { legacy: true });
      for (const s of env.fixture.secrets) obs.secret(s);
      await locksCase(t, env);
    } finally {
      await client.end();
      await server.stop();
    }
  });
});

async function locksCase(t, env) {
  {
    const { rows } = await env.client.query("SELECT current_setting('max_locks_per_transaction') AS l, current_setting('max_connections') AS c");
    assert.deepStrictEqual(rows[0], { l: '64', c: '100' });
    for (let from = 0; from < 10_000; from += 250) {
      await env.client.query(`DO $$ BEGIN FOR i IN ${from}..${from + 249} LOOP
        EXECUTE format('CREATE TABLE tenant_%s (id int PRIMARY KEY, note text, data jsonb)', i);
        EXECUTE format('INSERT INTO tenant_%s VALUES (1, %L, %L)', i, 'plain note ' || i, '{"k": "v"}');
      END LOOP; END $$`);
    }
    // The premise: one transaction that reads every table runs out of locks.
    await assert.rejects(
      env.client.query(`DO $$ BEGIN FOR i IN 0..9999 LOOP EXECUTE format('SELECT note FROM tenant_%s LIMIT 1', i); END LOOP; END $$`),
      (e) => e.code === '53200' && /max_locks_per_transaction/.test(e.hint),
    );
    const started = Date.now();
    const r = measured(['--dry-run', '--json'], { DATABASE_URL: env.url, OLD_ENCRYPTION_KEY: OLD, NEW_ENCRYPTION_KEY: NEW });
    t.diagnostic(`dry run over 10,000 more tables: ${((Date.now() - started) / 1000).toFixed(1)} s, peak RSS ${r.peakMb.toFixed(0)} MB`);
    const doc = jsonDocument(r.stdout, 0);
    assert.equal(doc.report.dryRun, true);
    assert.ok(r.peakMb < 1024, `peak RSS ${r.peakMb.toFixed(0)} MB`);
  }
}

describe('a locations file reads only locations', () => {
  test('a primaryKey that is not the primary key, nor a NOT NULL column with its own unique index, is refused before any row is read', async () => {
    const env = await install('bounded_pk');
    const hash = '$2b$12$' + crypto.randomBytes(40).toString('base64').slice(0, 53);
    obs.secret(hash);
    await env.client.query("UPDATE users SET password_hash = $1", [hash]);
    const before = await snapshotSchema(env.client, 'public');
    const file = path.join(tmp, 'users.json');
    writeFileSync(file, JSON.stringify([{ table: 'users', primaryKey: 'password_hash', column: 'email' }]));
    const env_ = { DATABASE_URL: env.url, OLD_ENCRYPTION_KEY: OLD, NEW_ENCRYPTION_KEY: NEW };
    for (const args of [['--columns-file', file], ['--column', 'users.password_hash.email']]) {
      for (const run of [['--dry-run'], ['--yes'], ['verify']]) {
        const r = measured([...run, ...args, '--json'], run[0] === 'verify' ? { DATABASE_URL: env.url, ENCRYPTION_KEY: OLD } : env_);
        const doc = jsonDocument(r.stdout, 2);
        assert.equal(doc.error.code, 'ERR_INVALID_ARG');
        assert.match(doc.error.message, /public\.users names its rows by password_hash, which is neither the table's primary key nor a NOT NULL column with a unique index of its own/);
        assert.ok(!r.stdout.includes(hash) && !r.stderr.includes(hash));
      }
    }
    assert.deepStrictEqual(await snapshotSchema(env.client, 'public'), before);

    // A NOT NULL column with a unique index of its own names rows; one that
    // may be NULL, or whose index is partial, does not.
    await env.client.query('CREATE TABLE hooks (id serial PRIMARY KEY, label text NOT NULL UNIQUE, loose text UNIQUE, secret text)');
    await env.client.query("INSERT INTO hooks (label, loose, secret) VALUES ('a', 'a', $1)", [encrypt('hook secret', OLD)]);
    obs.secret('hook secret');
    for (const spec of ['hooks.loose.secret']) {
      const e = await obs.rejection(keyrotate.rotateEncryptionKey(OLD, NEW, env.url, { columns: [spec], dryRun: true }));
      assert.equal(e.code, 'ERR_INVALID_ARG', spec);
    }
    const ok = obs.observe(await keyrotate.rotateEncryptionKey(OLD, NEW, env.url, { columns: ['hooks.label.secret', 'hooks.id.secret'], dryRun: true }));
    assert.equal(ok.locations.find((l) => l.table === 'hooks').reencrypted, 1);
  });
});

describe('the server\'s own words', () => {
  test('an ERR_DB carries PostgreSQL\'s SQLSTATE, detail and hint through to the API and the CLI', async () => {
    const env = await install('bounded_hint');
    await env.client.query(`CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN
      RAISE EXCEPTION 'writes are frozen' USING ERRCODE = 'P0001', DETAIL = 'the maintenance window has not started', HINT = 'wait for 02:00';
    END $$`);
    await env.client.query('CREATE TRIGGER refuse BEFORE UPDATE ON connector_auth_cache FOR EACH ROW EXECUTE FUNCTION refuse()');
    const e = await obs.rejection(keyrotate.rotateEncryptionKey(OLD, NEW, env.url));
    assert.equal(e.code, 'ERR_DB');
    assert.deepStrictEqual(e.details, { kind: 'database', sqlstate: 'P0001', detail: 'the maintenance window has not started', hint: 'wait for 02:00' });
    const r = measured(['--yes'], { DATABASE_URL: env.url, OLD_ENCRYPTION_KEY: OLD, NEW_ENCRYPTION_KEY: NEW });
    assert.equal(r.status, 1);
    assert.match(r.stderr, /ERR_DB\]: database error \[P0001\]: writes are frozen \(detail: the maintenance window has not started\) \(PostgreSQL's hint: wait for 02:00\)/);
  });
});

test('no key, plaintext or password in any output', () => {
  obs.assertNoLeaks(10);
});
