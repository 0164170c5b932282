// Tests of the acceptance fixture itself, against a real PostgreSQL server:
// the schema has what the backend's migrations create, every seeded value opens in
// Node's crypto exactly as the backend opens it (and under nothing else), and
// the dump sees every byte except the ciphertext. Without these, a rotation
// test passing would prove nothing.

import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import pg from 'pg';

import { decrypt, encrypt, generateKey } from './helpers/anythingmcp/crypto.mjs';
import {
  LOCATIONS,
  LOOKALIKES,
  assertEntriesOpenWith,
  assertNothingOpensWith,
  locationName,
  locationOf,
  openLocation,
  opensWith,
  readLocation,
  sealedIn,
} from './helpers/anythingmcp/locations.mjs';
import { MIGRATIONS_MAIN, MIGRATIONS_V0_1_20 } from './helpers/anythingmcp/migrations.mjs';
import { AUTH_TYPES, CONNECTOR_TYPES, ENUMS, createAnythingMcpSchema, tablesOf } from './helpers/anythingmcp/schema.mjs';
import { seedAcceptanceFixture } from './helpers/fixture/acceptance.mjs';
import {
  BULK_PLAINTEXT_BYTES,
  ENV_VARS_AAD,
  bulkEnvPlaintext,
  bulkPlaintext,
  seedBulk,
  seedBulkUpstream,
} from './helpers/fixture/bulk.mjs';
import { dumpDatabase } from './helpers/inspect/dump.mjs';
import { snapshotTable, tableDigest } from './helpers/inspect/snapshot.mjs';
import { memberSpan, spliceMember } from './helpers/json-text.mjs';
import { getServer } from './helpers/server/postgres.mjs';
import { quoteIdent } from './helpers/sql.mjs';

const KEY = generateKey();
const OTHER = generateKey();

after(async () => {
  await (await getServer()).stop();
});

