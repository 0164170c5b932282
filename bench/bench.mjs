#!/usr/bin/env node
// Rotation speed and memory, as ratios against baselines measured in the
// same run on the same PostgreSQL, so a noisy machine moves all of them
// together:
//   (a) floor:  PostgreSQL rewriting the column itself, one transaction:
//               UPDATE connectors SET auth_config = reverse(auth_config)
//   (b) naive:  node-postgres, SELECT everything, Node crypto, one UPDATE per
//               row, one transaction (what a straightforward script does)
//   (c) addon:  rotateEncryptionKey, in a child process so its peak RSS is
//               its own
// Every contender starts from an identical, freshly cloned database.
//
//   npm run bench -- --rows 10000,100000,1000000 [--skip-naive-above N]

import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import pg from 'pg';

import { decrypt, encrypt, generateKey } from '../__test__/helpers/backend-crypto.mjs';
import { bulkPlaintext, seedBulk } from '../__test__/helpers/fixture.mjs';
import { startServer } from '../__test__/helpers/pg.mjs';
import { createAnythingMcpSchema } from '../__test__/helpers/schema.mjs';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const { values } = parseArgs({
  options: {
    rows: { type: 'string', default: '10000,100000,1000000' },
    'skip-naive-above': { type: 'string' },
    repeat: { type: 'string', default: '1' },
  },
});
const sizes = values.rows.split(',').map((s) => Number(s.replace(/_/g, '')));
const naiveLimit = values['skip-naive-above'] ? Number(values['skip-naive-above']) : Infinity;
const repeat = Number(values.repeat);

const OLD = generateKey();
const NEW = generateKey();
const log = (s) => process.stderr.write(`${s}\n`);

