// Every location the backend seals secrets in (docs/locations.md), rotated
// through the compiled CLI as an operator runs it, against the fixture's own
// account of where ciphertext lives (helpers/anythingmcp/locations.mjs, written from the
// spec, not read from the engine's registry).
//
// - per location, every value opens with the new key exactly as the backend
//   opens it and none with the old; a dump of every table with each sealed
//   value opened is the same before (old key) and after (new key);
// - a secret copied between identity providers aborts, naming the row;
// - ciphertext in a column the registry does not know (a newer release) is
//   refused and named, as is the unknown migration; --leave-unregistered
//   proceeds with a warning; a locations file registers it;
// - dry run and verify report every location; a v0.1.20 database rotates
//   with the newer locations absent; no key or plaintext in any output.

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, test } from 'node:test';
import pg from 'pg';

import { decrypt, encrypt, generateKey } from './helpers/anythingmcp/crypto.mjs';
import {
  LOCATIONS,
  assertEntriesOpenWith,
  assertNothingOpensWith,
  expectedReport,
  locationName,
  openLocation,
  opensWith,
} from './helpers/anythingmcp/locations.mjs';
import { MIGRATIONS_MAIN, MIGRATIONS_V0_1_20, recordMigrations } from './helpers/anythingmcp/migrations.mjs';
import { createAnythingMcpSchema } from './helpers/anythingmcp/schema.mjs';
import { seedAcceptanceFixture } from './helpers/fixture/acceptance.mjs';
import { dumpDatabase } from './helpers/inspect/dump.mjs';
import { createObserver } from './helpers/inspect/hygiene.mjs';
import { snapshotSchema, snapshotTable } from './helpers/inspect/snapshot.mjs';
import { memberSpan } from './helpers/json-text.mjs';
import { jsonDocument } from './helpers/run/cli-schema.mjs';
import { freshDatabase } from './helpers/server/postgres.mjs';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const CLI = path.join(root, 'packages/backend/dist/scripts/rotate-encryption-key.js');
const require = createRequire(import.meta.url);

const OLD = generateKey();
const NEW = generateKey();
const obs = createObserver();
for (const k of [OLD, NEW, OLD.slice(0, 32), NEW.slice(0, 32)]) obs.secret(k);
const tmp = mkdtempSync(path.join(os.tmpdir(), 'keyrotate-locations-'));

// The CLI with only what the test passes: no inherited DATABASE_URL or keys.
function run(args, env) {
  const r = spawnSync(process.execPath, [CLI, ...args], { env: { PATH: process.env.PATH, ...env }, encoding: 'utf8', timeout: 120_000 });
  obs.observe(r.stdout);
  obs.observe(r.stderr);
  return r;
}
const keys = (url) => ({ DATABASE_URL: url, OLD_ENCRYPTION_KEY: OLD, NEW_ENCRYPTION_KEY: NEW });
const withKey = (url, key) => ({ DATABASE_URL: url, ENCRYPTION_KEY: key });
// The one --json document (checked against its schema), read as the report
// it carries, on success or beside the error.
function json(r) {
  const doc = jsonDocument(r.stdout, r.status);
  return { ...(doc.report ?? doc.error.report), error: doc.error };
}

const clients = [];
after(async () => {
  for (const c of clients) await c.end().catch(() => {});
});

async function install(prefix, { release = 'main', legacy = release === 'main' } = {}) {
  const { url, client } = await freshDatabase(prefix, { clients, obs });
  await createAnythingMcpSchema(client, 'public', { release, legacy });
  const fixture = await seedAcceptanceFixture(client, OLD, { release, legacy });
  for (const s of fixture.secrets) obs.secret(s);
  return { url, client, fixture, want: expectedReport(fixture) };
}

const aadKind = (loc) => (!loc.aad ? 'none' : 'constant' in loc.aad ? 'constant' : 'template');
const nameOf = (l) => `${l.table}.${l.column}${l.member ? `.${l.member}` : ''}`;

/**
 * report.locations: every location the backend has, in the registry's order, with
 * its shape and the counts the fixture implies. `mode`: 'rotate' (values
 * re-encrypted), 'again' and 'verify' (values already on / opening with the key).
 */
