#!/usr/bin/env node
// Rotation speed and memory, as ratios against baselines measured in the
// same run on the same PostgreSQL, so a noisy machine moves all of them
// together:
//   (a) floor:  PostgreSQL rewriting the same values itself, one transaction
//               (reverse() of every sealed string, in one UPDATE)
//   (b) naive:  node-postgres, SELECT everything, Node crypto, one UPDATE per
//               row, one transaction (what a straightforward script does)
//   (c) addon:  rotateEncryptionKey, in a child process so its peak RSS is
//               its own, with discovery off (the rotation itself)
//   (d) addon with discovery (the default): what an operator waits for;
//               discovery runs before any table lock, so writers do not
//   (e) CLI:    the real command end to end, Node start-up included, as an
//               operator runs it (discovery on)
// in two shapes of `connectors`: `plain` (auth_config only, as v0.1.20
// writes it) and `upstream` (auth_config and env_vars.$enc on every row, as
// the current backend writes it). Every contender starts from an identical,
// freshly cloned database.
//
// Then discovery over imported OpenAPI documents: N connectors whose
// spec_data is a 6 MB document full of strings that look sealed, a dry run
// (discovery on) through the CLI, its time against PostgreSQL reading every
// document once, and its peak RSS.
//
//   npm run bench -- [--rows 1000,10000,200000,1000000] [--shapes plain,upstream] [--skip-naive-above N] [--specs 240] [--repeat N]
//
// Each contender's time is the median of --repeat runs (default 1), and of
// at least 5 at 10,000 rows or fewer.

import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import pg from 'pg';

import { decrypt, encrypt, generateKey } from '../__test__/helpers/anythingmcp/crypto.mjs';
import { createAnythingMcpSchema } from '../__test__/helpers/anythingmcp/schema.mjs';
import { ENV_VARS_AAD, bulkEnvPlaintext, bulkPlaintext, seedBulk, seedBulkUpstream } from '../__test__/helpers/fixture/bulk.mjs';
import { bigSpec, timedCli } from '../__test__/helpers/run/cli.mjs';
import { startServer } from '../__test__/helpers/server/embedded.mjs';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const { values } = parseArgs({
  options: {
    rows: { type: 'string', default: '1000,10000,200000,1000000' },
    specs: { type: 'string', default: '240' },
    shapes: { type: 'string', default: 'plain,upstream' },
    'skip-naive-above': { type: 'string' },
    repeat: { type: 'string', default: '1' },
  },
});
const sizes = values.rows.split(',').map((s) => Number(s.replace(/_/g, '')));
const naiveLimit = values['skip-naive-above'] ? Number(values['skip-naive-above']) : Infinity;
const repeat = Number(values.repeat);
// A run of a few thousand rows lasts a tenth of a second, where one
// scheduling hiccup on a shared machine moves a ratio by half: small sizes
// take the median of at least SMALL_RUNS runs, which costs seconds.
const SMALL_ROWS = 10_000;
const SMALL_RUNS = 5;
const runsAt = (n) => (n <= SMALL_ROWS ? Math.max(repeat, SMALL_RUNS) : repeat);
const shapeNames = values.shapes.split(',');
const specCount = Number(values.specs);

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

// What differs between the shapes: how the table is seeded, the floor's
// UPDATE, the naive script's per-row work, and the spot check.
const SHAPES = {
  plain: {
    seed: (c, n) => seedBulk(c, OLD, n),
    floorSql: 'UPDATE connectors SET auth_config = reverse(auth_config)',
    select: 'SELECT id, auth_config FROM connectors',
    async naiveRow(c, row) {
      if (!row.auth_config) return;
      const next = encrypt(decrypt(row.auth_config, OLD), NEW);
      await c.query('UPDATE connectors SET auth_config = $1 WHERE id = $2', [next, row.id]);
    },
    check(r) {
      return decrypt(r.auth_config, NEW) === bulkPlaintext(r.id);
    },
  },
  upstream: {
    seed: (c, n) => seedBulkUpstream(c, OLD, n),
    floorSql: "UPDATE connectors SET auth_config = reverse(auth_config), env_vars = jsonb_set(env_vars, '{$enc}', to_jsonb(reverse(env_vars->>'$enc')))",
    select: 'SELECT id, auth_config, env_vars FROM connectors',
    async naiveRow(c, row) {
      const auth = encrypt(decrypt(row.auth_config, OLD), NEW);
      const vars = encrypt(decrypt(row.env_vars.$enc, OLD, ENV_VARS_AAD), NEW, ENV_VARS_AAD);
      await c.query("UPDATE connectors SET auth_config = $1, env_vars = jsonb_set(env_vars, '{$enc}', to_jsonb($2::text)) WHERE id = $3", [
        auth,
        vars,
        row.id,
      ]);
    },
    check(r) {
      return decrypt(r.auth_config, NEW) === bulkPlaintext(r.id) && decrypt(r.env_vars.$enc, NEW, ENV_VARS_AAD) === bulkEnvPlaintext(r.id);
    },
  },
};

