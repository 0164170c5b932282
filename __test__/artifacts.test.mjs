// The napi-rs-style distribution, tested as AnythingMCP will consume it:
// - npm/<platform>/ holds the six platform packages exactly as napi-rs
//   generates them (os, cpu, libc), at the main package's version;
// - `npm run artifacts` (scripts/artifacts.sh) builds the binaries: each Linux
//   one is a shared object of its architecture for its C library, each darwin
//   one a Mach-O dylib for its architecture and macOS 11 that links only
//   /usr/lib and leaves N-API to the loading Node (no Mac runs here to load it);
// - every built platform package and the main package are published to a
//   private registry (verdaccio on 127.0.0.1), from which, with no Rust on
//   PATH, `npm install @anythingmcp/keyrotate` into a backend laid out like
//   AnythingMCP's packages/backend installs exactly the right platform
//   package; the backend's own tsconfig compiles the shim to
//   dist/src/scripts/, and that CLI rotates a real database: in glibc Node,
//   and in musl Node the way the upstream image builds (npm ci from the
//   lockfile a glibc machine wrote, tsc, `npm install --omit=dev`);
// - where no binary loads (a platform keyrotate does not ship for, an
//   install without optional packages, a binary that is not one), the
//   package still loads, a boot with no key change goes on, and the first
//   native call says which of these it is;
// - no way of publishing this directory works but `npm run release`, which
//   publishes every platform package and then the main package (finishing a
//   release that stopped partway), or, with a binary missing, nothing.
//
// By default (what .ci/run runs) the x64 gnu and musl packages are packed,
// published and installed; `npm run artifacts` cross-builds the musl one,
// the binary the upstream image installs, and the gnu package carries the
// development build scripts/setup.sh made (the same code, linked against
// this machine's glibc rather than 2.17), which spares CI a second release
// build. KEYROTATE_ARTIFACTS=all (`npm run test:artifacts`) cross-builds all
// six packages, checks the gnu ones need no glibc after 2.17 and the darwin
// ones' Mach-O structure, packs a full release (no --allow-missing), and
// also installs and runs the arm64 Linux ones in aarch64 Node 22 for glibc
// and musl under qemu-user.

import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { parseTriple } from '@napi-rs/cli';

import { generateKey } from './helpers/anythingmcp/crypto.mjs';
import { ROOT, TSC, debianPackages, ok, run } from './helpers/run/commands.mjs';
import { arm64Node, muslNode } from './helpers/run/foreign-node.mjs';
import { assertSealedOpenWith, closeDatabases, seededDatabase } from './helpers/run/packaging.mjs';
import { startRegistry } from './helpers/run/registry.mjs';

