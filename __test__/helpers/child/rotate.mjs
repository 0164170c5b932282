#!/usr/bin/env node
// A rotation in its own process, for tests that kill it. Reads one JSON
// document from stdin — { op: 'rotate' | 'verify', oldKey, newKey, key, url,
// options } — so no key ever sits in argv or the environment, then prints
// one JSON line per event on stdout:
//   { "type": "progress", "table", "column", "done", "total" }   (every table's progress)
//   { "type": "phase", "phase" }                                  (every other callback)
//   { "type": "report", "report": {...} }                         then exit 0
//   { "type": "error", "code", "message", "details" }             then exit 1

import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const keyrotate = require('../../../index.js');

const emit = (event) => process.stdout.write(JSON.stringify(event) + '\n');

const chunks = [];
for await (const chunk of process.stdin) chunks.push(chunk);
const job = JSON.parse(Buffer.concat(chunks).toString('utf8'));

const options = {
  ...job.options,
  onProgress: (p) =>
    emit(p.phase === 'scanning' ? { type: 'progress', table: p.table, column: p.column, done: p.done, total: p.total } : { type: 'phase', phase: p.phase }),
};

try {
  const report =
    job.op === 'verify'
      ? await keyrotate.verifyEncryptionKey(job.key, job.url, options)
      : await keyrotate.rotateEncryptionKey(job.oldKey, job.newKey, job.url, options);
  emit({ type: 'report', report });
  process.exitCode = 0;
} catch (e) {
  emit({ type: 'error', code: e.code ?? null, message: e.message, details: e.details ?? null });
  process.exitCode = 1;
}
