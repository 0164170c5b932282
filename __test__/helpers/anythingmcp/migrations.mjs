// What `_prisma_migrations` holds in a database of each release we serve.
//
// v0.1.20's fourteen migrations are the real ones (HelpCode-ai/anythingmcp at
// tag v0.1.20, packages/backend/prisma/migrations), each with the sha256 of its
// migration.sql as Prisma records it. For main we know only the seven names
// below, those of the migrations that made the tables and columns main adds
// here (tables-newer.mjs); main really has 52 migrations, and the other 31
// names are not ours to invent. Their checksums are made up (we do not have
// the files): sha256 of the name, which looks like what Prisma stores.

import crypto from 'node:crypto';
import { quoteIdent, quoteLiteral } from '../sql.mjs';

export const MIGRATIONS_V0_1_20 = Object.freeze([
  ['20260228195200_init', 'aeb6154ea70e9386c57df58dc7d577da5cd1420b6bc7893e73a8d2077ab27784'],
  ['20260228211917_add_oauth_models', 'bcb3fa40eb3d0f4efd536cfd72e467b18e5f50e5fa004a66af614eae18bea590'],
  ['20260228220531_fix_expires_at_bigint', '39d65042610a8c2391c66d834c5bd284c115d5416b75d0564e306c51486de205'],
  ['20260301120000_add_ai_model_to_user', '52bf2b789bebc80157be6ce4b9d3a83d1f8dd6d2fc99fdeae852352060354157'],
  ['20260301180000_add_roles_keys_settings', 'bb87f011fd743ad85031af92286eb6461b45332b68ff6ae660b70f581dd05e4b'],
  ['20260303082708_remove_ai_fields', '1387d33357860ce4609f7500a2a3b9c9e6f4383e4c487a29edf4d65e4b12b3c5'],
  ['20260303_multi_mcp_servers', '71b881984ad52487bb0a7c6b64609ae2d53f8c78269f36acea258797fbc67999'],
  ['20260304135618_add_mcp_server_to_invocations', '9114d44f551d033f8994257f900b95528990ec22a1d1a8bccd5107f7c959454a'],
  ['20260305120000_add_license_model', 'c0825f2bb4d57ed5ce8158fae8e9ca81691393b078e20d92217129fea0b19e8f'],
  ['20260306120000_add_email_verification', '9a4e2c3b9801e437cf11985d87788439b2682893d12936606f9d30181772d70f'],
  ['20260317000000_add_instructions_field', '2f7c9263800ad84868a7a452123071c3d9eb1cca32b896f804023e992b5fa3c1'],
  ['20260408000000_add_organizations', 'bb344c05935f138d12ef3c7c0dcc1f088a373ef62d59d950bed8fbd5e37500b4'],
  ['20260408100000_add_org_members_settings', '10ead5940eb25fce45ff7104def928aa1c1f6eef5d2c923570801852ae192d69'],
  ['20260429000000_nullable_user_active_org', 'a0a40389dbee442155f8de54494acb6354bb4dabca6ea04d00728a43d7f44970'],
].map(([name, checksum]) => Object.freeze({ name, checksum })));

const MAIN_ONLY = [
  '20260518000000_add_login_token_auth',
  '20260620000000_add_kg_and_invocation_scope',
  '20260731120000_add_security_events',
  '20260731150000_add_identity_providers',
  '20260924080000_dedupe_kg_value_seen',
  '20261003100000_connector_oauth_attempts',
  '20261006090000_tool_invocation_repeat_count',
];

export const MIGRATIONS_MAIN = Object.freeze([
  ...MIGRATIONS_V0_1_20,
  ...MAIN_ONLY.map((name) => Object.freeze({ name, checksum: crypto.createHash('sha256').update(name).digest('hex') })),
]);

/** The migrations a database of `release` ('main' or 'v0.1.20') has applied, oldest first. */
export function migrationsOf(release) {
  if (release === 'main') return MIGRATIONS_MAIN;
  if (release === 'v0.1.20') return MIGRATIONS_V0_1_20;
  throw new Error(`unknown release ${JSON.stringify(release)}: 'main' or 'v0.1.20'`);
}

/** Prisma's own DDL for its bookkeeping table (the schema engine creates it on first `migrate deploy`). */
export function prismaMigrationsDdl(schema) {
  return `CREATE TABLE ${quoteIdent(schema)}."_prisma_migrations" (
    "id"                    VARCHAR(36) PRIMARY KEY NOT NULL,
    "checksum"              VARCHAR(64) NOT NULL,
    "finished_at"           TIMESTAMPTZ,
    "migration_name"        VARCHAR(255) NOT NULL,
    "logs"                  TEXT,
    "rolled_back_at"        TIMESTAMPTZ,
    "started_at"            TIMESTAMPTZ NOT NULL DEFAULT now(),
    "applied_steps_count"   INTEGER NOT NULL DEFAULT 0
);`;
}

// `migrate deploy` applies a migration some time after it was written; the
// name's timestamp plus a day (and a few hundred ms per migration) is close
// enough, and keeps started_at < finished_at.
function appliedAt(name, i) {
  const m = /^(\d{4})(\d{2})(\d{2})(\d{2})?(\d{2})?(\d{2})?_/.exec(name);
  const [, y, mo, d, h = '00', mi = '00', s = '00'] = m;
  return new Date(Date.UTC(+y, +mo - 1, +d + 1, +h, +mi, +s) + i * 350);
}

/**
 * An INSERT recording `migrations` ([{ name, checksum }]) as `migrate deploy`
 * would: finished, one step each, no logs. Literals, not parameters, so it can
 * join the schema's DDL in one simple-protocol query.
 */
export function migrationRowsSql(schema, migrations) {
  if (migrations.length === 0) return '';
  let last = 0;
  const rows = migrations.map(({ name, checksum }, i) => {
    // Prisma applies them in name order, which is not always time order.
    const started = new Date(Math.max(appliedAt(name, i).getTime(), last + 1000));
    last = started.getTime();
    const finished = new Date(started.getTime() + 40 + ((i * 37) % 200));
    return `(${[crypto.randomUUID(), checksum, finished.toISOString(), name, started.toISOString()].map(quoteLiteral).join(', ')})`;
  });
  return `INSERT INTO ${quoteIdent(schema)}."_prisma_migrations" (id, checksum, finished_at, migration_name, started_at, applied_steps_count)
SELECT v.id, v.checksum, v.finished_at::timestamptz, v.migration_name, v.started_at::timestamptz, 1
  FROM (VALUES ${rows.join(',\n    ')}) AS v(id, checksum, finished_at, migration_name, started_at);`;
}

/** Record further migrations (e.g. a "newer release" a test simulates). */
export async function recordMigrations(client, schema, migrations) {
  await client.query(migrationRowsSql(schema, migrations));
}
