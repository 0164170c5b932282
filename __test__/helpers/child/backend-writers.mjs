#!/usr/bin/env node
// A backend at work, in a process of its own: one connection per writer,
// each writing its location over and over with the key the backend was
// started with, the way AnythingMCP's services do (each statement its own
// transaction, as Prisma runs them):
//   oauth-refresh   the OAuth2 refresher re-sealing connectors.auth_config
//   login-token     the login-token service upserting connector_auth_cache
//   oauth-attempt   OAuth flows inserting connector_oauth_attempts
//   alert-secret    an admin rotating an alert webhook's signing secret
//   env-vars        an admin editing a connector's variables
//
// Input: one JSON argument { url, key, lockTimeoutMs, targets }. It prints
// "ready" once every writer has written, then writes until a line arrives on
// stdin, and prints one JSON summary: per writer the number of writes, the
// longest a statement took (a blocked writer waits inside its statement),
// errors by SQLSTATE, and the sha256 of its last plaintext (plaintexts never
// leave this process); for oauth-attempt, every row it inserted.

import crypto from 'node:crypto';
import pg from 'pg';

import { encrypt } from '../anythingmcp/crypto.mjs';

const { url, key, lockTimeoutMs, targets } = JSON.parse(process.argv[2]);
const sha = (s) => crypto.createHash('sha256').update(s).digest('hex');
const fresh = () => crypto.randomBytes(18).toString('base64url');

const WRITERS = {
  'oauth-refresh': (seq) => {
    const plaintext = JSON.stringify({ grantType: 'refresh_token', accessToken: `at_${seq}_${fresh()}`, refreshToken: `rt_${fresh()}`, expiresAt: Date.now() + 3600_000 });
    return { plaintext, sql: 'UPDATE connectors SET auth_config = $1, updated_at = now() WHERE id = $2', params: [encrypt(plaintext, key), targets.authConnectorId] };
  },
  'login-token': (seq) => {
    const plaintext = `lt_${seq}_${fresh()}`;
    return {
      plaintext,
      sql: `INSERT INTO connector_auth_cache (id, connector_id, token, updated_at) VALUES ($1, $2, $3, now())
            ON CONFLICT (connector_id) DO UPDATE SET token = EXCLUDED.token, updated_at = now()`,
      params: [`soak-cache-${seq}`, targets.cacheConnectorId, encrypt(plaintext, key)],
    };
  },
  'oauth-attempt': (seq) => {
    const plaintext = JSON.stringify({ codeVerifier: fresh(), clientSecret: fresh(), returnTo: `/connectors/${targets.oauthConnectorId}`, seq });
    const id = `soak-attempt-${seq}`;
    return {
      plaintext,
      id,
      sql: `INSERT INTO connector_oauth_attempts (id, connector_id, state_hash, payload, expires_at)
            VALUES ($1, $2, $3, $4, now() + interval '15 minutes')`,
      params: [id, targets.oauthConnectorId, sha(fresh()), encrypt(plaintext, key, 'connector-oauth')],
    };
  },
  'alert-secret': (seq) => {
    const plaintext = `whsec_${seq}_${fresh()}`;
    const doc = JSON.stringify({ url: 'https://hooks.acme.example/alerts', secretEnc: encrypt(plaintext, key, targets.organizationId), events: ['connector.failed'], seq });
    return { plaintext, sql: "UPDATE org_settings SET value = $1 WHERE organization_id = $2 AND key = 'alert_webhook'", params: [doc, targets.organizationId] };
  },
  'env-vars': (seq) => {
    const plaintext = JSON.stringify({ API_TOKEN: `tok_${seq}_${fresh()}`, REGION: 'eu-central-1' });
    const doc = { $enc: encrypt(plaintext, key, 'connectors.env_vars'), PLAIN_VERSION: String(seq) };
    return { plaintext, sql: 'UPDATE connectors SET env_vars = $1::jsonb WHERE id = $2', params: [JSON.stringify(doc), targets.envConnectorId] };
  },
};

let stopping = false;
process.stdin.on('data', () => (stopping = true));
process.stdin.on('end', () => (stopping = true));

const summary = {};
const attempts = [];
let readyCount = 0;

async function run(name, write) {
  const client = new pg.Client({ connectionString: url, application_name: `backend-${name}` });
  await client.connect();
  await client.query(`SET lock_timeout = ${Number(lockTimeoutMs)}`);
  const s = (summary[name] = { writes: 0, maxMs: 0, errors: {}, lastSha: null });
  for (let seq = 0; !stopping; seq++) {
    const w = write(seq);
    const started = performance.now();
    try {
      const r = await client.query(w.sql, w.params);
      if (r.rowCount !== 1) throw Object.assign(new Error('no row written'), { code: 'NOROW' });
      s.writes++;
      s.lastSha = sha(w.plaintext);
      if (w.id) attempts.push({ id: w.id, sha: s.lastSha });
      if (s.writes === 1 && ++readyCount === Object.keys(WRITERS).length) process.stdout.write('ready\n');
    } catch (e) {
      s.errors[e.code ?? 'unknown'] = (s.errors[e.code ?? 'unknown'] ?? 0) + 1;
    }
    s.maxMs = Math.max(s.maxMs, performance.now() - started);
    await new Promise((r) => setTimeout(r, 15));
  }
  await client.end();
}

await Promise.all(Object.entries(WRITERS).map(([name, write]) => run(name, write)));
process.stdout.write(JSON.stringify({ summary, attempts }) + '\n');
