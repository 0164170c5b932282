// Connects to each URL twice, once with node-postgres (`pg`, the backend's
// driver, the reference) and once with keyrotate (its public API), and says
// for each whether it connected.
//
// stdin: JSON { key, urls: [url, ...] }; stdout: JSON [{ pg, keyrotate }, ...]
// where each is { connected: true } or { connected: false, message, code? }.
//
// A process of its own because Node reads NODE_EXTRA_CA_CERTS only when it
// starts: the caller sets the environment both drivers see.

import { createRequire } from 'node:module';
import pg from 'pg';

const require = createRequire(import.meta.url);
const keyrotate = require('../../../index.js');

// pg 8 throws some failures from inside its socket handlers (an `ssl`
// value it cannot use, for one); they belong to the attempt in progress.
let failAttempt = null;
process.on('uncaughtException', (err) => {
  if (!failAttempt) throw err;
  failAttempt(err);
});

// The backend's driver opens the URL exactly like this (Prisma's adapter-pg
// hands the connection string to a pg Pool).
async function viaPg(url) {
  let client;
  const thrown = new Promise((resolve, reject) => (failAttempt = reject));
  try {
    client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 15_000 });
    client.on('error', () => {});
    await Promise.race([client.connect().then(() => client.query('SELECT 1')), thrown]);
    await client.end();
    return { connected: true };
  } catch (err) {
    // end() can wait for ever on a connection that failed during TLS.
    client?.connection?.stream?.destroy();
    return { connected: false, message: String(err?.message ?? err) };
  } finally {
    failAttempt = null;
  }
}

// Connected means the call got past connecting: a report, or an error that
// is not about connecting (which the caller treats as a failure).
async function viaKeyrotate(key, url) {
  try {
    await keyrotate.verifyEncryptionKey(key, url);
    return { connected: true };
  } catch (err) {
    const connecting = err.code === 'ERR_DB_CONNECT' || err.code === 'ERR_INVALID_ARG';
    return { connected: connecting ? false : null, code: err.code, message: err.message };
  }
}

let input = '';
for await (const chunk of process.stdin) input += chunk;
const { key, urls } = JSON.parse(input);
// Node prints pg's sslmode deprecation warning once; it is not an outcome.
process.removeAllListeners('warning');
const out = [];
for (const [i, url] of urls.entries()) {
  // Names the URL in progress if this process dies (never the URL itself: it holds a password).
  process.stderr.write(`url ${i}\n`);
  out.push({ pg: await viaPg(url), keyrotate: await viaKeyrotate(key, url) });
}
process.stdout.write(JSON.stringify(out));
