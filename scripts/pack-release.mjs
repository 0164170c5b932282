#!/usr/bin/env node
// The tarballs a release publishes, napi-rs style: one per platform package
// (npm/<platform>/, with its prebuilt .node from `npm run artifacts`) and the
// main package, whose optionalDependencies name every platform package of
// package.json napi.targets at exactly its own version.
//
//   node scripts/pack-release.mjs --out DIR [--allow-missing] [--platforms P1,P2...]
//
// Prints one JSON line per tarball ({ name, version, file, platform? }),
// platform packages first, the order to `npm publish DIR/<file>` them in.
// Refuses when a platform package's version or os/cpu/libc disagree with
// package.json and napi-rs, or when a binary is missing. --allow-missing packs
// what there is (the main package still names all six), for a registry that
// only needs the platforms at hand, as the artifact test's does; --platforms
// packs only the named platform packages (npm/ folder names) even if others
// have a binary.
//
// The main package is `npm pack` of this directory (its `files`: the JS API,
// its types, the loader and the CLI; no binary), repacked with
// optionalDependencies added and `private` removed: the optional
// dependencies cannot sit in package.json itself, because `npm ci` here
// would then need platform packages that no registry has yet, and
// `private: true` there is what makes npm refuse any other way of
// publishing this directory (with or without its scripts, or a tarball
// packed from it).

import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { parseTriple } from '@napi-rs/cli';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

const { values } = parseArgs({
  options: { out: { type: 'string' }, 'allow-missing': { type: 'boolean', default: false }, platforms: { type: 'string' } },
});
if (!values.out) {
  process.stderr.write('usage: node scripts/pack-release.mjs --out DIR [--allow-missing] [--platforms P1,P2...]\n');
  process.exit(2);
}
const out = path.resolve(values.out);
fs.mkdirSync(out, { recursive: true });

const fail = (message) => {
  process.stderr.write(`pack-release: ${message}\n`);
  process.exit(1);
};
const readJson = (file) => JSON.parse(fs.readFileSync(file, 'utf8'));
const npmPack = (dir, dest) => JSON.parse(execFileSync('npm', ['pack', '--json', '--pack-destination', dest], { cwd: dir, encoding: 'utf8' }))[0];

const main = readJson(path.join(ROOT, 'package.json'));
const libcOf = { gnu: 'glibc', musl: 'musl' };
const platforms = main.napi.targets.map((triple) => parseTriple(triple));
const only = values.platforms?.split(',');
for (const p of only ?? []) {
  if (!platforms.some((t) => t.platformArchABI === p)) fail(`--platforms: ${p} is not a napi.targets platform`);
}
const packed = [];
const missing = [];
const ready = [];

for (const { triple, platform, arch, abi, platformArchABI } of platforms) {
  const dir = path.join(ROOT, 'npm', platformArchABI);
  const pkg = readJson(path.join(dir, 'package.json'));
  const binary = `${main.napi.binaryName}.${platformArchABI}.node`;
  const expected = {
    name: `${main.name}-${platformArchABI}`,
    version: main.version,
    os: [platform],
    cpu: [arch],
    libc: libcOf[abi],
    main: binary,
    files: [binary],
  };
  for (const [field, want] of Object.entries(expected)) {
    const got = field === 'libc' ? pkg.libc?.[0] : pkg[field];
    if (JSON.stringify(got) !== JSON.stringify(want)) {
      fail(`npm/${platformArchABI}/package.json ${field} is ${JSON.stringify(got)}, not ${JSON.stringify(want)} (npx napi version / create-npm-dirs)`);
    }
  }
  if (!fs.existsSync(path.join(dir, binary)) || (only && !only.includes(platformArchABI))) {
    missing.push(`${platformArchABI} (${triple})`);
  } else {
    ready.push({ dir, pkg, platformArchABI });
  }
}
if (missing.length && !values['allow-missing']) {
  fail(`no binary for ${missing.join(', ')}: npm run artifacts, or --allow-missing`);
}
for (const { dir, pkg, platformArchABI } of ready) {
  const tarball = npmPack(dir, out);
  packed.push({ name: pkg.name, version: pkg.version, file: tarball.filename, platform: platformArchABI });
}

const stage = fs.mkdtempSync(path.join(os.tmpdir(), 'keyrotate-pack-'));
try {
  const first = npmPack(ROOT, stage);
  if (first.files.some((f) => f.path.endsWith('.node'))) fail('the main package would ship a .node file');
  execFileSync('tar', ['-xzf', path.join(stage, first.filename), '-C', stage]);
  const manifestPath = path.join(stage, 'package', 'package.json');
  const manifest = readJson(manifestPath);
  manifest.optionalDependencies = Object.fromEntries(platforms.map((p) => [`${main.name}-${p.platformArchABI}`, main.version]));
  // What only this repository uses: `private` (which keeps every other way
  // of publishing it from working), its scripts, its development tools and
  // its workspace.
  for (const field of ['private', 'scripts', 'devDependencies', 'workspaces']) delete manifest[field];
  fs.writeFileSync(manifestPath, JSON.stringify(manifest, null, 2) + '\n');
  const tarball = npmPack(path.join(stage, 'package'), out);
  packed.push({ name: main.name, version: main.version, file: tarball.filename });
} finally {
  fs.rmSync(stage, { recursive: true, force: true });
}

for (const entry of packed) process.stdout.write(JSON.stringify(entry) + '\n');
