// Packaging: what AnythingMCP installs and runs, tested as it will be used.
// (The platform packages, their cross builds and a registry install are
// __test__/artifacts.test.mjs.)
// - The generated loader (binding.js), committed as napi build generates it,
//   picks the right local file or platform package for every napi.targets
//   entry, with musl told apart from glibc as on Alpine.
// - `npm pack` makes a main package without binaries that, with the host's
//   platform package beside it, installs in another directory, offline, and
//   rotates a real database from there; the CLI shim runs from the Docker
//   stage's layout.
// - The backend's admin code compiles against the packed index.d.ts with
//   `strict` (and wrong calls do not), then runs.
// - The Dockerfile's build commands (scripts/docker-build-steps.sh) run here,
//   outside Docker: for the host (glibc) and, where the Rust target and
//   musl-gcc are installed, for x86_64 musl, whose binary then loads in a real
//   musl build of Node 22 when one is available (helpers/run/foreign-node.mjs).
// - .dockerignore lets in exactly what that build needs.

import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import vm from 'node:vm';
import { after, before, describe, test } from 'node:test';

import { generateKey } from './helpers/anythingmcp/crypto.mjs';
import { ROOT, TSC, debianPackages, hostTriple, ok, run } from './helpers/run/commands.mjs';
import { muslLdd, muslNode } from './helpers/run/foreign-node.mjs';
import { assertSealedOpenWith, closeDatabases, seededDatabase } from './helpers/run/packaging.mjs';

const require = createRequire(import.meta.url);
const PKG = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8'));
const SHIM = path.join('packages', 'backend', 'dist', 'scripts', 'rotate-encryption-key.js');
/** Where the command is in the image, whether AnythingMCP's build or the Docker stage put it there. */
const IMAGE_SHIM = path.join('backend', 'dist', 'src', 'scripts', 'rotate-encryption-key.js');
const BUILD_STEPS = path.join(ROOT, 'scripts', 'docker-build-steps.sh');
const MUSL_TARGET = 'x86_64-unknown-linux-musl';

const { parseTriple } = await import('@napi-rs/cli');

const tmpRoot = fs.mkdtempSync(path.join(os.tmpdir(), 'keyrotate-packaging-'));
after(async () => {
  await closeDatabases();
  fs.rmSync(tmpRoot, { recursive: true, force: true });
});

function tmpDir(name) {
  const dir = path.join(tmpRoot, name);
  fs.mkdirSync(dir, { recursive: true });
  return dir;
}

// ------------------------------------------------------------------ loader

// /usr/bin/ldd as each C library ships it: glibc's is a bash script naming
// the GNU C Library; Alpine's (musl-utils) execs the musl dynamic loader.
const GLIBC_LDD = '#!/bin/bash\n# Copyright (C) 1996-2022 Free Software Foundation, Inc.\n# This file is part of the GNU C Library.\nTEXTDOMAIN=libc\n';

/**
 * Evaluate binding.js as Node would, but with a fake `process` (platform,
 * arch, report), fake `fs`/`child_process` for the musl checks, and a fake
 * `require` in which only the local files and platform packages in `present`
 * exist. `attempts` lists every binary tried, in order.
 */
function simulateLoader({ platform, arch, ldd = null, report, lddVersion = null, present = [] }) {
  const source = fs.readFileSync(path.join(ROOT, 'binding.js'), 'utf8');
  const attempts = [];
  const notFound = (id) => Object.assign(new Error(`Cannot find module '${id}'`), { code: 'MODULE_NOT_FOUND' });
  const fakeRequire = (id) => {
    if (id === 'fs') {
      return {
        readFileSync(file) {
          if (file === '/usr/bin/ldd' && ldd !== null) return ldd;
          throw Object.assign(new Error(`ENOENT: ${file}`), { code: 'ENOENT' });
        },
      };
    }
    if (id === 'child_process') {
      return {
        execSync() {
          if (lddVersion !== null) return lddVersion;
          throw new Error('/bin/sh: ldd: not found');
        },
      };
    }
    const manifestOf = id.match(/^(@anythingmcp\/keyrotate-[a-z0-9-]+)\/package\.json$/)?.[1];
    if (manifestOf) {
      if (present.includes(manifestOf)) return { version: PKG.version };
      throw notFound(id);
    }
    attempts.push(id);
    if (present.includes(id)) return { loadedFrom: id };
    throw notFound(id);
  };
  fakeRequire.resolve = (id) => {
    throw notFound(id);
  };
  const fakeProcess = {
    platform,
    arch,
    env: {},
    versions: process.versions,
    report: report === undefined ? undefined : { getReport: () => report },
  };
  const module = { exports: {} };
  const wrapper = vm.runInThisContext(`(function (exports, require, module, __filename, __dirname, process) {${source}\n})`, {
    filename: path.join(ROOT, 'binding.js'),
  });
  let error = null;
  try {
    wrapper(module.exports, fakeRequire, module, path.join(ROOT, 'binding.js'), ROOT, fakeProcess);
  } catch (e) {
    error = e;
  }
  return { exports: module.exports, attempts, error };
}

