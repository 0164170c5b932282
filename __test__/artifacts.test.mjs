// The napi-rs-style distribution, tested as AnythingMCP will consume it:
// - npm/<platform>/ holds the six platform packages exactly as napi-rs
//   generates them (os, cpu, libc), at the main package's version;
// - `npm run artifacts` (scripts/artifacts.sh) builds the Linux binaries, and
//   each is a shared object of its architecture for its C library;
// - every built platform package and the main package are published to a
//   private registry (verdaccio on 127.0.0.1), from which, with no Rust on
//   PATH, `npm install @anythingmcp/keyrotate` into a backend laid out like
//   AnythingMCP's packages/backend installs exactly the right platform
//   package; the backend's own tsconfig compiles the shim to
//   dist/src/scripts/, and that CLI rotates a real database: in glibc Node,
//   and in musl Node the way the upstream image builds (npm ci from the
//   lockfile a glibc machine wrote, tsc, `npm install --omit=dev`).
//
// By default (what .ci/run runs) the x64 gnu and musl packages are packed,
// published and installed; `npm run artifacts` cross-builds the musl one,
// the binary the upstream image installs, and the gnu package carries the
// development build scripts/setup.sh made (the same code, linked against
// this machine's glibc rather than 2.17), which spares CI a second release
// build. KEYROTATE_ARTIFACTS=all (`npm run test:artifacts`) cross-builds all
// four Linux packages, checks the gnu ones need no glibc after 2.17, and
// also installs and runs the arm64 ones in aarch64 Node 22 for glibc and
// musl under qemu-user.

import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { parseTriple } from '@napi-rs/cli';

import { generateKey } from './helpers/backend-crypto.mjs';
import { arm64Node, muslNode } from './helpers/foreign-node.mjs';
import { ROOT, TSC, assertSealedOpenWith, closeDatabases, ok, run, seededDatabase } from './helpers/packaging.mjs';
import { startRegistry } from './helpers/registry.mjs';

const PKG = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8'));
const FULL = process.env.KEYROTATE_ARTIFACTS === 'all';
const BUILT = FULL ? ['linux-x64-gnu', 'linux-x64-musl', 'linux-arm64-gnu', 'linux-arm64-musl'] : ['linux-x64-gnu', 'linux-x64-musl'];
// Without FULL, the gnu package is the development build, copied in.
const CROSS_BUILT = FULL ? BUILT : ['linux-x64-musl'];
const TARGETS = PKG.napi.targets.map((t) => parseTriple(t));
const SHIM_SOURCE = path.join(ROOT, 'packages', 'backend', 'src', 'scripts', 'rotate-encryption-key.ts');
const CLI = path.join('backend', 'dist', 'src', 'scripts', 'rotate-encryption-key.js');
const binaryOf = (platform) => path.join(ROOT, 'npm', platform, `${PKG.napi.binaryName}.${platform}.node`);

const tmpRoot = fs.mkdtempSync(path.join(os.tmpdir(), 'keyrotate-artifacts-'));
function tmpDir(name) {
  const dir = path.join(tmpRoot, name);
  fs.mkdirSync(dir, { recursive: true });
  return dir;
}

// Installs run with a PATH on which no Rust toolchain can be found, as in
// node:22-alpine.
const rustless = process.env.PATH.split(':')
  .filter((d) => d && !['cargo', 'rustc', 'rustup'].some((tool) => fs.existsSync(path.join(d, tool))))
  .join(':');

let registry;
let released;
after(async () => {
  await registry?.stop();
  await closeDatabases();
  fs.rmSync(tmpRoot, { recursive: true, force: true });
});