function assertLocations(report, want, mode) {
  assert.deepStrictEqual(report.locations.map(nameOf), LOCATIONS.map(locationName), 'every location, in order');
  for (const [i, loc] of LOCATIONS.entries()) {
    const l = report.locations[i];
    const name = locationName(loc);
    assert.deepStrictEqual(
      [l.schema, l.primaryKey, l.member, l.aad, l.where],
      ['public', loc.primaryKey, loc.member ?? null, aadKind(loc), loc.where ?? null],
      `${name}: shape`,
    );
    if (want.absent.includes(name)) {
      assert.deepStrictEqual([l.status, l.rows, l.reencrypted, l.alreadyOnNewKey], ['absent', 0, 0, 0], `${name}: absent`);
      continue;
    }
    const c = want.perLocation[name];
    const [reencrypted, already] = mode === 'rotate' ? [c.reencrypted, 0] : [0, c.reencrypted];
    assert.deepStrictEqual(
      [l.status, l.rows, l.reencrypted, l.alreadyOnNewKey, l.empty, l.failed],
      ['processed', c.rows, reencrypted, already, c.empty, 0],
      `${name}: counts`,
    );
  }
}

describe('every location, rotated through the CLI', () => {
  let env;
  let dumpBefore;
  let report;
  before(async () => {
    env = await install('loc_rotate');
    dumpBefore = await dumpDatabase(env.client, 'public', OLD);
    const r = run(['--yes', '--json'], keys(env.url));
    assert.equal(r.status, 0, r.stderr);
    report = json(r);
  });

  test('the report: rows written once each, every location with its counts, the migrations, nothing discovered', () => {
    assert.equal(report.committed, true);
    assert.equal(report.rowsReencrypted, env.want.rowsReencrypted);
    assert.ok(report.rowsReencrypted < env.want.values, 'connectors rows with auth_config and env_vars.$enc are written once');
    assert.equal(report.valuesReencrypted, env.want.values);
    assert.equal(report.empty, env.want.empty);
    assert.equal(report.tables, env.want.tables);
    assert.equal(report.summary, `${env.want.rowsReencrypted} rows re-encrypted across ${env.want.tables} tables`);
    assertLocations(report, env.want, 'rotate');
    assert.deepStrictEqual(report.migrations, { present: true, applied: MIGRATIONS_MAIN.length, newest: MIGRATIONS_MAIN.at(-1).name, unknown: [] });
    assert.deepStrictEqual(report.discovered, []);
    assert.deepStrictEqual(report.notices.filter((n) => n.startsWith('discovery')), [], 'discovery searched every table');
    assert.equal(report.failureCount, 0);
  });

  for (const loc of LOCATIONS) {
    const name = locationName(loc);
    test(`${name}: every value opens with the new key as the backend opens it, none with the old`, async () => {
      const mine = (e) => locationName(e) === name;
      const sealed = env.fixture.rows.filter((e) => mine(e) && e.kind === 'sealed');
      assert.ok(sealed.length > 0, 'the fixture seals values here');
      assert.equal(await assertEntriesOpenWith(env.client, env.fixture, NEW, { only: mine }), sealed.length);
      const [left] = await assertNothingOpensWith(env.client, 'public', OLD, { locations: [loc] });
      assert.equal(left.values, sealed.length, 'as many sealed values as before');
      for (const e of sealed) {
        const { rows } = await env.client.query(`SELECT "${loc.column}" AS v FROM "${loc.table}" WHERE id = $1`, [e.id]);
        const value = rows[0].v;
        if (loc.column === 'env_vars') {
          // The backend's variables: $enc opened (JSON of the variables) and the plain members kept.
          const opened = openLocation(e, value, NEW);
          assert.deepStrictEqual({ ...opened.rest, ...JSON.parse(opened.plaintext) }, { ...e.rest, ...JSON.parse(e.plaintext) });
        }
        if (loc.table === 'org_settings') {
          // Text held in a text column: every byte but the sealed string is as it was.
          const was = memberSpan(e.document, 'secretEnc');
          const now = memberSpan(value, 'secretEnc');
          assert.equal(value.slice(0, now.start), e.document.slice(0, was.start), `${e.id}: the text before secretEnc`);
          assert.equal(value.slice(now.end), e.document.slice(was.end), `${e.id}: the text after secretEnc`);
          assert.equal(decrypt(now.value, NEW, e.organizationId), e.plaintext);
        }
        if (e.aad !== undefined) assert.ok(!opensWith(sealedString(loc, value), NEW), `${e.id}: sealed with its AAD, not without`);
      }
    });
  }

  test('a dump of every table, each sealed value opened, is the same under the new key as it was under the old', async () => {
    assert.deepStrictEqual(await dumpDatabase(env.client, 'public', NEW), dumpBefore);
  });

  test('verify: the new key opens every location (exit 0); the old key fails on every value (exit 3)', () => {
    const ok = run(['verify', '--json'], withKey(env.url, NEW));
    assert.equal(ok.status, 0, ok.stderr);
    const v = json(ok);
    assert.equal(v.ok, true);
    assert.equal(v.valuesVerified, env.want.values);
    assertLocations(v, env.want, 'verify');
    const human = run(['verify'], withKey(env.url, NEW));
    assert.equal(human.status, 0, human.stderr);
    for (const loc of LOCATIONS) assert.ok(human.stdout.includes(`public.${locationName(loc)}`), locationName(loc));
    assert.match(human.stdout, /OK$/m);

    const bad = run(['verify', '--json'], withKey(env.url, OLD));
    assert.equal(bad.status, 3);
    const b = json(bad);
    assert.equal(b.ok, false);
    assert.equal(b.failureCount, env.want.values);
    const failedAt = new Set(b.failures.map(nameOf));
    for (const loc of LOCATIONS) assert.ok(failedAt.has(locationName(loc)), `a failure listed at ${locationName(loc)}`);
  });

  test('a second run finds every value already on the new key, writes nothing, and exits 6', async () => {
    const snap = await snapshotSchema(env.client, 'public');
    const r = run(['--yes', '--json'], keys(env.url));
    assert.equal(r.status, 6, r.stderr);
    const again = json(r);
    assert.equal(again.error.code, 'ERR_ALREADY_ON_NEW_KEY');
    assert.equal(again.rowsReencrypted, 0);
    assert.equal(again.alreadyOnNewKey, env.want.values);
    assertLocations(again, env.want, 'again');
    assert.deepStrictEqual(await snapshotSchema(env.client, 'public'), snap);
  });
});

