// The schema the backend really reads. Prisma 7 with @prisma/adapter-pg
// queries "public".<table> whatever ?schema= says, so a URL naming another
// schema may point keyrotate somewhere the backend does not read. Both
// holding sealed data is refused until the caller chooses; one holding it
// is acted on, with a notice. The data of both schemas is checked.

import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';

import keyrotate from '../index.js';
import { generateKey } from './helpers/anythingmcp/crypto.mjs';
import { assertEntriesOpenWith } from './helpers/anythingmcp/locations.mjs';
import { createAnythingMcpSchema } from './helpers/anythingmcp/schema.mjs';
import { seedAcceptanceFixture } from './helpers/fixture/acceptance.mjs';
import { createObserver } from './helpers/inspect/hygiene.mjs';
import { snapshotSchema } from './helpers/inspect/snapshot.mjs';
import { runCli } from './helpers/run/cli.mjs';
import { freshDatabase, withParams } from './helpers/server/postgres.mjs';

const OLD = generateKey();
const NEW = generateKey();
const obs = createObserver();
obs.keys(OLD, NEW);
const clients = [];
after(async () => {
  for (const c of clients) await c.end();
});

/** A database with AnythingMCP's tables in each of `schemas`, sealed (or, `empty`, with no rows). */
async function install(prefix, schemas) {
  const env = await freshDatabase(prefix, { clients, obs });
  env.fixtures = {};
  for (const [schema, { empty = false } = {}] of Object.entries(schemas)) {
    await createAnythingMcpSchema(env.client, schema, { legacy: true });
    if (!empty) {
      env.fixtures[schema] = await seedAcceptanceFixture(env.client, OLD, { schema, legacy: true });
      for (const s of env.fixtures[schema].secrets) obs.secret(s);
    }
  }
  return env;
}

describe('?schema= naming a schema other than the one the backend reads', () => {
  test('both hold sealed values: refused before any write, naming both; --schema (the schema option) chooses', async () => {
    const env = await install('schema_both', { public: {}, tenant: {} });
    const url = withParams(env.url, { schema: 'tenant' });
    const before = { public: await snapshotSchema(env.client, 'public'), tenant: await snapshotSchema(env.client, 'tenant') };
    const e = await obs.rejection(keyrotate.rotateEncryptionKey(OLD, NEW, url));
    assert.equal(e.code, 'ERR_SCHEMA_AMBIGUOUS');
    assert.deepStrictEqual(e.details, { kind: 'schemas', named: 'tenant', backendReads: 'public' });
    assert.match(e.message, /reads "public" whatever \?schema= says, and both hold AnythingMCP tables with sealed values/);
    assert.match(e.hint, /--schema public, the one the backend reads, or --schema tenant/);
    const dry = await obs.rejection(keyrotate.verifyEncryptionKey(OLD, url));
    assert.equal(dry.code, 'ERR_SCHEMA_AMBIGUOUS', 'verify too');
    const r = await runCli(['--yes'], { env: { DATABASE_URL: url, OLD_ENCRYPTION_KEY: OLD, NEW_ENCRYPTION_KEY: NEW }, observe: obs.observe });
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, /ERR_SCHEMA_AMBIGUOUS/);
    assert.deepStrictEqual({ public: await snapshotSchema(env.client, 'public'), tenant: await snapshotSchema(env.client, 'tenant') }, before);

    const chosen = await runCli(['--yes', '--json', '--schema', 'public'], { env: { DATABASE_URL: url, OLD_ENCRYPTION_KEY: OLD, NEW_ENCRYPTION_KEY: NEW }, observe: obs.observe });
    assert.equal(chosen.code, 0, chosen.stderr);
    assert.equal(JSON.parse(chosen.stdout).report.target.schema, 'public');
    await assertEntriesOpenWith(env.client, env.fixtures.public, NEW);
    assert.deepStrictEqual(await snapshotSchema(env.client, 'tenant'), before.tenant, 'the other schema is untouched');
    const tenant = obs.observe(await keyrotate.rotateEncryptionKey(OLD, NEW, url, { schema: 'tenant' }));
    assert.equal(tenant.target.schema, 'tenant');
    await assertEntriesOpenWith(env.client, env.fixtures.tenant, NEW);
  });

  test('only the schema the URL names holds sealed values: it is rotated, and the notice says the backend reads public', async () => {
    const env = await install('schema_url_only', { public: { empty: true }, tenant: {} });
    const report = obs.observe(await keyrotate.rotateEncryptionKey(OLD, NEW, withParams(env.url, { schema: 'tenant' })));
    assert.equal(report.target.schema, 'tenant');
    assert.ok(report.notices.some((n) => /reads public whatever \?schema= says, and public holds no sealed AnythingMCP values: acting on tenant/.test(n)), report.notices.join('\n'));
    await assertEntriesOpenWith(env.client, env.fixtures.tenant, NEW);
  });

  test('only public holds sealed values: public is rotated, as the backend reads it, and the notice says so', async () => {
    const env = await install('schema_public_only', { public: {}, tenant: { empty: true } });
    const url = withParams(env.url, { schema: 'tenant' });
    const report = obs.observe(await keyrotate.rotateEncryptionKey(OLD, NEW, url));
    assert.equal(report.target.schema, 'public');
    assert.ok(report.notices.some((n) => /names schema tenant, which holds no sealed AnythingMCP values; the backend .* reads public .*: acting on public/.test(n)), report.notices.join('\n'));
    await assertEntriesOpenWith(env.client, env.fixtures.public, NEW);
    const v = obs.observe(await keyrotate.verifyEncryptionKey(NEW, url));
    assert.equal(v.ok, true);
    assert.equal(v.target.schema, 'public');
  });
});

test('no key, plaintext or password in any output', () => {
  obs.assertNoLeaks(5);
});
