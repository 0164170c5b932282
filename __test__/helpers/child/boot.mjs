#!/usr/bin/env node
// A backend booting: reads { env } as one JSON document on stdin (so no key
// sits in argv), runs adoptNextEncryptionKey(env) as the top of main.ts
// would, and prints one JSON line: { action, startsOn, lines } or
// { error: { code, message } }, where startsOn is the fingerprint of the
// ENCRYPTION_KEY the app would start with.

import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const keyrotate = require('../../../index.js');

const chunks = [];
for await (const chunk of process.stdin) chunks.push(chunk);
const { env } = JSON.parse(Buffer.concat(chunks).toString('utf8'));
const lines = [];
try {
  const adoption = await keyrotate.adoptNextEncryptionKey(env, { log: (line) => lines.push(line) });
  process.stdout.write(JSON.stringify({ action: adoption.action, startsOn: keyrotate.keyFingerprint(env.ENCRYPTION_KEY), lines }) + '\n');
} catch (e) {
  process.stdout.write(JSON.stringify({ error: { code: e.code, message: e.message }, lines }) + '\n');
}