// The sealed string a column value holds at `loc` (for the AAD check above).
function sealedString(loc, value) {
  if (!loc.member) return value;
  return typeof value === 'string' ? memberSpan(value, loc.member).value : value[loc.member];
}

describe('dry run', () => {
  test('reports every location and what it would do, and writes nothing', async () => {
    const env = await install('loc_dry');
    const snap = await snapshotSchema(env.client, 'public');
    const r = run(['--dry-run', '--json'], keys(env.url));
    assert.equal(r.status, 0, r.stderr);
    const dry = json(r);
    assert.deepStrictEqual([dry.dryRun, dry.committed], [true, false]);
    assert.equal(dry.rowsReencrypted, env.want.rowsReencrypted);
    assertLocations(dry, env.want, 'rotate');
    const human = run(['--dry-run'], keys(env.url));
    assert.equal(human.status, 0, human.stderr);
    assert.match(human.stdout, /Dry run \(nothing written\)/);
    for (const loc of LOCATIONS) {
      assert.match(human.stdout, new RegExp(`^public\\.${locationName(loc).replace(/\$/g, '\\$')}\\b.*processed`, 'm'), locationName(loc));
    }
    assert.deepStrictEqual(await snapshotSchema(env.client, 'public'), snap);
    await assertEntriesOpenWith(env.client, env.fixture, OLD);
  });
});

