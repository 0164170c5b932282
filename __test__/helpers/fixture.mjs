// Data an AnythingMCP installation really holds, sealed the way its backend
// seals it, so rotation tests can check every value afterwards: the
// acceptance fixture of SPEC.md section 4.
//
// The bulk seeders (bulk.mjs) and table snapshots (snapshot.mjs) are
// re-exported here for the tests that import them from this module.

import { encrypt } from './backend-crypto.mjs';
import { connectorCatalogue } from './fixture-connectors.mjs';
import { seedLookalikes } from './fixture-lookalikes.mjs';
import { seedNewerLocations } from './fixture-newer.mjs';
import { locationOf } from './locations.mjs';
import { freshDatabase } from './pg.mjs';
import { createAnythingMcpSchema, ENUMS } from './schema.mjs';
import { sealWhole, stamp, writer } from './seal.mjs';
import { bcryptHash, cuid, hex, token } from './values.mjs';

export { BULK_PLAINTEXT_BYTES, ENV_VARS_AAD, bulkEnvPlaintext, bulkPlaintext, seedBulk, seedBulkUpstream } from './bulk.mjs';
export { digestSchema, snapshotSchema, snapshotTable, tableDigest } from './snapshot.mjs';

const ORGANIZATIONS = ['Acme Corp', 'Globex GmbH', 'Initech', 'Umbrella Research'];

/**
 * A fresh database on the test server with the current schema (the legacy
 * table too) and the acceptance fixture sealed under `key`, its secrets told
 * to `obs`: `{ server, url, client, fixture }`.
 */
export async function acceptanceDatabase(prefix, key, { clients, obs } = {}) {
  const env = await freshDatabase(prefix, { clients, obs });
  await createAnythingMcpSchema(env.client, 'public', { legacy: true });
  env.fixture = await seedAcceptanceFixture(env.client, key, { legacy: true });
  for (const s of env.fixture.secrets) obs?.secret(s);
  return env;
}

/**
 * Seed one installation: four organizations and their users, every
 * connector type and secret-bearing auth type of `release` with env_vars in
 * every shape, and on main every newer location (cached login tokens, SSO
 * client secrets, pending OAuth flows, alert-webhook secrets) plus the
 * plaintext look-alikes of SPEC 1. `legacy`: also legacy
 * `mcp_server_configs` rows (the schema must have been created with `legacy`).
 *
 * Returns { schema, release, legacy, organizationId, organizationIds, userId,
 *   apiKeys: [{ id, key }], identityProviders: [{ id, organizationId, name }],
 *   secrets: [string], rows } where `rows` holds one entry per location value:
 *   { table, column, member?, id, aad?, kind, plaintext, stored, ... }
 * - kind 'sealed': `stored` is the sealed string (for a member, decoded from
 *   the document) and decrypt(stored, key, aad) is `plaintext`;
 *   'null': the column is NULL; 'empty': '' or a document without the member.
 * - member entries also carry `document` (the column as node-postgres returns
 *   it: parsed jsonb, or the exact text) and `rest` (the other members).
 * - connectors entries carry `type`, `authType` and `name`.
 * `secrets`: every plaintext and plaintext look-alike secret, for the
 * hygiene checks (none may appear in any output).
 */