before(async () => {
  ok(run('bash', [path.join(ROOT, 'scripts', 'artifacts.sh'), ...CROSS_BUILT], { timeout: 3_600_000 }), `npm run artifacts -- ${CROSS_BUILT.join(' ')}`);
  for (const platform of BUILT.filter((p) => !CROSS_BUILT.includes(p))) {
    fs.copyFileSync(path.join(ROOT, `${PKG.napi.binaryName}.${platform}.node`), binaryOf(platform));
  }
  const out = tmpDir('release');
  const packed = ok(run(process.execPath, [path.join(ROOT, 'scripts', 'pack-release.mjs'), '--out', out, '--allow-missing', '--platforms', BUILT.join(',')], { timeout: 300_000 }), 'pack-release');
  released = packed.stdout.trim().split('\n').map((l) => JSON.parse(l));
  registry = await startRegistry(tmpDir('registry'));
  for (const { file } of released) {
    ok(run('npm', ['publish', path.join(out, file)], { cwd: tmpRoot, env: registry.env, timeout: 120_000 }), `npm publish ${file}`);
  }
});

// ------------------------------------------------------------------ packages

describe('the platform packages', () => {
  test('npm/<platform>/package.json is what `napi create-npm-dirs` generates, for each of the six napi.targets', () => {
    // napi writes only inside the project it runs in: a copy of package.json.
    const project = tmpDir('create-npm-dirs');
    fs.copyFileSync(path.join(ROOT, 'package.json'), path.join(project, 'package.json'));
    ok(run(path.join(ROOT, 'node_modules', '.bin', 'napi'), ['create-npm-dirs'], { cwd: project }), 'napi create-npm-dirs');
    const generated = path.join(project, 'npm');
    assert.deepEqual(fs.readdirSync(path.join(ROOT, 'npm')).sort(), TARGETS.map((t) => t.platformArchABI).sort());
    for (const { platformArchABI, platform, arch, abi } of TARGETS) {
      const committed = JSON.parse(fs.readFileSync(path.join(ROOT, 'npm', platformArchABI, 'package.json'), 'utf8'));
      assert.deepEqual(committed, JSON.parse(fs.readFileSync(path.join(generated, platformArchABI, 'package.json'), 'utf8')), platformArchABI);
      assert.equal(committed.name, `@anythingmcp/keyrotate-${platformArchABI}`);
      assert.equal(committed.version, PKG.version);
      assert.deepEqual(committed.os, [platform]);
      assert.deepEqual(committed.cpu, [arch]);
      // npm tells Alpine from glibc Linux by `libc`; macOS has none.
      assert.deepEqual(committed.libc, { gnu: ['glibc'], musl: ['musl'] }[abi]);
      assert.deepEqual(committed.files, [`keyrotate.${platformArchABI}.node`]);
      assert.equal(committed.main, `keyrotate.${platformArchABI}.node`);
    }
  });

  for (const platform of BUILT) {
    const { arch, abi } = TARGETS.find((t) => t.platformArchABI === platform);
    const cross = CROSS_BUILT.includes(platform);
    const what = abi === 'musl' ? 'musl' : cross ? 'glibc 2.17 and later' : 'glibc';
    test(`${platform}: ${cross ? 'npm run artifacts built' : 'the development build is'} an ${arch} shared object for ${what}`, () => {
      const elf = ok(run('readelf', ['-h', '-d', '--dyn-syms', '-W', binaryOf(platform)]), 'readelf').stdout;
      assert.match(elf, /Type:\s+DYN/);
      assert.match(elf, arch === 'arm64' ? /Machine:\s+AArch64/ : /Machine:\s+Advanced Micro Devices X86-64/);
      assert.match(elf, /\sGLOBAL\s+DEFAULT\s+\d+\s+napi_register_module_v1$/m);
      const needed = [...elf.matchAll(/\(NEEDED\)\s+Shared library: \[(.+)\]/g)].map((m) => m[1]);
      if (abi === 'musl') {
        // musl's libc only (its loader takes libc.so as itself): no glibc, no libgcc_s.
        assert.deepEqual(needed, ['libc.so']);
      } else {
        assert.ok(needed.includes('libc.so.6'), needed.join(' '));
        assert.ok(!needed.some((n) => n.includes('musl')), needed.join(' '));
        const versions = [...new Set([...elf.matchAll(/@GLIBC_(\d+)\.(\d+)/g)].map((m) => Number(m[1]) * 1000 + Number(m[2])))];
        assert.ok(versions.length > 0);
        if (cross) assert.ok(Math.max(...versions) <= 2017, `needs glibc ${Math.floor(Math.max(...versions) / 1000)}.${Math.max(...versions) % 1000}`);
      }
    });
  }

  test('the registry has every built platform package and the main package, which lists all six at its exact version and ships no binary', async () => {
    const view = (name) => JSON.parse(ok(run('npm', ['view', name, '--json'], { cwd: tmpRoot, env: registry.env }), `npm view ${name}`).stdout);
    const main = view(PKG.name);
    assert.equal(main.version, PKG.version);
    assert.deepEqual(main.optionalDependencies, Object.fromEntries(TARGETS.map((t) => [`@anythingmcp/keyrotate-${t.platformArchABI}`, PKG.version])));
    assert.equal(main.dependencies, undefined);
    const contents = (name) => {
      const tarball = path.join(tmpRoot, 'release', released.find((r) => r.name === name).file);
      return ok(run('tar', ['-tzf', tarball]), 'tar -t').stdout.trim().split('\n').sort();
    };
    assert.deepEqual(released.map((r) => r.platform).filter(Boolean), BUILT);
    for (const platform of BUILT) {
      const name = `@anythingmcp/keyrotate-${platform}`;
      assert.equal(view(name).version, PKG.version);
      assert.deepEqual(contents(name), ['package/README.md', `package/keyrotate.${platform}.node`, 'package/package.json']);
    }
    assert.deepEqual(contents(PKG.name), ['package/README.md', 'package/binding.d.ts', 'package/binding.js', 'package/index.d.ts', 'package/index.js', 'package/locations.json', 'package/package.json']);
  });
});

