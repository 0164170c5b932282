// AnythingMCP's database, written by us in SQL, as a database of each release
// we serve looks:
//
// - 'v0.1.20': the final state of that tag's fourteen migrations
//   (tables-v0.1.20.mjs), with the enum values its init migration created
//   (WEBHOOK and HMAC are in the database although schema.prisma no longer
//   lists them).
// - 'main' (default): v0.1.20 plus what main added, as far as it is known
//   here (tables-newer.mjs): the tables of every location, the plaintext
//   look-alike tables, the newer enum values, tool_invocations.repeat_count.
//
// Both get `_prisma_migrations` (Prisma's DDL) filled with that release's
// migrations (migrations.mjs). `mcp_server_configs` is the release's own (no
// auth_config) unless `legacy: true` asks for the shape the init migration
// created, with the encrypted auth_config 20260303_multi_mcp_servers dropped
// (a test device for the legacy location: a real database that old would
// also predate organizations). `multiServer: true` names the default shape
// for the tests that ask for it.
//
// Everything is schema-qualified, so the same DDL builds `public` or a tenant
// schema such as `tenant_a` (Prisma's `?schema=` search path does that upstream).

import { quoteIdent, quoteLiteral } from '../sql.mjs';
import { migrationRowsSql, migrationsOf, prismaMigrationsDdl } from './migrations.mjs';
import { newerTablesDdl, NEWER_TABLES } from './tables-newer.mjs';
import { v0120TablesDdl } from './tables-v0.1.20.mjs';

const V0_1_20_CONNECTOR_TYPES = ['REST', 'SOAP', 'GRAPHQL', 'MCP', 'DATABASE', 'WEBHOOK'];
const V0_1_20_AUTH_TYPES = ['NONE', 'API_KEY', 'BEARER_TOKEN', 'BASIC_AUTH', 'OAUTH2', 'WS_SECURITY', 'CERTIFICATE', 'CONNECTION_STRING', 'HMAC'];

/** Enum values per release; values main added are appended, as ALTER TYPE ... ADD VALUE does. */
export const ENUMS = Object.freeze({
  'v0.1.20': Object.freeze({ ConnectorType: V0_1_20_CONNECTOR_TYPES, AuthType: V0_1_20_AUTH_TYPES }),
  main: Object.freeze({
    ConnectorType: [...V0_1_20_CONNECTOR_TYPES, 'ODATA'],
    AuthType: [...V0_1_20_AUTH_TYPES, 'QUERY_AUTH', 'OAUTH1', 'LOGIN_TOKEN'],
  }),
});

/** The newest release's values (main). */
export const CONNECTOR_TYPES = ENUMS.main.ConnectorType;
export const AUTH_TYPES = ENUMS.main.AuthType;

// Tables of v0.1.20, every one of which main has too.
const V0_1_20_TABLES = Object.freeze([
  '_prisma_migrations',
  'connectors',
  'email_verification_tokens',
  'invitation_tokens',
  'licenses',
  'mcp_api_keys',
  'mcp_prompts',
  'mcp_resources',
  'mcp_server_configs',
  'mcp_server_connectors',
  'mcp_tools',
  'oauth_authorization_codes',
  'oauth_clients',
  'oauth_sessions',
  'oauth_user_profiles',
  'org_settings',
  'organization_members',
  'organizations',
  'password_reset_tokens',
  'roles',
  'site_settings',
  'tool_invocations',
  'tool_role_access',
  'users',
]);

/** The tables a database of `release` has, sorted. */
export function tablesOf(release) {
  migrationsOf(release);
  return [...V0_1_20_TABLES, ...(release === 'main' ? NEWER_TABLES : [])].sort();
}

/**
 * Create the tables of `release` in `schema` (created if missing) in one
 * implicit transaction, and record the release's migrations.
 */
export async function createAnythingMcpSchema(client, schema = 'public', { release = 'main', legacy = false, multiServer = false } = {}) {
  if (legacy && multiServer) throw new Error('legacy and multiServer are different versions of mcp_server_configs; pick one');
  const migrations = migrationsOf(release);
  const s = quoteIdent(schema);
  const t = (name) => `${s}.${quoteIdent(name)}`;
  const enumDdl = (name, values) => `CREATE TYPE ${t(name)} AS ENUM (${values.map(quoteLiteral).join(', ')});`;
  const fk = (table, column, target, onDelete = 'CASCADE') =>
    `ALTER TABLE ${t(table)} ADD CONSTRAINT ${quoteIdent(`${table}_${column}_fkey`)} FOREIGN KEY (${quoteIdent(column)}) REFERENCES ${t(target)}("id") ON DELETE ${onDelete} ON UPDATE CASCADE;`;
  const main = release === 'main';

  const sql = [
    `CREATE SCHEMA IF NOT EXISTS ${s};`,
    prismaMigrationsDdl(schema),
    enumDdl('UserRole', ['ADMIN', 'EDITOR', 'VIEWER']),
    enumDdl('ConnectorType', ENUMS[release].ConnectorType),
    enumDdl('AuthType', ENUMS[release].AuthType),
    enumDdl('InvocationStatus', ['SUCCESS', 'ERROR', 'TIMEOUT']),

    ...v0120TablesDdl(t, fk, { legacy, main }),
    ...(main ? newerTablesDdl(t, fk) : []),
    migrationRowsSql(schema, migrations),
  ];

  // One simple-protocol query: all or nothing.
  await client.query(sql.filter(Boolean).join('\n'));
}
