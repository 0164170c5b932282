// Table contents as text, to compare before and after.

import { quoteIdent } from '../sql.mjs';

async function primaryKeyColumns(client, qualified) {
  const { rows } = await client.query(
    `SELECT a.attname
       FROM pg_index i
       JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY (i.indkey)
      WHERE i.indrelid = $1::regclass AND i.indisprimary
      ORDER BY array_position(i.indkey::int2[], a.attnum)`,
    [qualified],
  );
  return rows.map((r) => r.attname);
}

async function rowSource(client, schema, table, exclude) {
  const qualified = `${quoteIdent(schema)}.${quoteIdent(table)}`;
  const pk = await primaryKeyColumns(client, qualified);
  const rowExpr = `(to_jsonb(t) - $1::text[])::text`;
  // Without a primary key the row text itself is the only stable order.
  const orderBy = pk.length ? pk.map((c) => `t.${quoteIdent(c)}`).join(', ') : rowExpr;
  return { qualified, rowExpr, orderBy, params: [exclude] };
}

/**
 * Every row of the table as text (to_jsonb, so every column at full precision),
 * ordered by primary key. `exclude` drops columns, e.g. ['auth_config'] to
 * check that rotation changed nothing else. Compare two snapshots with deepStrictEqual.
 */
export async function snapshotTable(client, schema, table, { exclude = [] } = {}) {
  const { qualified, rowExpr, orderBy, params } = await rowSource(client, schema, table, exclude);
  const { rows } = await client.query(`SELECT ${rowExpr} AS row_text FROM ${qualified} t ORDER BY ${orderBy}`, params);
  return rows.map((r) => r.row_text);
}

/**
 * snapshotTable for tables too big to hold in memory: { rows, md5 } over the
 * same ordered row texts, computed by the server.
 */
export async function tableDigest(client, schema, table, { exclude = [] } = {}) {
  const { qualified, rowExpr, orderBy, params } = await rowSource(client, schema, table, exclude);
  const { rows } = await client.query(
    `SELECT count(*)::int AS rows, md5(coalesce(string_agg(md5(row_text), '' ORDER BY ord), '')) AS md5
       FROM (SELECT ${rowExpr} AS row_text, row_number() OVER (ORDER BY ${orderBy}) AS ord FROM ${qualified} t) s`,
    params,
  );
  return rows[0];
}

/** The ordinary tables of `schema`, from the catalog, sorted. */
async function schemaTables(client, schema) {
  const { rows } = await client.query(
    `SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE n.nspname = $1 AND c.relkind = 'r' ORDER BY c.relname`,
    [schema],
  );
  return rows.map((r) => r.relname);
}

/** { table: snapshotTable(...) } for every table of the schema. */
export async function snapshotSchema(client, schema, opts) {
  const out = {};
  for (const t of await schemaTables(client, schema)) out[t] = await snapshotTable(client, schema, t, opts);
  return out;
}

/** { table: tableDigest(...) } for every table of the schema. */
export async function digestSchema(client, schema, opts) {
  const out = {};
  for (const t of await schemaTables(client, schema)) out[t] = await tableDigest(client, schema, t, opts);
  return out;
}
