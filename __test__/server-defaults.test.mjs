// A role whose defaults would cut a long rotation short: statement_timeout
// 1 s, idle_in_transaction_session_timeout 500 ms and, on PostgreSQL 17 and
// later, transaction_timeout 500 ms. A rotation that takes longer (it waits
// ~1.5 s for a writer's lock, inside its transaction) still commits, and
// every value then opens with the new key. Runs on the suite's server, so
// CI covers PostgreSQL 17 and 15.

import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { createRequire } from 'node:module';
import { after, before, test } from 'node:test';
import pg from 'pg';

import { generateKey } from './helpers/anythingmcp/crypto.mjs';
import { createAnythingMcpSchema } from './helpers/anythingmcp/schema.mjs';
import { seedAcceptanceFixture } from './helpers/fixture/acceptance.mjs';
import { assertAllOpenWith, createObserver, keyrotateLocks, waitFor } from './helpers/inspect/hygiene.mjs';
import { getServer, withParams } from './helpers/server/postgres.mjs';

const require = createRequire(import.meta.url);
const keyrotate = require('../index.js');

const OLD = generateKey();
const NEW = generateKey();
const obs = createObserver();
obs.secret(OLD);
obs.secret(NEW);

const APP = 'kr-server-defaults';
const HOLD_MS = 1500;

let server;
let dbUrl;
let role;

before(async () => {
  server = await getServer();
  dbUrl = await server.createDatabase('server_defaults');
  role = { name: `kr_defaults_${crypto.randomBytes(4).toString('hex')}`, password: crypto.randomBytes(18).toString('base64url') };
  obs.secret(role.password);
  const admin = new pg.Client({ connectionString: server.adminUrl });
  await admin.connect();
  try {
    await admin.query(`CREATE ROLE ${role.name} LOGIN PASSWORD '${role.password}'`);
    const db = decodeURIComponent(new URL(dbUrl).pathname.slice(1));
    await admin.query(`ALTER DATABASE "${db}" OWNER TO ${role.name}`);
  } finally {
    await admin.end();
  }
});

after(async () => {
  await server.dropDatabase(dbUrl);
  const admin = new pg.Client({ connectionString: server.adminUrl });
  await admin.connect();
  await admin.query(`DROP ROLE IF EXISTS ${role.name}`).finally(() => admin.end());
});

function roleUrl() {
  const u = new URL(dbUrl);
  u.username = role.name;
  u.password = role.password;
  return u.toString();
}

test('role timeouts shorter than the rotation: it waits out a writer, commits, and every value opens with the new key', async () => {
  const owner = new pg.Client({ connectionString: roleUrl() });
  await owner.connect();
  await createAnythingMcpSchema(owner, 'public');
  const seeded = await seedAcceptanceFixture(owner, OLD);
  for (const r of seeded.rows) if (r.plaintext) obs.secret(r.plaintext);
  const version = Number((await owner.query("SELECT current_setting('server_version_num') AS v")).rows[0].v);
  await owner.end();
  const sealed = seeded.rows.filter((r) => r.table === 'connectors' && r.column === 'auth_config' && r.kind === 'sealed').length;

  const defaults = { statement_timeout: '1s', idle_in_transaction_session_timeout: '500ms' };
  if (version >= 170000) defaults.transaction_timeout = '500ms';
  const admin = new pg.Client({ connectionString: server.adminUrl });
  await admin.connect();
  try {
    for (const [name, value] of Object.entries(defaults)) await admin.query(`ALTER ROLE ${role.name} SET ${name} = '${value}'`);
  } finally {
    await admin.end();
  }

  // The role's sessions have the defaults, and they do cut what runs longer.
  const probe = new pg.Client({ connectionString: roleUrl() });
  probe.on('error', () => {});
  await probe.connect();
  for (const [name, value] of Object.entries(defaults)) {
    assert.equal((await probe.query(`SHOW ${name}`)).rows[0][name], value, name);
  }
  await assert.rejects(probe.query('SELECT pg_sleep(1.5)'), /canceling statement due to statement timeout|terminating connection due to transaction timeout/);
  await probe.end();

  // A writer holds connectors; the rotation must wait for it inside its transaction.
  const writer = new pg.Client({ connectionString: dbUrl });
  writer.on('error', () => {});
  await writer.connect();
  await writer.query('BEGIN');
  await writer.query('LOCK TABLE connectors IN ROW EXCLUSIVE MODE');
  const watcher = new pg.Client({ connectionString: dbUrl });
  watcher.on('error', () => {});
  await watcher.connect();
  let rotation;
  try {
    rotation = keyrotate.rotateEncryptionKey(OLD, NEW, withParams(roleUrl(), { application_name: APP }), { lockTimeoutMs: 60_000 });
    rotation.catch(() => {});
    await waitFor(async () => (await keyrotateLocks(watcher, APP)).some((l) => l.relname === 'connectors' && !l.granted), 'the rotation waiting for the lock');
    await new Promise((resolve) => setTimeout(resolve, HOLD_MS));
  } finally {
    await writer.query('COMMIT');
    await writer.end();
  }
  const report = obs.observe(await rotation);
  assert.equal(report.committed, true);
  assert.ok(report.durationMs >= HOLD_MS, `the rotation took ${report.durationMs} ms`);
  assert.ok(report.rowsReencrypted >= sealed, `${report.rowsReencrypted} rows re-encrypted`);
  await assertAllOpenWith(watcher, NEW, { expected: sealed });
  await watcher.end();
  obs.assertNoLeaks();
});