// ------------------------------------------------------------------ the backend

/** A directory laid out like AnythingMCP's packages/backend, depending on keyrotate. */
function backendFixture(app) {
  const backend = path.join(app, 'backend');
  fs.mkdirSync(path.join(backend, 'src', 'scripts'), { recursive: true });
  fs.writeFileSync(path.join(backend, 'package.json'), JSON.stringify({
    name: 'backend',
    version: '0.1.20',
    private: true,
    dependencies: { [PKG.name]: PKG.version },
  }, null, 2) + '\n');
  // The backend's compiler options (SPEC 1), no more: no rootDir, no include.
  fs.writeFileSync(path.join(backend, 'tsconfig.json'), JSON.stringify({
    compilerOptions: { module: 'commonjs', target: 'ES2022', strictNullChecks: true, noImplicitAny: true, outDir: './dist' },
  }, null, 2) + '\n');
  // A stand-in for Prisma's config, which sits at the backend's root and so
  // makes tsc emit src/... as dist/src/... (Prisma itself is not installed).
  fs.writeFileSync(path.join(backend, 'prisma.config.ts'), "export default { schema: 'prisma/schema.prisma' };\n");
  fs.copyFileSync(SHIM_SOURCE, path.join(backend, 'src', 'scripts', 'rotate-encryption-key.ts'));
  return backend;
}

/** The backend's devDependency @types/node, from this repository's node_modules (the registry serves only keyrotate). */
function addNodeTypes(backend) {
  for (const pkg of ['@types/node', 'undici-types']) {
    fs.cpSync(path.join(ROOT, 'node_modules', pkg), path.join(backend, 'node_modules', pkg), { recursive: true });
  }
}

function installedKeyrotatePackages(backend) {
  return fs.readdirSync(path.join(backend, 'node_modules', '@anythingmcp')).sort();
}

const PROBE = `
  const k = require('@anythingmcp/keyrotate');
  const key = process.env.PROBE_KEY;
  console.log(JSON.stringify({ node: process.version, arch: process.arch,
    glibc: process.report.getReport().header.glibcVersionRuntime ?? null,
    loaded: Object.keys(require.cache).filter((f) => f.endsWith('.node')),
    fp: k.keyFingerprint(key) }));
`;

/**
 * From `app` (the image's WORKDIR /app), with `node`: the platform binary
 * that loads, keyFingerprint, then the CLI at backend/dist/src/scripts
 * rotating a seeded database, and verify. Asserts each result.
 */