async function withClient(url, fn) {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

async function clone(server, template) {
  const name = `${template}_c${Math.random().toString(36).slice(2, 8)}`;
  await withClient(server.adminUrl, (c) => c.query(`CREATE DATABASE ${name} TEMPLATE ${template}`));
  const u = new URL(server.adminUrl);
  u.pathname = `/${name}`;
  return { name, url: u.toString() };
}

async function drop(server, name) {
  await withClient(server.adminUrl, (c) => c.query(`DROP DATABASE ${name}`));
}

async function floor(url) {
  return withClient(url, async (c) => {
    const t = performance.now();
    await c.query('BEGIN');
    await c.query('UPDATE connectors SET auth_config = reverse(auth_config)');
    await c.query('COMMIT');
    return performance.now() - t;
  });
}

async function naive(url) {
  return withClient(url, async (c) => {
    const t = performance.now();
    await c.query('BEGIN');
    const { rows } = await c.query('SELECT id, auth_config FROM connectors');
    for (const row of rows) {
      if (!row.auth_config) continue;
      const next = encrypt(decrypt(row.auth_config, OLD), NEW);
      await c.query('UPDATE connectors SET auth_config = $1 WHERE id = $2', [next, row.id]);
    }
    await c.query('COMMIT');
    return performance.now() - t;
  });
}

// The child reports its own wall time for the call and its peak RSS.
const CHILD = `
const k = require(${JSON.stringify(root)});
const [oldKey, newKey, url] = JSON.parse(process.argv[1]);
const t = performance.now();
k.rotateEncryptionKey(oldKey, newKey, url, { discover: false }).then((r) => {
  const ms = performance.now() - t;
  process.stdout.write(JSON.stringify({ ms, rows: r.rowsReencrypted, maxRssKb: process.resourceUsage().maxRSS }));
}, (e) => { process.stderr.write(e.code + ' ' + e.message); process.exit(1); });
`;

function addon(url) {
  const r = spawnSync(process.execPath, ['-e', CHILD, JSON.stringify([OLD, NEW, url])], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`addon run failed: ${r.stderr}`);
  return JSON.parse(r.stdout);
}

async function check(url, n) {
  // Spot-check the fast path's result with Node crypto.
  return withClient(url, async (c) => {
    const { rows } = await c.query('SELECT id, auth_config FROM connectors ORDER BY random() LIMIT 200');
    for (const r of rows) if (decrypt(r.auth_config, NEW) !== bulkPlaintext(r.id)) throw new Error(`row ${r.id} wrong`);
    const { rows: cnt } = await c.query('SELECT count(*)::int AS n FROM connectors');
    if (cnt[0].n !== n) throw new Error('row count changed');
  });
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

// A small installation end to end: 50 connectors, the real CLI as an operator
// runs it (Node start-up, key checks, connect, rotate, report), wall time.
async function cli50(server) {
  const url = await server.createDatabase('cli50');
  await withClient(url, async (c) => {
    await createAnythingMcpSchema(c, 'public');
    await seedBulk(c, OLD, 50);
  });
  const cli = path.join(root, 'packages/backend/dist/scripts/rotate-encryption-key.js');
  const times = [];
  // Alternate directions so every run re-encrypts all 50.
  for (let i = 0; i < 5; i++) {
    const [from, to] = i % 2 === 0 ? [OLD, NEW] : [NEW, OLD];
    const t = performance.now();
    const r = spawnSync(process.execPath, [cli, '--yes'], {
      env: { PATH: process.env.PATH, DATABASE_URL: url, OLD_ENCRYPTION_KEY: from, NEW_ENCRYPTION_KEY: to },
      encoding: 'utf8',
    });
    times.push(performance.now() - t);
    // Across every table that holds a location (empty but for connectors).
    if (r.status !== 0 || !/^50 rows re-encrypted across \d+ tables/m.test(r.stdout)) throw new Error(`CLI run failed: ${r.stderr}`);
  }
  return median(times);
}

const server = await startServer();
const results = [];
let cliMs;
try {
  cliMs = await cli50(server);
  log(`50 connectors through the CLI: ${cliMs.toFixed(0)} ms`);
  for (const n of sizes) {
    const template = `bench_${n}`;
    await withClient(server.adminUrl, (c) => c.query(`CREATE DATABASE ${template}`));
    const u = new URL(server.adminUrl);
    u.pathname = `/${template}`;
    log(`seeding ${n} rows ...`);
    await withClient(u.toString(), async (c) => {
      await createAnythingMcpSchema(c, 'public');
      await seedBulk(c, OLD, n);
      await c.query('VACUUM ANALYZE connectors');
    });
    const times = { floor: [], naive: [], addon: [], rss: [] };
    for (let i = 0; i < repeat; i++) {
      for (const which of ['floor', 'addon', 'naive']) {
        if (which === 'naive' && n > naiveLimit) continue;
        const db = await clone(server, template);
        try {
          await withClient(db.url, (c) => c.query('CHECKPOINT'));
          log(`  ${which} ${n} (run ${i + 1}) ...`);
          if (which === 'floor') times.floor.push(await floor(db.url));
          if (which === 'naive') times.naive.push(await naive(db.url));
          if (which === 'addon') {
            const r = addon(db.url);
            if (r.rows !== n) throw new Error(`addon re-encrypted ${r.rows} of ${n}`);
            await check(db.url, n);
            times.addon.push(r.ms);
            times.rss.push(r.maxRssKb / 1024);
          }
        } finally {
          await drop(server, db.name);
        }
      }
    }
    await drop(server, template);
    const row = {
      rows: n,
      floorMs: median(times.floor),
      naiveMs: times.naive.length ? median(times.naive) : null,
      addonMs: median(times.addon),
      addonPeakRssMb: Math.max(...times.rss),
    };
    row.addonOverFloor = row.addonMs / row.floorMs;
    row.naiveOverAddon = row.naiveMs === null ? null : row.naiveMs / row.addonMs;
    results.push(row);
    log(JSON.stringify(row));
  }
} finally {
  await server.stop();
}

const fmt = (x, d = 0) => (x === null ? 'n/a' : x.toFixed(d));
const lines = [
  '| rows | (a) floor ms | (b) naive ms | (c) addon ms | (c)/(a) | (b)/(c) | (c) peak RSS MB |',
  '|---:|---:|---:|---:|---:|---:|---:|',
  ...results.map(
    (r) =>
      `| ${r.rows.toLocaleString('en-US')} | ${fmt(r.floorMs)} | ${fmt(r.naiveMs)} | ${fmt(r.addonMs)} | ${fmt(r.addonOverFloor, 2)} | ${fmt(r.naiveOverAddon, 1)} | ${fmt(r.addonPeakRssMb, 1)} |`,
  ),
];
if (results.length > 1) {
  const first = results[0];
  const last = results.at(-1);
  lines.push('', `peak RSS at ${last.rows.toLocaleString('en-US')} rows / at ${first.rows.toLocaleString('en-US')} rows: ${(last.addonPeakRssMb / first.addonPeakRssMb).toFixed(2)}`);
}
lines.push('', `50 connectors rotated end to end through the CLI (median of 5, wall time incl. Node start-up): ${cliMs.toFixed(0)} ms`);
process.stdout.write(lines.join('\n') + '\n');