describe('a secret copied from one identity provider into another', () => {
  test('aborts with exit 3 naming table, column and primary key; nothing changed', async () => {
    const env = await install('loc_idp_copy', { legacy: false });
    const [okta, entra, , keycloak] = env.fixture.identityProviders;
    const secretOf = (p) => env.fixture.rows.find((r) => r.table === 'identity_providers' && r.id === p.id);
    assert.notEqual(okta.organizationId, keycloak.organizationId);
    // Into another organization's provider: the AAD names both id and organization.
    await env.client.query('UPDATE identity_providers SET client_secret_enc = $1 WHERE id = $2', [secretOf(okta).stored, keycloak.id]);
    const snap = await snapshotSchema(env.client, 'public');

    const r = run(['--yes', '--json'], keys(env.url));
    assert.equal(r.status, 3, r.stderr);
    const { error } = json(r);
    assert.equal(error.code, 'ERR_UNDECRYPTABLE');
    assert.deepStrictEqual(
      { schema: error.details.schema, table: error.details.table, column: error.details.column, primaryKey: error.details.primaryKey },
      { schema: 'public', table: 'identity_providers', column: 'client_secret_enc', primaryKey: keycloak.id },
    );
    assert.ok(!error.details.member, 'the whole value');
    const human = run(['--yes'], keys(env.url));
    assert.equal(human.status, 3);
    assert.ok(human.stderr.includes('identity_providers.client_secret_enc') && human.stderr.includes(keycloak.id), human.stderr);
    assert.match(human.stderr, /[Nn]othing was changed/);
    for (const out of [r.stdout, human.stderr]) assert.ok(!out.includes(secretOf(okta).stored.slice(0, 24)), 'the value is never echoed');
    assert.deepStrictEqual(await snapshotSchema(env.client, 'public'), snap);

    // Within one organization too; a dry run lists both rows.
    await env.client.query('UPDATE identity_providers SET client_secret_enc = $1 WHERE id = $2', [secretOf(okta).stored, entra.id]);
    const dry = run(['--dry-run', '--json'], keys(env.url));
    assert.equal(dry.status, 3);
    const failures = json(dry).failures.map((f) => [f.table, f.column, f.primaryKey]);
    assert.deepStrictEqual(failures.sort(), [['identity_providers', 'client_secret_enc', entra.id], ['identity_providers', 'client_secret_enc', keycloak.id]].sort());
  });
});

