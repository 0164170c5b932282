#!/usr/bin/env node
// A release: every platform package and then the main package, published
// from the tarballs scripts/pack-release.mjs packs (all six platforms, none
// missing), platform packages first so that the main package never names
// one the registry lacks.
//
//   npm run release -- [--registry URL] [--tag TAG] [--dry-run]
//
// The binaries come from `npm run artifacts` (all six, on Linux).

import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const { values } = parseArgs({ options: { registry: { type: 'string' }, tag: { type: 'string' }, 'dry-run': { type: 'boolean', default: false } } });

const out = fs.mkdtempSync(path.join(os.tmpdir(), 'keyrotate-release-'));
try {
  let packed;
  try {
    packed = execFileSync(process.execPath, [path.join(ROOT, 'scripts', 'pack-release.mjs'), '--out', out], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
  } catch {
    process.stderr.write('release: nothing was published\n');
    process.exit(1);
  }
  const tarballs = packed.trim().split('\n').map((line) => JSON.parse(line));
  const args = [...(values.registry ? ['--registry', values.registry] : []), ...(values.tag ? ['--tag', values.tag] : []), ...(values['dry-run'] ? ['--dry-run'] : [])];
  for (const { name, version, file } of tarballs) {
    process.stderr.write(`release: npm publish ${name}@${version}\n`);
    execFileSync('npm', ['publish', path.join(out, file), ...args], { stdio: 'inherit' });
  }
} finally {
  fs.rmSync(out, { recursive: true, force: true });
}
