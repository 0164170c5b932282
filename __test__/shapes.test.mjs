// What the backend can store that a strict reader refuses: JSON that Node's
// JSON.parse reads but serde_json does not (a lone surrogate escape, a
// number beyond any float, `\/`), filter columns that are NULL, empty and
// truncated documents, columns typed by a domain, and more look-alikes than
// discovery tries. Each must end in the right outcome: found, rotated,
// counted empty, or named as that value's own error — never skipped in
// silence, never taken for a wrong key.

import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { after, describe, test } from 'node:test';

import { decrypt, encrypt, generateKey } from './helpers/anythingmcp/crypto.mjs';
import { createAnythingMcpSchema } from './helpers/anythingmcp/schema.mjs';
import { createObserver } from './helpers/inspect/hygiene.mjs';
import { snapshotSchema } from './helpers/inspect/snapshot.mjs';
import { freshDatabase } from './helpers/server/postgres.mjs';

const require = createRequire(import.meta.url);
const keyrotate = require('../index.js');

const OLD = generateKey();
const NEW = generateKey();
const obs = createObserver();
obs.keys(OLD, NEW);
const tmp = mkdtempSync(path.join(os.tmpdir(), 'keyrotate-shapes-'));

const clients = [];
after(async () => {
  for (const c of clients) await c.end().catch(() => {});
});

const secretOf = (label) => {
  const s = `${label}-${crypto.randomBytes(9).toString('hex')}`;
  obs.secret(s);
  return s;
};

/** An AnythingMCP database with one organization and one connector on the old key. */
async function install(prefix) {
  const { url, client } = await freshDatabase(prefix, { clients, obs });
  await createAnythingMcpSchema(client, 'public');
  await client.query("INSERT INTO organizations (id, name, updated_at) VALUES ('org1', 'Acme', now())");
  await client.query("INSERT INTO users (id, email, organization_id, updated_at) VALUES ('user1', 'a@acme.example', 'org1', now())");
  await client.query(
    `INSERT INTO connectors (id, user_id, organization_id, name, type, base_url, auth_type, auth_config, updated_at)
     VALUES ('c1', 'user1', 'org1', 'Connector', 'REST', 'https://api.example.com', 'API_KEY', $1, now())`,
    [encrypt(secretOf('auth'), OLD)],
  );
  return { url, client };
}

const setting = (client, id, key, value) =>
  client.query("INSERT INTO org_settings (id, organization_id, key, value, updated_at) VALUES ($1, 'org1', $2, $3, now())", [id, key, value]);

const places = (report) => report.discovered.map(({ matches, ...place }) => place);

/** A dry run its real run would refuse: it rejects with `code`, its findings in the report. */
async function refusedDryRun(promise, code) {
  const e = await obs.rejection(promise);
  assert.equal(e.code, code, e.message);
  return e.report;
}

