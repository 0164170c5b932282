// AnythingMCP's tables as its Prisma migrations lay them out in SQL, reduced to
// what rotation touches or must leave alone. Column names, types, defaults,
// constraint names and the missing DEFAULT on updated_at (Prisma's @updatedAt
// is set client-side) follow packages/backend/prisma/schema.prisma of
// HelpCode-ai/anythingmcp. The legacy `mcp_server_configs` with `auth_config`
// predates every schema version we could find and is reconstructed from the
// spec: text `id` primary key and a nullable text `auth_config`.
//
// Everything is schema-qualified, so the same DDL builds `public` or a tenant
// schema such as `tenant_a` (Prisma's `?schema=` search path does that upstream).

export const CONNECTOR_TYPES = ['REST', 'SOAP', 'GRAPHQL', 'MCP', 'DATABASE', 'WEBHOOK'];
export const AUTH_TYPES = [
  'NONE',
  'API_KEY',
  'BEARER_TOKEN',
  'BASIC_AUTH',
  'OAUTH2',
  'WS_SECURITY',
  'CERTIFICATE',
  'CONNECTION_STRING',
  'HMAC',
];

/** Quote an SQL identifier (any string, including ones with quotes or dashes). */
export function quoteIdent(name) {
  return '"' + String(name).replace(/"/g, '""') + '"';
}

const literal = (s) => "'" + String(s).replace(/'/g, "''") + "'";

/**
 * Create the tables in `schema` (created if missing) in one implicit transaction.
 * - `legacy: true`: also the pre-`20260303_multi_mcp_servers` `mcp_server_configs`,
 *   which carries an encrypted `auth_config`.
 * - `multiServer: true`: instead the current `mcp_server_configs`, which exists
 *   but has no `auth_config` (a registry column whose table is present and
 *   column absent).
 */
export async function createAnythingMcpSchema(client, schema = 'public', { legacy = false, multiServer = false } = {}) {
  if (legacy && multiServer) throw new Error('legacy and multiServer are different versions of mcp_server_configs; pick one');
  const s = quoteIdent(schema);
  const t = (name) => `${s}.${quoteIdent(name)}`;
  const enumDdl = (name, values) => `CREATE TYPE ${t(name)} AS ENUM (${values.map(literal).join(', ')});`;

  const sql = [
    `CREATE SCHEMA IF NOT EXISTS ${s};`,
    enumDdl('UserRole', ['ADMIN', 'EDITOR', 'VIEWER']),
    enumDdl('ConnectorType', CONNECTOR_TYPES),
    enumDdl('AuthType', AUTH_TYPES),

    `CREATE TABLE ${t('organizations')} (
    "id" TEXT NOT NULL,
    "name" TEXT NOT NULL,
    "created_at" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updated_at" TIMESTAMP(3) NOT NULL,
    CONSTRAINT "organizations_pkey" PRIMARY KEY ("id")
);`,

    `CREATE TABLE ${t('users')} (
    "id" TEXT NOT NULL,
    "email" TEXT NOT NULL,
    "password_hash" TEXT,
    "name" TEXT,
    "role" ${t('UserRole')} NOT NULL DEFAULT 'EDITOR',
    "email_verified" BOOLEAN NOT NULL DEFAULT false,
    "organization_id" TEXT,
    "created_at" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updated_at" TIMESTAMP(3) NOT NULL,
    CONSTRAINT "users_pkey" PRIMARY KEY ("id")
);`,
    `CREATE UNIQUE INDEX "users_email_key" ON ${t('users')}("email");`,
    `CREATE INDEX "users_organization_id_idx" ON ${t('users')}("organization_id");`,

    `CREATE TABLE ${t('connectors')} (
    "id" TEXT NOT NULL,
    "user_id" TEXT NOT NULL,
    "organization_id" TEXT NOT NULL,
    "name" TEXT NOT NULL,
    "type" ${t('ConnectorType')} NOT NULL,
    "base_url" TEXT NOT NULL,
    "is_active" BOOLEAN NOT NULL DEFAULT true,
    "healthcheck_path" TEXT,
    "auth_type" ${t('AuthType')} NOT NULL DEFAULT 'NONE',
    "auth_config" TEXT,
    "spec_url" TEXT,
    "spec_data" JSONB,
    "headers" JSONB,
    "config" JSONB,
    "env_vars" JSONB,
    "instructions" TEXT,
    "created_at" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updated_at" TIMESTAMP(3) NOT NULL,
    CONSTRAINT "connectors_pkey" PRIMARY KEY ("id")
);`,
    `CREATE INDEX "connectors_organization_id_idx" ON ${t('connectors')}("organization_id");`,

    `CREATE TABLE ${t('mcp_api_keys')} (
    "id" TEXT NOT NULL,
    "user_id" TEXT NOT NULL,
    "organization_id" TEXT NOT NULL,
    "mcp_server_id" TEXT,
    "key" TEXT NOT NULL,
    "name" TEXT NOT NULL,
    "is_active" BOOLEAN NOT NULL DEFAULT true,
    "last_used_at" TIMESTAMP(3),
    "created_at" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    CONSTRAINT "mcp_api_keys_pkey" PRIMARY KEY ("id")
);`,
    `CREATE UNIQUE INDEX "mcp_api_keys_key_key" ON ${t('mcp_api_keys')}("key");`,
    `CREATE INDEX "mcp_api_keys_organization_id_idx" ON ${t('mcp_api_keys')}("organization_id");`,
  ];

  if (legacy) {
    sql.push(`CREATE TABLE ${t('mcp_server_configs')} (
    "id" TEXT NOT NULL,
    "user_id" TEXT NOT NULL,
    "name" TEXT NOT NULL DEFAULT 'AnythingMCP',
    "description" TEXT,
    "version" TEXT NOT NULL DEFAULT '1.0.0',
    "auth_type" TEXT NOT NULL DEFAULT 'NONE',
    "auth_config" TEXT,
    "is_active" BOOLEAN NOT NULL DEFAULT true,
    "created_at" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updated_at" TIMESTAMP(3) NOT NULL,
    CONSTRAINT "mcp_server_configs_pkey" PRIMARY KEY ("id")
);`);
    sql.push(fk('mcp_server_configs', 'user_id', 'users'));
  }
  if (multiServer) {
    sql.push(`CREATE TABLE ${t('mcp_server_configs')} (
    "id" TEXT NOT NULL,
    "user_id" TEXT NOT NULL,
    "organization_id" TEXT NOT NULL,
    "name" TEXT NOT NULL DEFAULT 'Default',
    "slug" TEXT NOT NULL DEFAULT 'default',
    "description" TEXT,
    "version" TEXT NOT NULL DEFAULT '1.0.0',
    "is_active" BOOLEAN NOT NULL DEFAULT true,
    "instructions" TEXT,
    "created_at" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updated_at" TIMESTAMP(3) NOT NULL,
    CONSTRAINT "mcp_server_configs_pkey" PRIMARY KEY ("id")
);`);
    sql.push(`CREATE UNIQUE INDEX "mcp_server_configs_organization_id_slug_key" ON ${t('mcp_server_configs')}("organization_id", "slug");`);
    sql.push(fk('mcp_server_configs', 'user_id', 'users'));
    sql.push(fk('mcp_server_configs', 'organization_id', 'organizations'));
    sql.push(fk('mcp_api_keys', 'mcp_server_id', 'mcp_server_configs', 'SET NULL'));
  }

  sql.push(
    fk('users', 'organization_id', 'organizations', 'SET NULL'),
    fk('connectors', 'user_id', 'users'),
    fk('connectors', 'organization_id', 'organizations'),
    fk('mcp_api_keys', 'user_id', 'users'),
    fk('mcp_api_keys', 'organization_id', 'organizations'),
  );

  // One simple-protocol query: all or nothing.
  await client.query(sql.join('\n'));

  function fk(table, column, target, onDelete = 'CASCADE') {
    return `ALTER TABLE ${t(table)} ADD CONSTRAINT ${quoteIdent(`${table}_${column}_fkey`)} FOREIGN KEY (${quoteIdent(column)}) REFERENCES ${t(target)}("id") ON DELETE ${onDelete} ON UPDATE CASCADE;`;
  }
}
