// Shared by the fault, concurrency and hostile-input tests: Node-side checks
// of stored values, and a record of everything the addon and the CLI said,
// so each file can assert that no key, plaintext or password ever leaked.

import assert from 'node:assert/strict';
import { decrypt } from '../anythingmcp/crypto.mjs';
import { quoteIdent } from '../sql.mjs';

/** Does `value` open with `key` in the backend's own Node code? */
export function opens(value, key) {
  try {
    decrypt(value, key);
    return true;
  } catch {
    return false;
  }
}

/**
 * Everything a test file saw: reports, errors, CLI output. `secret()` adds a
 * string that must never appear in any of it.
 */
export function createObserver() {
  const secrets = new Set();
  const seen = [];
  const observe = (x) => {
    if (x instanceof Error) seen.push(`${x.code} ${x.message} ${JSON.stringify(x.details)} ${x.stack}`);
    else seen.push(typeof x === 'string' ? x : JSON.stringify(x));
    return x;
  };
  return {
    observe,
    secret(s) {
      // Very short strings would match by accident; nothing secret is that short.
      if (typeof s === 'string' && s.length >= 8) secrets.add(s);
    },
    /** Keys: each whole, and its first 32 characters (what the backend uses). */
    keys(...keys) {
      for (const k of keys) {
        this.secret(k);
        this.secret(k.slice(0, 32));
      }
    },
    /** Await a promise that must reject; returns the error (recorded). */
    async rejection(promise) {
      try {
        observe(await promise);
      } catch (e) {
        observe(e);
        return e;
      }
      assert.fail('expected a rejection');
    },
    assertNoLeaks(minSeen = 1) {
      assert.ok(seen.length >= minSeen, `only ${seen.length} outputs were observed`);
      const all = seen.join('\n');
      for (const s of secrets) {
        // Never print the secret itself, only where it is.
        assert.ok(!all.includes(s), `a secret of length ${s.length} leaked (at offset ${all.indexOf(s)})`);
      }
      return { outputs: seen.length, secrets: secrets.size };
    },
  };
}

/**
 * Walk a column in primary-key order, `pageSize` rows at a time, and check
 * every non-empty value opens with `key` in Node. Returns how many did.
 * `ignore` is a set of ids not to check (e.g. a deliberately corrupt row).
 */
export async function assertAllOpenWith(client, key, { schema = 'public', table = 'connectors', pk = 'id', column = 'auth_config', ignore = new Set(), expected } = {}) {
  const t = `${quoteIdent(schema)}.${quoteIdent(table)}`;
  const c = quoteIdent(column);
  const p = quoteIdent(pk);
  let last = '';
  let checked = 0;
  for (;;) {
    const { rows } = await client.query(
      `SELECT ${p}::text AS id, ${c} AS v FROM ${t} WHERE ${p}::text > $1 ORDER BY ${p}::text LIMIT 20000`,
      [last],
    );
    if (rows.length === 0) break;
    for (const r of rows) {
      if (r.v === null || r.v === '' || ignore.has(r.id)) continue;
      if (!opens(r.v, key)) assert.fail(`${table}.${column} ${r.id} does not open with the expected key`);
      checked++;
    }
    last = rows.at(-1).id;
  }
  if (expected !== undefined) assert.equal(checked, expected, `values that open with the key in ${table}.${column}`);
  return checked;
}

/** The keyrotate sessions (by application_name) on the database `client` is connected to. */
export async function keyrotateSessions(client, applicationName = 'keyrotate') {
  const { rows } = await client.query(
    `SELECT pid, state, backend_xid::text AS xid, wait_event_type, query
       FROM pg_stat_activity
      WHERE application_name = $1 AND datname = current_database() AND pid <> pg_backend_pid()`,
    [applicationName],
  );
  return rows;
}

/** Poll `fn` until it returns a truthy value; fail after `ms`. */
export async function waitFor(fn, what, ms = 30_000, every = 20) {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > deadline) assert.fail(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, every));
  }
}

/**
 * Locks held or awaited by sessions with this application_name on this
 * database: relation locks name their table, advisory locks their 64-bit key.
 */
export async function keyrotateLocks(client, applicationName = 'keyrotate') {
  const { rows } = await client.query(
    `SELECT l.pid, l.locktype, l.mode, l.granted, c.relname,
            CASE WHEN l.locktype = 'advisory' THEN ((l.classid::bigint << 32) | l.objid::bigint)::text END AS key
       FROM pg_locks l
       JOIN pg_stat_activity a ON a.pid = l.pid
       LEFT JOIN pg_class c ON c.oid = l.relation
      WHERE a.application_name = $1 AND a.datname = current_database()`,
    [applicationName],
  );
  return rows;
}

/** `promise`, or a failure naming `what` once `ms` have passed. */
export async function within(promise, ms, what) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: still pending after ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}
