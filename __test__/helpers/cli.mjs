// The compiled CLI as an operator runs it, in a child process that does not
// block this one (a test may serve its connections), with only the
// environment it is given.

import { spawn } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { within } from './hygiene.mjs';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
export const CLI = path.join(ROOT, 'packages', 'backend', 'dist', 'scripts', 'rotate-encryption-key.js');

/** Run the CLI; `observe` sees its stdout and stderr. Resolves to { code, stdout, stderr }. */
export async function runCli(args, { env = {}, input, observe = () => {} } = {}) {
  const child = spawn(process.execPath, [CLI, ...args], {
    cwd: ROOT,
    env: { PATH: process.env.PATH, HOME: process.env.HOME, ...env },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (c) => (stdout += c));
  child.stderr.on('data', (c) => (stderr += c));
  child.stdin.end(input ?? '');
  const code = await within(new Promise((resolve) => child.once('close', resolve)), 60_000, `CLI ${args[0] ?? ''}`);
  observe(stdout);
  observe(stderr);
  return { code, stdout, stderr };
}