export async function seedAcceptanceFixture(client, key, { schema = 'public', release = 'main', legacy = false } = {}) {
  const db = writer(client, schema);
  const enums = ENUMS[release];
  if (!enums) throw new Error(`unknown release ${JSON.stringify(release)}`);
  const main = release === 'main';
  const rows = [];
  const secrets = [];
  const base = '2026-01-05 08:00:00.000';

  const organizationIds = ORGANIZATIONS.map(() => cuid());
  for (const [i, name] of ORGANIZATIONS.entries()) {
    await db.insert('organizations', { id: organizationIds[i], name, created_at: stamp(base, i), updated_at: stamp(base, 60 + i) });
  }
  const users = [
    { name: 'Ada Admin', role: 'ADMIN', org: 0 },
    { name: 'Grace Ops', role: 'ADMIN', org: 1 },
    { name: 'Linus Viewer', role: 'VIEWER', org: 0 },
  ].map((u) => ({ ...u, id: cuid() }));
  for (const [i, u] of users.entries()) {
    await db.insert('users', {
      id: u.id,
      email: `${u.name.split(' ')[0].toLowerCase()}+${u.id}@acme.example`,
      password_hash: bcryptHash(),
      name: u.name,
      role: u.role,
      created_at: stamp(base, 10 + i),
      updated_at: stamp(base, 20 + i),
      email_verified: i !== 2,
      organization_id: organizationIds[u.org],
    });
    await db.insert('organization_members', { id: cuid(), user_id: u.id, organization_id: organizationIds[u.org], role: u.role, joined_at: stamp(base, 10 + i) });
  }
  const userId = users[0].id;
  const organizationId = organizationIds[0];

  const servers = [];
  if (!legacy) {
    for (const [i, org] of organizationIds.slice(0, 2).entries()) {
      const id = cuid();
      servers.push(id);
      await db.insert('mcp_server_configs', {
        id,
        user_id: users[i === 0 ? 0 : 1].id,
        name: 'Default',
        created_at: stamp(base, 30 + i),
        updated_at: stamp(base, 31 + i),
        description: 'Every connector of the organization',
        slug: 'default',
        instructions: 'Prefer read-only tools.',
        organization_id: org,
      });
    }
  }

  const apiKeys = [];
  for (const [i, name] of ['Claude Desktop', 'Cursor'].entries()) {
    const row = { id: cuid(), key: 'amcp_' + hex(24) };
    apiKeys.push(row);
    secrets.push(row.key);
    await db.insert('mcp_api_keys', {
      id: row.id,
      user_id: userId,
      key: row.key,
      name,
      last_used_at: '2026-02-01 12:00:00.500',
      created_at: `2026-01-06 09:00:0${i}.250`,
      mcp_server_id: servers[0] ?? null,
      organization_id: organizationId,
    });
  }

  const connectors = await seedConnectors(db, key, { release, main, enums, userId, organizationId, rows, servers });
  if (legacy) await seedLegacyServers(db, key, { userId, rows });
  const identityProviders = main ? await seedNewerLocations(db, key, { connectors, organizationIds, users, rows }) : [];
  secrets.push(...(await seedLookalikes(db, { main, organizationIds, users, connectors, identityProviders, servers })));

  for (const r of rows) if (r.kind === 'sealed') secrets.push(r.plaintext);
  return { schema, release, legacy, organizationId, organizationIds, userId, apiKeys, identityProviders, secrets, rows };
}

// env_vars as the row holds it (JSON text, or null for SQL NULL) and the
// fixture entry for its `$enc` location.
function envVars(c, key, main) {
  const vars = JSON.stringify(c.vars ?? {});
  const plainText = c.plain?.text;
  const shape = !main && c.env.startsWith('enc') ? 'plain' : c.env;
  const aad = locationOf('connectors.env_vars.$enc').aad.constant;
  const none = { aad, plaintext: null, stored: null, shape };
  switch (shape) {
    case 'enc':
    case 'enc+plain': {
      const sealed = encrypt(vars, key, aad);
      const text = plainText ? `{"$enc": ${JSON.stringify(sealed)}, ${plainText.slice(1)}` : JSON.stringify({ $enc: sealed });
      const { $enc: _e, ...rest } = JSON.parse(text);
      return { text, entry: { kind: 'sealed', aad, plaintext: vars, stored: sealed, document: JSON.parse(text), rest, shape } };
    }
    case 'plain': {
      // v0.1.20 (and ENV_VARS_AT_REST=plaintext) keeps the variables themselves.
      const text = plainText ? `${vars.slice(0, -1)}${vars === '{}' ? '' : ', '}${plainText.slice(1)}` : vars;
      return { text, entry: { kind: 'empty', ...none, document: JSON.parse(text), rest: JSON.parse(text) } };
    }
    case '{}':
      return { text: '{}', entry: { kind: 'empty', ...none, document: {}, rest: {} } };
    case 'json-null':
      return { text: 'null', entry: { kind: 'empty', ...none, document: null, rest: undefined } };
    case 'sql-null':
      return { text: null, entry: { kind: 'null', ...none, document: null, rest: undefined } };
    default:
      throw new Error(`unknown env shape ${c.env}`);
  }
}

