// The README's first Quick-start command runs scripts/demo.mjs: it must keep
// working as the fixture and the registry change, and say so only when
// every value of every location checked out.

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

import { LOCATIONS, locationName } from './helpers/anythingmcp/locations.mjs';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

test('the demo rotates every location through the CLI and proves each value with Node crypto', () => {
  const r = spawnSync(process.execPath, [path.join(ROOT, 'scripts', 'demo.mjs')], { cwd: ROOT, encoding: 'utf8', timeout: 180_000 });
  const out = `${r.stdout}\n${r.stderr}`;
  assert.equal(r.status, 0, out.slice(-2000));
  assert.match(r.stdout, /^Demo OK: all (\d+) values as expected\.$/m);
  assert.doesNotMatch(out, /FAILED|CHANGED|demo failed/);
  assert.doesNotMatch(out, /discovery skipped/, 'discovery searched every table');
  // Three CLI runs (dry run, rotation, verify), each reporting every location.
  for (const loc of LOCATIONS) {
    const name = `public.${locationName(loc)}`;
    assert.equal(out.split('\n').filter((l) => l.startsWith(name)).length, 3, name);
  }
  assert.match(r.stdout, /^\d+ rows re-encrypted across 6 tables \(\d+ values; 0 values already on the new key, \d+ empty\) in \d+ ms$/m);
  assert.match(r.stdout, /^database \S+ on 127\.0\.0\.1:\d+ as \S+, schema public; keys [0-9a-f]{12} -> [0-9a-f]{12}$/m);
  // Keys are generated inside the demo, so they cannot be grepped for by
  // value: nothing key- or ciphertext-shaped (40+ base64 characters) may
  // appear at all.
  assert.doesNotMatch(out, /[A-Za-z0-9+/]{40,}/);
});