const PKG = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8'));
const FULL = process.env.KEYROTATE_ARTIFACTS === 'all';
const TARGETS = PKG.napi.targets.map((t) => parseTriple(t));
const BUILT = FULL ? TARGETS.map((t) => t.platformArchABI) : ['linux-x64-gnu', 'linux-x64-musl'];
// Without FULL, the gnu package is the development build, copied in.
const CROSS_BUILT = FULL ? BUILT : ['linux-x64-musl'];
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
  // In full mode this is the release itself: all six, nothing allowed missing.
  const subset = FULL ? [] : ['--allow-missing', '--platforms', BUILT.join(',')];
  const packed = ok(run(process.execPath, [path.join(ROOT, 'scripts', 'pack-release.mjs'), '--out', out, ...subset], { timeout: 300_000 }), 'pack-release');
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

  for (const platform of BUILT.filter((p) => p.startsWith('linux-'))) {
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

  for (const platform of BUILT.filter((p) => p.startsWith('darwin-'))) {
    const { arch } = TARGETS.find((t) => t.platformArchABI === platform);
    test(`${platform}: npm run artifacts built, on Linux, an ${arch} Mach-O dylib for macOS 11 that links only /usr/lib and takes N-API from the Node that loads it`, () => {
      const missing = debianPackages(['llvm']);
      assert.equal(missing, null, missing);
      const file = binaryOf(platform);
      const objdump = (...flags) => ok(run('llvm-objdump', ['--macho', ...flags, file]), `llvm-objdump ${flags.join(' ')}`).stdout;
      const headers = objdump('--private-headers');
      assert.match(headers, new RegExp(`^\\s*MH_MAGIC_64\\s+${arch === 'arm64' ? 'ARM64' : 'X86_64'}\\s+\\S+\\s+\\S+\\s+DYLIB\\s`, 'm'));
      // Node 22's own floor: a binary built for a newer macOS would not load on every Mac Node 22 runs on.
      assert.match(headers, /cmd LC_BUILD_VERSION\n.*\n\s*platform macos\n.*\n\s*minos 11\.0\n/);
      // Named for where npm puts it, not for a path of the machine that built it.
      assert.deepEqual(objdump('--dylib-id').trim().split('\n').slice(1), [`@rpath/keyrotate.${platform}.node`]);
      // Apple silicon runs only signed code: the linker's ad-hoc signature.
      if (arch === 'arm64') assert.match(headers, /cmd LC_CODE_SIGNATURE\n/);
      const linked = objdump('--dylibs-used').trim().split('\n').slice(1).map((l) => l.trim().split(' ')[0]).filter((l) => !l.startsWith('@rpath/'));
      // macOS's C library and the two it links for Rust's std: no framework (those are in /System), nothing of this machine.
      assert.deepEqual(linked.sort(), ['/usr/lib/libSystem.B.dylib', '/usr/lib/libcharset.1.dylib', '/usr/lib/libiconv.2.dylib']);

      const defined = ok(run('llvm-nm', ['--extern-only', '--defined-only', file]), 'llvm-nm -gU').stdout;
      assert.match(defined, /^[0-9a-f]+ T _napi_register_module_v1$/m);
      const undefinedNapi = ok(run('llvm-nm', ['--undefined-only', file]), 'llvm-nm -u').stdout.split('\n').map((l) => l.trim()).filter((l) => l.startsWith('_napi_'));
      assert.ok(undefinedNapi.length >= 20, `only ${undefinedNapi.length} _napi_ symbols left to the loader`);
      // Bound by name in whatever image defines it (-undefined dynamic_lookup), not to a library: N-API lives in the node executable.
      const binds = objdump('--bind', '--lazy-bind', '--weak-bind');
      const flat = new Set([...binds.matchAll(/\sflat-namespace\s+(_napi_\w+)$/gm)].map((m) => m[1]));
      assert.deepEqual(undefinedNapi.filter((s) => !flat.has(s)), [], 'N-API symbols not bound for dynamic lookup');
    });
  }

  test('the registry has every built platform package and the main package, which lists all six at its exact version and ships no binary', async () => {
    const view = (name) => JSON.parse(ok(run('npm', ['view', name, '--json'], { cwd: tmpRoot, env: registry.env }), `npm view ${name}`).stdout);
    const main = view(PKG.name);
    assert.equal(main.version, PKG.version);
    assert.deepEqual(main.optionalDependencies, Object.fromEntries(TARGETS.map((t) => [`@anythingmcp/keyrotate-${t.platformArchABI}`, PKG.version])));
    assert.equal(main.dependencies, undefined);
    // Nothing only this repository uses; `private` least of all.
    for (const field of ['private', 'scripts', 'devDependencies', 'workspaces']) assert.equal(main[field], undefined, field);
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
    // The API, its loader and types, the boot hook and the CLI: no binary, no sources, no tests.
    const cli = fs.readdirSync(path.join(ROOT, 'cli')).filter((f) => f !== 'tsconfig.json').map((f) => `package/cli/${f}`);
    assert.deepEqual(contents(PKG.name), ['package/README.md', 'package/adopt.js', 'package/binding.d.ts', 'package/binding.js', ...cli,
      'package/index.d.ts', 'package/index.js', 'package/locations.json', 'package/package.json'].sort());
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
  // The backend's own compiler options (its tsconfig.json), no more: no rootDir, no include.
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
  // The first native call loads the binary.
  const fp = k.keyFingerprint(key);
  console.log(JSON.stringify({ node: process.version, arch: process.arch,
    glibc: process.report.getReport().header.glibcVersionRuntime ?? null,
    loaded: Object.keys(require.cache).filter((f) => f.endsWith('.node')), fp }));
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
  assert.equal(JSON.parse(rotated.stdout).report.rowsReencrypted, db.want.rowsReencrypted);
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

let glibcApp;

describe('installed from the registry, with no Rust on PATH', () => {
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
        { optional: true, os: [os_], cpu: [arch], libc: abi ? [abi === 'gnu' ? 'glibc' : 'musl'] : undefined }, platform);
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

// ------------------------------------------------------------------ no binary

/** What the package does with no binary for the platform it finds itself on. */
const NO_BINARY_PROBE = `
  (async () => {
    const k = require('@anythingmcp/keyrotate');
    const outcome = (f) => { try { const v = f(); return v instanceof Promise ? v.then(() => 'resolved', (e) => e) : 'returned'; } catch (e) { return e; } };
    const described = async (f) => { const e = await outcome(f); return typeof e === 'string' ? e : { code: e.code, message: e.message, hint: e.hint, isKeyrotateError: e instanceof k.KeyrotateError }; };
    const lines = [];
    const env = { ENCRYPTION_KEY: process.env.OLD };
    const boot = await k.adoptNextEncryptionKey(env, { log: (l) => lines.push(l) });
    const nextEnv = { ENCRYPTION_KEY: process.env.OLD, ENCRYPTION_KEY_NEXT: process.env.NEW, DATABASE_URL: process.env.DATABASE_URL };
    const bootWithNext = await described(() => k.adoptNextEncryptionKey(nextEnv, { log: (l) => lines.push(l) }));
    console.log(JSON.stringify({
      boot, bootWithNext, keyAfterRefusal: nextEnv.ENCRYPTION_KEY === process.env.OLD, lines,
      generateKey: await described(() => k.generateKey()),
      keyFingerprint: await described(() => k.keyFingerprint(process.env.OLD)),
      rotate: await described(() => k.rotateEncryptionKey(process.env.OLD, process.env.NEW, process.env.DATABASE_URL)),
      verify: await described(() => k.verifyEncryptionKey(process.env.NEW, process.env.DATABASE_URL)),
      loaded: Object.keys(require.cache).filter((f) => f.endsWith('.node')),
    }));
  })();
`;

const escapeRegExp = (text) => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

function assertNoBinary(probe, platform, { message, hint }) {
  // Importing it and a boot with no key change asked for: the app starts.
  assert.deepEqual(probe.boot, { action: 'none' });
  assert.deepEqual(probe.loaded, []);
  for (const call of ['bootWithNext', 'generateKey', 'keyFingerprint', 'rotate', 'verify']) {
    const e = probe[call];
    assert.equal(e.code, 'ERR_NO_BINARY', `${call}: ${JSON.stringify(e)}`);
    assert.equal(e.isKeyrotateError, true, call);
    assert.match(e.message, message, call);
    assert.match(e.hint, hint, call);
    assert.match(e.hint, /Nothing was touched\.$/, call);
  }
  // A boot asked to change keys with no binary must not start, on the old key.
  assert.equal(probe.keyAfterRefusal, true);
  assert.equal(probe.lines.length, 1);
  assert.match(probe.lines[0], /refused to adopt ENCRYPTION_KEY_NEXT \[ERR_NO_BINARY\].*the app must not start/);
}

describe('a platform without a binary', () => {
  const freebsd = `freebsd-${process.arch}`;
  const here = `linux-${process.arch}-gnu`;

  test(`on a platform keyrotate ships nothing for (process.platform made freebsd before load): the package imports, a boot with no key change starts, every native call fails with ERR_NO_BINARY naming ${freebsd} and the platforms it ships for, and the CLI exits 1 with the database untouched`, async () => {
    assert.ok(glibcApp, 'the glibc install ran first');
    const backend = path.join(glibcApp, 'backend');
    const preload = path.join(tmpDir('fake-platform'), 'freebsd.cjs');
    fs.writeFileSync(preload, "Object.defineProperty(process, 'platform', { value: 'freebsd', enumerable: true });\n");
    const OLD = generateKey();
    const NEW = generateKey();
    const db = await seededDatabase(OLD, 'nobinary');
    const env = { PATH: rustless, OLD, NEW, DATABASE_URL: db.url };
    const probed = ok(run(process.execPath, ['--require', preload, '-e', NO_BINARY_PROBE], { cwd: backend, env }), 'the probe on freebsd');
    assertNoBinary(JSON.parse(probed.stdout), freebsd, {
      message: new RegExp(`^keyrotate has no native binary for this platform \\(${freebsd}\\)$`),
      // Every napi.targets platform, and only those.
      hint: new RegExp(`^keyrotate ships binaries for ${TARGETS.map((t) => t.platformArchABI).join(', ')} only: `),
    });

    const cliEnv = { PATH: rustless, DATABASE_URL: db.url, OLD_ENCRYPTION_KEY: OLD, NEW_ENCRYPTION_KEY: NEW, ENCRYPTION_KEY: '' };
    const cli = run(process.execPath, ['--require', preload, CLI, '--yes', '--json'], { cwd: glibcApp, env: cliEnv });
    assert.equal(cli.status, 1, cli.stderr);
    const doc = JSON.parse(cli.stdout);
    assert.equal(doc.ok, false);
    assert.equal(doc.error.code, 'ERR_NO_BINARY');
    assert.ok(doc.error.message.includes(`(${freebsd})`), doc.error.message);
    const human = run(process.execPath, ['--require', preload, CLI, '--yes'], { cwd: glibcApp, env: cliEnv });
    assert.equal(human.status, 1);
    assert.ok(human.stderr.includes(`no native binary for this platform (${freebsd})`), human.stderr);
    assert.match(human.stderr, /keyrotate ships binaries for linux-x64-gnu, /);
    for (const out of [probed, cli, human]) {
      for (const secret of [OLD, NEW]) assert.ok(!out.stdout.includes(secret) && !out.stderr.includes(secret), 'a key in the output');
    }
    await assertSealedOpenWith(db, OLD);
  });

  test(`installed with --omit=optional on this very platform: only the main package is there, and the error names ${here} and the package npm left out; a binary there that does not load is named as that, with the loader's reason`, async () => {
    const backend = backendFixture(tmpDir('omit-optional-app'));
    ok(run('npm', ['install', '--omit=optional'], { cwd: backend, env: { ...registry.env, PATH: rustless }, timeout: 300_000 }), 'npm install --omit=optional');
    assert.deepEqual(installedKeyrotatePackages(backend), ['keyrotate']);
    const OLD = generateKey();
    const NEW = generateKey();
    const db = await seededDatabase(OLD, 'omitoptional');
    const env = { PATH: rustless, OLD, NEW, DATABASE_URL: db.url };
    const probe = JSON.parse(ok(run(process.execPath, ['-e', NO_BINARY_PROBE], { cwd: backend, env }), 'the probe').stdout);
    assertNoBinary(probe, here, {
      message: new RegExp(`^keyrotate has no native binary for this platform \\(${here}\\)$`),
      hint: new RegExp(`^npm did not install the optional package @anythingmcp/keyrotate-${here}, which holds it`),
    });

    // The loader's first place to look: a file beside it that is not a shared object.
    const broken = path.join(backend, 'node_modules', '@anythingmcp', 'keyrotate', `keyrotate.${here}.node`);
    fs.writeFileSync(broken, 'not a shared object\n');
    const loadFailed = JSON.parse(ok(run(process.execPath, ['-e', NO_BINARY_PROBE], { cwd: backend, env }), 'the probe, a broken binary').stdout);
    assertNoBinary(loadFailed, here, {
      message: new RegExp(`^keyrotate's native binary for this platform \\(${here}\\) is installed but did not load: ${escapeRegExp(broken)}: (file too short|invalid ELF header)$`),
      hint: new RegExp(`^The binary is ${escapeRegExp(broken)}\\. Reinstall`),
    });
    await assertSealedOpenWith(db, OLD);
  });
});

// ------------------------------------------------------------------ publishing

describe('publishing', () => {
  const view = (reg, name) => run('npm', ['view', name, 'version'], { cwd: tmpRoot, env: reg.env });

  test('no other way of publishing this directory works: npm publish (refused before anything is packed, naming the release command), npm publish --ignore-scripts, npm pack then npm publish of its tarball; the registry gets nothing', async () => {
    const fresh = await startRegistry(tmpDir('guard-registry'));
    try {
      const published = run('npm', ['publish'], { cwd: ROOT, env: fresh.env, timeout: 120_000 });
      assert.notEqual(published.status, 0);
      assert.match(published.stderr, /npm publish from this directory is refused/);
      assert.match(published.stderr, /npm run artifacts && npm run release/);
      // Without the guard script, npm itself refuses a private package.
      const unscripted = run('npm', ['publish', '--ignore-scripts'], { cwd: ROOT, env: fresh.env, timeout: 120_000 });
      assert.notEqual(unscripted.status, 0);
      assert.match(unscripted.stderr, /EPRIVATE/);
      const packDir = tmpDir('guard-pack');
      const packed = JSON.parse(ok(run('npm', ['pack', '--json', '--pack-destination', packDir], { cwd: ROOT, env: fresh.env }), 'npm pack').stdout)[0];
      const tarball = run('npm', ['publish', path.join(packDir, packed.filename)], { cwd: tmpRoot, env: fresh.env, timeout: 120_000 });
      assert.notEqual(tarball.status, 0);
      assert.match(tarball.stderr, /EPRIVATE/);
      assert.match(view(fresh, PKG.name).stderr, /E404/);
    } finally {
      await fresh.stop();
    }
  });

  test('npm run release publishes all six platform packages and then the main package, finishing a release that stopped partway, or, with any binary missing, nothing', async () => {
    const have = TARGETS.map((t) => t.platformArchABI).filter((p) => fs.existsSync(binaryOf(p)));
    if (FULL) assert.equal(have.length, 6, 'full mode built all six');
    const fresh = await startRegistry(tmpDir('release-registry'));
    try {
      const names = [...TARGETS.map((t) => `@anythingmcp/keyrotate-${t.platformArchABI}`), PKG.name];
      const release = () => run('npm', ['run', 'release', '--', '--registry', fresh.url], { cwd: ROOT, env: fresh.env, timeout: 600_000 });
      const publishedBy = (r) => [...r.stderr.matchAll(/^release: npm publish (\S+)@/gm)].map((m) => m[1]);
      const skippedBy = (r) => [...r.stderr.matchAll(/^release: (\S+)@\S+ is already published with these contents: skipped$/gm)].map((m) => m[1]);
      if (have.length === 6) {
        // As if an earlier release had stopped after its first package: the
        // same tarball the test published above (npm pack is reproducible).
        const first = released.find((r) => r.name === names[0]);
        ok(run('npm', ['publish', path.join(tmpRoot, 'release', first.file)], { cwd: tmpRoot, env: fresh.env, timeout: 120_000 }), 'npm publish (the first package)');
        const resumed = ok(release(), 'npm run release');
        assert.deepEqual(skippedBy(resumed), names.slice(0, 1));
        assert.deepEqual(publishedBy(resumed), names.slice(1));
        for (const name of names) assert.equal(view(fresh, name).stdout.trim(), PKG.version, name);
        const again = ok(release(), 'npm run release, again');
        assert.deepEqual(skippedBy(again), names);
        assert.deepEqual(publishedBy(again), []);
      } else {
        const released_ = release();
        assert.notEqual(released_.status, 0);
        const missing = TARGETS.map((t) => t.platformArchABI).filter((p) => !have.includes(p));
        const said = released_.stderr.match(/no binary for (.*): npm run artifacts/)?.[1] ?? '';
        assert.deepEqual(said.split(', ').map((m) => m.split(' ')[0]), missing, released_.stderr);
        assert.match(released_.stderr, /nothing was published/);
        for (const name of names) assert.match(view(fresh, name).stderr, /E404/, name);
      }
    } finally {
      await fresh.stop();
    }
  });
});
