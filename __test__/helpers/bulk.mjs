// Large tables for the benchmark and the big-table tests: rows whose
// plaintexts derive from their ids, so a million rows can be checked without
// keeping a million plaintexts in memory.

import crypto from 'node:crypto';
import { encrypt } from './backend-crypto.mjs';
import { quoteIdent } from './ident.mjs';

/** Plaintext length of bulk rows: sealed, 16 + 307 + 16 bytes is 452 base64 chars. */
export const BULK_PLAINTEXT_BYTES = 307;
const BULK_PAD = crypto.createHash('sha512').update('keyrotate bulk pad').digest('base64url').repeat(8);

/** The id of the i-th bulk row: zero-padded so text order is insertion order. */
export function bulkId(i, idPrefix = 'cbulk') {
  return `${idPrefix}${String(i).padStart(10, '0')}`;
}

/**
 * The plaintext a bulk row with this id holds: derived from the id, so a test
 * can check a million rows without keeping a million plaintexts in memory.
 */
export function bulkPlaintext(id) {
  const digest = crypto.createHash('sha256').update(id).digest();
  const base = {
    grantType: 'client_credentials',
    clientId: `client-${id}`,
    clientSecret: digest.toString('base64url'),
    tokenUrl: 'https://login.example.com/oauth2/v2.0/token',
    scope: 'api://anythingmcp/.default',
    accessToken: '',
  };
  const need = BULK_PLAINTEXT_BYTES - Buffer.byteLength(JSON.stringify(base));
  if (need < 0) throw new Error(`bulk id too long: ${id}`);
  const offset = digest.readUInt16BE(0) % (BULK_PAD.length - need);
  base.accessToken = BULK_PAD.slice(offset, offset + need);
  return JSON.stringify(base);
}

/** The variables a bulk upstream row's env_vars.$enc opens to: derived from the id. */
export function bulkEnvPlaintext(id) {
  const digest = crypto.createHash('sha256').update(`env:${id}`).digest('base64url');
  return JSON.stringify({ TENANT: id, REGION: 'eu-central-1', API_TOKEN: digest, TIMEOUT_MS: '30000' });
}

/** The AAD the backend seals env_vars.$enc with. */
export const ENV_VARS_AAD = 'connectors.env_vars';

const BULK_STAMP = '2026-03-01 00:00:00.000';

// The organization and user bulk connectors belong to (created once per prefix).
async function bulkOwner(client, t, idPrefix) {
  const orgId = `${idPrefix}-org`;
  const userId = `${idPrefix}-user`;
  await client.query(`INSERT INTO ${t('organizations')} (id, name, updated_at) VALUES ($1, 'Bulk org', $2) ON CONFLICT DO NOTHING`, [orgId, BULK_STAMP]);
  await client.query(
    `INSERT INTO ${t('users')} (id, email, password_hash, organization_id, updated_at) VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING`,
    [userId, `${idPrefix}@bulk.example`, '$2b$12$bulkbulkbulkbulkbulkuOq0wKfKkbY8qJYbQm0Dq8kq1Ff6o6jZ2', orgId, BULK_STAMP],
  );
  return { orgId, userId };
}

// Insert rows [startIndex, startIndex + n) batch by batch: `columnsOf(id)`
// gives the row's parameter values (one array per parameter), the next batch
// is encrypted while the previous one is written.
async function insertBatches(client, sql, extra, n, { idPrefix, startIndex, batchSize }, columnsOf) {
  let inflight = null;
  for (let start = 0; start < n; start += batchSize) {
    const end = Math.min(n, start + batchSize);
    const ids = new Array(end - start);
    let cols = null;
    for (let i = start; i < end; i++) {
      const id = bulkId(startIndex + i, idPrefix);
      ids[i - start] = id;
      const values = columnsOf(id);
      cols ??= values.map(() => new Array(end - start));
      values.forEach((v, c) => (cols[c][i - start] = v));
    }
    if (inflight) await inflight;
    inflight = client.query(sql, [ids, ...cols, ...extra]);
  }
  if (inflight) await inflight;
  return {
    count: n,
    firstId: n > 0 ? bulkId(startIndex, idPrefix) : null,
    lastId: n > 0 ? bulkId(startIndex + n - 1, idPrefix) : null,
    idAt: (i) => bulkId(startIndex + i, idPrefix),
    plaintextOf: bulkPlaintext,
  };
}

