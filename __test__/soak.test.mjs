// A backend at work during the rotation: a separate process keeps
// writing every location with the old key, the way the backend's services
// do, while a rotation of a large connectors table runs; then the runbook's
// re-run. Every value ends on the new key, no write is lost (each writer's
// last value is the one stored), and no writer waited longer than its lock
// timeout. Bounded: 100,000 upstream-shaped rows, a few seconds of writes.

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import crypto from 'node:crypto';
import path from 'node:path';
import { after, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import pg from 'pg';

import { decrypt, generateKey } from './helpers/anythingmcp/crypto.mjs';
import { assertNothingOpensWith } from './helpers/anythingmcp/locations.mjs';
import { createAnythingMcpSchema } from './helpers/anythingmcp/schema.mjs';
import { seedAcceptanceFixture } from './helpers/fixture/acceptance.mjs';
import { seedBulkUpstream } from './helpers/fixture/bulk.mjs';
import { createObserver, within } from './helpers/inspect/hygiene.mjs';
import { runCli } from './helpers/run/cli.mjs';
import { getServer } from './helpers/server/postgres.mjs';

const WRITERS = path.join(path.dirname(fileURLToPath(import.meta.url)), 'helpers', 'child', 'backend-writers.mjs');
const ROWS = 100_000;
const LOCK_TIMEOUT_MS = 30_000;

const OLD = generateKey();
const NEW = generateKey();
const obs = createObserver();
for (const k of [OLD, NEW]) obs.secret(k);
const sha = (s) => crypto.createHash('sha256').update(s).digest('hex');

const clients = [];
after(async () => {
  for (const c of clients) await c.end().catch(() => {});
});

function startWriters(url, targets) {
  const child = spawn(process.execPath, [WRITERS, JSON.stringify({ url, key: OLD, lockTimeoutMs: LOCK_TIMEOUT_MS, targets })], {
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stdout.on('data', (c) => (out += c));
  child.stderr.on('data', (c) => (err += c));
  const exited = new Promise((resolve) => child.once('close', resolve));
  return {
    ready: within(
      (async () => {
        while (!out.includes('ready\n')) {
          if (child.exitCode !== null) throw new Error(`writers died: ${err}`);
          await new Promise((r) => setTimeout(r, 20));
        }
      })(),
      60_000,
      'every writer to write once',
    ),
    async stop() {
      child.stdin.end('stop\n');
      const code = await within(exited, 60_000, 'the writers to stop');
      assert.equal(code, 0, err);
      return JSON.parse(out.trim().split('\n').at(-1));
    },
  };
}

test('every location written with the old key throughout a rotation: all end on the new key, no write lost, no writer waits past its lock timeout', async (t) => {
  const server = await getServer();
  const url = await server.createDatabase('soak');
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  clients.push(client);
  await createAnythingMcpSchema(client, 'public');
  const fixture = await seedAcceptanceFixture(client, OLD);
  for (const r of fixture.rows) if (r.plaintext) obs.secret(r.plaintext);
  await seedBulkUpstream(client, OLD, ROWS);
  await client.query('VACUUM ANALYZE connectors');

  const sealedAuth = fixture.rows.filter((r) => r.table === 'connectors' && r.column === 'auth_config' && r.kind === 'sealed');
  const { rows: orgs } = await client.query("SELECT organization_id FROM org_settings WHERE key = 'alert_webhook' ORDER BY id LIMIT 1");
  const targets = {
    authConnectorId: sealedAuth[0].id,
    envConnectorId: sealedAuth[1].id,
    cacheConnectorId: sealedAuth[2].id,
    oauthConnectorId: sealedAuth[3].id,
    organizationId: orgs[0].organization_id,
  };
  const env = { DATABASE_URL: url, OLD_ENCRYPTION_KEY: OLD, NEW_ENCRYPTION_KEY: NEW };
  const observe = obs.observe;

  const writers = startWriters(url, targets);
  let summary;
  let attempts;
  try {
    await writers.ready;
    const first = await runCli(['--yes', '--json', '--lock-timeout', `${LOCK_TIMEOUT_MS}ms`], { env, observe });
    assert.equal(first.code, 0, first.stderr);
    const { report } = JSON.parse(first.stdout);
    assert.ok(report.rowsReencrypted >= ROWS, `${report.rowsReencrypted} rows`);
    // The backend keeps running on the old key for a moment after the commit.
    await new Promise((r) => setTimeout(r, 1000));
  } finally {
    ({ summary, attempts } = await writers.stop());
  }

  // The runbook's verify finds what a backend still on the old key wrote
  // after the commit; the same rotation again finishes it, then verify.
  const found = await runCli(['verify'], { env: { DATABASE_URL: url, ENCRYPTION_KEY: NEW }, observe });
  assert.equal(found.code, 3, 'values written under the old key after the commit');
  assert.match(found.stderr, /do not open while the others do.*Run the same rotation again/);
  const again = await runCli(['--yes', '--json'], { env, observe });
  assert.equal(again.code, 0, again.stderr);
  const { report: rerun } = JSON.parse(again.stdout);
  assert.ok(rerun.rowsReencrypted >= 1, 'values written under the old key after the commit are finished by the re-run');
  assert.ok(rerun.alreadyOnNewKey >= ROWS);
  const verify = await runCli(['verify'], { env: { DATABASE_URL: url, ENCRYPTION_KEY: NEW }, observe });
  assert.equal(verify.code, 0, verify.stderr);
  await assertNothingOpensWith(client, 'public', OLD);

  // Every writer wrote, none failed, none waited past its lock timeout, and
  // the rotation really did make them wait.
  let longest = 0;
  for (const [name, s] of Object.entries(summary)) {
    assert.ok(s.writes >= 5, `${name} wrote ${s.writes} times`);
    assert.deepStrictEqual(s.errors, {}, `${name} had errors`);
    assert.ok(s.maxMs <= LOCK_TIMEOUT_MS, `${name} waited ${s.maxMs} ms`);
    longest = Math.max(longest, s.maxMs);
  }
  assert.ok(longest >= 200, `the writers were held back by the rotation's locks (longest wait ${longest.toFixed(0)} ms)`);
  t.diagnostic(`longest writer wait: ${longest.toFixed(0)} ms; writes: ${Object.entries(summary).map(([n, s]) => `${n} ${s.writes}`).join(', ')}`);

  // No write was lost: each writer's last value is the one stored, and opens
  // with the new key to what it wrote.
  const one = async (sql, params) => (await client.query(sql, params)).rows[0];
  const auth = await one('SELECT auth_config FROM connectors WHERE id = $1', [targets.authConnectorId]);
  assert.equal(sha(decrypt(auth.auth_config, NEW)), summary['oauth-refresh'].lastSha);
  const cache = await one('SELECT token FROM connector_auth_cache WHERE connector_id = $1', [targets.cacheConnectorId]);
  assert.equal(sha(decrypt(cache.token, NEW)), summary['login-token'].lastSha);
  const vars = await one('SELECT env_vars FROM connectors WHERE id = $1', [targets.envConnectorId]);
  assert.equal(sha(decrypt(vars.env_vars.$enc, NEW, 'connectors.env_vars')), summary['env-vars'].lastSha);
  assert.equal(vars.env_vars.PLAIN_VERSION, String(summary['env-vars'].writes - 1), 'the plain member beside $enc is the last one written');
  const alert = await one("SELECT value FROM org_settings WHERE organization_id = $1 AND key = 'alert_webhook'", [targets.organizationId]);
  assert.equal(sha(decrypt(JSON.parse(alert.value).secretEnc, NEW, targets.organizationId)), summary['alert-secret'].lastSha);
  const { rows: stored } = await client.query("SELECT id, payload FROM connector_oauth_attempts WHERE id LIKE 'soak-attempt-%'");
  assert.equal(stored.length, attempts.length, 'every OAuth attempt inserted is there');
  const byId = new Map(stored.map((r) => [r.id, r.payload]));
  for (const a of attempts) assert.equal(sha(decrypt(byId.get(a.id), NEW, 'connector-oauth')), a.sha, a.id);
});

test('no key or plaintext appears in any output', () => {
  obs.assertNoLeaks(3);
});
