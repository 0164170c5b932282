// Where AnythingMCP keeps ciphertext (the places docs/locations.md lists), and
// how its backend opens each value. This is the tests' own copy, written by
// hand from what the backend does and not read from the package's
// locations.json, so a mistake in the engine's registry shows up as a failing
// test instead of being agreed with. The descriptors use the registry's own
// format (docs/locations.md, "The format"), `since`/`until` naming the
// migration that added or dropped the location.

import assert from 'node:assert/strict';
import { decrypt } from './crypto.mjs';
import { quoteIdent } from '../sql.mjs';
import { memberSpan } from '../json-text.mjs';
import { tablesOf } from './schema.mjs';

export const LOCATIONS = Object.freeze(
  [
    { table: 'connectors', primaryKey: 'id', column: 'auth_config' },
    { table: 'connectors', primaryKey: 'id', column: 'env_vars', member: '$enc', aad: { constant: 'connectors.env_vars' } },
    { table: 'connector_auth_cache', primaryKey: 'id', column: 'token', since: '20260518000000_add_login_token_auth' },
    {
      table: 'identity_providers',
      primaryKey: 'id',
      column: 'client_secret_enc',
      aad: { template: 'idp_client_secret:{id}:{organization_id}' },
      since: '20260731150000_add_identity_providers',
    },
    {
      table: 'connector_oauth_attempts',
      primaryKey: 'id',
      column: 'payload',
      aad: { constant: 'connector-oauth' },
      since: '20261003100000_connector_oauth_attempts',
    },
    {
      table: 'org_settings',
      primaryKey: 'id',
      column: 'value',
      member: 'secretEnc',
      where: { key: 'alert_webhook' },
      aad: { template: '{organization_id}' },
    },
    { table: 'mcp_server_configs', primaryKey: 'id', column: 'auth_config', until: '20260303_multi_mcp_servers' },
  ].map((l) => Object.freeze(l)),
);

/**
 * The plaintext look-alikes main has: values in plain text, some shaped
 * like ciphertext, that a rotation must never touch. `where`: only those
 * rows (the SMTP settings JSON among the organization settings).
 */
export const LOOKALIKES = Object.freeze(
  [
    { table: 'mcp_api_keys', column: 'key' },
    { table: 'identity_providers', column: 'scim_token_hash' },
    { table: 'connector_setup_links', column: 'token_hash' },
    { table: 'connector_oauth_attempts', column: 'state_hash' },
    { table: 'recovery_codes', column: 'code_hash' },
    { table: 'users', column: 'password_hash' },
    { table: 'sso_login_attempts', column: 'state' },
    { table: 'sso_login_attempts', column: 'nonce' },
    { table: 'sso_login_attempts', column: 'code_verifier' },
    { table: 'sso_login_attempts', column: 'handoff_code' },
    { table: 'oauth_clients', column: 'client_secret' },
    { table: 'licenses', column: 'license_key' },
    { table: 'site_settings', column: 'value' },
    { table: 'org_settings', column: 'value', where: { key: 'smtp_config' } },
    { table: 'connectors', column: 'headers' },
  ].map((l) => Object.freeze(l)),
);

/** `table.column` or `table.column.member`. */
export function locationName(loc) {
  return `${loc.table}.${loc.column}${loc.member ? `.${loc.member}` : ''}`;
}

/** The fixture's descriptor for a location given by name or by { table, column, member }. */
export function locationOf(spec) {
  const name = typeof spec === 'string' ? spec : locationName(spec);
  const loc = LOCATIONS.find((l) => locationName(l) === name);
  if (!loc) throw new Error(`no location ${name}`);
  return loc;
}

/** Columns whose values a location's AAD template and row filter read. */
export function rowColumns(loc) {
  const fromTemplate = loc.aad?.template ? [...loc.aad.template.matchAll(/\{([^}]+)\}/g)].map((m) => m[1]) : [];
  return [...new Set([loc.primaryKey, ...fromTemplate, ...Object.keys(loc.where ?? {})])];
}

/** The AAD for a row (an object of its columns as text), or undefined for none. */
export function aadOf(loc, row) {
  if (!loc.aad) return undefined;
  if ('constant' in loc.aad) return loc.aad.constant;
  return loc.aad.template.replace(/\{([^}]+)\}/g, (_, c) => {
    if (row[c] === undefined || row[c] === null) throw new Error(`AAD column ${c} missing from the row`);
    return String(row[c]);
  });
}

