// The compiled CLI as an operator runs it, in a child process that does not
// block this one (a test may serve its connections), with only the
// environment it is given.

import { spawn, spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { within } from '../inspect/hygiene.mjs';
import { ROOT, debianPackages } from './commands.mjs';

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

/**
 * The CLI under GNU time (Debian's `time`, installed when missing), to the
 * end: its spawnSync result, wall `ms`, and peak RSS in `peakMb`.
 */
export function timedCli(args, env) {
  const missing = fs.existsSync('/usr/bin/time') ? null : debianPackages(['time']);
  if (missing) throw new Error(`measuring the CLI needs GNU time: ${missing}`);
  const rss = path.join(os.tmpdir(), `keyrotate-rss-${crypto.randomBytes(4).toString('hex')}`);
  const started = performance.now();
  const r = spawnSync('/usr/bin/time', ['-f', '%M', '-o', rss, process.execPath, CLI, ...args], {
    env: { PATH: process.env.PATH, ...env },
    encoding: 'utf8',
    timeout: 600_000,
    maxBuffer: 64 << 20,
  });
  const ms = performance.now() - started;
  if (r.error) throw r.error;
  try {
    return { ...r, ms, peakMb: Number(fs.readFileSync(rss, 'utf8').trim().split('\n').at(-1)) / 1024 };
  } finally {
    fs.rmSync(rss, { force: true });
  }
}

/** An imported OpenAPI document of about `mb` MB, nearly all of it strings that look sealed. */
export function bigSpec(mb, extra = {}) {
  const tokens = Array.from({ length: 100 }, () => crypto.randomBytes(48).toString('base64'));
  const paths = {};
  for (let i = 0; i * 88 < mb * 1e6; i++) paths[`/p${String(i).padStart(6, '0')}`] = tokens[i % tokens.length];
  return JSON.stringify({ openapi: '3.0.3', info: { title: 'imported', version: '1' }, paths, ...extra });
}
