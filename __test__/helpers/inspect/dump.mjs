// A dump of a whole schema in which every sealed value is replaced by what it
// opens to: equal before a rotation (under the old key) and after it (under
// the new key) exactly when the rotation re-sealed every value and changed no
// other byte of any table.

import { quoteIdent } from '../sql.mjs';
import { memberSpan } from '../json-text.mjs';
import { LOCATIONS, aadOf, locationName, openSealed, rowColumns, selects } from '../anythingmcp/locations.mjs';

// Stands in for the sealed string inside a text document, so the bytes around
// it are compared exactly.
const HOLE = '\u0000sealed\u0000';

/**
 * { [table]: { columns: ['name type [not null]'], rows: [{ column: value }] } }
 * for every ordinary table of `schema` (found in the catalog), rows ordered by
 * primary key (by the row's text when there is none). A value is the
 * column's to_jsonb text (full precision; null for NULL), except at the
 * locations (`locations`, default LOCATIONS; pass more for a test's own) where a
 * sealed value is: there it becomes { opened: plaintext } and, for a member,
 * { opened, rest } with the rest of the document (jsonb: the document without
 * the member, as PostgreSQL prints it; text: the exact text with the sealed
 * token cut out).
 * The rotation's own audit events (`security_events` rows of
 * ENCRYPTION_KEY_ROTATED) are left out: a committed rotation adds one by
 * design, and __test__/audit.test.mjs checks it.
 * A sealed value that does not open under `key` with its AAD throws, naming
 * the location and row (`unopenable: 'mark'` records { unopenable: true }
 * instead), so a value left under another key cannot go unnoticed.
 */
export async function dumpDatabase(client, schema, key, { locations = LOCATIONS, unopenable = 'throw' } = {}) {
  const { rows: tables } = await client.query(
    `SELECT c.oid, c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE n.nspname = $1 AND c.relkind = 'r' ORDER BY c.relname`,
    [schema],
  );
  const out = {};
  for (const { oid, relname } of tables) {
    out[relname] = await dumpTable(client, schema, relname, oid, key, locations.filter((l) => (l.schema ?? schema) === schema && l.table === relname), unopenable);
  }
  return out;
}

async function dumpTable(client, schema, table, oid, key, locations, unopenable) {
  const { rows: cols } = await client.query(
    `SELECT attname, format_type(atttypid, atttypmod) AS type, attnotnull FROM pg_attribute
      WHERE attrelid = $1 AND attnum > 0 AND NOT attisdropped ORDER BY attnum`,
    [oid],
  );
  const { rows: pkRows } = await client.query(
    `SELECT a.attname FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY (i.indkey)
      WHERE i.indrelid = $1 AND i.indisprimary ORDER BY array_position(i.indkey::int2[], a.attnum)`,
    [oid],
  );
  const pk = pkRows.map((r) => r.attname);
  const names = cols.map((c) => c.attname);
  const typeOf = Object.fromEntries(cols.map((c) => [c.attname, c.type]));
  const present = locations.filter((l) => names.includes(l.column) && rowColumns(l).every((c) => names.includes(c)));
  const rowCols = [...new Set([...pk, ...present.flatMap(rowColumns)])];

  const select = names.map((c, i) => `to_jsonb(t.${quoteIdent(c)})::text AS v${i}`);
  rowCols.forEach((c, j) => select.push(`t.${quoteIdent(c)}::text AS r${j}`));
  const params = [];
  present.forEach((l, k) => {
    const col = `t.${quoteIdent(l.column)}`;
    if (!l.member) return;
    if (typeOf[l.column] === 'jsonb') {
      params.push(l.member);
      const m = `$${params.length}`;
      select.push(
        `CASE WHEN jsonb_typeof(${col}) = 'object' THEN jsonb_typeof(${col} -> ${m}) END AS mt${k}`,
        `${col} ->> ${m} AS ms${k}`,
        `CASE WHEN jsonb_typeof(${col}) = 'object' THEN (${col} - ${m})::text END AS mr${k}`,
      );
    } else {
      select.push(`${col}::text AS md${k}`);
    }
  });
  const orderBy = pk.length ? pk.map((c) => `t.${quoteIdent(c)}`).join(', ') : 'to_jsonb(t)::text';
  const where = table === 'security_events' ? ` WHERE t.event IS DISTINCT FROM 'ENCRYPTION_KEY_ROTATED'` : '';
  const { rows } = await client.query(`SELECT ${select.join(', ')} FROM ${quoteIdent(schema)}.${quoteIdent(table)} t${where} ORDER BY ${orderBy}`, params);

  const dumped = rows.map((r) => {
    const row = Object.fromEntries(rowCols.map((c, j) => [c, r[`r${j}`]]));
    const values = Object.fromEntries(names.map((c, i) => [c, r[`v${i}`]]));
    present.forEach((l, k) => {
      if (!selects(l, row)) return;
      const found = sealedAt(l, r, k, values[l.column], typeOf[l.column]);
      if (!found) return;
      let opened;
      try {
        opened = openSealed(found.sealed, key, aadOf(l, row));
      } catch {
        if (unopenable !== 'mark') {
          throw new Error(`dumpDatabase: ${schema}.${locationName(l)} (primary key ${pk.map((c) => row[c]).join(', ')}) does not open under the key with its AAD`);
        }
        values[l.column] = { unopenable: true, ...(l.member ? { rest: found.rest } : {}) };
        return;
      }
      values[l.column] = l.member ? { opened, rest: found.rest } : { opened };
    });
    return values;
  });
  return { columns: cols.map((c) => `${c.attname} ${c.type}${c.attnotnull ? ' not null' : ''}`), rows: dumped };
}

// The sealed string at location `l` of a row, with the rest of its document;
// null when the value holds none (NULL, '', no such member, not a string
// member, a text that is not a JSON object: all compared as they are).
function sealedAt(l, r, k, valueJson, type) {
  if (valueJson === null) return null;
  if (!l.member) {
    const s = JSON.parse(valueJson);
    return typeof s === 'string' && s !== '' ? { sealed: s } : null;
  }
  if (type === 'jsonb') {
    return r[`mt${k}`] === 'string' && r[`ms${k}`] !== '' ? { sealed: r[`ms${k}`], rest: r[`mr${k}`] } : null;
  }
  const text = r[`md${k}`];
  let span;
  try {
    span = memberSpan(text, l.member);
  } catch {
    return null;
  }
  if (!span?.isString || span.value === '') return null;
  return { sealed: span.value, rest: text.slice(0, span.start) + HOLE + text.slice(span.end) };
}