describe('loader (binding.js) resolves the binary of every napi.targets entry: a local file, else its platform package', () => {
  const targets = PKG.napi.targets;

  test('napi.targets is linux x64/arm64 gnu and musl plus macOS x64/arm64, named as the build script names them', () => {
    assert.deepEqual(
      [...targets].sort(),
      [
        'aarch64-apple-darwin',
        'aarch64-unknown-linux-gnu',
        'aarch64-unknown-linux-musl',
        'x86_64-apple-darwin',
        'x86_64-unknown-linux-gnu',
        'x86_64-unknown-linux-musl',
      ],
    );
    assert.equal(PKG.napi.binaryName, 'keyrotate');
    // docker-build-steps.sh maps triples to file names itself; it must agree with napi-rs.
    const script = fs.readFileSync(BUILD_STEPS, 'utf8');
    for (const triple of targets) {
      const { platformArchABI } = parseTriple(triple);
      assert.match(script, new RegExp(`^\\s*${triple}\\) PLATFORM=${platformArchABI} ;;$`, 'm'), triple);
    }
  });

  for (const triple of targets) {
    const { platform, arch, abi, platformArchABI } = parseTriple(triple);
    const file = `./${PKG.napi.binaryName}.${platformArchABI}.node`;
    const pkg = `${PKG.name}-${platformArchABI}`;

    if (platform === 'linux') {
      const otherAbi = platformArchABI.replace(abi, abi === 'musl' ? 'gnu' : 'musl');
      const otherFile = `./${PKG.napi.binaryName}.${otherAbi}.node`;
      const otherPkg = `${PKG.name}-${otherAbi}`;
      const systems = abi === 'musl'
        ? {
            'Alpine: /usr/bin/ldd runs the musl loader': { ldd: muslLdd(arch) },
            'no ldd; the process report lists ld-musl': { report: { header: {}, sharedObjects: [`/lib/ld-musl-${arch === 'arm64' ? 'aarch64' : 'x86_64'}.so.1`] } },
            'no ldd, no report; `ldd --version` says musl': { lddVersion: 'musl libc (x86_64)\nVersion 1.2.5\n' },
          }
        : {
            'glibc: /usr/bin/ldd is the GNU C Library script': { ldd: GLIBC_LDD },
            'no ldd; the process report has glibcVersionRuntime': { report: { header: { glibcVersionRuntime: '2.36' }, sharedObjects: ['/lib/x86_64-linux-gnu/libc.so.6'] } },
          };
      for (const [system, fakes] of Object.entries(systems)) {
        test(`${triple} -> ${pkg} (${system})`, () => {
          // With the other libc's package installed too (npm --force, or a
          // node_modules copied between machines), it still takes its own.
          const r = simulateLoader({ platform, arch, ...fakes, present: [pkg, otherPkg] });
          assert.equal(r.error, null, r.error?.stack);
          assert.equal(r.exports.loadedFrom, pkg);
          assert.deepEqual(r.attempts, [file, pkg]);
        });
        test(`${triple} -> ${file} in development, before any package (${system})`, () => {
          const r = simulateLoader({ platform, arch, ...fakes, present: [file, otherFile, pkg, otherPkg] });
          assert.equal(r.error, null, r.error?.stack);
          assert.equal(r.exports.loadedFrom, file);
          assert.deepEqual(r.attempts, [file]);
        });
      }
      test(`${triple}: without ${file} or ${pkg} it fails to load rather than take the other libc's binary`, () => {
        const r = simulateLoader({ platform, arch, ...Object.values(systems)[0], present: [otherFile, otherPkg] });
        assert.match(String(r.error?.message), /Cannot find native binding/);
        assert.deepEqual(r.attempts, [file, pkg]);
      });
    } else {
      // napi-rs tries a universal macOS binary first; keyrotate ships per-arch ones.
      const universal = [`./${PKG.napi.binaryName}.darwin-universal.node`, `${PKG.name}-darwin-universal`];
      test(`${triple} -> ${pkg}`, () => {
        const r = simulateLoader({ platform, arch, present: [pkg] });
        assert.equal(r.error, null, r.error?.stack);
        assert.equal(r.exports.loadedFrom, pkg);
        assert.deepEqual(r.attempts, [...universal, file, pkg]);
      });
      test(`${triple} -> ${file} in development`, () => {
        const r = simulateLoader({ platform, arch, present: [file, pkg] });
        assert.equal(r.exports.loadedFrom, file);
        assert.deepEqual(r.attempts, [...universal, file]);
      });
    }
  }

  test('index.js names, for ERR_NO_BINARY, exactly the platforms napi.targets builds', () => {
    const source = fs.readFileSync(path.join(ROOT, 'index.js'), 'utf8');
    const listed = JSON.parse(source.match(/^const PLATFORMS = (\[.*\])$/m)[1].replace(/'/g, '"'));
    assert.deepEqual([...listed].sort(), targets.map((t) => parseTriple(t).platformArchABI).sort());
  });

  test('on this machine the real loader loads the host triple\'s file', () => {
    const { platformArchABI } = parseTriple(hostTriple());
    const binding = require('../binding.js');
    assert.equal(typeof binding.fingerprint, 'function');
    const loaded = Object.keys(require.cache).filter((f) => f.endsWith('.node')).map((f) => path.basename(f));
    assert.ok(loaded.includes(`keyrotate.${platformArchABI}.node`), loaded.join(', '));
  });
});

// ------------------------------------------------------------------ npm pack

describe('npm pack: installs and works from another directory', () => {
  const { platformArchABI: hostPlatform } = parseTriple(hostTriple());
  const hostPackage = `${PKG.name}-${hostPlatform}`;
  let packed;
  let consumer;

  before(() => {
    const dest = tmpDir('pack');
    [packed] = JSON.parse(ok(run('npm', ['pack', '--json', '--pack-destination', dest], { timeout: 60_000 }), 'npm pack').stdout);
    // The host's platform package, holding this work tree's build (the
    // registry test installs the cross-built ones).
    const platformDir = tmpDir(`npm-${hostPlatform}`);
    fs.cpSync(path.join(ROOT, 'npm', hostPlatform), platformDir, { recursive: true });
    fs.copyFileSync(path.join(ROOT, `keyrotate.${hostPlatform}.node`), path.join(platformDir, `keyrotate.${hostPlatform}.node`));
    const [platformPacked] = JSON.parse(ok(run('npm', ['pack', '--json', '--pack-destination', dest], { cwd: platformDir, timeout: 60_000 }), 'npm pack (platform)').stdout);
    consumer = tmpDir('consumer');
    fs.writeFileSync(path.join(consumer, 'package.json'), JSON.stringify({ name: 'consumer', version: '1.0.0', private: true }, null, 2));
    ok(run('npm', ['install', path.join(dest, packed.filename), path.join(dest, platformPacked.filename), '--offline', '--no-audit', '--no-fund'],
      { cwd: consumer, timeout: 60_000 }), 'npm install <tarballs>');
  });

  test('the main tarball holds the JS API, its types and the loader: no binary, no sources', () => {
    const files = packed.files.map((f) => f.path).sort();
    for (const required of ['package.json', 'index.js', 'index.d.ts', 'adopt.js', 'binding.js', 'binding.d.ts', 'cli/index.js', 'cli/index.d.ts', 'cli/output.schema.json']) {
      assert.ok(files.includes(required), `${required} missing from ${files.join(', ')}`);
    }
    for (const f of files) {
      assert.match(f, /^(package\.json|index\.js|index\.d\.ts|adopt\.js|binding\.js|binding\.d\.ts|locations\.json|cli\/[a-z]+\.js|cli\/index\.d\.ts|cli\/output\.schema\.json|README\.md|LICEN[CS]E(\.md)?)$/, `unexpected ${f}`);
    }
  });

  test('installed as real files under the consumer\'s node_modules, the binary from the platform package; keyFingerprint and generateKey work', () => {
    const installed = path.join(consumer, 'node_modules', '@anythingmcp', 'keyrotate');
    assert.equal(fs.lstatSync(installed).isSymbolicLink(), false);
    const r = ok(
      run(process.execPath, ['-e', `
        const k = require('@anythingmcp/keyrotate');
        const key = k.generateKey();
        console.log(JSON.stringify({ resolved: require.resolve('@anythingmcp/keyrotate'), key, fp: k.keyFingerprint(key),
          loaded: Object.keys(require.cache).filter((f) => f.endsWith('.node')) }));
      `], { cwd: consumer }),
      'require from the consumer',
    );
    const out = JSON.parse(r.stdout);
    assert.equal(out.resolved, path.join(installed, 'index.js'));
    assert.deepEqual(out.loaded, [path.join(consumer, 'node_modules', hostPackage, `keyrotate.${hostPlatform}.node`)]);
    assert.match(out.key, /^[A-Za-z0-9+/]{64}$/);
    assert.equal(out.fp, require('../index.js').keyFingerprint(out.key));
  });

  test('rotateEncryptionKey from the installed package rotates a real database', async () => {
    const OLD = generateKey();
    const NEW = generateKey();
    const db = await seededDatabase(OLD, 'pack');
    const r = ok(
      run(process.execPath, ['-e', `
        const k = require('@anythingmcp/keyrotate');
        k.rotateEncryptionKey(process.env.OLD_KEY, process.env.NEW_KEY, process.env.DATABASE_URL)
          .then((report) => console.log(JSON.stringify(report)), (e) => { console.error(e.code, e.message); process.exit(1); });
      `], { cwd: consumer, env: { OLD_KEY: OLD, NEW_KEY: NEW, DATABASE_URL: db.url } }),
      'rotation from the consumer',
    );
    const report = JSON.parse(r.stdout);
    assert.equal(report.committed, true);
    assert.equal(report.rowsReencrypted, db.want.rowsReencrypted);
    await assertSealedOpenWith(db, NEW);
  });

  test('the CLI shim runs from the Docker image\'s layout (/app/node_modules + /app/backend/dist/src/scripts)', async () => {
    const app = consumer; // node_modules/@anythingmcp/keyrotate is already there
    fs.mkdirSync(path.join(app, path.dirname(IMAGE_SHIM)), { recursive: true });
    fs.copyFileSync(path.join(ROOT, SHIM), path.join(app, IMAGE_SHIM));
    const OLD = generateKey();
    const NEW = generateKey();
    const db = await seededDatabase(OLD, 'packcli');
    const env = { DATABASE_URL: db.url, OLD_ENCRYPTION_KEY: OLD, NEW_ENCRYPTION_KEY: NEW, ENCRYPTION_KEY: '' };
    const rotated = ok(run(process.execPath, [IMAGE_SHIM, '--yes', '--json'], { cwd: app, env }), 'CLI rotate');
    assert.equal(JSON.parse(rotated.stdout).report.rowsReencrypted, db.want.rowsReencrypted);
    const verified = ok(run(process.execPath, [IMAGE_SHIM, 'verify', '--json'], { cwd: app, env: { ...env, ENCRYPTION_KEY: NEW } }), 'CLI verify');
    assert.equal(JSON.parse(verified.stdout).report.ok, true);
    await assertSealedOpenWith(db, NEW);
  });

  describe('TypeScript: the backend\'s admin code against the packed index.d.ts', () => {
    const fixtures = path.join(ROOT, '__test__', 'fixtures');
    const tsconfig = (files, compilerOptions) => ({
      compilerOptions: {
        strict: true,
        module: 'commonjs',
        target: 'ES2022',
        lib: ['ES2022'],
        types: ['node'],
        typeRoots: [path.join(ROOT, 'node_modules', '@types')],
        // As in a NestJS project.
        experimentalDecorators: true,
        emitDecoratorMetadata: true,
        esModuleInterop: true,
        skipLibCheck: false,
        noUnusedLocals: true,
        forceConsistentCasingInFileNames: true,
        ...compilerOptions,
      },
      files,
    });

    test('admin-service.ts compiles with strict, and its service checks, verifies and maps errors', async () => {
      const src = path.join(consumer, 'src');
      fs.mkdirSync(src, { recursive: true });
      fs.copyFileSync(path.join(fixtures, 'admin-service.ts'), path.join(src, 'admin-service.ts'));
      fs.copyFileSync(path.join(fixtures, 'boot.ts'), path.join(src, 'boot.ts'));
      const config = path.join(consumer, 'tsconfig.json');
      fs.writeFileSync(config, JSON.stringify(tsconfig(['src/admin-service.ts', 'src/boot.ts'], { outDir: 'dist', rootDir: 'src' }), null, 2));
      ok(run(process.execPath, [TSC, '-p', config], { cwd: consumer }), 'tsc admin-service.ts');

      const OLD = generateKey();
      const NEW = generateKey();
      const db = await seededDatabase(OLD, 'admin');
      const r = ok(
        run(process.execPath, ['-e', `
          const { EncryptionKeyAdminService } = require('./dist/admin-service.js');
          const service = new EncryptionKeyAdminService();
          const { OLD_KEY: oldKey, NEW_KEY: newKey } = process.env;
          (async () => {
            const dry = await service.preflight({ oldKey, newKey });
            const real = await require('@anythingmcp/keyrotate').rotateEncryptionKey(oldKey, newKey, process.env.DATABASE_URL);
            const verified = await service.verify(newKey);
            const verifiedFromEnv = await (process.env.ENCRYPTION_KEY = newKey, service.verify());
            let mismatch;
            try { await service.preflight({ oldKey: require('@anythingmcp/keyrotate').generateKey(), newKey: require('@anythingmcp/keyrotate').generateKey() }); }
            catch (e) { mismatch = { status: e.getStatus(), response: e.getResponse() }; }
            let invalid;
            try { await service.preflight({ oldKey: 'short', newKey }); }
            catch (e) { invalid = { status: e.getStatus(), code: e.getResponse().code }; }
            console.log(JSON.stringify({ dry, real, verified, verifiedFromEnv, mismatch, invalid, fp: service.fingerprint(newKey) }));
          })().catch((e) => { console.error(e); process.exit(1); });
        `], { cwd: consumer, env: { OLD_KEY: OLD, NEW_KEY: NEW, DATABASE_URL: db.url, ENCRYPTION_KEY: '' } }),
        'admin service',
      );
      const out = JSON.parse(r.stdout);
      assert.equal(out.dry.summary, `${db.want.rowsReencrypted} rows would be re-encrypted across ${db.want.tables} tables`);
      assert.equal(out.dry.rowsReencrypted, db.want.rowsReencrypted);
      assert.equal(out.real.committed, true);
      assert.equal(out.real.rowsReencrypted, db.want.rowsReencrypted);
      assert.equal(out.real.summary, `${db.want.rowsReencrypted} rows re-encrypted across ${db.want.tables} tables`);
      assert.deepEqual(out.verified, { ok: true, summary: out.verified.summary, keyFingerprint: out.fp, failureCount: 0 });
      assert.equal(out.verifiedFromEnv.ok, true);
      assert.equal(out.mismatch.status, 409);
      assert.equal(out.mismatch.response.code, 'ERR_OLD_KEY_MISMATCH');
      assert.match(out.mismatch.response.hint, /ENCRYPTION_KEY the backend runs with now/);
      assert.equal(out.mismatch.response.details.kind, 'value');
      assert.deepEqual(out.invalid, { status: 400, code: 'ERR_KEY_INVALID' });
      for (const secret of [OLD, NEW, OLD.slice(0, 32), NEW.slice(0, 32)]) assert.ok(!r.stdout.includes(secret), 'a key in the output');
      await assertSealedOpenWith(db, NEW);
    });

    test('admin-service-wrong.ts fails to compile with exactly the marked errors', () => {
      const src = path.join(consumer, 'src-wrong');
      fs.mkdirSync(src, { recursive: true });
      const file = path.join(src, 'admin-service-wrong.ts');
      fs.copyFileSync(path.join(fixtures, 'admin-service-wrong.ts'), file);
      const config = path.join(consumer, 'tsconfig.wrong.json');
      fs.writeFileSync(config, JSON.stringify(tsconfig(['src-wrong/admin-service-wrong.ts'], { noEmit: true }), null, 2));
      const r = run(process.execPath, [TSC, '-p', config, '--pretty', 'false'], { cwd: consumer });
      assert.notEqual(r.status, 0, 'tsc accepted the wrong calls');
      const expected = fs
        .readFileSync(file, 'utf8')
        .split('\n')
        .map((line, i) => [i + 1, line.match(/\/\/ error (TS\d+)/)?.[1]])
        .filter(([, code]) => code)
        .map(([line, code]) => `${line} ${code}`);
      const got = [...r.stdout.matchAll(/admin-service-wrong\.ts\((\d+),\d+\): error (TS\d+)/g)].map((m) => `${m[1]} ${m[2]}`);
      assert.ok(expected.length >= 4);
      assert.deepEqual(got, expected, r.stdout);
      assert.match(r.stdout, /Argument of type 'number' is not assignable to parameter of type 'KeyInput'/);
      assert.match(r.stdout, /'dryrun' does not exist in type 'RotateOptions'/);
    });
  });
});

// ------------------------------------------------------------------ Docker build steps

describe('the Dockerfile\'s build commands, run outside Docker', () => {
  test('host target: docker-build-steps.sh builds, stages the /app layout, and the CLI runs from it', async () => {
    const out = tmpDir('steps-host-out');
    const stage = tmpDir('steps-host-stage');
    ok(run('bash', [BUILD_STEPS, '--skip-install', '--out', out, '--stage', stage], { timeout: 600_000 }), 'docker-build-steps.sh (host)');
    const { platformArchABI } = parseTriple(hostTriple());
    const pkgDir = path.join(stage, 'node_modules', '@anythingmcp', 'keyrotate');
    assert.deepEqual(fs.readdirSync(pkgDir).sort(), ['adopt.js', 'binding.d.ts', 'binding.js', 'cli', 'index.d.ts', 'index.js', `keyrotate.${platformArchABI}.node`, 'locations.json', 'package.json']);
    assert.ok(fs.existsSync(path.join(stage, IMAGE_SHIM)));
    // The loader and its types are committed, so that the main package packs
    // without a build: what napi build generates must be what git has (the
    // index, so a regenerated file counts once staged).
    for (const f of ['binding.js', 'binding.d.ts']) {
      const committed = run('git', ['show', `:${f}`]);
      assert.equal(committed.status, 0, `${f} is not committed`);
      assert.equal(fs.readFileSync(path.join(out, f), 'utf8'), committed.stdout, `${f} differs from what napi build generates: commit the regenerated ${f}`);
    }

    const fp = ok(run(process.execPath, ['-e', "const k = require('@anythingmcp/keyrotate'); console.log(k.keyFingerprint(process.env.K))"], { cwd: stage, env: { K: generateKey() } }), 'keyFingerprint in the stage');
    assert.match(fp.stdout.trim(), /^[0-9a-f]{8,}$/);
    const key = ok(run(process.execPath, [IMAGE_SHIM, 'generate-key'], { cwd: stage }), 'CLI generate-key');
    assert.match(key.stdout.trim(), /^[A-Za-z0-9+/]{64}$/);

    const db = await seededDatabase(key.stdout.trim(), 'stage');
    const verified = ok(run(process.execPath, [IMAGE_SHIM, 'verify', '--json'], { cwd: stage, env: { DATABASE_URL: db.url, ENCRYPTION_KEY: key.stdout.trim() } }), 'CLI verify');
    assert.equal(JSON.parse(verified.stdout).report.ok, true);
  });

  test('.dockerignore lets in what the build reads, and nothing built; npm ci and the manifests work from that context', () => {
    const excluded = dockerignore(fs.readFileSync(path.join(ROOT, '.dockerignore'), 'utf8'));
    for (const needed of [
      'Cargo.toml', 'Cargo.lock', 'build.rs', 'src/lib.rs', 'core/Cargo.toml', 'core/src/lib.rs', 'core/src/connection.rs',
      'package.json', 'package-lock.json', 'index.js', 'index.d.ts', 'adopt.js', 'locations.json', 'packages/backend/package.json',
      'cli/index.js', 'cli/index.d.ts', 'cli/output.schema.json', 'patches/whoami/Cargo.toml', 'patches/whoami/src/lib.rs',
      'packages/backend/tsconfig.json', 'packages/backend/src/scripts/rotate-encryption-key.ts', 'scripts/docker-build-steps.sh',
    ]) {
      assert.equal(excluded(needed), false, `${needed} must be in the build context`);
    }
    for (const built of [
      'node_modules/pg/package.json', 'target/release/libkeyrotate.so', 'core/target/x', 'packages/backend/node_modules/x/index.js',
      'keyrotate.linux-x64-gnu.node', 'src/stray.node', 'binding.js', 'binding.d.ts', 'packages/backend/dist/scripts/rotate-encryption-key.js',
      '.git/HEAD', '__test__/packaging.test.mjs', 'scripts/test.sh',
    ]) {
      assert.equal(excluded(built), true, `${built} must stay out of the build context`);
    }

    const ctx = dockerContext();
    assert.ok(fs.readdirSync(path.join(ctx, 'core', 'src')).length > 3);
    // Step 1 exactly as the script runs it (the npm cache first): the lockfile
    // is in sync with the package.json files the context has.
    ok(run('npm', ['ci', '--ignore-scripts', '--no-audit', '--no-fund', '--prefer-offline'], { cwd: ctx, timeout: 300_000 }), 'npm ci in the Docker context');
    const meta = JSON.parse(ok(run('cargo', ['metadata', '--offline', '--no-deps', '--format-version', '1'], { cwd: ctx }), 'cargo metadata in the Docker context').stdout);
    assert.deepEqual(meta.workspace_members.map((id) => meta.packages.find((p) => p.id === id).name).sort(), ['keyrotate', 'keyrotate-core', 'whoami']);
    ok(run(process.execPath, [path.join(ctx, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', 'packages/backend/tsconfig.json', '--noEmit'], { cwd: ctx }), 'tsc in the Docker context');
  });

  test('the Dockerfile runs the build script on node:22-alpine and copies its stage to /app', () => {
    const dockerfile = fs.readFileSync(path.join(ROOT, 'Dockerfile'), 'utf8');
    assert.match(dockerfile, /^ARG NODE_VERSION=22-alpine$/m);
    assert.match(dockerfile, /^FROM --platform=\$TARGETPLATFORM node:\$\{NODE_VERSION\} AS keyrotate-build$/m);
    assert.match(dockerfile, /^\s*bash scripts\/docker-build-steps\.sh --stage \/out$/m);
    assert.match(dockerfile, /^COPY --from=keyrotate-build \/out\/ \/app\/$/m);
    assert.match(dockerfile, /node backend\/dist\/src\/scripts\/rotate-encryption-key\.js --help/);
    // The pinned toolchain satisfies the workspace's rust-version.
    const pinned = dockerfile.match(/^ARG RUST_VERSION=(\d+)\.(\d+)\.(\d+)$/m).slice(1).map(Number);
    const needed = fs.readFileSync(path.join(ROOT, 'Cargo.toml'), 'utf8').match(/rust-version = "(\d+)\.(\d+)/).slice(1).map(Number);
    assert.ok(pinned[0] > needed[0] || (pinned[0] === needed[0] && pinned[1] >= needed[1]), `RUST_VERSION ${pinned.join('.')} < ${needed.join('.')}`);
  });

  test(`${MUSL_TARGET}: builds with Debian's musl-gcc, is a musl binary, and loads in a musl Node`, async (t) => {
    const missing = muslBuildPrerequisites();
    if (missing) assert.fail(`the musl build check's prerequisites: ${missing}`);
    const node = muslNode({ fetch: true });
    let out;
    let stage;
    let how;
    if (node.alpine) {
      // The whole build stage, npm ci included, from a copy of the Docker
      // context, with node/npm/npx the musl Node and its npm, as in
      // node:22-alpine. Cargo's output directory is the work tree's, so only
      // the two local crates are compiled again.
      out = dockerContext();
      stage = tmpDir('steps-musl-stage');
      ok(node.exec('bash', ['scripts/docker-build-steps.sh', '--target', MUSL_TARGET, '--stage', stage],
        { cwd: out, env: { CARGO_TARGET_DIR: path.join(ROOT, 'target') }, timeout: 900_000 }), 'docker-build-steps.sh (musl, Docker context, musl Node)');
      how = 'built from a copy of the Docker context under musl Node 22 and its npm (npm ci, napi build, tsc)';
    } else {
      out = tmpDir('steps-musl-out');
      stage = tmpDir('steps-musl-stage');
      ok(run('bash', [BUILD_STEPS, '--target', MUSL_TARGET, '--skip-install', '--out', out, '--stage', stage], { timeout: 900_000 }), 'docker-build-steps.sh (musl)');
      how = 'built in the work tree with this Node';
    }
    const binary = path.join(out, 'keyrotate.linux-x64-musl.node');
    const dynamic = ok(run('readelf', ['-d', '-h', binary]), 'readelf').stdout;
    assert.match(dynamic, /Machine:\s+Advanced Micro Devices X86-64/);
    assert.match(dynamic, /Type:\s+DYN/);
    const needed = [...dynamic.matchAll(/\(NEEDED\)\s+Shared library: \[(.+)\]/g)].map((m) => m[1]).sort();
    // musl's libc (musl's loader takes any libc.* as itself) and the unwinder; no glibc.
    assert.deepEqual(needed, ['libc.so', 'libgcc_s.so.1']);
    // glibc's loader cannot take it: this Node is glibc's.
    assert.throws(() => require(binary));

    if (node.missing) assert.fail(`${how}; checked, but not loaded: ${node.missing}`);
    // Like an Alpine image: both binaries in the package, the loader must take musl's.
    const pkgDir = path.join(stage, 'node_modules', '@anythingmcp', 'keyrotate');
    fs.copyFileSync(path.join(ROOT, `keyrotate.${parseTriple(hostTriple()).platformArchABI}.node`), path.join(pkgDir, `keyrotate.${parseTriple(hostTriple()).platformArchABI}.node`));
    const probe = `
      const k = require('@anythingmcp/keyrotate');
      const key = k.generateKey();
      console.log(JSON.stringify({ node: process.version, glibc: process.report.getReport().header.glibcVersionRuntime ?? null,
        loaded: Object.keys(require.cache).filter((f) => f.endsWith('.node')).map((f) => require('path').basename(f)),
        fp: k.keyFingerprint(key), key }));
    `;
    const r = ok(node.run(['-e', probe], { cwd: stage }), 'musl Node: require + keyFingerprint');
    const out1 = JSON.parse(r.stdout);
    assert.match(out1.node, /^v22\./);
    assert.equal(out1.glibc, null);
    assert.deepEqual(out1.loaded, ['keyrotate.linux-x64-musl.node']);
    assert.equal(out1.fp, require('../index.js').keyFingerprint(out1.key));

    // The real thing under musl: the CLI from the /app layout rotates a database.
    const OLD = generateKey();
    const NEW = generateKey();
    const db = await seededDatabase(OLD, 'musl');
    const env = { DATABASE_URL: db.url, OLD_ENCRYPTION_KEY: OLD, NEW_ENCRYPTION_KEY: NEW, ENCRYPTION_KEY: '' };
    const rotated = ok(node.run([IMAGE_SHIM, '--yes', '--json'], { cwd: stage, env }), 'musl Node: CLI rotate');
    assert.equal(JSON.parse(rotated.stdout).report.rowsReencrypted, db.want.rowsReencrypted);
    await assertSealedOpenWith(db, NEW);
    t.diagnostic(`${how}; loaded in musl Node ${out1.node}${node.alpine ? ', musl detected by the loader itself (Alpine /usr/bin/ldd)' : ' via NAPI_RS_NATIVE_LIBRARY_PATH'}`);
  });
});

/** Why the musl build cannot run here, or null. */
/**
 * Why the musl build cannot run here, or null: the Rust target and Debian's
 * musl-gcc and readelf are installed when missing (rustup, and apt-get as
 * root), as a fresh machine needs them.
 */
function muslBuildPrerequisites() {
  if (process.platform !== 'linux' || process.arch !== 'x64') return `the musl build check runs on linux x64 hosts (this is ${process.platform} ${process.arch})`;
  const libdir = () => run('rustc', ['--print', 'target-libdir', '--target', MUSL_TARGET]).stdout.trim();
  if (!fs.existsSync(libdir() || '/nonexistent')) run('rustup', ['target', 'add', MUSL_TARGET], { timeout: 600_000 });
  if (!fs.existsSync(libdir() || '/nonexistent')) return `the Rust target is not installed (rustup target add ${MUSL_TARGET})`;
  return debianPackages(['musl-tools', 'binutils']);
}

let contextDir = null;
/**
 * A copy of the Docker build context: the work tree's files (those git knows
 * or would add) that .dockerignore lets in. In target/docker-context with the
 * files' own timestamps, so cargo finds a second build there up to date.
 */
function dockerContext() {
  if (contextDir) return contextDir;
  const excluded = dockerignore(fs.readFileSync(path.join(ROOT, '.dockerignore'), 'utf8'));
  const ctx = path.join(ROOT, 'target', 'docker-context');
  fs.rmSync(ctx, { recursive: true, force: true });
  const files = execFileSync('git', ['ls-files', '-co', '--exclude-standard', '-z'], { cwd: ROOT, encoding: 'utf8' }).split('\0').filter(Boolean);
  for (const f of files) {
    if (excluded(f) || !fs.existsSync(path.join(ROOT, f))) continue;
    fs.mkdirSync(path.dirname(path.join(ctx, f)), { recursive: true });
    fs.cpSync(path.join(ROOT, f), path.join(ctx, f), { preserveTimestamps: true });
  }
  contextDir = ctx;
  return ctx;
}

/**
 * `.dockerignore` as Docker reads it: patterns in order, the last match wins,
 * `!` lets a path back in, a pattern also matches the path's parent folders,
 * `*` and `?` stay within one path segment and `**` spans any number.
 * Returns (path) => excluded.
 */
function dockerignore(text) {
  const rules = text
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('#'))
    .map((l) => {
      const negate = l.startsWith('!');
      const pattern = path.posix.normalize((negate ? l.slice(1) : l).trim()).replace(/^\/+|\/+$/g, '');
      let re = '';
      for (let i = 0; i < pattern.length; i++) {
        const c = pattern[i];
        if (c === '*' && pattern[i + 1] === '*') {
          re += pattern[i + 2] === '/' ? '(?:.*/)?' : '.*';
          i += pattern[i + 2] === '/' ? 2 : 1;
        } else if (c === '*') re += '[^/]*';
        else if (c === '?') re += '[^/]';
        else re += c.replace(/[.+^${}()|[\]\\]/g, '\\$&');
      }
      return { negate, re: new RegExp(`^${re}$`) };
    });
  return (file) => {
    const parts = file.split('/');
    const paths = parts.map((_, i) => parts.slice(0, i + 1).join('/'));
    let excluded = false;
    for (const rule of rules) if (paths.some((p) => rule.re.test(p))) excluded = !rule.negate;
    return excluded;
  };
}