async function seedConnectors(db, key, { release, main, enums, userId, organizationId, rows, servers }) {
  const out = [];
  const catalogue = connectorCatalogue().filter((c) => enums.ConnectorType.includes(c.type) && enums.AuthType.includes(c.authType));
  for (const [i, c] of catalogue.entries()) {
    const id = cuid();
    const minute = i + 1;
    const auth = sealWhole(c.auth, key);
    const env = envVars(c, key, main);
    await db.insert('connectors', {
      id,
      user_id: userId,
      name: c.name,
      type: c.type,
      base_url: c.baseUrl,
      is_active: minute % 5 !== 0,
      auth_type: c.authType,
      auth_config: auth.stored,
      spec_url: c.specUrl ?? null,
      spec_data: c.specUrl ? JSON.stringify({ openapi: '3.0.3', info: { title: c.name, version: '1.0' }, paths: {} }) : null,
      headers: JSON.stringify(
        minute % 4 === 0
          ? { Accept: 'application/json', Authorization: `Bearer ${token(48)}`, 'X-Api-Version': '2' }
          : { Accept: 'application/json', 'User-Agent': 'AnythingMCP/1.0' },
      ),
      config: JSON.stringify({ timeoutMs: 30_000, retries: minute % 3, note: c.name }),
      env_vars: env.text,
      created_at: stamp('2026-01-10 10:00:00.000', minute),
      updated_at: stamp('2026-02-11 16:00:00.000', minute),
      instructions: `Use ${c.name} for read-only lookups. Never expose credentials.`,
      organization_id: organizationId,
    });
    const about = { type: c.type, authType: c.authType, name: c.name };
    rows.push({ table: 'connectors', column: 'auth_config', id, ...auth, ...about });
    rows.push({ table: 'connectors', column: 'env_vars', member: '$enc', id, ...env.entry, ...about });
    if (servers[0]) await db.insert('mcp_server_connectors', { id: cuid(), mcp_server_id: servers[0], connector_id: id, created_at: stamp('2026-01-10 10:00:00.000', minute) });
    out.push({ id, ...c, release });
  }
  return out;
}

async function seedLegacyServers(db, key, { userId, rows }) {
  const servers = [
    { name: 'AnythingMCP', authType: 'BEARER_TOKEN', auth: { token: `amcp_srv_${hex(24)}` } },
    {
      name: 'AnythingMCP (OAuth)',
      authType: 'OAUTH2',
      auth: { clientId: token(16), clientSecret: token(32), issuer: 'https://auth.acme.example', audience: 'anythingmcp' },
    },
    { name: 'Legacy open server', authType: 'NONE', auth: null },
    { name: 'Legacy cleared server', authType: 'BEARER_TOKEN', auth: '' },
  ];
  for (const [i, srv] of servers.entries()) {
    const id = cuid();
    const sealed = sealWhole(srv.auth, key);
    await db.insert('mcp_server_configs', {
      id,
      user_id: userId,
      name: srv.name,
      auth_type: srv.authType,
      auth_config: sealed.stored,
      created_at: `2025-11-0${i + 1} 07:00:00.111`,
      updated_at: `2025-12-0${i + 1} 07:30:00.222`,
    });
    rows.push({ table: 'mcp_server_configs', column: 'auth_config', id, ...sealed, authType: srv.authType });
  }
}