/** Does the location's row filter select this row (its columns as text)? */
export function selects(loc, row) {
  return Object.entries(loc.where ?? {}).every(([c, v]) => row[c] === String(v));
}

/** Open a sealed string as the backend does; throws when key or AAD is wrong. */
export function openSealed(value, key, aad) {
  return decrypt(value, key, aad);
}

/** Does `value` open with `key` and `aad`? */
export function opensWith(value, key, aad) {
  try {
    decrypt(value, key, aad);
    return true;
  } catch {
    return false;
  }
}

/**
 * The sealed string a column value holds for this location, or null when it
 * holds none (SQL NULL, '', a document without the member, not an object).
 * `columnValue` is what node-postgres returns: a string for text, a parsed
 * value for jsonb. Throws when the member is present but not a string, or a
 * text document does not parse: the backend could not read those either.
 */
export function sealedIn(loc, columnValue) {
  if (columnValue === null || columnValue === undefined || columnValue === '') return null;
  if (!loc.member) return columnValue;
  let doc = columnValue;
  if (typeof columnValue === 'string') {
    const span = memberSpan(columnValue, loc.member);
    if (!span) return null;
    if (!span.isString) throw new TypeError(`${locationName(loc)} is not a string`);
    return span.value === '' ? null : span.value;
  }
  if (typeof doc !== 'object' || Array.isArray(doc) || !(loc.member in doc)) return null;
  if (typeof doc[loc.member] !== 'string') throw new TypeError(`${locationName(loc)} is not a string`);
  return doc[loc.member] === '' ? null : doc[loc.member];
}

/**
 * Open a location's value exactly as the backend reads it: `entry` is a
 * fixture row entry (or anything with table, column, member and aad),
 * `columnValue` the column as node-postgres returns it. Returns null when
 * it holds no ciphertext, else { plaintext, rest } where `rest` is the rest
 * of the document (members other than the sealed one; undefined for whole
 * values). For connectors.env_vars the backend's variables are
 * JSON.parse(plaintext) merged with `rest`. Throws when it does not open.
 */
export function openLocation(entry, columnValue, key) {
  const loc = locationOf(entry);
  const sealed = sealedIn(loc, columnValue);
  if (sealed === null) return null;
  const plaintext = openSealed(sealed, key, entry.aad);
  if (!loc.member) return { plaintext, rest: undefined };
  const doc = typeof columnValue === 'string' ? JSON.parse(columnValue) : columnValue;
  const { [loc.member]: _sealed, ...rest } = doc;
  return { plaintext, rest };
}

async function columnExists(client, schema, table, column) {
  const { rows } = await client.query(
    `SELECT 1 FROM information_schema.columns WHERE table_schema = $1 AND table_name = $2 AND column_name = $3`,
    [schema, table, column],
  );
  return rows.length > 0;
}

/**
 * Every row a location selects, in primary-key order:
 * [{ id, value, row, aad }] where `value` is the column as node-postgres
 * returns it and `row` the columns the AAD and filter read, as text. An
 * empty list when the table or column does not exist.
 */
export async function readLocation(client, schema, loc) {
  if (!(await columnExists(client, schema, loc.table, loc.column))) return [];
  const cols = rowColumns(loc);
  const { rows } = await client.query(
    `SELECT ${quoteIdent(loc.column)} AS v, ${cols.map((c, i) => `${quoteIdent(c)}::text AS c${i}`).join(', ')}
       FROM ${quoteIdent(schema)}.${quoteIdent(loc.table)} ORDER BY ${quoteIdent(loc.primaryKey)}`,
  );
  return rows
    .map((r) => {
      const row = Object.fromEntries(cols.map((c, i) => [c, r[`c${i}`]]));
      return { id: row[loc.primaryKey], value: r.v, row };
    })
    .filter((r) => selects(loc, r.row))
    .map((r) => ({ ...r, aad: aadOf(loc, r.row) }));
}