describe('discovery reads JSON as leniently as JSON.parse does', () => {
  test('a lone surrogate escape, a number beyond any float, and `\\/` do not hide a sealed member', async () => {
    const { url, client } = await install('shape_lenient');
    const smtp = encrypt(secretOf('smtp'), OLD);
    // JSON.stringify writes a lone surrogate as \ud83d; PostgreSQL text keeps it.
    const truncated = JSON.stringify({ host: 'smtp.example', note: 'cut \ud83d'.slice(0, 5) });
    assert.match(truncated, /\\ud83d/);
    await setting(client, 'os_smtp', 'smtp_relay', `${truncated.slice(0, -1)}, "passwordEnc": ${JSON.stringify(smtp)}}`);
    assert.equal(decrypt(JSON.parse((await client.query("SELECT value FROM org_settings WHERE id = 'os_smtp'")).rows[0].value).passwordEnc, OLD), decrypt(smtp, OLD));
    await client.query(`UPDATE connectors SET headers = ('{"limit": 1e400, "X-Token": ' || to_json($1::text)::text || '}')::jsonb WHERE id = 'c1'`, [encrypt(secretOf('hdr'), OLD)]);
    // A random IV makes a '/' likely, not certain: seal until there is one.
    const slashPlain = secretOf('slash');
    let sealedSlash;
    do sealedSlash = encrypt(slashPlain, OLD);
    while (!sealedSlash.includes('/'));
    const slashed = sealedSlash.replaceAll('/', '\\/');
    await setting(client, 'os_php', 'legacy_hook', `{"tokenEnc":"${slashed}"}`);
    assert.ok(slashed.includes('\\/'), 'the sealed value has a slash to escape');

    const dry = await refusedDryRun(keyrotate.rotateEncryptionKey(OLD, NEW, url, { dryRun: true }), 'ERR_UNREGISTERED_CIPHERTEXT');
    const byMember = Object.fromEntries(places(dry).map((p) => [`${p.table}.${p.column}.${p.member}`, p]));
    assert.deepStrictEqual(Object.keys(byMember).sort(), ['connectors.headers.X-Token', 'org_settings.value.passwordEnc', 'org_settings.value.tokenEnc']);
    assert.deepStrictEqual(dry.notices.filter((n) => n.startsWith('discovery')), []);
    const before = await snapshotSchema(client, 'public');
    const e = await obs.rejection(keyrotate.rotateEncryptionKey(OLD, NEW, url));
    assert.equal(e.code, 'ERR_UNREGISTERED_CIPHERTEXT');
    assert.deepStrictEqual(await snapshotSchema(client, 'public'), before);
  });

  test('a column typed by a domain over text is searched', async () => {
    const { url, client } = await install('shape_domain');
    await client.query('CREATE DOMAIN secret_text AS text');
    await client.query('CREATE TABLE vault (id text PRIMARY KEY, sealed secret_text)');
    await client.query("INSERT INTO vault VALUES ('v1', $1)", [encrypt(secretOf('vault'), OLD)]);
    const dry = await refusedDryRun(keyrotate.rotateEncryptionKey(OLD, NEW, url, { dryRun: true }), 'ERR_UNREGISTERED_CIPHERTEXT');
    assert.deepStrictEqual(places(dry), [{ schema: 'public', table: 'vault', column: 'sealed', aad: null }]);
  });

  test('a column with more look-alikes than discovery tries says it was only sampled', async () => {
    const { url, client } = await install('shape_sampled');
    await client.query('CREATE TABLE audit_log (id serial PRIMARY KEY, detail text)');
    await client.query('INSERT INTO audit_log (detail) SELECT md5(i::text) || md5((-i)::text) FROM generate_series(1, 20500) AS i');
    await client.query('INSERT INTO audit_log (detail) VALUES ($1)', [encrypt(secretOf('late'), OLD)]);
    // Exactly as many as are tried: every one was, so no notice.
    await client.query('CREATE TABLE audit_exact (id serial PRIMARY KEY, detail text)');
    await client.query('INSERT INTO audit_exact (detail) SELECT md5(i::text) || md5((-i)::text) FROM generate_series(1, 20000) AS i');
    const dry = obs.observe(await keyrotate.rotateEncryptionKey(OLD, NEW, url, { dryRun: true }));
    assert.deepStrictEqual(dry.discovered, []);
    assert.deepStrictEqual(
      dry.notices.filter((n) => n.startsWith('discovery')),
      ['discovery tried only the first 20000 values of public.audit_log.detail that look sealed (none opened); ciphertext among the rest would not be seen'],
    );
  });

  test('a deeply nested document is searched in linear time, and what is beside it is still found', { timeout: 120_000 }, async () => {
    const { url, client } = await install('shape_deep');
    await client.query('CREATE TABLE notes (id text PRIMARY KEY, body text)');
    const depth = 100_000;
    await client.query("INSERT INTO notes VALUES ('deep', $1), ('sealed', $2)", [
      `${'['.repeat(depth)}${'"",'.repeat(depth)}"${'A'.repeat(44)}"`,
      JSON.stringify({ tokenEnc: encrypt(secretOf('beside'), OLD) }),
    ]);
    const dry = await refusedDryRun(keyrotate.rotateEncryptionKey(OLD, NEW, url, { dryRun: true }), 'ERR_UNREGISTERED_CIPHERTEXT');
    assert.deepStrictEqual(places(dry), [{ schema: 'public', table: 'notes', column: 'body', member: 'tokenEnc', aad: null }]);
  });
});