async function floor(url, shape) {
  return withClient(url, async (c) => {
    const t = performance.now();
    await c.query('BEGIN');
    await c.query(shape.floorSql);
    await c.query('COMMIT');
    return performance.now() - t;
  });
}

async function naive(url, shape) {
  return withClient(url, async (c) => {
    const t = performance.now();
    await c.query('BEGIN');
    const { rows } = await c.query(shape.select);
    for (const row of rows) await shape.naiveRow(c, row);
    await c.query('COMMIT');
    return performance.now() - t;
  });
}

// The child reports its own wall time for the call and its peak RSS.
const CHILD = `
const k = require(${JSON.stringify(root)});
const [oldKey, newKey, url, discover] = JSON.parse(process.argv[1]);
const t = performance.now();
k.rotateEncryptionKey(oldKey, newKey, url, { discover }).then((r) => {
  const ms = performance.now() - t;
  process.stdout.write(JSON.stringify({ ms, rows: r.rowsReencrypted, maxRssKb: process.resourceUsage().maxRSS }));
}, (e) => { process.stderr.write(e.code + ' ' + e.message); process.exit(1); });
`;

function addon(url, discover) {
  const r = spawnSync(process.execPath, ['-e', CHILD, JSON.stringify([OLD, NEW, url, discover])], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`addon run failed: ${r.stderr}`);
  return JSON.parse(r.stdout);
}

