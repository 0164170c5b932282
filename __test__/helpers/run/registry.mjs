// A private npm registry for the artifact test: verdaccio (pinned by
// __test__/registry/package-lock.json, installed there on first use) on a
// free port of 127.0.0.1, its storage in a temporary directory, no uplinks:
// it serves only what the test publishes to it.

import { spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';

import { ROOT, ok, run } from './commands.mjs';

const PREFIX = path.join(ROOT, '__test__', 'registry');
const VERDACCIO = path.join(PREFIX, 'node_modules', 'verdaccio', 'bin', 'verdaccio');

function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

/**
 * Start the registry in `dir`. Returns { url, npmrc, env, stop }: `env` makes
 * npm use only this registry (its own user config with a publish token, a
 * cache in `dir`), `stop` ends the server.
 */
export async function startRegistry(dir) {
  const lock = path.join(PREFIX, 'package-lock.json');
  const installed = path.join(PREFIX, 'node_modules', '.package-lock.json');
  if (!fs.existsSync(VERDACCIO) || !fs.existsSync(installed) || fs.statSync(lock).mtimeMs > fs.statSync(installed).mtimeMs) {
    ok(run('npm', ['ci', '--no-audit', '--no-fund', '--loglevel=error'], { cwd: PREFIX, timeout: 300_000 }), 'npm ci (verdaccio)');
  }
  const port = await freePort();
  const url = `http://127.0.0.1:${port}/`;
  const config = path.join(dir, 'config.yaml');
  fs.writeFileSync(config, [
    `storage: ${path.join(dir, 'storage')}`,
    'auth:',
    '  htpasswd:',
    `    file: ${path.join(dir, 'htpasswd')}`,
    '    max_users: 1',
    'uplinks: {}',
    'packages:',
    "  '**':",
    '    access: $all',
    '    publish: $authenticated',
    'web:',
    '  enable: false',
    'log: { type: stdout, format: json, level: warn }',
    '',
  ].join('\n'));
  const log = fs.openSync(path.join(dir, 'verdaccio.log'), 'a');
  const child = spawn(process.execPath, [VERDACCIO, '--config', config, '--listen', `127.0.0.1:${port}`], { stdio: ['ignore', log, log] });
  const exited = new Promise((resolve) => child.once('exit', resolve));
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
    await exited;
    fs.closeSync(log);
  };
  try {
    const deadline = Date.now() + 60_000;
    for (;;) {
      if (child.exitCode !== null) throw new Error(`verdaccio exited: ${fs.readFileSync(path.join(dir, 'verdaccio.log'), 'utf8')}`);
      const up = await fetch(`${url}-/ping`).then((r) => r.ok, () => false);
      if (up) break;
      if (Date.now() > deadline) throw new Error('verdaccio did not answer within 60 s');
      await new Promise((r) => setTimeout(r, 200));
    }
    const user = await fetch(`${url}-/user/org.couchdb.user:release`, {
      method: 'PUT',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'release', password: 'release-test-registry' }),
    });
    const { token } = await user.json();
    if (!token) throw new Error(`verdaccio gave no token (${user.status})`);
    const npmrc = path.join(dir, 'npmrc');
    fs.writeFileSync(npmrc, `registry=${url}\n//127.0.0.1:${port}/:_authToken=${token}\n`);
    const env = {
      npm_config_userconfig: npmrc,
      npm_config_registry: url,
      npm_config_cache: path.join(dir, 'npm-cache'),
      npm_config_audit: 'false',
      npm_config_fund: 'false',
      npm_config_update_notifier: 'false',
    };
    return { url, npmrc, env, stop };
  } catch (e) {
    await stop();
    throw e;
  }
}
