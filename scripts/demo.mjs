#!/usr/bin/env node
// The demo: a real PostgreSQL with AnythingMCP's tables, connectors of every
// type sealed by the backend's own Node crypto under an "old" key, a real
// rotation through the CLI, and proof that every connector now opens with
// the new key (and none with the old one). It cleans up after itself.

import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';

import { decrypt, generateKey } from '../__test__/helpers/backend-crypto.mjs';
import { seedAcceptanceFixture } from '../__test__/helpers/fixture.mjs';
import { opens } from '../__test__/helpers/hygiene.mjs';
import { startServer } from '../__test__/helpers/pg.mjs';
import { createAnythingMcpSchema } from '../__test__/helpers/schema.mjs';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const cli = path.join(root, 'packages/backend/dist/scripts/rotate-encryption-key.js');

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
    say(`   ${fixture.rows.length} rows: ${sealed.length} sealed credentials, ${fixture.rows.length - sealed.length} NULL or empty.`);
    say();

    say('2. Dry run, then the rotation, through the CLI (keys from the environment).');
    const env = { DATABASE_URL: url, OLD_ENCRYPTION_KEY: oldKey, NEW_ENCRYPTION_KEY: newKey };
    const dry = runCli(['--dry-run'], env);
    const rotated = runCli(['--yes'], env);

    say('3. Verify, as after restarting the backend with the new key.');
    const verified = runCli(['verify'], { DATABASE_URL: url, ENCRYPTION_KEY: newKey });

    say('4. Independent check with Node\'s crypto, as the backend decrypts:');
    const width = Math.max(...sealed.map((r) => r.table.length + r.id.length + 1));
    let good = 0;
    for (const row of fixture.rows) {
      const { rows } = await client.query(`SELECT auth_config FROM ${row.table} WHERE id = $1`, [row.id]);
      const value = rows[0].auth_config;
      let verdict;
      if (row.kind !== 'sealed') {
        verdict = value === row.stored ? `unchanged (${row.kind})` : 'CHANGED';
        if (value === row.stored) good++;
      } else {
        const ok = opens(value, newKey) && decrypt(value, newKey) === row.plaintext && !opens(value, oldKey);
        verdict = ok ? 'opens with the new key, same plaintext; not with the old key' : 'FAILED';
        if (ok) good++;
      }
      const label = `${row.table}/${row.id}`.padEnd(width);
      say(`   ${label}  ${(row.type ?? '-').padEnd(8)} ${(row.authType ?? '-').padEnd(17)} ${verdict}`);
    }
    say();
    failed = dry !== 0 || rotated !== 0 || verified !== 0 || good !== fixture.rows.length;
    say(failed ? `DEMO FAILED: ${good}/${fixture.rows.length} rows as expected.` : `Demo OK: all ${good} rows as expected.`);
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