/**
 * Insert n rows whose `column` holds bulkPlaintext(id) sealed under `key`
 * (~452-char values), batch by batch with INSERT ... SELECT FROM unnest().
 * `table` 'connectors' and 'mcp_server_configs' get their NOT NULL columns
 * filled (and a bulk user/organization created); any other table gets (id, column).
 * Returns { count, firstId, lastId, idAt(i), plaintextOf(id) }.
 */
export async function seedBulk(
  client,
  key,
  n,
  { schema = 'public', table = 'connectors', column = 'auth_config', idPrefix = 'cbulk', startIndex = 0, batchSize = 10_000 } = {},
) {
  const t = (name) => `${quoteIdent(schema)}.${quoteIdent(name)}`;
  const col = quoteIdent(column);
  let sql;
  let extra = [];
  if (table === 'connectors' || table === 'mcp_server_configs') {
    const { orgId, userId } = await bulkOwner(client, t, idPrefix);
    if (table === 'connectors') {
      sql = `INSERT INTO ${t('connectors')} (id, user_id, organization_id, name, type, base_url, auth_type, ${col}, headers, created_at, updated_at)
             SELECT u.id, $3, $4, 'Bulk connector ' || u.id, 'REST', 'https://api.example.com/v1', 'OAUTH2', u.v,
                    '{"Accept": "application/json"}', $5::timestamp(3), $5::timestamp(3)
             FROM unnest($1::text[], $2::text[]) AS u(id, v)`;
      extra = [userId, orgId, BULK_STAMP];
    } else {
      sql = `INSERT INTO ${t('mcp_server_configs')} (id, user_id, name, auth_type, ${col}, created_at, updated_at)
             SELECT u.id, $3, 'Bulk server ' || u.id, 'BEARER_TOKEN', u.v, $4::timestamp(3), $4::timestamp(3)
             FROM unnest($1::text[], $2::text[]) AS u(id, v)`;
      extra = [userId, BULK_STAMP];
    }
  } else {
    sql = `INSERT INTO ${t(table)} (id, ${col}) SELECT u.id, u.v FROM unnest($1::text[], $2::text[]) AS u(id, v)`;
  }
  return insertBatches(client, sql, extra, n, { idPrefix, startIndex, batchSize }, (id) => [encrypt(bulkPlaintext(id), key)]);
}

/**
 * Insert n `connectors` rows as the current backend writes them: auth_config
 * sealing bulkPlaintext(id) and env_vars `{"$enc": sealed}` whose `$enc`
 * opens (AAD 'connectors.env_vars') to bulkEnvPlaintext(id).
 * Returns what seedBulk returns, plus envPlaintextOf(id).
 */
export async function seedBulkUpstream(client, key, n, { schema = 'public', idPrefix = 'cup', startIndex = 0, batchSize = 10_000 } = {}) {
  const t = (name) => `${quoteIdent(schema)}.${quoteIdent(name)}`;
  const { orgId, userId } = await bulkOwner(client, t, idPrefix);
  const sql = `INSERT INTO ${t('connectors')} (id, user_id, organization_id, name, type, base_url, auth_type, auth_config, headers, env_vars, created_at, updated_at)
               SELECT u.id, $4, $5, 'Bulk connector ' || u.id, 'REST', 'https://api.example.com/v1', 'OAUTH2', u.a,
                      '{"Accept": "application/json"}', jsonb_build_object('$enc', u.e), $6::timestamp(3), $6::timestamp(3)
               FROM unnest($1::text[], $2::text[], $3::text[]) AS u(id, a, e)`;
  const seeded = await insertBatches(client, sql, [userId, orgId, BULK_STAMP], n, { idPrefix, startIndex, batchSize }, (id) => [
    encrypt(bulkPlaintext(id), key),
    encrypt(bulkEnvPlaintext(id), key, ENV_VARS_AAD),
  ]);
  return { ...seeded, envPlaintextOf: bulkEnvPlaintext };
}