/**
 * Check every fixture entry against the database: a sealed one opens under
 * `key` with its AAD to its plaintext, with the rest of its document as
 * seeded; one without ciphertext is exactly as seeded. `only` picks
 * entries, `plaintextOf(entry)` overrides the expected plaintext (a value a
 * test re-sealed). Returns how many sealed entries were checked.
 */
export async function assertEntriesOpenWith(client, fixture, key, { only = () => true, plaintextOf = (entry) => entry.plaintext } = {}) {
  let checked = 0;
  for (const entry of fixture.rows.filter(only)) {
    const where = `${fixture.schema}.${locationName(entry)} ${entry.id}`;
    const { rows } = await client.query(
      `SELECT ${quoteIdent(entry.column)} AS v FROM ${quoteIdent(fixture.schema)}.${quoteIdent(entry.table)} WHERE id = $1`,
      [entry.id],
    );
    assert.equal(rows.length, 1, `${where}: row missing`);
    const value = rows[0].v;
    if (entry.kind !== 'sealed') {
      assert.deepStrictEqual(value, entry.document !== undefined ? entry.document : entry.stored, `${where} (${entry.kind}) changed`);
      continue;
    }
    let opened;
    try {
      opened = openLocation(entry, value, key);
    } catch {
      assert.fail(`${where} does not open with the expected key and its AAD`);
    }
    assert.ok(opened, `${where} no longer holds a sealed value`);
    assert.ok(opened.plaintext === plaintextOf(entry), `${where} opens to a different plaintext`);
    if (entry.member) assert.deepStrictEqual(opened.rest, entry.rest, `${where}: the rest of the document changed`);
    checked++;
  }
  return checked;
}

/**
 * No value of any location opens with `key`, neither with its AAD nor
 * without one. Returns [{ location, present, values }] (values: sealed
 * strings checked).
 */
export async function assertNothingOpensWith(client, schema, key, { locations = LOCATIONS } = {}) {
  const out = [];
  for (const loc of locations) {
    const rows = await readLocation(client, schema, loc);
    const present = await columnExists(client, schema, loc.table, loc.column);
    let values = 0;
    for (const r of rows) {
      let sealed;
      try {
        sealed = sealedIn(loc, r.value);
      } catch {
        continue;
      }
      if (sealed === null) continue;
      values++;
      for (const aad of new Set([r.aad, undefined])) {
        assert.ok(!opensWith(sealed, key, aad), `${schema}.${locationName(loc)} ${r.id} still opens with that key (${aad === undefined ? 'no AAD' : 'its AAD'})`);
      }
    }
    out.push({ location: locationName(loc), present, values });
  }
  return out;
}

/**
 * What a complete rotation of a freshly seeded fixture must report (the
 * RotationReport of index.d.ts; tests compare it field by field):
 * `rowsReencrypted` counts rows written (a connectors
 * row with auth_config and env_vars.$enc sealed is one), `values` the sealed
 * values, `empty` the location values without ciphertext, `tables` the tables
 * where something is sealed (those a rotation changes), `tablesPresent` the
 * tables holding a location this database has, `perLocation[name]` { rows,
 * reencrypted, empty }, `present`/`absent` the location names.
 */
export function expectedReport(fixture) {
  const tables = tablesOf(fixture.release);
  const isPresent = (l) => tables.includes(l.table) && (l.table !== 'mcp_server_configs' || fixture.legacy);
  const present = LOCATIONS.filter(isPresent);
  const perLocation = Object.fromEntries(present.map((l) => [locationName(l), { rows: 0, reencrypted: 0, empty: 0 }]));
  for (const r of fixture.rows) {
    const counts = perLocation[locationName(r)];
    counts.rows++;
    counts[r.kind === 'sealed' ? 'reencrypted' : 'empty']++;
  }
  const sealed = fixture.rows.filter((r) => r.kind === 'sealed');
  return {
    rowsReencrypted: new Set(sealed.map((r) => `${r.table}\u0000${r.id}`)).size,
    values: sealed.length,
    empty: fixture.rows.length - sealed.length,
    tables: new Set(sealed.map((r) => r.table)).size,
    tablesPresent: new Set(present.map((l) => l.table)).size,
    perLocation,
    present: present.map(locationName),
    absent: LOCATIONS.filter((l) => !isPresent(l)).map(locationName),
  };
}