describe('ciphertext the registry does not know: a newer release', () => {
  const FUTURE = '20261120000000_add_connector_webhook_secrets';
  const TABLE = 'connector_webhook_secrets';
  let env;
  let plaintexts;
  before(async () => {
    env = await install('loc_newer', { legacy: false });
    // What a release after main might add: a table whose secrets are sealed
    // with no AAD, with a registry constant inside a jsonb document, and with
    // `<table>.<column>`, and the migration that created it.
    await env.client.query(`CREATE TABLE ${TABLE} (
      id TEXT PRIMARY KEY, connector_id TEXT NOT NULL REFERENCES connectors(id), label TEXT NOT NULL,
      signing_secret TEXT, settings JSONB, notes TEXT)`);
    plaintexts = { signing: [`whsec_${'f'.repeat(8)}${generateKey().slice(0, 24)}`, `whsec_${generateKey().slice(0, 32)}`], token: `tok_${generateKey().slice(0, 30)}`, note: `note-${generateKey().slice(0, 30)}` };
    for (const s of [...plaintexts.signing, plaintexts.token, plaintexts.note]) obs.secret(s);
    const connector = env.fixture.rows.find((r) => r.table === 'connectors').id;
    await env.client.query(`INSERT INTO ${TABLE} VALUES ($1, $2, 'primary', $3, $4, $5), ($6, $2, 'secondary', $7, NULL, NULL), ('wh3', $2, 'unset', NULL, '{}', '')`, [
      'wh1',
      connector,
      encrypt(plaintexts.signing[0], OLD),
      JSON.stringify({ tokenEnc: encrypt(plaintexts.token, OLD, 'connector-oauth'), retries: 3 }),
      encrypt(plaintexts.note, OLD, `${TABLE}.notes`),
      'wh2',
      encrypt(plaintexts.signing[1], OLD),
    ]);
    await recordMigrations(env.client, 'public', [{ name: FUTURE, checksum: 'c'.repeat(64) }]);
  });
  const expectedDiscovered = [
    { schema: 'public', table: TABLE, column: 'notes', aad: `${TABLE}.notes` },
    { schema: 'public', table: TABLE, column: 'settings', member: 'tokenEnc', aad: 'connector-oauth' },
    { schema: 'public', table: TABLE, column: 'signing_secret', aad: null },
  ];
  const discoveredOf = (report) =>
    report.discovered
      .map(({ matches, ...place }) => {
        assert.ok(matches >= 1);
        return place.member == null ? (({ member: _m, ...p }) => p)(place) : place;
      })
      .sort((a, b) => (a.column < b.column ? -1 : 1));

  test('a rotation is refused before it writes: exit 3, ERR_UNREGISTERED_CIPHERTEXT naming the column', async () => {
    const snap = await snapshotSchema(env.client, 'public');
    const r = run(['--yes', '--json'], keys(env.url));
    assert.equal(r.status, 3, r.stderr);
    const { error } = json(r);
    assert.equal(error.code, 'ERR_UNREGISTERED_CIPHERTEXT');
    assert.equal(error.details.table, TABLE);
    assert.ok(['notes', 'settings', 'signing_secret'].includes(error.details.column), error.details.column);
    assert.ok(error.message.includes(`public.${TABLE}.${error.details.column}`), error.message);
    const human = run(['--yes'], keys(env.url));
    assert.equal(human.status, 3);
    assert.match(human.stderr, /ERR_UNREGISTERED_CIPHERTEXT/);
    assert.ok(human.stderr.includes(`${TABLE}.`), human.stderr);
    assert.match(human.stderr, /--leave-unregistered/);
    assert.deepStrictEqual(await snapshotSchema(env.client, 'public'), snap, 'nothing changed');
  });

  test('dry run and verify name every such place with the AAD that opened it, and the unknown migration', () => {
    for (const [args, e] of [[['--dry-run', '--json'], keys(env.url)], [['verify', '--json'], withKey(env.url, OLD)]]) {
      const r = run(args, e);
      assert.equal(r.status, 3, `${args}: ${r.stderr}`);
      const report = json(r);
      assert.deepStrictEqual(discoveredOf(report), expectedDiscovered, args.join(' '));
      assert.deepStrictEqual(report.migrations, { present: true, applied: MIGRATIONS_MAIN.length + 1, newest: FUTURE, unknown: [FUTURE] }, args.join(' '));
      assert.equal(report.failureCount, 0, 'every registered value is fine');
    }
    const human = run(['--dry-run'], keys(env.url));
    assert.ok(human.stdout.includes(FUTURE) || human.stderr.includes(FUTURE), 'the human report names the unknown migration');
  });

  test('--leave-unregistered rotates the registry with a warning and leaves those values on the old key', async () => {
    const before_ = await snapshotTable(env.client, 'public', TABLE);
    const r = run(['--yes', '--json', '--leave-unregistered'], keys(env.url));
    assert.equal(r.status, 0, r.stderr);
    const report = json(r);
    assert.equal(report.committed, true);
    assert.equal(report.rowsReencrypted, env.want.rowsReencrypted);
    assert.deepStrictEqual(discoveredOf(report), expectedDiscovered);
    assert.deepStrictEqual(report.migrations.unknown, [FUTURE]);
    const warned = report.warnings.filter((w) => w.code === 'WARN_UNREGISTERED_CIPHERTEXT');
    assert.equal(warned.length, 3);
    for (const col of ['notes', 'settings', 'signing_secret']) assert.ok(warned.some((w) => w.message.includes(`${TABLE}.${col}`)), col);
    await assertEntriesOpenWith(env.client, env.fixture, NEW);
    assert.deepStrictEqual(await snapshotTable(env.client, 'public', TABLE), before_, 'left exactly as it was');
  });

  test('registered with a locations file (same format as the registry), it rotates and is no longer discovered', async () => {
    const file = path.join(tmp, 'newer-release.json');
    writeFileSync(
      file,
      JSON.stringify({
        locations: [
          { table: TABLE, primaryKey: 'id', column: 'signing_secret' },
          { table: TABLE, primaryKey: 'id', column: 'settings', member: 'tokenEnc', aad: { constant: 'connector-oauth' } },
          { table: TABLE, primaryKey: 'id', column: 'notes', aad: { constant: `${TABLE}.notes` } },
        ],
      }),
    );
    const r = run(['--yes', '--json', '--columns-file', file], keys(env.url));
    assert.equal(r.status, 0, r.stderr);
    const report = json(r);
    assert.equal(report.rowsReencrypted, 2, 'wh1 (three values) and wh2, one write each');
    assert.equal(report.alreadyOnNewKey, env.want.values);
    assert.deepStrictEqual(report.discovered, []);
    const { rows } = await env.client.query(`SELECT id, signing_secret, settings, notes FROM ${TABLE} ORDER BY id`);
    assert.equal(decrypt(rows[0].signing_secret, NEW), plaintexts.signing[0]);
    assert.equal(decrypt(rows[1].signing_secret, NEW), plaintexts.signing[1]);
    assert.equal(decrypt(rows[0].settings.tokenEnc, NEW, 'connector-oauth'), plaintexts.token);
    assert.equal(rows[0].settings.retries, 3);
    assert.equal(decrypt(rows[0].notes, NEW, `${TABLE}.notes`), plaintexts.note);
    assert.deepStrictEqual([rows[2].signing_secret, rows[2].settings, rows[2].notes], [null, {}, '']);
    const v = run(['verify', '--json', '--columns-file', file], withKey(env.url, NEW));
    assert.equal(v.status, 0, v.stderr);
    assert.deepStrictEqual(json(v).migrations.unknown, [FUTURE], 'still named: the registry does not know it');
  });
});

