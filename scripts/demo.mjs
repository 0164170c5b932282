#!/usr/bin/env node
// The demo: a real PostgreSQL with AnythingMCP's tables, connectors of every
// type and every other location sealed by the backend's own Node crypto
// under an "old" key, a real rotation through the CLI, and proof that every
// value now opens with the new key (and none with the old one). It cleans
// up after itself.

import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import { fileURLToPath } from 'node:url';
import pg from 'pg';

import { generateKey } from '../__test__/helpers/anythingmcp/crypto.mjs';
import { locationName, openLocation } from '../__test__/helpers/anythingmcp/locations.mjs';
import { createAnythingMcpSchema } from '../__test__/helpers/anythingmcp/schema.mjs';
import { seedAcceptanceFixture } from '../__test__/helpers/fixture/acceptance.mjs';
import { startServer } from '../__test__/helpers/server/embedded.mjs';
import { quoteIdent } from '../__test__/helpers/sql.mjs';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const cli = path.join(root, 'packages/backend/dist/scripts/rotate-encryption-key.js');

// null when `fn` throws: a value that does not open with that key.
const attempt = (fn) => {
  try {
    return fn();
  } catch {
    return null;
  }
};

const say = (text = '') => process.stdout.write(`${text}\n`);
function runCli(args, env) {
  say(`$ node packages/backend/dist/scripts/rotate-encryption-key.js ${args.join(' ')}`);
  const result = spawnSync(process.execPath, [cli, ...args], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  say(`(exit code ${result.status})`);
  say();
  return result.status;
}

const server = await startServer();
let failed = false;
try {
  const url = await server.createDatabase('demo');
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    // Keys are generated per run and never printed: the demo shows
    // fingerprints, as the real command does.
    const oldKey = generateKey();
    const newKey = generateKey();

    say('1. A fresh PostgreSQL with the AnythingMCP schema, seeded by the backend\'s own encryption.');
    await createAnythingMcpSchema(client, 'public', { legacy: true });
    const fixture = await seedAcceptanceFixture(client, oldKey, { legacy: true });
    const sealed = fixture.rows.filter((r) => r.kind === 'sealed');
    const places = new Set(fixture.rows.map((r) => locationName(r)));
    say(`   ${fixture.rows.length} values in ${places.size} locations: ${sealed.length} sealed secrets, ${fixture.rows.length - sealed.length} NULL or empty.`);
    say();

    say('2. Dry run, then the rotation, through the CLI (keys from the environment).');
    const env = { DATABASE_URL: url, OLD_ENCRYPTION_KEY: oldKey, NEW_ENCRYPTION_KEY: newKey };
    const dry = runCli(['--dry-run'], env);
    const rotated = runCli(['--yes'], env);

    say('3. Verify with the new key, as the runbook does before the backend restarts on it.');
    const verified = runCli(['verify'], { DATABASE_URL: url, ENCRYPTION_KEY: newKey });

    say('4. Independent check with Node\'s crypto, as the backend decrypts (AAD included):');
    const label = (row) => `${locationName(row)} ${row.id}`;
    const width = Math.max(...fixture.rows.map((r) => label(r).length));
    let good = 0;
    for (const row of fixture.rows) {
      const { rows } = await client.query(`SELECT ${quoteIdent(row.column)} AS v FROM ${quoteIdent(row.table)} WHERE id = $1`, [row.id]);
      const value = rows[0].v;
      let verdict;
      if (row.kind !== 'sealed') {
        const same = isDeepStrictEqual(value, row.document !== undefined ? row.document : row.stored);
        verdict = same ? `unchanged (${row.kind})` : 'CHANGED';
        if (same) good++;
      } else {
        const opened = attempt(() => openLocation(row, value, newKey));
        const ok =
          opened !== null &&
          opened.plaintext === row.plaintext &&
          (!row.member || isDeepStrictEqual(opened.rest, row.rest)) &&
          attempt(() => openLocation(row, value, oldKey)) === null;
        verdict = ok ? 'opens with the new key, same plaintext; not with the old key' : 'FAILED';
        if (ok) good++;
      }
      say(`   ${label(row).padEnd(width)}  ${verdict}`);
    }
    say();
    failed = dry !== 0 || rotated !== 0 || verified !== 0 || good !== fixture.rows.length;
    say(failed ? `DEMO FAILED: ${good}/${fixture.rows.length} values as expected.` : `Demo OK: all ${good} values as expected.`);
  } finally {
    await client.end();
  }
} catch (e) {
  failed = true;
  process.stderr.write(`demo failed: ${e.message}\n`);
} finally {
  await server.stop();
}
process.exitCode = failed ? 1 : 0;
