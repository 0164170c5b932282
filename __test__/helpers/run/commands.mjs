// Running commands from a test: outcomes that never throw (assertions say
// what went wrong), Debian packages a test needs (installed when missing and
// root), the host's Rust triple, and where the repository is.

import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
export const TSC = path.join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc');

/** Run a command; resolve its outcome, never throw (assertions say what went wrong). */
export function run(cmd, args, { cwd = ROOT, env = {}, timeout = 120_000, input } = {}) {
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

export function ok(result, what) {
  assert.equal(result.status, 0, `${what} failed (${result.signal ?? result.status}${result.error ? ' ' + result.error.message : ''}):\n${result.stdout}\n${result.stderr}`);
  return result;
}

/** Why Debian's `packages` are not there and cannot be installed, or null once they are. */
export function debianPackages(packages) {
  const missing = packages.filter((p) => run('dpkg-query', ['-W', '-f=${Status}', p]).stdout !== 'install ok installed');
  if (missing.length === 0) return null;
  if (process.getuid?.() !== 0) return `Debian packages missing and not root to install them: ${missing.join(' ')}`;
  let r = run('apt-get', ['install', '-y', '-qq', ...missing], { env: { DEBIAN_FRONTEND: 'noninteractive' }, timeout: 600_000 });
  if (r.status !== 0) {
    ok(run('apt-get', ['update', '-qq'], { timeout: 300_000 }), 'apt-get update');
    r = run('apt-get', ['install', '-y', '-qq', ...missing], { env: { DEBIAN_FRONTEND: 'noninteractive' }, timeout: 600_000 });
  }
  return r.status === 0 ? null : `apt-get install ${missing.join(' ')} failed:\n${r.stderr}`;
}

export function hostTriple() {
  return execFileSync('rustc', ['-vV'], { encoding: 'utf8' }).match(/^host: (.+)$/m)[1];
}