describe('a v0.1.20 database', () => {
  test('rotates, with the newer locations reported absent and every value opening as before', async () => {
    const env = await install('loc_v0120', { release: 'v0.1.20' });
    assert.deepStrictEqual(env.want.absent, [
      'connector_auth_cache.token',
      'identity_providers.client_secret_enc',
      'connector_oauth_attempts.payload',
      'mcp_server_configs.auth_config',
    ]);
    const dumpBefore = await dumpDatabase(env.client, 'public', OLD);
    // Absent locations are listed with --verbose, not on every run.
    const quiet = run(['--dry-run'], keys(env.url));
    for (const name of env.want.absent) assert.ok(!quiet.stdout.includes(`public.${name}`), name);
    const human = run(['--dry-run', '--verbose'], keys(env.url));
    assert.equal(human.status, 0, human.stderr);
    for (const name of env.want.absent) assert.match(human.stdout, new RegExp(`^public\\.${name}\\s+absent`, 'm'), name);
    const r = run(['--yes', '--json'], keys(env.url));
    assert.equal(r.status, 0, r.stderr);
    const report = json(r);
    assertLocations(report, env.want, 'rotate');
    for (const loc of LOCATIONS.filter((l) => l.since)) {
      const l = report.locations.find((x) => nameOf(x) === locationName(loc));
      assert.ok(l.absentReason?.includes(loc.since), `${locationName(loc)}: ${l.absentReason}`);
    }
    assert.deepStrictEqual(report.migrations, { present: true, applied: MIGRATIONS_V0_1_20.length, newest: MIGRATIONS_V0_1_20.at(-1).name, unknown: [] });
    assert.equal(report.rowsReencrypted, env.want.rowsReencrypted);
    assert.equal(report.tables, env.want.tables, 'the tables where something was sealed');
    assert.deepStrictEqual(report.discovered, []);
    assert.deepStrictEqual(await dumpDatabase(env.client, 'public', NEW), dumpBefore);
    await assertNothingOpensWith(env.client, 'public', OLD);
  });
});