async function assertBackendWorks({ node, app, platform, tag }) {
  const backend = path.join(app, 'backend');
  const key = generateKey();
  const probe = JSON.parse(ok(node(['-e', PROBE], { cwd: backend, env: { PATH: rustless, PROBE_KEY: key } }), `${tag}: require + keyFingerprint`).stdout);
  assert.deepEqual(probe.loaded, [path.join(backend, 'node_modules', '@anythingmcp', `keyrotate-${platform}`, `keyrotate.${platform}.node`)]);
  assert.equal(probe.fp, JSON.parse(run(process.execPath, ['-e', "console.log(JSON.stringify(require('./index.js').keyFingerprint(process.env.K)))"], { env: { K: key } }).stdout));

  const OLD = generateKey();
  const NEW = generateKey();
  const db = await seededDatabase(OLD, tag.replace(/\W/g, ''));
  const env = { PATH: rustless, DATABASE_URL: db.url, OLD_ENCRYPTION_KEY: OLD, NEW_ENCRYPTION_KEY: NEW, ENCRYPTION_KEY: '' };
  const rotated = ok(node([CLI, '--yes', '--json'], { cwd: app, env }), `${tag}: CLI rotate`);
  assert.equal(JSON.parse(rotated.stdout).rowsReencrypted, db.want.rowsReencrypted);
  await assertSealedOpenWith(db, NEW);
  const verified = ok(node([CLI, 'verify', '--json'], { cwd: app, env: { ...env, ENCRYPTION_KEY: NEW } }), `${tag}: CLI verify`);
  assert.equal(JSON.parse(verified.stdout).ok, true);
  for (const out of [rotated, verified]) {
    for (const secret of [OLD, NEW, OLD.slice(0, 32), NEW.slice(0, 32)]) {
      assert.ok(!out.stdout.includes(secret) && !out.stderr.includes(secret), `${tag}: a key in the CLI's output`);
    }
  }
  return probe;
}