describe('registered documents', () => {
  test('a lone surrogate inside a registered secretEnc: the backend opens it, so the rotation re-seals it (never counted empty)', async () => {
    const { url, client } = await install('shape_member_surrogate');
    const plaintext = secretOf('hook');
    const sealed = encrypt(plaintext, OLD, 'org1');
    const text = `{"url":"https://hooks.example","secretEnc":${JSON.stringify(sealed).slice(0, -1)}\\udc00"}`;
    assert.equal(decrypt(JSON.parse(text).secretEnc, OLD, 'org1'), plaintext, 'the backend opens it');
    await setting(client, 'os_hook', 'alert_webhook', text);
    const report = obs.observe(await keyrotate.rotateEncryptionKey(OLD, NEW, url));
    const hook = report.locations.find((l) => l.table === 'org_settings');
    assert.deepStrictEqual([hook.reencrypted, hook.empty], [1, 0]);
    const stored = JSON.parse((await client.query("SELECT value FROM org_settings WHERE id = 'os_hook'")).rows[0].value);
    assert.equal(decrypt(stored.secretEnc, NEW, 'org1'), plaintext);
    assert.equal(stored.url, 'https://hooks.example');
    assert.equal((await keyrotate.verifyEncryptionKey(NEW, url)).ok, true);
  });

  test('an empty alert_webhook value holds no ciphertext: counted empty, the rotation commits', async () => {
    const { url, client } = await install('shape_empty_text');
    await setting(client, 'os_empty', 'alert_webhook', '');
    const report = obs.observe(await keyrotate.rotateEncryptionKey(OLD, NEW, url));
    const hook = report.locations.find((l) => l.table === 'org_settings');
    assert.deepStrictEqual([hook.rows, hook.empty, hook.failed], [1, 1, 0]);
    assert.equal((await client.query("SELECT value FROM org_settings WHERE id = 'os_empty'")).rows[0].value, '');
  });

  test('a truncated document is that value\'s own error whatever the key, even when nothing else is on the old key', async () => {
    const { url, client } = await install('shape_truncated');
    await keyrotate.rotateEncryptionKey(OLD, NEW, url);
    await setting(client, 'os_cut', 'alert_webhook', '{"url":"https://h", "secretEnc": "x"');
    const before = await snapshotSchema(client, 'public');
    // The right old key for this database would now be NEW; OLD opens nothing.
    const next = generateKey();
    obs.keys(next);
    const dry = await refusedDryRun(keyrotate.rotateEncryptionKey(NEW, next, url, { dryRun: true }), 'ERR_UNDECRYPTABLE');
    assert.deepStrictEqual([dry.failureCount, dry.oldKeyMatches], [1, true], 'a malformed value says nothing about the key');
    const e = await obs.rejection(keyrotate.rotateEncryptionKey(NEW, next, url));
    assert.equal(e.code, 'ERR_UNDECRYPTABLE');
    assert.deepStrictEqual(e.details, { kind: 'value', schema: 'public', table: 'org_settings', column: 'value', member: 'secretEnc', primaryKey: 'os_cut' });
    assert.match(e.message, /not valid JSON/);
    assert.match(e.message, /whatever the key/);
    assert.doesNotMatch(e.message, /neither key/);
    assert.deepStrictEqual(await snapshotSchema(client, 'public'), before);
  });

  test('a malformed value does not hide a wrong old key: the key is named first', async () => {
    const { url, client } = await install('shape_malformed_wrong_key');
    await setting(client, 'os_num', 'alert_webhook', '{"url":"https://h","secretEnc":7}');
    const wrong = generateKey();
    obs.keys(wrong);
    const e = await obs.rejection(keyrotate.rotateEncryptionKey(wrong, NEW, url));
    assert.equal(e.code, 'ERR_OLD_KEY_MISMATCH');
    assert.equal(e.details.table, 'connectors');
    const right = await obs.rejection(keyrotate.rotateEncryptionKey(OLD, NEW, url));
    assert.equal(right.code, 'ERR_UNDECRYPTABLE');
    assert.equal(right.details.primaryKey, 'os_num');
    assert.match(right.message, /not a string/);
  });

  test('a filter column that is NULL leaves the row out: no panic, the right counts', async () => {
    const { url, client } = await install('shape_null_filter');
    await client.query("UPDATE connectors SET spec_url = NULL, config = jsonb_build_object('tokenEnc', $1::text) WHERE id = 'c1'", [encrypt(secretOf('cfg'), OLD)]);
    await client.query(
      `INSERT INTO connectors (id, user_id, organization_id, name, type, base_url, auth_type, auth_config, spec_url, config, updated_at)
       VALUES ('c2', 'user1', 'org1', 'Spec', 'REST', 'https://api.example.com', 'API_KEY', NULL, 'https://spec', jsonb_build_object('tokenEnc', $1::text), now())`,
      [encrypt(secretOf('cfg2'), OLD)],
    );
    const file = path.join(tmp, 'null-filter.json');
    writeFileSync(file, JSON.stringify([{ table: 'connectors', primaryKey: 'id', column: 'config', member: 'tokenEnc', where: { spec_url: 'https://spec' } }]));
    const report = obs.observe(await keyrotate.rotateEncryptionKey(OLD, NEW, url, { columnsFile: file, allowUnregistered: true }));
    const config = report.locations.find((l) => l.column === 'config');
    assert.deepStrictEqual([config.rows, config.reencrypted], [1, 1]);
    const { rows } = await client.query("SELECT id, config->>'tokenEnc' AS t FROM connectors ORDER BY id");
    assert.doesNotThrow(() => decrypt(rows[1].t, NEW), 'the selected row is on the new key');
    assert.doesNotThrow(() => decrypt(rows[0].t, OLD), 'the row the filter leaves out is untouched');
  });
});

test('no key or plaintext appears in any report or error', () => {
  obs.assertNoLeaks(8);
});