describe('discovery searches every table, whatever its documents look like', () => {
  test('a sealed header beside env_vars held as JSON null or {} is found: the connectors table is searched, not skipped', async () => {
    const env = await install('loc_disc_shapes');
    const { rows: shapes } = await env.client.query("SELECT DISTINCT jsonb_typeof(env_vars) AS t FROM connectors WHERE env_vars IS NOT NULL");
    assert.ok(shapes.some((r) => r.t === 'null'), 'the fixture holds env_vars as a JSON null (the precondition this test exists for)');
    const header = `hdr-${generateKey().slice(0, 24)}`;
    obs.secret(header);
    const connector = env.fixture.rows.find((r) => r.table === 'connectors' && r.column === 'auth_config').id;
    await env.client.query(`UPDATE connectors SET headers = jsonb_build_object('X-Api-Key', $1::text) WHERE id = $2`, [encrypt(header, OLD), connector]);
    const snap = await snapshotSchema(env.client, 'public');
    const dry = run(['--dry-run', '--json'], keys(env.url));
    assert.equal(dry.status, 3, dry.stderr);
    const report = json(dry);
    assert.deepStrictEqual(
      report.discovered.map(({ matches, ...place }) => place),
      [{ schema: 'public', table: 'connectors', column: 'headers', member: 'X-Api-Key', aad: null }],
    );
    assert.deepStrictEqual(report.notices.filter((n) => n.startsWith('discovery')), []);
    const r = run(['--yes', '--json'], keys(env.url));
    assert.equal(r.status, 3, r.stderr);
    assert.equal(json(r).error.code, 'ERR_UNREGISTERED_CIPHERTEXT');
    assert.deepStrictEqual(await snapshotSchema(env.client, 'public'), snap, 'nothing changed');
  });

  test('a table discovery cannot read because another session holds it exclusively fails the run (exit 4), never passes as clean', async () => {
    const env = await install('loc_disc_locked');
    const snap = await snapshotSchema(env.client, 'public');
    const holder = new pg.Client({ connectionString: env.url });
    await holder.connect();
    clients.push(holder);
    await holder.query('BEGIN');
    await holder.query('LOCK TABLE mcp_api_keys IN ACCESS EXCLUSIVE MODE');
    try {
      const r = run(['--yes', '--json', '--lock-timeout', '1s'], keys(env.url));
      assert.equal(r.status, 4, r.stderr);
      const { error } = json(r);
      assert.equal(error.code, 'ERR_LOCK_TIMEOUT');
      assert.match(error.message, /discovery/);
      await holder.query('ROLLBACK');
      assert.deepStrictEqual(await snapshotSchema(env.client, 'public'), snap, 'nothing changed');
    } finally {
      await holder.query('ROLLBACK').catch(() => {});
    }
    // An unpopulated materialized view cannot be read but holds nothing:
    // it is left out, not an error.
    await env.client.query('CREATE MATERIALIZED VIEW connector_names AS SELECT id, name, headers FROM connectors WITH NO DATA');
    const again = run(['--yes', '--json'], keys(env.url));
    assert.equal(again.status, 0, again.stderr);
    assert.deepStrictEqual(json(again).notices.filter((n) => n.startsWith('discovery')), []);
  });
});

describe('the registry shipped in the package', () => {
  test('locations.json describes every location the backend has and knows every migration the fixture has', () => {
    const pkg = JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8'));
    assert.ok(pkg.files.includes('locations.json'), 'shipped in the npm package');
    const doc = JSON.parse(readFileSync(path.join(root, 'locations.json'), 'utf8'));
    const shape = (l) => ({ table: l.table, primaryKey: l.primaryKey, column: l.column, member: l.member ?? null, where: l.where ?? null, aad: l.aad ?? null });
    assert.deepStrictEqual(doc.locations.map(shape), LOCATIONS.map(shape));
    for (const m of MIGRATIONS_MAIN) assert.ok(doc.knownMigrations.includes(m.name), m.name);
    assert.equal(doc.knownMigrationsThrough, MIGRATIONS_MAIN.at(-1).name);
    const described = require('../index.js').describeLocations();
    assert.deepStrictEqual(described.map(nameOf), LOCATIONS.map(locationName));
  });
});

test('no key, plaintext or password appears in any CLI output', () => {
  obs.assertNoLeaks(40);
});