describe('installed from the registry, with no Rust on PATH', () => {
  let glibcApp;

  test('no Rust toolchain on the installs\' PATH', () => {
    assert.notEqual(run('sh', ['-c', 'command -v cargo || command -v rustc || command -v rustup'], { env: { PATH: rustless } }).status, 0);
  });

  test('glibc Node: npm install picks linux-x64-gnu; the backend\'s tsconfig compiles the shim to dist/src/scripts; the CLI rotates', async () => {
    glibcApp = tmpDir('glibc-app');
    const backend = backendFixture(glibcApp);
    ok(run('npm', ['install'], { cwd: backend, env: { ...registry.env, PATH: rustless }, timeout: 300_000 }), 'npm install (glibc)');
    assert.deepEqual(installedKeyrotatePackages(backend), ['keyrotate', 'keyrotate-linux-x64-gnu']);
    // The lockfile records every platform package the registry has, each
    // optional and with its os/cpu/libc, so `npm ci` elsewhere can pick its own.
    const lock = JSON.parse(fs.readFileSync(path.join(backend, 'package-lock.json'), 'utf8'));
    for (const platform of BUILT) {
      const entry = lock.packages[`node_modules/@anythingmcp/keyrotate-${platform}`];
      const { platform: os_, arch, abi } = TARGETS.find((t) => t.platformArchABI === platform);
      assert.deepEqual({ optional: entry?.optional, os: entry?.os, cpu: entry?.cpu, libc: entry?.libc },
        { optional: true, os: [os_], cpu: [arch], libc: [abi === 'gnu' ? 'glibc' : 'musl'] }, platform);
    }

    addNodeTypes(backend);
    ok(run(process.execPath, [TSC, '-p', 'tsconfig.json'], { cwd: backend, env: { PATH: rustless } }), 'tsc -p (the backend\'s build)');
    assert.ok(fs.existsSync(path.join(glibcApp, CLI)), `${CLI} not emitted`);
    assert.ok(fs.existsSync(path.join(backend, 'dist', 'prisma.config.js')));
    const probe = await assertBackendWorks({ node: (args, opts) => run(process.execPath, args, opts), app: glibcApp, platform: 'linux-x64-gnu', tag: 'glibc' });
    assert.notEqual(probe.glibc, null);
  });

  test('musl Node, as the upstream image builds: npm ci from the glibc lockfile picks linux-x64-musl; tsc; npm install --omit=dev; the CLI rotates', async (t) => {
    const node = muslNode({ fetch: true });
    assert.equal(node.missing, undefined, node.missing);
    // The loader and npm must see musl as on Alpine, through /usr/bin/ldd and
    // the process report, not be told.
    assert.equal(node.alpine, true, 'no mount namespace for an Alpine /usr/bin/ldd (needs root and unshare)');
    assert.ok(glibcApp, 'the glibc install ran first');

    // Builder stage: the backend's sources and the lockfile a developer's
    // glibc machine committed, `npm ci`, the backend's build.
    const builder = path.join(tmpDir('musl-builder'), 'backend');
    fs.cpSync(path.join(glibcApp, 'backend'), builder, { recursive: true, filter: (src) => !/[/\\](node_modules|dist)$/.test(src) });
    ok(node.npm(['ci'], { cwd: builder, env: { ...registry.env, PATH: rustless }, timeout: 300_000 }), 'npm ci (musl)');
    assert.deepEqual(installedKeyrotatePackages(builder), ['keyrotate', 'keyrotate-linux-x64-musl']);
    addNodeTypes(builder);
    ok(node.run([TSC, '-p', 'tsconfig.json'], { cwd: builder, env: { PATH: rustless } }), 'tsc -p under musl Node');

    // Runner stage: WORKDIR /app, the backend's dist, and its production
    // node_modules from `npm install --omit=dev`.
    const app = tmpDir('musl-app');
    const runner = path.join(app, 'backend');
    fs.mkdirSync(runner);
    for (const f of ['package.json', 'package-lock.json', 'dist']) fs.cpSync(path.join(builder, f), path.join(runner, f), { recursive: true });
    ok(node.npm(['install', '--omit=dev'], { cwd: runner, env: { ...registry.env, PATH: rustless }, timeout: 300_000 }), 'npm install --omit=dev (musl)');
    assert.deepEqual(installedKeyrotatePackages(runner), ['keyrotate', 'keyrotate-linux-x64-musl']);
    const probe = await assertBackendWorks({ node: node.run, app, platform: 'linux-x64-musl', tag: 'musl' });
    assert.equal(probe.glibc, null);
    assert.match(probe.node, /^v22\./);
    t.diagnostic(`musl Node ${probe.node}: npm and the loader detected musl themselves (Alpine /usr/bin/ldd)`);
  });

  if (FULL) {
    for (const libc of ['gnu', 'musl']) {
      const platform = `linux-arm64-${libc}`;
      test(`aarch64 ${libc === 'gnu' ? 'glibc' : 'musl'} Node under qemu: npm install picks ${platform}; keyFingerprint and the CLI run`, async (t) => {
        const node = arm64Node(libc, { fetch: true });
        assert.equal(node.missing, undefined, node.missing);
        assert.ok(glibcApp, 'the glibc install ran first');
        const app = tmpDir(`arm64-${libc}-app`);
        const backend = path.join(app, 'backend');
        fs.mkdirSync(backend);
        // The compiled shim is plain JavaScript: the glibc build's dist serves.
        for (const f of ['package.json', 'dist']) fs.cpSync(path.join(glibcApp, 'backend', f), path.join(backend, f), { recursive: true });
        ok(node.npm(['install', '--omit=dev'], { cwd: backend, env: { ...registry.env, PATH: rustless }, timeout: 900_000 }), `npm install (${node.name})`);
        assert.deepEqual(installedKeyrotatePackages(backend), ['keyrotate', `keyrotate-${platform}`]);
        const probe = await assertBackendWorks({ node: node.run, app, platform, tag: `arm64${libc}` });
        assert.equal(probe.arch, 'arm64');
        assert.equal(probe.glibc === null, libc === 'musl');
        t.diagnostic(`${node.name} Node ${probe.node} under qemu-aarch64-static`);
      });
    }
  }
});
