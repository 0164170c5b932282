// Values sealed the way the backend seals them, recorded as fixture entries
// (one per location value) so tests can check each afterwards.

import { encrypt } from './backend-crypto.mjs';
import { quoteIdent } from './ident.mjs';

/**
 * A whole-value location: null -> NULL, '' -> '', a string -> sealed as is,
 * anything else -> sealed JSON (what the backend does with an auth config).
 */
export function sealWhole(value, key, aad) {
  if (value === null) return { kind: 'null', plaintext: null, stored: null };
  if (value === '') return { kind: 'empty', plaintext: '', stored: '' };
  const plaintext = typeof value === 'string' ? value : JSON.stringify(value);
  return { kind: 'sealed', plaintext, stored: encrypt(plaintext, key, aad) };
}

/** INSERT helpers for one schema; jsonb values are passed as JSON text. */
export function writer(client, schema) {
  const t = (name) => `${quoteIdent(schema)}.${quoteIdent(name)}`;
  return {
    t,
    async insert(table, row) {
      const cols = Object.keys(row);
      await client.query(
        `INSERT INTO ${t(table)} (${cols.map(quoteIdent).join(', ')}) VALUES (${cols.map((_, i) => `$${i + 1}`).join(', ')})`,
        Object.values(row),
      );
    },
  };
}

/** A millisecond-precision timestamp `minutes` after a base instant, as PostgreSQL text. */
export function stamp(base, minutes) {
  const d = new Date(Date.parse(`${base}Z`) + minutes * 60_000 + ((minutes * 7) % 1000));
  return d.toISOString().replace('T', ' ').replace('Z', '');
}
