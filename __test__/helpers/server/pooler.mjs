// A real PgBouncer (Debian's `pgbouncer` package, installed by
// `ensurePooler` when missing) in front of a test database: one process, one pool per mode, each its
// own database name that PgBouncer maps to the same real database. Like
// PostgreSQL, PgBouncer refuses to run as root, so as root it runs as the
// `postgres` system user the embedded server already uses.

import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';

import { waitFor } from '../inspect/hygiene.mjs';
import { debianPackages } from '../run/commands.mjs';

const BINARY = '/usr/sbin/pgbouncer';

/**
 * Debian's PgBouncer, installed when missing (as root, with apt-get), as a
 * fresh machine needs it. Throws, saying why, when it cannot be: the pooler
 * tests fail rather than skip.
 */
export function ensurePooler() {
  const missing = fs.existsSync(BINARY) ? null : debianPackages(['pgbouncer']);
  if (missing || !fs.existsSync(BINARY)) throw new Error(`the pooler tests need Debian's pgbouncer (${BINARY}): ${missing ?? 'not installed'}`);
}

function freePort() {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
    server.on('error', reject);
  });
}

/**
 * Start PgBouncer for the database at `url` (a superuser URL with a
 * password). `pools` maps a pool's database name to its settings, e.g.
 * { amcp_tx: { pool_mode: 'transaction' }, amcp_one: { pool_mode:
 * 'transaction', pool_size: 1 } }; `settings` adds to the [pgbouncer]
 * section. Returns { url(pool, { user, password }), stop() }; clients
 * authenticate to PgBouncer without a password (it is the server login that
 * carries one).
 */
export async function startPooler(url, pools, settings = {}) {
  const target = new URL(url);
  const dir = fs.mkdtempSync(path.join('/tmp', 'keyrotate-pgbouncer-'));
  const port = await freePort();
  const server = (extra) =>
    `host=${target.hostname} port=${target.port} dbname=${decodeURIComponent(target.pathname.slice(1))} ${extra}`.trim();
  const databases = Object.entries(pools).map(([name, settings]) => {
    const params = Object.entries(settings).map(([k, v]) => `${k}=${v}`).join(' ');
    return `${name} = ${server(params)}`;
  });
  // PgBouncer logs in to the server with the password auth_file holds for
  // the user; clients log in to it without one (auth_type = trust).
  const users = new Map([[decodeURIComponent(target.username), decodeURIComponent(target.password)]]);
  fs.writeFileSync(
    path.join(dir, 'pgbouncer.ini'),
    [
      '[databases]',
      ...databases,
      '[pgbouncer]',
      'listen_addr = 127.0.0.1',
      `listen_port = ${port}`,
      `unix_socket_dir = ${dir}`,
      'auth_type = trust',
      `auth_file = ${path.join(dir, 'users.txt')}`,
      `logfile = ${path.join(dir, 'pgbouncer.log')}`,
      `pidfile = ${path.join(dir, 'pgbouncer.pid')}`,
      'max_client_conn = 200',
      'default_pool_size = 4',
      'ignore_startup_parameters = extra_float_digits,options',
      'server_login_retry = 1',
      ...Object.entries(settings).map(([k, v]) => `${k} = ${v}`),
      '',
    ].join('\n'),
  );
  const writeUsers = () =>
    fs.writeFileSync(path.join(dir, 'users.txt'), [...users].map(([u, pw]) => `"${u}" "${pw.replace(/"/g, '""')}"`).join('\n') + '\n', { mode: 0o600 });
  writeUsers();
  const asRoot = process.getuid?.() === 0;
  if (asRoot) execFileSync('chown', ['-R', 'postgres:postgres', dir]);
  const [cmd, args] = asRoot ? ['runuser', ['-u', 'postgres', '--', BINARY, 'pgbouncer.ini']] : [BINARY, ['pgbouncer.ini']];
  const child = spawn(cmd, args, { cwd: dir, env: { PATH: process.env.PATH }, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout.on('data', (d) => (output += d));
  child.stderr.on('data', (d) => (output += d));
  const exited = new Promise((resolve) => child.on('exit', resolve));
  await waitFor(
    () =>
      new Promise((resolve) => {
        const socket = net.connect(port, '127.0.0.1', () => {
          socket.destroy();
          resolve(true);
        });
        socket.on('error', () => resolve(child.exitCode !== null ? Promise.reject(new Error(`pgbouncer exited: ${output}`)) : false));
      }),
    'PgBouncer to listen',
    15_000,
    50,
  );
  return {
    port,
    /** A client URL for `pool`; `user` is added to PgBouncer's users with its server password. */
    url(pool, { user, password, query = '' } = {}) {
      const u = new URL(url);
      u.hostname = '127.0.0.1';
      u.port = String(port);
      u.pathname = `/${pool}`;
      if (user) {
        u.username = user;
        if (!users.has(user)) {
          users.set(user, password);
          writeUsers();
          if (asRoot) execFileSync('chown', ['postgres:postgres', path.join(dir, 'users.txt')]);
          // SIGHUP makes PgBouncer read its files again.
          process.kill(Number(fs.readFileSync(path.join(dir, 'pgbouncer.pid'), 'utf8')), 'SIGHUP');
        }
      }
      u.password = '';
      u.search = query;
      return u.toString();
    },
    log: () => {
      try {
        return fs.readFileSync(path.join(dir, 'pgbouncer.log'), 'utf8');
      } catch {
        return output;
      }
    },
    async stop() {
      if (child.exitCode === null) child.kill('SIGTERM');
      await exited;
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