async function withDatabase(prefix, fn) {
  const server = await getServer();
  const client = new pg.Client({ connectionString: await server.createDatabase(prefix) });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

async function seeded(client, schema = 'public', opts = {}) {
  await createAnythingMcpSchema(client, schema, opts);
  return seedAcceptanceFixture(client, KEY, { schema, ...opts });
}

const columnsOf = async (client, schema, table) =>
  Object.fromEntries(
    (
      await client.query(
        `SELECT column_name, data_type, udt_schema, udt_name, is_nullable
           FROM information_schema.columns WHERE table_schema = $1 AND table_name = $2 ORDER BY ordinal_position`,
        [schema, table],
      )
    ).rows.map((c) => [c.column_name, c]),
  );

const tablesIn = async (client, schema) =>
  (await client.query(`SELECT tablename FROM pg_tables WHERE schemaname = $1 ORDER BY tablename`, [schema])).rows.map((r) => r.tablename);

// Unique indexes and foreign keys as 'table(col, ...)' and 'table.col -> target'.
async function constraintsOf(client, schema) {
  const { rows: uniques } = await client.query(
    `SELECT c.relname || '(' || string_agg(a.attname, ', ' ORDER BY array_position(i.indkey::int2[], a.attnum)) || ')' AS u
       FROM pg_index i JOIN pg_class c ON c.oid = i.indrelid JOIN pg_namespace n ON n.oid = c.relnamespace
       JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum = ANY (i.indkey)
      WHERE n.nspname = $1 AND i.indisunique AND NOT i.indisprimary GROUP BY c.relname, i.indexrelid`,
    [schema],
  );
  const { rows: fks } = await client.query(
    `SELECT c.relname || '.' || a.attname || ' -> ' || f.relname AS fk
       FROM pg_constraint k JOIN pg_class c ON c.oid = k.conrelid JOIN pg_class f ON f.oid = k.confrelid
       JOIN pg_namespace n ON n.oid = c.relnamespace JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum = k.conkey[1]
      WHERE n.nspname = $1 AND k.contype = 'f'`,
    [schema],
  );
  return { uniques: new Set(uniques.map((r) => r.u)), fks: new Set(fks.map((r) => r.fk)) };
}

const enumValues = async (client, schema, name) =>
  (await client.query(`SELECT enum_range(NULL::${quoteIdent(schema)}.${quoteIdent(name)})::text[] AS v`)).rows[0].v;

describe('schema', () => {
  test('main: every table and column of the backend schema with its type, nullability and constraints; newest enum values', () =>
    withDatabase('schema_main', async (client) => {
      await createAnythingMcpSchema(client, 'public');
      assert.deepStrictEqual(await tablesIn(client, 'public'), tablesOf('main'));
      const expect = {
        connectors: { id: ['text', 'NO'], organization_id: ['text', 'NO'], auth_config: ['text', 'YES'], env_vars: ['jsonb', 'YES'], headers: ['jsonb', 'YES'] },
        connector_auth_cache: { id: ['text', 'NO'], connector_id: ['text', 'NO'], token: ['text', 'NO'], metadata: ['jsonb', 'YES'], created_at: ['timestamp without time zone', 'NO'], updated_at: ['timestamp without time zone', 'NO'] },
        identity_providers: { id: ['text', 'NO'], organization_id: ['text', 'NO'], client_id: ['text', 'NO'], client_secret_enc: ['text', 'YES'], scim_token_hash: ['text', 'YES'] },
        connector_oauth_attempts: { id: ['text', 'NO'], connector_id: ['text', 'NO'], state_hash: ['text', 'NO'], payload: ['text', 'NO'], expires_at: ['timestamp without time zone', 'NO'] },
        org_settings: { id: ['text', 'NO'], organization_id: ['text', 'NO'], key: ['text', 'NO'], value: ['text', 'NO'] },
        site_settings: { key: ['text', 'NO'], value: ['text', 'NO'] },
        mcp_api_keys: { key: ['text', 'NO'] },
        connector_setup_links: { token_hash: ['text', 'NO'] },
        recovery_codes: { code_hash: ['text', 'NO'] },
        users: { password_hash: ['text', 'YES'] },
        sso_login_attempts: { state: ['text', 'NO'], nonce: ['text', 'NO'], code_verifier: ['text', 'NO'], handoff_code: ['text', 'YES'] },
        oauth_clients: { client_secret: ['text', 'YES'] },
        licenses: { license_key: ['text', 'NO'] },
        tool_invocations: { repeat_count: ['integer', 'NO'] },
      };
      for (const [table, cols] of Object.entries(expect)) {
        const actual = await columnsOf(client, 'public', table);
        for (const [col, [type, nullable]] of Object.entries(cols)) {
          assert.deepStrictEqual([actual[col]?.data_type, actual[col]?.is_nullable], [type, nullable], `${table}.${col}`);
        }
      }
      for (const loc of [...LOCATIONS.filter((l) => l.table !== 'mcp_server_configs'), ...LOOKALIKES]) {
        assert.ok((await columnsOf(client, 'public', loc.table))[loc.column], `${loc.table}.${loc.column}`);
      }
      const { uniques, fks } = await constraintsOf(client, 'public');
      for (const u of ['connector_auth_cache(connector_id)', 'org_settings(organization_id, key)', 'connector_oauth_attempts(state_hash)', 'mcp_api_keys(key)']) {
        assert.ok(uniques.has(u), `unique ${u}`);
      }
      for (const f of ['connector_auth_cache.connector_id -> connectors', 'identity_providers.organization_id -> organizations', 'connector_oauth_attempts.connector_id -> connectors', 'org_settings.organization_id -> organizations']) {
        assert.ok(fks.has(f), `foreign key ${f}`);
      }
      assert.deepStrictEqual(await enumValues(client, 'public', 'ConnectorType'), CONNECTOR_TYPES);
      assert.deepStrictEqual(await enumValues(client, 'public', 'AuthType'), AUTH_TYPES);
      for (const v of ['ODATA']) assert.ok(CONNECTOR_TYPES.includes(v));
      for (const v of ['QUERY_AUTH', 'OAUTH1', 'LOGIN_TOKEN']) assert.ok(AUTH_TYPES.includes(v));
      assert.equal((await columnsOf(client, 'public', 'mcp_server_configs')).auth_config, undefined, 'the current mcp_server_configs has no auth_config');
    }));

  test("_prisma_migrations: Prisma's own columns, filled with each release's migrations in order", () =>
    withDatabase('schema_migrations', async (client) => {
      await createAnythingMcpSchema(client, 'public');
      await createAnythingMcpSchema(client, 'old', { release: 'v0.1.20' });
      const cols = await columnsOf(client, 'public', '_prisma_migrations');
      assert.deepStrictEqual(
        Object.values(cols).map((c) => [c.column_name, c.data_type, c.is_nullable]),
        [
          ['id', 'character varying', 'NO'],
          ['checksum', 'character varying', 'NO'],
          ['finished_at', 'timestamp with time zone', 'YES'],
          ['migration_name', 'character varying', 'NO'],
          ['logs', 'text', 'YES'],
          ['rolled_back_at', 'timestamp with time zone', 'YES'],
          ['started_at', 'timestamp with time zone', 'NO'],
          ['applied_steps_count', 'integer', 'NO'],
        ],
      );
      for (const [schema, expected] of [['public', MIGRATIONS_MAIN], ['old', MIGRATIONS_V0_1_20]]) {
        const { rows } = await client.query(
          `SELECT migration_name, checksum, finished_at > started_at AS done, rolled_back_at, applied_steps_count, logs
             FROM ${quoteIdent(schema)}._prisma_migrations ORDER BY started_at`,
        );
        assert.deepStrictEqual(rows.map((r) => [r.migration_name, r.checksum]), expected.map((m) => [m.name, m.checksum]));
        for (const r of rows) assert.deepStrictEqual([r.done, r.rolled_back_at, r.applied_steps_count, r.logs], [true, null, 1, null], r.migration_name);
      }
      assert.equal(MIGRATIONS_V0_1_20.length, 14);
      assert.equal(MIGRATIONS_MAIN.at(-1).name, '20261006090000_tool_invocation_repeat_count');
      for (const name of ['20260518000000_add_login_token_auth', '20260731150000_add_identity_providers', '20261003100000_connector_oauth_attempts']) {
        assert.ok(MIGRATIONS_MAIN.some((m) => m.name === name), name);
      }
      for (const m of MIGRATIONS_MAIN) assert.match(m.checksum, /^[0-9a-f]{64}$/);
    }));

  test('v0.1.20: none of the newer tables, columns or enum values', () =>
    withDatabase('schema_v0120', async (client) => {
      await createAnythingMcpSchema(client, 'public', { release: 'v0.1.20' });
      const tables = await tablesIn(client, 'public');
      assert.deepStrictEqual(tables, tablesOf('v0.1.20'));
      for (const t of ['connector_auth_cache', 'identity_providers', 'connector_oauth_attempts', 'sso_login_attempts', 'recovery_codes', 'connector_setup_links']) {
        assert.ok(!tables.includes(t), t);
      }
      assert.deepStrictEqual(await enumValues(client, 'public', 'ConnectorType'), ENUMS['v0.1.20'].ConnectorType);
      assert.deepStrictEqual(await enumValues(client, 'public', 'AuthType'), ENUMS['v0.1.20'].AuthType);
      assert.ok(!ENUMS['v0.1.20'].ConnectorType.includes('ODATA'));
      assert.equal((await columnsOf(client, 'public', 'tool_invocations')).repeat_count, undefined);
      assert.equal((await columnsOf(client, 'public', 'users')).password_hash.is_nullable, 'NO');
      const connectors = await columnsOf(client, 'public', 'connectors');
      assert.deepStrictEqual([connectors.auth_config.data_type, connectors.env_vars.data_type], ['text', 'jsonb']);
    }));

  test('public and tenant_a each get their own tables and enums; legacy has the encrypted auth_config', () =>
    withDatabase('schema_tenants', async (client) => {
      await createAnythingMcpSchema(client, 'public');
      await createAnythingMcpSchema(client, 'tenant_a', { legacy: true });
      for (const schema of ['public', 'tenant_a']) {
        const byName = await columnsOf(client, schema, 'connectors');
        assert.deepStrictEqual(byName.auth_config, { column_name: 'auth_config', data_type: 'text', udt_schema: 'pg_catalog', udt_name: 'text', is_nullable: 'YES' });
        assert.deepStrictEqual([byName.type.udt_schema, byName.type.udt_name], [schema, 'ConnectorType']);
        assert.deepStrictEqual([byName.auth_type.udt_schema, byName.auth_type.udt_name], [schema, 'AuthType']);
        assert.equal(byName.updated_at.data_type, 'timestamp without time zone');
        assert.deepStrictEqual(await enumValues(client, schema, 'ConnectorType'), CONNECTOR_TYPES);
      }
      const legacy = await columnsOf(client, 'tenant_a', 'mcp_server_configs');
      assert.deepStrictEqual([legacy.id.is_nullable, legacy.auth_config.data_type, legacy.auth_config.is_nullable], ['NO', 'text', 'YES']);
      assert.equal((await columnsOf(client, 'public', 'mcp_server_configs')).auth_config, undefined);
    }));

  test('quotes awkward schema names; multiServer is the current mcp_server_configs', () =>
    withDatabase('schema_odd', async (client) => {
      const odd = 'Tenant "B"-x';
      await createAnythingMcpSchema(client, odd, { multiServer: true });
      const cols = await columnsOf(client, odd, 'mcp_server_configs');
      assert.ok(cols.slug && !cols.auth_config);
      assert.ok((await columnsOf(client, odd, 'connectors')).auth_config);
      assert.equal((await client.query(`SELECT count(*)::int AS n FROM ${quoteIdent(odd)}._prisma_migrations`)).rows[0].n, MIGRATIONS_MAIN.length);
    }));
});

describe('acceptance fixture', () => {
  test('every sealed value opens in Node under its key and AAD, and under no other key or AAD', () =>
    withDatabase('fixture_open', async (client) => {
      const fixture = await seeded(client, 'public', { legacy: true });
      assert.equal(await assertEntriesOpenWith(client, fixture, KEY), fixture.rows.filter((r) => r.kind === 'sealed').length);
      await assert.rejects(assertEntriesOpenWith(client, fixture, OTHER), /does not open/);
      const otherAads = new Map();
      for (const r of fixture.rows.filter((e) => e.kind === 'sealed')) {
        const where = `${locationName(r)} ${r.id}`;
        assert.equal(decrypt(r.stored, KEY, r.aad), r.plaintext, where);
        assert.ok(!opensWith(r.stored, OTHER, r.aad), `${where} opens with another key`);
        // The AAD is bound: none, another row's, or a near miss all fail.
        for (const aad of new Set([undefined, 'x', `${r.aad ?? ''}x`, ...(otherAads.get(r.table) ?? [])])) {
          if (aad === r.aad) continue;
          assert.ok(!opensWith(r.stored, KEY, aad), `${where} opens with AAD ${JSON.stringify(aad)}`);
        }
        otherAads.set(r.table, [...(otherAads.get(r.table) ?? []), r.aad]);
      }
      // What the backend binds each value to (its AAD), as docs/locations.md lists it.
      for (const r of fixture.rows) {
        const expected = {
          'connectors.auth_config': undefined,
          'connectors.env_vars.$enc': 'connectors.env_vars',
          'connector_auth_cache.token': undefined,
          'identity_providers.client_secret_enc': `idp_client_secret:${r.id}:${r.organizationId}`,
          'connector_oauth_attempts.payload': 'connector-oauth',
          'org_settings.value.secretEnc': r.organizationId,
          'mcp_server_configs.auth_config': undefined,
        }[locationName(r)];
        assert.equal(r.aad, expected, locationName(r));
      }
    }));

  test('covers every connector type, every secret-bearing auth type, every location with values and without', () =>
    withDatabase('fixture_cover', async (client) => {
      const fixture = await seeded(client, 'public', { legacy: true });
      const auth = fixture.rows.filter((r) => locationName(r) === 'connectors.auth_config');
      for (const type of CONNECTOR_TYPES) assert.ok(auth.some((r) => r.type === type && r.kind === 'sealed'), `a sealed ${type} connector`);
      for (const a of AUTH_TYPES.filter((x) => x !== 'NONE')) assert.ok(auth.some((r) => r.authType === a && r.kind === 'sealed'), `sealed ${a}`);
      assert.ok(auth.some((r) => r.authType === 'NONE' && r.kind === 'sealed' && r.plaintext === '{}'), 'NONE with a sealed "{}"');
      const secretOf = (authType, field) => auth.filter((r) => r.authType === authType).map((r) => JSON.parse(r.plaintext)[field]);
      assert.ok(secretOf('OAUTH1', 'tokenSecret').every((s) => /^[0-9a-f]{64}$/.test(s)));
      assert.ok(secretOf('QUERY_AUTH', 'params').every((p) => p.some((x) => x.name === 'appid' && x.value.length === 32)));
      assert.ok(secretOf('LOGIN_TOKEN', 'body').every((b) => Object.values(b).some((v) => v.length >= 16)));
      const oauth = auth.filter((r) => r.authType === 'OAUTH2').map((r) => JSON.parse(r.plaintext));
      assert.ok(oauth.some((o) => o.clientSecret && o.accessToken && o.refreshToken));
      const cert = auth.find((r) => r.authType === 'CERTIFICATE');
      assert.ok(Buffer.byteLength(cert.plaintext) >= 1024 * 1024, 'certificate bundle ~1 MB');
      assert.match(JSON.parse(cert.plaintext).cert, /^-----BEGIN CERTIFICATE-----\n/);
      const unicode = auth.find((r) => r.plaintext?.includes('\u0308'));
      assert.ok(unicode && /\p{Extended_Pictographic}/u.test(unicode.plaintext) && /\p{Script=Han}/u.test(unicode.plaintext));

      for (const loc of LOCATIONS) {
        const entries = fixture.rows.filter((r) => locationName(r) === locationName(loc));
        assert.ok(entries.some((r) => r.kind === 'sealed'), `${locationName(loc)} sealed`);
        assert.ok(entries.some((r) => r.kind !== 'sealed'), `${locationName(loc)} without ciphertext`);
      }
      for (const table of ['connectors', 'mcp_server_configs', 'identity_providers']) {
        assert.ok(fixture.rows.some((r) => r.table === table && r.kind === 'null'), `${table}: SQL NULL`);
      }
      for (const loc of ['connectors.auth_config', 'connector_auth_cache.token', 'connector_oauth_attempts.payload', 'identity_providers.client_secret_enc']) {
        assert.ok(fixture.rows.some((r) => locationName(r) === loc && r.kind === 'empty' && r.stored === ''), `${loc}: ''`);
      }

      const env = fixture.rows.filter((r) => locationName(r) === 'connectors.env_vars.$enc');
      assert.deepStrictEqual(new Set(env.map((r) => r.shape)), new Set(['enc', 'enc+plain', 'plain', '{}', 'json-null', 'sql-null']));
      for (const r of env.filter((e) => e.kind === 'sealed')) assert.equal(typeof JSON.parse(r.plaintext), 'object', 'env_vars plaintext is the variables as JSON');
      const beside = env.filter((r) => r.shape === 'enc+plain');
      assert.ok(beside.length >= 2 && beside.every((r) => Object.keys(r.rest).length > 0));
      assert.ok(beside.some((r) => typeof r.rest.LEGACY_TOKEN === 'string' && r.rest.LEGACY_TOKEN.length >= 64), 'a plain member shaped like ciphertext');
      const { rows: big } = await client.query(`SELECT count(*)::int AS n FROM connectors WHERE env_vars ->> 'MAX_ID' = '123456789012345678901234567890'`);
      assert.equal(big[0].n, 1, 'a plain number beyond double precision');

      const idps = fixture.rows.filter((r) => r.table === 'identity_providers');
      assert.equal(new Set(idps.filter((r) => r.kind === 'sealed').map((r) => r.organizationId)).size, 2, 'sealed providers in two organizations');
      assert.ok(idps.filter((r) => r.kind === 'sealed').length >= 3);

      const alerts = fixture.rows.filter((r) => r.table === 'org_settings' && r.kind === 'sealed');
      const docs = alerts.map((r) => r.document);
      assert.ok(docs.some((d) => d === JSON.stringify(JSON.parse(d))), 'one document exactly as JSON.stringify writes it');
      assert.ok(docs.some((d) => d.includes('\n    ')), 'an indented document');
      assert.ok(docs.some((d) => d.includes('\\u2014')), 'unicode escapes');
      assert.ok(docs.some((d) => d.endsWith('\r\n')), 'CRLF and trailing whitespace');
      assert.ok(docs.some((d) => d.trimStart().startsWith('{\n    "secretEnc"')), 'secretEnc first');
      const escaped = docs.find((d) => {
        const s = memberSpan(d, 'secretEnc');
        return d.slice(s.start, s.end).includes('\\/');
      });
      assert.ok(escaped, 'a sealed string written with escaped slashes');
      for (const r of alerts) assert.deepStrictEqual(openLocation(r, r.document, KEY), { plaintext: r.plaintext, rest: r.rest });
      assert.ok(fixture.rows.some((r) => r.table === 'org_settings' && r.kind === 'empty'), 'an alert webhook without secretEnc');
    }));

  test('the plaintext look-alikes are there, some shaped like ciphertext, and none opens under any AAD a discovery would try', () =>
    withDatabase('fixture_lookalikes', async (client) => {
      await seeded(client);
      const constants = LOCATIONS.filter((l) => l.aad?.constant).map((l) => l.aad.constant);
      let cipherShaped = 0;
      let checked = 0;
      for (const l of LOOKALIKES) {
        const { rows } = await client.query(
          `SELECT ${quoteIdent(l.column)}::text AS v FROM ${quoteIdent(l.table)} WHERE ${quoteIdent(l.column)} IS NOT NULL ${l.where ? 'AND key = $1' : ''}`,
          l.where ? [l.where.key] : [],
        );
        assert.ok(rows.length > 0, `${l.table}.${l.column} has values`);
        for (const { v } of rows) {
          // Whole values, and every string member of a JSON document.
          let candidates = [v];
          try {
            const doc = JSON.parse(v);
            if (doc && typeof doc === 'object') candidates = [v, ...Object.values(doc).filter((x) => typeof x === 'string')];
          } catch {}
          for (const c of candidates) {
            if (/^[A-Za-z0-9+/]{43,}={0,2}$/.test(c) && Buffer.from(c, 'base64').length >= 32) cipherShaped++;
            for (const aad of [undefined, ...constants, `${l.table}.${l.column}`]) {
              assert.ok(!opensWith(c, KEY, aad), `${l.table}.${l.column} opens`);
            }
            checked++;
          }
        }
      }
      assert.ok(cipherShaped >= 5, `only ${cipherShaped} look-alikes shaped like ciphertext`);
      assert.ok(checked >= 30, `${checked} look-alike values`);
    }));

  test('v0.1.20: its connector and auth types, variables in plain jsonb, none of the newer locations', () =>
    withDatabase('fixture_v0120', async (client) => {
      const fixture = await seeded(client, 'public', { release: 'v0.1.20' });
      assert.equal(await assertEntriesOpenWith(client, fixture, KEY), fixture.rows.filter((r) => r.kind === 'sealed').length);
      const auth = fixture.rows.filter((r) => locationName(r) === 'connectors.auth_config');
      for (const type of ENUMS['v0.1.20'].ConnectorType) assert.ok(auth.some((r) => r.type === type && r.kind === 'sealed'), type);
      assert.ok(!auth.some((r) => ['ODATA'].includes(r.type) || ['QUERY_AUTH', 'OAUTH1', 'LOGIN_TOKEN'].includes(r.authType)));
      assert.deepStrictEqual(new Set(fixture.rows.map((r) => r.table)), new Set(['connectors']));
      const env = fixture.rows.filter((r) => r.column === 'env_vars');
      assert.equal(env.length, auth.length);
      assert.ok(env.every((r) => r.kind !== 'sealed'));
      assert.equal((await client.query(`SELECT count(*)::int AS n FROM connectors WHERE env_vars ? '$enc'`)).rows[0].n, 0);
      assert.ok((await client.query(`SELECT count(*)::int AS n FROM connectors WHERE jsonb_typeof(env_vars) = 'object' AND env_vars <> '{}'`)).rows[0].n >= 5);
      assert.equal((await client.query(`SELECT count(*)::int AS n FROM org_settings WHERE key = 'alert_webhook'`)).rows[0].n, 0);
    }));

  test('seeds a tenant schema without touching public', () =>
    withDatabase('fixture_tenant', async (client) => {
      await createAnythingMcpSchema(client, 'public');
      const fixture = await seeded(client, 'tenant_a');
      assert.equal(fixture.schema, 'tenant_a');
      await assertEntriesOpenWith(client, fixture, KEY);
      for (const t of await tablesIn(client, 'public')) {
        const n = (await client.query(`SELECT count(*)::int AS n FROM public.${quoteIdent(t)}`)).rows[0].n;
        assert.equal(n, t === '_prisma_migrations' ? MIGRATIONS_MAIN.length : 0, t);
      }
    }));
});

// A straightforward rotation in Node, location by location (the reference
// the dump is checked against): re-seal every value with its AAD; a jsonb
// member with jsonb_set, a text document by splicing the sealed token.
async function rotateInNode(client, schema, oldKey, newKey) {
  const t = (name) => `${quoteIdent(schema)}.${quoteIdent(name)}`;
  for (const loc of LOCATIONS) {
    for (const r of await readLocation(client, schema, loc)) {
      const sealed = sealedIn(loc, r.value);
      if (sealed === null) continue;
      const next = encrypt(decrypt(sealed, oldKey, r.aad), newKey, r.aad);
      const col = quoteIdent(loc.column);
      if (!loc.member) {
        await client.query(`UPDATE ${t(loc.table)} SET ${col} = $1 WHERE id = $2`, [next, r.id]);
      } else if (typeof r.value === 'string') {
        await client.query(`UPDATE ${t(loc.table)} SET ${col} = $1 WHERE id = $2`, [spliceMember(r.value, loc.member, JSON.stringify(next)), r.id]);
      } else {
        await client.query(`UPDATE ${t(loc.table)} SET ${col} = jsonb_set(${col}, ARRAY[$3], to_jsonb($1::text)) WHERE id = $2`, [next, r.id, loc.member]);
      }
    }
  }
}

describe('dump', () => {
  test('covers every table, is stable, and is the same under the new key after a correct rotation', () =>
    withDatabase('dump_rotate', async (client) => {
      const fixture = await seeded(client, 'public', { legacy: true });
      const before = await dumpDatabase(client, 'public', KEY);
      assert.deepStrictEqual(Object.keys(before).sort(), tablesOf('main'));
      for (const [table, { rows }] of Object.entries(before)) {
        assert.equal(rows.length, (await client.query(`SELECT count(*)::int AS n FROM ${quoteIdent(table)}`)).rows[0].n, table);
      }
      assert.deepStrictEqual(await dumpDatabase(client, 'public', KEY), before);
      const ids = before.connectors.rows.map((r) => JSON.parse(r.id));
      assert.deepStrictEqual(ids, [...ids].sort(), 'ordered by primary key');
      // Every sealed value is seen through.
      const opened = JSON.stringify(before);
      for (const r of fixture.rows.filter((e) => e.kind === 'sealed')) {
        assert.ok(!opened.includes(r.stored.slice(0, 40)), `${locationName(r)} ${r.id} left sealed in the dump`);
      }
      const alert = before.org_settings.rows.find((r) => r.value?.opened);
      assert.ok(alert.value.rest.includes('\u0000sealed\u0000'));

      await assert.rejects(assertNothingOpensWith(client, 'public', KEY), /still opens with that key/);
      await rotateInNode(client, 'public', KEY, OTHER);
      assert.deepStrictEqual(await dumpDatabase(client, 'public', OTHER), before);
      const absent = await assertNothingOpensWith(client, 'public', KEY);
      assert.deepStrictEqual(
        absent.map((a) => [a.location, a.values]),
        LOCATIONS.map((l) => [locationName(l), fixture.rows.filter((r) => locationName(r) === locationName(l) && r.kind === 'sealed').length]),
      );
      await assert.rejects(dumpDatabase(client, 'public', KEY), /does not open under the key/);
    }));

  test('sees a changed byte anywhere outside the sealed strings, and every value left under another key or AAD', () =>
    withDatabase('dump_detect', async (client) => {
      const fixture = await seeded(client);
      const before = await dumpDatabase(client, 'public', KEY);
      const differs = async (what, change, undo) => {
        await client.query(change[0], change[1]);
        assert.notDeepStrictEqual(await dumpDatabase(client, 'public', KEY, { unopenable: 'mark' }), before, what);
        await client.query(undo[0], undo[1]);
        assert.deepStrictEqual(await dumpDatabase(client, 'public', KEY), before, `${what}: undone`);
      };
      const alert = fixture.rows.find((r) => r.table === 'org_settings' && r.kind === 'sealed' && r.document.endsWith('\r\n'));
      await differs('one byte of a text document around secretEnc', [`UPDATE org_settings SET value = replace(value, '"enabled" : true', '"enabled": true') WHERE id = $1`, [alert.id]], [`UPDATE org_settings SET value = $2 WHERE id = $1`, [alert.id, alert.document]]);
      const env = fixture.rows.find((r) => r.shape === 'enc+plain');
      await differs('a plain member beside $enc', [`UPDATE connectors SET env_vars = jsonb_set(env_vars, '{REGION}', '"us-east-1"') WHERE id = $1`, [env.id]], [`UPDATE connectors SET env_vars = jsonb_set(env_vars, '{REGION}', '"eu-central-1"') WHERE id = $1`, [env.id]]);
      await differs('a look-alike', [`UPDATE licenses SET license_key = license_key || 'A'`, []], [`UPDATE licenses SET license_key = left(license_key, -1)`, []]);
      await differs('a millisecond', [`UPDATE _prisma_migrations SET finished_at = finished_at + interval '1 millisecond'`, []], [`UPDATE _prisma_migrations SET finished_at = finished_at - interval '1 millisecond'`, []]);

      // Re-sealed under the same key and AAD: the same dump.
      await client.query(`UPDATE connectors SET auth_config = $1 WHERE id = $2`, [encrypt(fixture.rows.find((r) => r.column === 'auth_config' && r.kind === 'sealed').plaintext, KEY), fixture.rows.find((r) => r.column === 'auth_config' && r.kind === 'sealed').id]);
      assert.deepStrictEqual(await dumpDatabase(client, 'public', KEY), before);

      // A secret copied from one identity provider into another no longer opens under its row's AAD.
      const [from, to] = fixture.rows.filter((r) => r.table === 'identity_providers' && r.kind === 'sealed');
      await client.query(`UPDATE identity_providers SET client_secret_enc = $1 WHERE id = $2`, [from.stored, to.id]);
      await assert.rejects(dumpDatabase(client, 'public', KEY), (e) => e.message.includes(`public.identity_providers.client_secret_enc (primary key ${to.id})`) && !e.message.includes(from.stored));
      const marked = await dumpDatabase(client, 'public', KEY, { unopenable: 'mark' });
      assert.deepStrictEqual(
        marked.identity_providers.rows.filter((r) => r.client_secret_enc?.unopenable).map((r) => JSON.parse(r.id)),
        [to.id],
      );
      await client.query(`UPDATE identity_providers SET client_secret_enc = $1 WHERE id = $2`, [to.stored, to.id]);

      // env_vars.$enc re-sealed without its AAD, and an alert secret under another key.
      const sealedEnv = fixture.rows.find((r) => r.shape === 'enc');
      await client.query(`UPDATE connectors SET env_vars = jsonb_build_object('$enc', $1::text) WHERE id = $2`, [encrypt(sealedEnv.plaintext, KEY), sealedEnv.id]);
      await assert.rejects(dumpDatabase(client, 'public', KEY), new RegExp(`connectors\\.env_vars\\.\\$enc \\(primary key ${sealedEnv.id}\\)`));
      await client.query(`UPDATE connectors SET env_vars = $1 WHERE id = $2`, [JSON.stringify(sealedEnv.document), sealedEnv.id]);
      await client.query(`UPDATE org_settings SET value = $1 WHERE id = $2`, [spliceMember(alert.document, 'secretEnc', JSON.stringify(encrypt(alert.plaintext, OTHER, alert.aad))), alert.id]);
      await assert.rejects(dumpDatabase(client, 'public', KEY), /org_settings\.value\.secretEnc/);
      await client.query(`UPDATE org_settings SET value = $2 WHERE id = $1`, [alert.id, alert.document]);
      assert.deepStrictEqual(await dumpDatabase(client, 'public', KEY), before);
    }));

  test('memberSpan finds the last top-level occurrence, skipping nested ones and strings', () => {
    const text = '{"a": {"secretEnc": "nested"}, "s": "\\"secretEnc\\": \\"no\\"", "secretEnc": "first", "secretEnc" :\n "la\\/st" }';
    const span = memberSpan(text, 'secretEnc');
    assert.equal(span.value, 'la/st');
    assert.equal(text.slice(span.start, span.end), '"la\\/st"');
    assert.equal(spliceMember(text, 'secretEnc', '"x"'), text.replace('"la\\/st"', '"x"'));
    assert.equal(memberSpan('{"b": [1, {"secretEnc": 2}]}', 'secretEnc'), null);
    assert.deepStrictEqual(memberSpan('{"secretEnc": 12.5e3}', 'secretEnc'), { start: 14, end: 20, isString: false, value: undefined });
    assert.throws(() => memberSpan('[1]', 'secretEnc'), /not a JSON object/);
    assert.throws(() => memberSpan('{"secretEnc": "x"', 'secretEnc'), SyntaxError);
    assert.equal(locationOf('org_settings.value.secretEnc').where.key, 'alert_webhook');
  });
});

describe('bulk seeding', () => {
  test('seedBulk writes ~450-char values that open to bulkPlaintext(id), in any table', () =>
    withDatabase('bulk', async (client) => {
      await createAnythingMcpSchema(client, 'public', { legacy: true });
      const bulk = await seedBulk(client, KEY, 3000);
      const { rows } = await client.query('SELECT id, auth_config FROM connectors ORDER BY id');
      assert.equal(rows.length, 3000);
      assert.deepStrictEqual([rows[0].id, rows.at(-1).id, rows[1].id], [bulk.firstId, bulk.lastId, bulk.idAt(1)]);
      for (const r of rows) {
        assert.equal(r.auth_config.length, 452);
        assert.equal(decrypt(r.auth_config, KEY), bulkPlaintext(r.id));
      }
      assert.equal(Buffer.byteLength(bulkPlaintext(bulk.firstId)), BULK_PLAINTEXT_BYTES);

      // Appending, other tables and custom columns.
      await seedBulk(client, KEY, 10, { startIndex: 3000 });
      assert.equal((await client.query('SELECT count(*)::int AS n FROM connectors')).rows[0].n, 3010);
      await seedBulk(client, KEY, 20, { table: 'mcp_server_configs', batchSize: 7 });
      await client.query('CREATE TABLE extra_secrets (id text PRIMARY KEY, secret_value text)');
      await seedBulk(client, KEY, 15, { table: 'extra_secrets', column: 'secret_value', idPrefix: 'x' });
      const extra = (await client.query('SELECT id, secret_value FROM extra_secrets ORDER BY id')).rows;
      assert.equal(extra.length, 15);
      for (const r of extra) assert.equal(decrypt(r.secret_value, KEY), bulkPlaintext(r.id));
      assert.equal((await client.query('SELECT count(*)::int AS n FROM mcp_server_configs')).rows[0].n, 20);
    }));

  test('seedBulkUpstream: auth_config and env_vars.$enc on every row, as the backend seals them', () =>
    withDatabase('bulk_upstream', async (client) => {
      await createAnythingMcpSchema(client, 'public');
      const bulk = await seedBulkUpstream(client, KEY, 2500, { batchSize: 1000 });
      await seedBulkUpstream(client, KEY, 5, { startIndex: 2500 });
      const { rows } = await client.query(`SELECT id, auth_config, env_vars, env_vars::text AS env_text FROM connectors ORDER BY id`);
      assert.equal(rows.length, 2505);
      assert.deepStrictEqual([rows[0].id, rows[2499].id], [bulk.firstId, bulk.lastId]);
      for (const r of rows) {
        assert.equal(decrypt(r.auth_config, KEY), bulk.plaintextOf(r.id));
        assert.deepStrictEqual(Object.keys(r.env_vars), ['$enc']);
        assert.equal(decrypt(r.env_vars.$enc, KEY, ENV_VARS_AAD), bulkEnvPlaintext(r.id));
        assert.ok(!opensWith(r.env_vars.$enc, KEY), 'sealed with its AAD');
      }
      assert.equal(bulk.envPlaintextOf(bulk.firstId), bulkEnvPlaintext(bulk.firstId));
      assert.match(rows[0].env_text, /^\{"\$enc": "[A-Za-z0-9+/]+={0,2}"\}$/);
    }));

  test('seedBulk works on a v0.1.20 schema too', () =>
    withDatabase('bulk_v0120', async (client) => {
      await createAnythingMcpSchema(client, 'public', { release: 'v0.1.20' });
      await seedBulk(client, KEY, 50);
      assert.equal((await client.query('SELECT count(*)::int AS n FROM connectors')).rows[0].n, 50);
    }));
});

describe('snapshots', () => {
  test('snapshotTable and tableDigest see any change, and can ignore a column', () =>
    withDatabase('snapshot', async (client) => {
      const fixture = await seeded(client, 'tenant_a');
      const snap = (opts) => snapshotTable(client, 'tenant_a', 'connectors', opts);
      const digest = (opts) => tableDigest(client, 'tenant_a', 'connectors', opts);
      const before = await snap();
      const beforeDigest = await digest();
      const beforeExcl = await snap({ exclude: ['auth_config'] });
      assert.equal(before.length, fixture.rows.filter((r) => locationName(r) === 'connectors.auth_config').length);
      assert.deepStrictEqual(await snap(), before);
      assert.equal(beforeDigest.rows, before.length);
      assert.ok(!beforeExcl.some((r) => r.includes('"auth_config"')));
      const ids = before.map((r) => JSON.parse(r).id);
      assert.deepStrictEqual(ids, [...ids].sort(), 'ordered by primary key');

      const target = fixture.rows.find((r) => r.kind === 'sealed').id;
      await client.query(`UPDATE tenant_a.connectors SET auth_config = $2 WHERE id = $1`, [target, encrypt('{}', OTHER)]);
      assert.notDeepStrictEqual(await snap(), before);
      assert.notEqual((await digest()).md5, beforeDigest.md5);
      assert.deepStrictEqual(await snap({ exclude: ['auth_config'] }), beforeExcl);
      assert.equal((await digest({ exclude: ['auth_config'] })).md5, (await tableDigest(client, 'tenant_a', 'connectors', { exclude: ['auth_config'] })).md5);

      // A millisecond of updated_at is a change.
      await client.query(`UPDATE tenant_a.connectors SET updated_at = updated_at + interval '1 millisecond' WHERE id = $1`, [target]);
      assert.notDeepStrictEqual(await snap({ exclude: ['auth_config'] }), beforeExcl);
    }));
});
