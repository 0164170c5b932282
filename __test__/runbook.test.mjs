// SECURITY.md's runbook, run as written: every ```sh block of the rotation
// runbook is executed by /bin/sh in order against a real PostgreSQL, with
// only `/run/` pointed at a temporary directory and `$CLI` set as the
// runbook defines it.

import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';
import pg from 'pg';

import { decrypt, generateKey } from './helpers/backend-crypto.mjs';
import { seedAcceptanceFixture } from './helpers/fixture.mjs';
import { getServer } from './helpers/pg.mjs';
import { createAnythingMcpSchema } from './helpers/schema.mjs';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const CLI = `node ${path.join(root, 'packages/backend/dist/scripts/rotate-encryption-key.js')}`;

function runbookBlocks() {
  const text = readFileSync(path.join(root, 'SECURITY.md'), 'utf8');
  const section = text.slice(text.indexOf('### Runbook'), text.indexOf('### Why keys should not'));
  return [...section.matchAll(/```sh\n([\s\S]*?)```/g)].map((m) => m[1]);
}

// pg_dump refuses servers newer than itself; the backup step runs whenever
// the installed client can dump the test server (it does against PG 15).
function pgDumpCanDump(serverMajor) {
  try {
    const out = execFileSync('pg_dump', ['--version'], { encoding: 'utf8' });
    return Number(/(\d+)/.exec(out.replace(/^[^\d]*/, ''))[1]) >= serverMajor;
  } catch {
    return false;
  }
}

test('the SECURITY.md rotation runbook works as written', async () => {
  const server = await getServer();
  const url = await server.createDatabase('runbook');
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const oldKey = generateKey();
    await createAnythingMcpSchema(client, 'public', { legacy: true });
    const fixture = await seedAcceptanceFixture(client, oldKey, { legacy: true });
    const sealed = fixture.rows.filter((r) => r.kind === 'sealed');
    const serverMajor = Number((await client.query('SHOW server_version_num')).rows[0].server_version_num.slice(0, -4));

    const dir = mkdtempSync(path.join(os.tmpdir(), 'keyrotate-runbook-'));
    const blocks = runbookBlocks();
    assert.ok(blocks.length >= 6, 'backup, keys, dry run, rotate, verify, rollback');
    const env = { PATH: process.env.PATH, DATABASE_URL: url, ENCRYPTION_KEY: oldKey, CLI };
    const outputs = [];
    const ran = [];
    for (const block of blocks) {
      if (block.includes('pg_dump') && !pgDumpCanDump(serverMajor)) continue;
      const script = block.replaceAll('/run/', `${dir}/`);
      const r = spawnSync('/bin/sh', ['-ec', script], { env, encoding: 'utf8', timeout: 60_000 });
      outputs.push(r.stdout, r.stderr);
      assert.equal(r.status, 0, `block failed:\n${block}\n${r.stderr}`);
      ran.push(block);

      if (block.includes('generate-key')) {
        for (const f of ['old.key', 'new.key']) assert.equal(statSync(path.join(dir, f)).mode & 0o777, 0o600, f);
      }
      if (block.includes('--dry-run')) assert.match(r.stdout, /Dry run \(nothing written\)/);
      if (block.includes('verify')) assert.match(r.stdout, /OK$/m);
    }
    assert.ok(ran.length >= blocks.length - 1);

    // After the whole runbook, including its rollback, the data is back on
    // the old key; the key generated along the way was never printed.
    const newKey = readFileSync(path.join(dir, 'new.key'), 'utf8').trim();
    for (const row of sealed) {
      const { rows } = await client.query(`SELECT auth_config FROM ${row.table} WHERE id = $1`, [row.id]);
      assert.equal(decrypt(rows[0].auth_config, oldKey), row.plaintext);
    }
    const all = outputs.join('\n');
    for (const secret of [oldKey, newKey, server.password, ...sealed.map((r) => r.plaintext)]) {
      assert.ok(!all.includes(secret), 'a secret reached the output');
    }
  } finally {
    await client.end();
  }
});