async function check(url, n, shape) {
  // Spot-check the fast path's result with Node crypto.
  return withClient(url, async (c) => {
    const { rows } = await c.query(`${shape.select} ORDER BY random() LIMIT 200`);
    for (const r of rows) if (!shape.check(r)) throw new Error(`row ${r.id} wrong`);
    const { rows: cnt } = await c.query('SELECT count(*)::int AS n FROM connectors');
    if (cnt[0].n !== n) throw new Error('row count changed');
  });
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

/** The CLI as an operator runs it, under GNU time: wall ms, peak RSS MB, its output. */
const cliRun = (url, from, to, args = ['--yes']) =>
  timedCli(args, { DATABASE_URL: url, OLD_ENCRYPTION_KEY: from, NEW_ENCRYPTION_KEY: to });

/** A CLI rotation that must re-encrypt exactly `n` rows. */
function cliRotation(url, n, from = OLD, to = NEW) {
  const r = cliRun(url, from, to);
  // Across every table that holds a location (empty but for connectors).
  if (r.status !== 0 || !new RegExp(`^${n} rows re-encrypted across \\d+ tables`, 'm').test(r.stdout)) throw new Error(`CLI run failed: ${r.stderr}`);
  return r;
}

// A small installation end to end: 50 connectors, the real CLI as an operator
// runs it (Node start-up, key checks, connect, rotate, report), wall time.
async function cli50(server) {
  const url = await server.createDatabase('cli50');
  await withClient(url, async (c) => {
    await createAnythingMcpSchema(c, 'public');
    await seedBulk(c, OLD, 50);
  });
  const times = [];
  // Alternate directions so every run re-encrypts all 50.
  for (let i = 0; i < 5; i++) {
    const [from, to] = i % 2 === 0 ? [OLD, NEW] : [NEW, OLD];
    times.push(cliRotation(url, 50, from, to).ms);
  }
  return median(times);
}

async function specs(server, count) {
  const url = await server.createDatabase('specs');
  const spec = bigSpec(6);
  let bytes;
  await withClient(url, async (c) => {
    await createAnythingMcpSchema(c, 'public');
    await seedBulk(c, OLD, 50);
    const owner = (await c.query('SELECT user_id, organization_id FROM connectors LIMIT 1')).rows[0];
    for (let i = 0; i < count; i++) {
      await c.query(
        `INSERT INTO connectors (id, user_id, organization_id, name, type, base_url, spec_data, updated_at)
         VALUES ($1, $2, $3, 'imported', 'REST', 'https://api.example.com', $4::jsonb, now())`,
        [`spec${i}`, owner.user_id, owner.organization_id, spec],
      );
    }
    await c.query('VACUUM ANALYZE connectors');
    bytes = Number((await c.query('SELECT sum(octet_length(spec_data::text))::bigint AS b FROM connectors')).rows[0].b);
  });
  const readAll = await withClient(url, async (c) => {
    const t = performance.now();
    await c.query('SELECT sum(octet_length(spec_data::text)) FROM connectors');
    return performance.now() - t;
  });
  const run = cliRun(url, OLD, NEW, ['--dry-run']);
  if (run.status !== 0 || !/^Dry run \(nothing written\): 50 rows would be re-encrypted/m.test(run.stdout)) throw new Error(`dry run failed (exit ${run.status}): ${run.stdout}${run.stderr}`);
  return { count, mb: bytes / 1e6, readAllMs: readAll, dryRunMs: run.ms, peakMb: run.peakMb };
}

const server = await startServer();
const results = [];
let cliMs;
let specResult;
try {
  cliMs = await cli50(server);
  log(`50 connectors through the CLI: ${cliMs.toFixed(0)} ms`);
  for (const shapeName of shapeNames) {
    const shape = SHAPES[shapeName];
    if (!shape) throw new Error(`unknown shape ${shapeName} (plain, upstream)`);
    for (const n of sizes) {
      const template = `bench_${shapeName}_${n}`;
      await withClient(server.adminUrl, (c) => c.query(`CREATE DATABASE ${template}`));
      const u = new URL(server.adminUrl);
      u.pathname = `/${template}`;
      log(`seeding ${n} ${shapeName} rows ...`);
      await withClient(u.toString(), async (c) => {
        await createAnythingMcpSchema(c, 'public');
        await shape.seed(c, n);
        await c.query('VACUUM ANALYZE connectors');
      });
      const times = { floor: [], naive: [], addon: [], discover: [], cli: [], rss: [] };
      for (let i = 0; i < runsAt(n); i++) {
        for (const which of ['floor', 'addon', 'discover', 'cli', 'naive']) {
          if (which === 'naive' && n > naiveLimit) continue;
          const db = await clone(server, template);
          try {
            await withClient(db.url, (c) => c.query('CHECKPOINT'));
            log(`  ${which} ${shapeName} ${n} (run ${i + 1}) ...`);
            if (which === 'floor') times.floor.push(await floor(db.url, shape));
            if (which === 'naive') times.naive.push(await naive(db.url, shape));
            if (which === 'addon' || which === 'discover') {
              const r = addon(db.url, which === 'discover');
              if (r.rows !== n) throw new Error(`addon re-encrypted ${r.rows} of ${n} rows`);
              await check(db.url, n, shape);
              times[which].push(r.ms);
              times.rss.push(r.maxRssKb / 1024);
            }
            if (which === 'cli') {
              times.cli.push(cliRotation(db.url, n).ms);
              await check(db.url, n, shape);
            }
          } finally {
            await drop(server, db.name);
          }
        }
      }
      await drop(server, template);
      const row = {
        shape: shapeName,
        rows: n,
        floorMs: median(times.floor),
        naiveMs: times.naive.length ? median(times.naive) : null,
        addonMs: median(times.addon),
        discoverMs: median(times.discover),
        cliMs: median(times.cli),
        addonPeakRssMb: Math.max(...times.rss),
      };
      row.addonOverFloor = row.addonMs / row.floorMs;
      row.naiveOverAddon = row.naiveMs === null ? null : row.naiveMs / row.addonMs;
      row.naiveOverCli = row.naiveMs === null ? null : row.naiveMs / row.cliMs;
      results.push(row);
      log(JSON.stringify(row));
    }
  }
  if (specCount > 0) {
    log(`seeding ${specCount} connectors with 6 MB specs ...`);
    specResult = await specs(server, specCount);
    log(JSON.stringify(specResult));
  }
} finally {
  await server.stop();
}

const fmt = (x, d = 0) => (x === null ? 'n/a' : x.toFixed(d));
const lines = [
  '| shape | rows | (a) floor ms | (b) naive ms | (c) addon ms | (d) with discovery ms | (e) CLI ms | (c)/(a) | (d)/(a) | (e)/(a) | (b)/(c) | (b)/(e) | (c) peak RSS MB |',
  '|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|',
  ...results.map(
    (r) =>
      `| ${r.shape} | ${r.rows.toLocaleString('en-US')} | ${fmt(r.floorMs)} | ${fmt(r.naiveMs)} | ${fmt(r.addonMs)} | ${fmt(r.discoverMs)} | ${fmt(r.cliMs)} | ${fmt(r.addonOverFloor, 2)} | ${fmt(r.discoverMs / r.floorMs, 2)} | ${fmt(r.cliMs / r.floorMs, 2)} | ${fmt(r.naiveOverAddon, 1)} | ${fmt(r.naiveOverCli, 1)} | ${fmt(r.addonPeakRssMb, 1)} |`,
  ),
];
for (const shapeName of shapeNames) {
  const rows = results.filter((r) => r.shape === shapeName);
  if (rows.length < 2) continue;
  const first = rows[0];
  const last = rows.at(-1);
  lines.push('', `${shapeName}: peak RSS at ${last.rows.toLocaleString('en-US')} rows / at ${first.rows.toLocaleString('en-US')} rows: ${(last.addonPeakRssMb / first.addonPeakRssMb).toFixed(2)}`);
}
lines.push('', `50 connectors rotated end to end through the CLI (median of 5, wall time incl. Node start-up): ${cliMs.toFixed(0)} ms`);
if (specResult) {
  const s = specResult;
  lines.push('', `${s.count} connectors with 6 MB specs (${s.mb.toFixed(0)} MB of JSON): CLI dry run ${s.dryRunMs.toFixed(0)} ms, ${(s.dryRunMs / s.readAllMs).toFixed(2)} x PostgreSQL reading every document once (${s.readAllMs.toFixed(0)} ms); peak RSS ${s.peakMb.toFixed(0)} MB`);
}
process.stdout.write(lines.join('\n') + '\n');
