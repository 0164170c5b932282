#!/usr/bin/env node
// A release: every platform package and then the main package, published
// from the tarballs scripts/pack-release.mjs packs (all six platforms, none
// missing), platform packages first so that the main package never names
// one the registry lacks.
//
//   npm run release -- [--registry URL] [--tag TAG] [--dry-run]
//
// The binaries come from `npm run artifacts` (all six, on Linux). A release
// that stops partway (a network error, an expired one-time password) is
// finished by running it again: a package already on the registry with the
// same contents is skipped; one with other contents stops it, since a
// published version can never be replaced.

import { spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const { values } = parseArgs({ options: { registry: { type: 'string' }, tag: { type: 'string' }, 'dry-run': { type: 'boolean', default: false } } });
const registry = values.registry ? ['--registry', values.registry] : [];
const say = (line) => process.stderr.write(`release: ${line}\n`);

/** npm's dist.integrity of a tarball. */
const integrity = (file) => `sha512-${crypto.createHash('sha512').update(fs.readFileSync(file)).digest('base64')}`;

/** The registry's dist.integrity of name@version, or null when it has no such version. */
function publishedIntegrity(name, version) {
  const r = spawnSync('npm', ['view', `${name}@${version}`, 'dist.integrity', ...registry], { encoding: 'utf8' });
  if (r.status === 0) return r.stdout.trim() || null;
  if (/\bE404\b/.test(r.stderr)) return null;
  throw new Error(`npm view ${name}@${version} failed: ${r.stderr.trim()}`);
}

function release(out) {
  const packed = spawnSync(process.execPath, [path.join(ROOT, 'scripts', 'pack-release.mjs'), '--out', out], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
  if (packed.status !== 0) {
    say('nothing was published');
    return 1;
  }
  const tarballs = packed.stdout.trim().split('\n').map((line) => JSON.parse(line));
  const publishArgs = [...registry, ...(values.tag ? ['--tag', values.tag] : []), ...(values['dry-run'] ? ['--dry-run'] : [])];
  const done = [];
  for (const [i, { name, version, file }] of tarballs.entries()) {
    const tarball = path.join(out, file);
    const remaining = () => tarballs.slice(i).map((t) => `${t.name}@${t.version}`).join(', ');
    const stop = (why) => {
      say(why);
      say(`published: ${done.join(', ') || 'nothing'}; not published: ${remaining()}`);
      say('run `npm run release` again to finish: what is already published is skipped');
      return 1;
    };
    let there;
    try {
      there = publishedIntegrity(name, version);
    } catch (e) {
      return stop(e.message);
    }
    if (there === integrity(tarball)) {
      say(`${name}@${version} is already published with these contents: skipped`);
      done.push(`${name}@${version}`);
      continue;
    }
    if (there !== null) {
      say(`${name}@${version} is already published with other contents; a published version cannot be replaced: bump the version (npm version) and release again`);
      say(`published: ${done.join(', ') || 'nothing'}`);
      return 1;
    }
    say(`npm publish ${name}@${version}`);
    const r = spawnSync('npm', ['publish', tarball, ...publishArgs], { stdio: 'inherit' });
    if (r.status !== 0) return stop(`npm publish ${name}@${version} failed`);
    done.push(`${name}@${version}`);
  }
  return 0;
}

const out = fs.mkdtempSync(path.join(os.tmpdir(), 'keyrotate-release-'));
let status;
try {
  status = release(out);
} finally {
  fs.rmSync(out, { recursive: true, force: true });
}
process.exit(status);
